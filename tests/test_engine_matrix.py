"""The real engine made from Python 3.12 and 3.13 (pyenv or PATH; 3.14 when one is found), the
doctor ready, and the demo on the embedded sample giving the same outputs as the 3.11 test venv
(which has the 3.11 lock's pins): tables byte-identical, COG pixel arrays equal. On 3.13 the run
is repeated with zarr 3 (what Python 3.14 gets).

Several minutes per Python and it downloads from the package registry: `make test-engine-matrix`
runs it (RASTER_COLLECT_ENGINE_MATRIX=1); skipped otherwise.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from raster_collect_plugin.engine import install, interpreter

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.slow, pytest.mark.engine_matrix,
              pytest.mark.skipif(not os.environ.get("RASTER_COLLECT_ENGINE_MATRIX"),
                                 reason="make test-engine-matrix runs it (minutes, downloads)")]
TIMES = {}


def find_python(version: str):
    for candidate in sorted((Path.home() / ".pyenv" / "versions").glob(f"{version}.*")):
        binary = candidate / "bin" / f"python{version}"
        if binary.is_file():
            return str(binary)
    return shutil.which(f"python{version}")


def demo(python: str, output: Path) -> None:
    started = time.monotonic()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([python, "-m", "raster_collect_plugin", "demo", "--output",
                           str(output)], capture_output=True, text=True, env=env, timeout=1800)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    TIMES[f"demo {output.name}"] = time.monotonic() - started


def compare(reference: Path, other: Path) -> int:
    """Every table byte-identical and every COG's pixels equal; returns the files compared."""
    import rasterio

    compared = 0
    for path in sorted(reference.rglob("*")):
        relative = path.relative_to(reference)
        if not path.is_file() or relative.parts[0] == "sample" or path.suffix not in (
                ".csv", ".parquet", ".tif"):
            continue
        twin = other / relative
        assert twin.is_file(), f"{relative} missing"
        if path.suffix == ".csv":
            assert path.read_bytes() == twin.read_bytes(), relative
        elif path.suffix == ".parquet":
            import pandas as pd

            pd.testing.assert_frame_equal(pd.read_parquet(path), pd.read_parquet(twin))
        else:
            with rasterio.open(path) as a, rasterio.open(twin) as b:
                mine, theirs = dict(a.profile), dict(b.profile)
                nodata = (mine.pop("nodata"), theirs.pop("nodata"))
                assert mine == theirs and (nodata[0] == nodata[1] or np.isnan(nodata).all())
                np.testing.assert_array_equal(a.read(), b.read(), err_msg=str(relative))
                assert a.tags() == b.tags(), relative
        compared += 1
    return compared


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    output = tmp_path_factory.mktemp("ref") / "py311"
    demo(sys.executable, output)
    return output


@pytest.mark.parametrize("version", ["3.12", "3.13", "3.14"])
def test_engine_on_python(version, reference, tmp_path):
    base = find_python(version)
    if base is None:
        pytest.skip(f"no Python {version} on this machine")
    engine = tmp_path / f"engine{version}"
    started = time.monotonic()
    report = install.create_engine(engine, base, log_path=tmp_path / "setup.log")
    TIMES[f"create {version}"] = time.monotonic() - started
    assert report["ready"], report["problems"]
    python = str(interpreter.venv_python(engine))
    output = tmp_path / f"py{version.replace('.', '')}"
    demo(python, output)
    assert compare(reference, output) >= 20
    if version == "3.13":  # zarr 3 (Python 3.14's) with the same scratch code
        subprocess.run([python, "-m", "pip", "install", "-q", "zarr>=3"], check=True,
                       env=dict(os.environ, PIP_CONSTRAINT=""))
        zarr3 = tmp_path / "py313-zarr3"
        demo(python, zarr3)
        assert compare(reference, zarr3) >= 20
    print(f"\ntimes: {TIMES}")
