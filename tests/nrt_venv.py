"""JRC ``nrt`` (PyPI) for the parity tests, installed once with pip from the package registry
into a folder under the user cache (~/.cache/raster-collect/nrt/py3.X) and put on the path of a
subprocess of this Python; nrt's fiona wheel (its own GDAL) therefore never loads into pytest's
process, which loads QGIS. nrt's own dependencies that this venv already has (numpy, xarray,
numba, pandas) are used as they are, so only nrt, nrt-data and the readers nrt imports
are fetched (242 MB instead of a whole venv's 820 MB). Skips (with the reason) only when
the registry cannot be reached."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

NRT = "nrt==0.3.0"
# what ``import nrt.monitor`` needs beyond this venv, pinned (pip --no-deps installs exactly these)
NRT_EXTRAS = ("nrt-data==0.0.2", "fiona==1.10.1", "netCDF4==1.7.5.1.post1", "cftime==1.6.6.1",
              "pooch==1.9.0", "platformdirs==4.14.9",
              # a fresh machine may lack Debian's python3-scipy (matplotlib pulls it in here)
              "scipy==1.15.3")
UNREACHABLE = ("Could not fetch URL", "NewConnectionError", "Max retries exceeded",
               "Temporary failure in name resolution", "No matching distribution found",
               "Network is unreachable", "Connection refused")


def target_dir() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "raster-collect" / "nrt" / f"py{sys.version_info[0]}.{sys.version_info[1]}"


def nrt_path() -> Path:
    """The folder holding nrt, installing it first when it is not there."""
    root = target_dir()
    ready = root / f".installed-{NRT}"
    if ready.exists():
        return root
    building = root.with_name(f"{root.name}.building-{os.getpid()}")
    shutil.rmtree(building, ignore_errors=True)
    done = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                           "--disable-pip-version-check", "--target", str(building), NRT,
                           *NRT_EXTRAS],
                          capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        shutil.rmtree(building, ignore_errors=True)
        if any(text in done.stderr for text in UNREACHABLE):
            pytest.skip(f"cannot install {NRT} from the package registry: "
                        f"{done.stderr.strip().splitlines()[-1]}")
        raise RuntimeError(f"pip install {NRT} failed:\n{done.stderr[-3000:]}")
    (building / f".installed-{NRT}").write_text(NRT)
    shutil.rmtree(root, ignore_errors=True)  # a half-made one from an interrupted run
    root.parent.mkdir(parents=True, exist_ok=True)
    try:
        building.rename(root)
    except OSError:  # another process finished first: use its folder
        shutil.rmtree(building, ignore_errors=True)
    return root


def run_nrt(source: Path, destination: Path) -> None:
    """tests/nrt_reference.py run by this Python with nrt on its path: ``source`` npz in,
    ``destination`` npz out."""
    script = Path(__file__).with_name("nrt_reference.py")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PYTHONPATH"] = str(nrt_path())
    done = subprocess.run([sys.executable, str(script), str(source), str(destination)],
                          capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
