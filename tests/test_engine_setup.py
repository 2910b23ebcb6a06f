"""The real engine set-up, end to end: a venv made from a discovered base Python, pip install
of the shipped pins from a local wheel folder (offline mode), then the doctor says ready.

Slow (about a minute or two, marked ``slow``; still part of ``make test``). The wheel folder is
filled by ``pip download`` from pip's cache or the package registry.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from raster_collect_plugin.engine import install, interpreter
from raster_collect_plugin.engine.requirements import REQUIREMENTS_FILE, constraints_file

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def base_python() -> str:
    usable = [b for b in install.discover_base_pythons() if b.usable and not b.note]
    assert usable, install.discover_base_pythons()
    return usable[0].path


@pytest.fixture(scope="module")
def wheel_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("wheels")
    python = base_python()
    # download for the base Python's version and platform (the engine's, not the test venv's)
    version = subprocess.run([python, "-c", "import sys; print(f'{sys.version_info[0]}"
                              "{sys.version_info[1]}')"], capture_output=True, text=True,
                             check=True).stdout.strip()
    result = subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--only-binary", ":all:",
         "--python-version", version, "-d", str(folder), "-c",
         str(constraints_file((int(version[0]), int(version[1:])))),
         "-r", str(REQUIREMENTS_FILE)], capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return folder


def test_create_the_engine_offline_from_a_wheel_folder(wheel_folder, tmp_path):
    engine_dir = interpreter.managed_engine_dir(tmp_path / "profile")
    log = tmp_path / "profile" / "setup.log"
    steps = []
    report = install.create_engine(engine_dir, base_python(), log_path=log,
                                   find_links=str(wheel_folder),
                                   progress=lambda f, m: steps.append((f, m)))
    assert report["ready"], report["problems"]
    python = interpreter.venv_python(engine_dir)
    assert report["python"]["requested"] == str(python)
    assert report["python"]["virtual_environment"] is True
    assert report["libraries"]["gdal"] and report["libraries"]["proj"]
    fractions = [f for f, _ in steps]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any("getting" in m for _, m in steps)
    # pip installs silently: the progress still names each package as its files land
    assert sum(m.startswith("installed ") for _, m in steps) > 50
    text = log.read_text()
    assert "--no-index --find-links" in text and "-- doctor: ready" in text
    # the engine is isolated from QGIS's Python: Debian's numpy 1.24 is not visible in it
    numpy = subprocess.run([str(python), "-c", "import numpy; print(numpy.__version__)"],
                           capture_output=True, text=True)
    assert numpy.stdout.strip() == "1.26.4"
    # the doctor as a user runs it, in the new engine
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cli = subprocess.run([str(python), "-m", "raster_collect_plugin", "doctor", "--json"],
                         capture_output=True, text=True, env=env, timeout=180)
    assert cli.returncode == 0 and json.loads(cli.stdout)["ready"]
    # repair re-runs the same path on the existing engine, here from the command line
    again = subprocess.run([sys.executable, "-m", "raster_collect_plugin", "setup-engine",
                            "--target", str(engine_dir), "--find-links", str(wheel_folder)],
                           capture_output=True, text=True, env=env, timeout=600)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    assert f"Engine ready: {python}" in again.stdout
    cli_log = engine_dir.parent / "raster_collect_engine_setup.log"
    assert "Requirement already satisfied: numpy" in cli_log.read_text()


def test_cancel_removes_a_half_made_engine(tmp_path):
    engine_dir = tmp_path / "engine"
    seen = []
    with pytest.raises(install.SetupCancelled):
        install.create_engine(engine_dir, base_python(), log_path=tmp_path / "setup.log",
                              find_links=str(tmp_path / "empty"),
                              progress=lambda f, m: seen.append(f),
                              cancel=lambda: any(f >= 0.08 for f in seen))
    assert not engine_dir.exists()
    assert "cancelled by the user" in (tmp_path / "setup.log").read_text()
