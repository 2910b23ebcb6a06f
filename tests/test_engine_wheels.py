"""Proof that the engine installs from ready-made wheels on every platform users have: for each
Python and platform of the lock matrix, a wheels-only resolution (``uv pip compile
--only-binary :all: --python-platform ...``, nothing built, nothing installed) of
requirements.txt under the shipped lock succeeds and gives exactly the lock's pins.

Needs the package registry (marked ``registry``): skipped with the reason when it cannot be
reached. uv's cache (~/.cache/uv, outside the repository) makes reruns fast: each case is
first resolved from the cache alone, then from the registry if the cache lacks something.
Measured on this 2-core machine: cold cache (empty UV_CACHE_DIR) 159 s, warm 21 s.
"""

from __future__ import annotations

import os
import shutil
import sys
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from raster_collect_plugin.engine import figures
from raster_collect_plugin.engine.requirements import constraints_file, parse_constraints

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
from engine_locks import _resolve, environment_of  # noqa: E402

pytestmark = pytest.mark.registry
# what QGIS ships (Windows/macOS 3.12, Debian 13 3.13, sid 3.14) and the two before: these
# must resolve to wheels
REQUIRED = {("3.12", "win_amd64"), ("3.12", "macosx_arm64"), ("3.12", "macosx_x86_64"),
            ("3.13", "manylinux_x86_64"), ("3.14", "manylinux_x86_64"),
            ("3.11", "manylinux_x86_64"), ("3.10", "manylinux_x86_64"),
            ("3.11", "win_amd64"), ("3.10", "win_amd64"), ("3.11", "macosx_arm64")}


def _registry_reachable() -> str:
    index = os.environ.get("UV_INDEX_URL", "https://pypi.org/simple").rstrip("/")
    try:
        with urllib.request.urlopen(f"{index}/pip/", timeout=5):
            return ""
    except OSError as error:
        return f"the package registry {index} cannot be reached ({error})"


def _uv_available() -> bool:
    try:
        import uv

        return bool(uv.find_uv_bin())
    except (ImportError, FileNotFoundError):
        return shutil.which("uv") is not None


@pytest.fixture(scope="module")
def registry():
    why = _registry_reachable()
    if why:
        pytest.skip(f"offline: {why}")
    if not _uv_available():
        pytest.skip("uv is not installed (make setup installs it from requirements-dev.txt)")


def test_every_platform_qgis_ships_resolves_to_wheels_at_the_locked_pins(registry):
    table = figures.load_figures()["pythons"]
    cases = [(python, target) for python in table for target in figures.PLATFORMS
             if table[python][target.key]["wheels"]]
    assert REQUIRED <= {(python, target.key) for python, target in cases}

    def check(case):
        python, target = case
        version = tuple(int(p) for p in python.split("."))
        lock = constraints_file(version)
        macos = table[python][target.key].get("macos")
        # from uv's cache when it has every index page (a rerun), else from the registry
        pins, error = _resolve(target, version, {}, lock, macos, offline=True)
        if pins is None:
            pins, error = _resolve(target, version, {}, lock, macos)
        expected = parse_constraints(lock.read_text(), environment_of(target, version))
        return python, target.key, error, pins, expected

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(check, cases))
    for python, key, error, pins, expected in results:
        assert pins is not None, f"Python {python} on {key}: no wheels-only resolution: {error}"
        assert pins == expected, (python, key, set(pins.items()) ^ set(expected.items()))
