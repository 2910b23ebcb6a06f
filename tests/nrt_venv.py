"""A venv holding JRC ``nrt`` (PyPI) for the parity tests, kept under the user cache
(~/.cache/raster-collect/nrt-venv/py3.X) and made once with pip from the package registry; nrt
runs there in a subprocess, so its fiona/rasterio wheels (their own GDAL) never load into
pytest's process, which loads QGIS. Skips (with the reason) only when the registry cannot be
reached."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

NRT = "nrt==0.3.0"
UNREACHABLE = ("Could not fetch URL", "NewConnectionError", "Max retries exceeded",
               "Temporary failure in name resolution", "No matching distribution found",
               "Network is unreachable", "Connection refused")


def venv_dir() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "raster-collect" / "nrt-venv" / f"py{sys.version_info[0]}.{sys.version_info[1]}"


def _python(root: Path) -> Path:
    return root / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def nrt_python() -> Path:
    """The venv's Python, making the venv first when it is not there (a few minutes)."""
    root = venv_dir()
    ready = root / f".installed-{NRT}"
    if ready.exists():
        return _python(root)
    building = root.with_name(f"{root.name}.building-{os.getpid()}")
    shutil.rmtree(building, ignore_errors=True)
    base = getattr(sys, "_base_executable", None) or sys.executable
    subprocess.run([base, "-m", "venv", str(building)], check=True, capture_output=True,
                   timeout=600)
    done = subprocess.run([str(_python(building)), "-m", "pip", "install", "-q",
                           "--disable-pip-version-check", NRT],
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
    except OSError:  # another process finished first: use its venv
        shutil.rmtree(building, ignore_errors=True)
    return _python(root)


def run_nrt(source: Path, destination: Path) -> None:
    """tests/nrt_reference.py in the nrt venv: ``source`` npz in, ``destination`` npz out."""
    script = Path(__file__).with_name("nrt_reference.py")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    done = subprocess.run([str(nrt_python()), str(script), str(source), str(destination)],
                          capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
