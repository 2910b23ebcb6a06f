"""The engine side (QGIS-free): shipped requirements, the doctor in a bare Python, the cached
status, finding the real interpreter, job staging clean-up and the session cluster."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
import venv
from pathlib import Path

import pytest

from raster_collect_plugin.engine import bridge, install, interpreter, processes, status
from raster_collect_plugin.engine.cluster_process import LocalClusterProcess
from raster_collect_plugin.engine.requirements import (
    CONSTRAINTS_FILE,
    REQUIREMENTS_FILE,
    Requirement,
    parse_requirements,
    shipped_constraints,
    shipped_requirements,
    version_key,
)

ROOT = Path(__file__).resolve().parent.parent
SYSTEM_PYTHON = "/usr/bin/python3"


def doctor(python, *args):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([str(python), "-m", "raster_collect_plugin", "doctor", *args],
                          capture_output=True, text=True, env=env, timeout=180, cwd=ROOT)


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory):
    """A Python with nothing installed (no pip, no numpy): what a fresh engine starts as."""
    folder = tmp_path_factory.mktemp("bare") / "venv"
    venv.EnvBuilder(with_pip=False, symlinks=True).create(folder)
    return str(interpreter.venv_python(folder))


def test_version_rules_follow_pep_440():
    affine = Requirement("affine", ">=2.3,<3")
    assert affine.allows("2.4.0") and not affine.allows("3.0.1") and not affine.allows("2.2")
    numpy = Requirement("numpy", ">=1.24,<2")
    assert numpy.allows("1.26.4") and numpy.allows("1.24") and not numpy.allows("2.0.0")
    assert version_key("2024.10.0rc1") < version_key("2024.10.0") < version_key("2024.10.0.post1")
    assert version_key("1.0.dev1") < version_key("1.0a1") < version_key("1.0")
    assert Requirement("x", "~=1.4").allows("1.9") and not Requirement("x", "~=1.4").allows("2.0")
    assert parse_requirements("dask[array]>=2024.1  # comment\n-r other.txt\n") == [
        Requirement("dask", ">=2024.1")]


def test_one_source_of_requirements_every_pin_satisfies_its_requirement():
    requirements, pins = shipped_requirements(), shipped_constraints()
    names = [r.name for r in requirements]
    assert {"numpy", "affine", "pyarrow", "rasterio", "odc-stac"} <= set(names)
    for requirement in requirements:
        assert requirement.name in pins, f"{requirement.name} has no tested pin"
        assert requirement.allows(pins[requirement.name]), (requirement, pins[requirement.name])
    # the dev venv installs from the same files
    assert (ROOT / "requirements.txt").read_text().count("raster_collect_plugin/requirements") == 1


def test_system_python_lacks_the_engine_packages_and_the_doctor_says_so():
    """Debian's /usr/bin/python3 (QGIS's Python) has numpy but none of rasterio & co."""
    assert subprocess.run([SYSTEM_PYTHON, "-c", "import rasterio"],
                          capture_output=True).returncode != 0
    result = doctor(SYSTEM_PYTHON, "--json")
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    rows = {row["name"]: row for row in report["packages"]}
    assert rows["rasterio"]["status"] == "missing" and rows["rasterio"]["tested"] == "1.4.4"
    assert rows["affine"]["required"] == ">=2.3,<3"
    assert len(rows) == len(shipped_requirements())
    assert report["ready"] is False and report["python"]["qgis_python"] is True
    # never suggest pip into QGIS's or the system's Python (PEP 668, shadowing on Windows)
    assert "pip install" not in report["fix"] and "--user" not in report["fix"]
    assert "Settings → Options → Raster Collect" in report["fix"]
    text = doctor(SYSTEM_PYTHON)
    assert "Verdict: NOT READY" in text.stdout
    assert re.search(r"^rasterio +- +>=1\.3\.9 +1\.4\.4 +missing$", text.stdout, re.M)


def test_doctor_runs_in_a_bare_python_and_gives_the_whole_install_command(bare_python):
    result = doctor(bare_python, "--json")
    report = json.loads(result.stdout)
    assert not report["ready"]
    assert {r["name"]: r["status"] for r in report["packages"]}["numpy"] == "missing"
    command = shlex.split(report["fix_command"])
    assert command == [bare_python, "-m", "pip", "install", "-c", str(CONSTRAINTS_FILE),
                       "-r", str(REQUIREMENTS_FILE)]
    message = status.not_ready_message(status.run_doctor(bare_python))
    assert message.endswith(report["fix_command"])  # whole, runnable, with every pin


def test_doctor_in_the_test_venv_is_ready_with_gdal_and_proj_versions():
    import pyproj
    import rasterio

    report = json.loads(doctor(sys.executable, "--json").stdout)
    assert report["ready"], report["problems"]
    assert report["libraries"]["gdal"] == rasterio.__gdal_version__
    assert report["libraries"]["proj"] == pyproj.proj_version_str
    assert all(row["status"] == "ok" for row in report["packages"])


def test_status_is_cached_until_the_engine_changes(tmp_path, monkeypatch):
    site_folder = tmp_path / "site-packages"
    site_folder.mkdir()
    calls = []

    def fake_doctor(python, cancel=None):
        calls.append(python)
        return {"ready": True, "python": {"executable": python,
                                           "site_folders": [str(site_folder)]}}

    monkeypatch.setattr(status, "run_doctor", fake_doctor)
    cache = tmp_path / "cache"
    status.check_engine(sys.executable, cache_dir=cache)
    status.check_engine(sys.executable, cache_dir=cache)
    assert len(calls) == 1
    (site_folder / "newpkg").mkdir()  # pip installed something
    os.utime(site_folder, (time.time() + 5, time.time() + 5))
    status.check_engine(sys.executable, cache_dir=cache)
    assert len(calls) == 2


def test_interpreter_path_never_returns_a_shim_or_the_qgis_binary(tmp_path, monkeypatch):
    shim = tmp_path / ".pyenv" / "shims" / "python3"
    shim.parent.mkdir(parents=True)
    shim.write_text('#!/usr/bin/env bash\nexec pyenv exec python3 "$@"\n')
    shim.chmod(0o755)
    assert interpreter.is_shim(str(shim)) and not interpreter.is_shim(sys.executable)
    for fake in (str(shim), "/usr/bin/qgis"):
        monkeypatch.setattr(sys, "executable", fake)
        monkeypatch.setattr(sys, "_base_executable", fake, raising=False)
        found = interpreter.interpreter_path()
        assert found != fake and Path(found).name.startswith("python")
        assert subprocess.run([found, "-c", "pass"]).returncode == 0


def test_engine_python_precedence(tmp_path, monkeypatch):
    managed = tmp_path / "engine"
    monkeypatch.delenv(interpreter.ENGINE_PYTHON_VARIABLE, raising=False)
    assert interpreter.engine_python(None, managed) == interpreter.interpreter_path()
    interpreter.venv_python(managed).parent.mkdir(parents=True)
    interpreter.venv_python(managed).write_text("")
    assert interpreter.engine_python(None, managed) == str(interpreter.venv_python(managed))
    assert interpreter.engine_python("/opt/conda/bin/python", managed) == "/opt/conda/bin/python"
    monkeypatch.setenv(interpreter.ENGINE_PYTHON_VARIABLE, "/env/python")
    assert interpreter.engine_python("/opt/conda/bin/python", managed) == "/env/python"


def test_children_open_no_console_window_on_windows(monkeypatch):
    assert processes.popen_options() == {}
    monkeypatch.setattr(sys, "platform", "win32")
    assert processes.popen_options()["creationflags"] == 0x08000000
    assert processes.quote_command([r"C:\Program Files\QGIS\python.exe", "-m", "pip"]) == (
        r'"C:\Program Files\QGIS\python.exe" -m pip')


def test_job_refused_with_the_fix_when_the_engine_is_not_ready(bare_python, tmp_path):
    with pytest.raises(bridge.JobFailed) as raised:
        bridge.run_job({"kind": "search"}, workdir=tmp_path / "w", python=bare_python)
    assert raised.value.kind == "engine"
    assert "processing engine is not ready" in str(raised.value)
    assert "numpy is missing" in str(raised.value)
    assert not (tmp_path / "w" / "job.json").exists()  # nothing started


def test_parent_removes_staging_left_by_a_child_killed_outright(tmp_path, monkeypatch):
    """A child that ignores SIGTERM is killed (like TerminateProcess on Windows): it cannot
    clean up, so the parent removes the staging folder it left; older entries stay."""
    output = tmp_path / "out"
    output.mkdir()
    kept = output / ".raster-collect-partial-from-another-run"
    kept.mkdir()
    fake = tmp_path / "stubborn-python"
    fake.write_text("#!/bin/sh\ntrap '' TERM\n"
                    f"mkdir -p '{output}/.raster-collect-partial-abc'\n"
                    f"echo data > '{output}/.raster-collect-partial-abc/NDVI.tif'\n"
                    "echo '{\"event\": \"progress\", \"fraction\": 0.5, \"message\": \"x\"}'\n"
                    "while true; do sleep 0.1; done\n")
    fake.chmod(0o755)
    monkeypatch.setattr(bridge, "require_ready", lambda python: {"ready": True})
    seen = []

    def progress(fraction, message):
        seen.append(fraction)

    with pytest.raises(bridge.JobCancelled):
        bridge.run_job({"kind": "composite", "output_dir": str(output)}, workdir=tmp_path / "w",
                       python=str(fake), progress=progress, cancel=lambda: bool(seen),
                       terminate_grace=0.5)
    assert sorted(p.name for p in output.iterdir()) == [kept.name]


def test_session_cluster_starts_without_selectors_and_stops():
    source = Path(sys.modules[LocalClusterProcess.__module__].__file__).read_text()
    assert "selectors" not in source.split('"""', 2)[2]
    cluster = LocalClusterProcess(workers=1, threads=1, memory_limit="1GB",
                                  python=lambda: sys.executable)
    try:
        address = cluster.ensure_started(timeout=120)
        assert address.startswith("tcp://") and cluster.running
    finally:
        cluster.stop()
    assert not cluster.running


def test_base_python_discovery_resolves_shims_and_says_so(tmp_path, monkeypatch):
    shim_dir = tmp_path / ".pyenv" / "shims"
    shim_dir.mkdir(parents=True)
    shim = shim_dir / "python3"
    shim.write_text(f'#!/bin/sh\nexec {SYSTEM_PYTHON} "$@"\n')
    shim.chmod(0o755)
    monkeypatch.setenv("PATH", f"{shim_dir}{os.pathsep}{os.environ['PATH']}")
    found = install.discover_base_pythons()
    paths = [b.path for b in found]
    assert str(shim) not in paths  # never the shim itself
    system = [b for b in found if os.path.realpath(b.path) == os.path.realpath(SYSTEM_PYTHON)]
    assert system and system[0].usable
    assert found[0].usable


def test_the_doctor_knows_qgis_own_python_from_the_caller(monkeypatch):
    from raster_collect_plugin.engine import doctor as doctor_module

    monkeypatch.setenv(doctor_module.HOST_PYTHON_VARIABLE, sys.executable)
    assert doctor_module._is_host_python()
    monkeypatch.setenv(doctor_module.HOST_PYTHON_VARIABLE, SYSTEM_PYTHON)
    assert doctor_module._is_host_python() == os.path.samefile(sys.executable, SYSTEM_PYTHON)


def test_a_python_that_does_not_exist_gives_a_readable_not_ready_sentence(tmp_path):
    missing = str(tmp_path / "no-such" / "python")
    report = status.run_doctor(missing)
    assert report["ready"] is False and report["problems"][0].startswith(f"cannot run {missing}")
    message = status.not_ready_message(report)
    assert message.startswith("The Raster Collect processing engine is not ready")
    assert "Create the engine" in message


def test_a_missing_python_from_the_environment_variable_names_it(tmp_path, monkeypatch):
    """RASTER_COLLECT_PYTHON overrides the setting: when its Python is missing, the sentence
    says where it came from (else a user fixes the setting and nothing changes)."""
    missing = str(tmp_path / "no-such" / "python")
    monkeypatch.setenv("RASTER_COLLECT_PYTHON", missing)
    message = status.not_ready_message(status.run_doctor(missing))
    assert f"cannot run {missing}" in message
    assert "environment variable RASTER_COLLECT_PYTHON" in message


@pytest.mark.skipif(sys.platform == "win32", reason="a shell script stands in for a Python")
def test_a_cancelled_check_kills_a_python_that_hangs_and_caches_nothing(tmp_path):
    """QGIS cancels running tasks when the plugin unloads or QGIS quits: a doctor whose
    Python hangs is killed at once, not waited for (180 s) and not cached."""
    hanging = tmp_path / "python"
    hanging.write_text("#!/bin/sh\nsleep 20\n")
    hanging.chmod(0o755)
    started = time.monotonic()
    with pytest.raises(status.DoctorCancelled):
        status.check_engine(str(hanging), cache_dir=tmp_path / "cache",
                            cancel=lambda: time.monotonic() - started > 0.5)
    assert time.monotonic() - started < 5
    assert status.DoctorCache(tmp_path / "cache").get(str(hanging)) is None
    report = status.run_doctor(str(hanging), timeout=0.5)  # and a time limit still applies
    assert not report["ready"] and "did not answer the check within 0.5 s" in \
        report["problems"][0]


def test_a_cancel_after_the_job_finished_returns_its_result(tmp_path, monkeypatch):
    """Cancel pressed once the child had printed its result (manifest written) but before it
    exited: 'Cancelled: no outputs were written' was said over a complete run folder."""
    fake, printed = tmp_path / "finished-python", tmp_path / "printed"
    fake.write_text("#!/bin/sh\n"
                    "echo '{\"event\": \"result\", \"result\": {\"files\": {\"a\": \"b\"}}}'\n"
                    f"touch '{printed}'\n"
                    "while true; do sleep 0.1; done\n")  # a slow exit (dask, numba teardown)
    fake.chmod(0o755)
    monkeypatch.setattr(bridge, "require_ready", lambda python: {"ready": True})
    # pressed once the result is printed (not after a fixed 0.5 s: a loaded machine started
    # the child later, the cancel came first and the run was rightly "cancelled")
    give_up = time.monotonic() + 60  # a child that never prints: cancelled, and this fails
    result = bridge.run_job({"kind": "composite", "output_dir": str(tmp_path / "out")},
                            workdir=tmp_path / "w", python=str(fake),
                            cancel=lambda: printed.exists() or time.monotonic() > give_up,
                            terminate_grace=0.5)
    assert result == {"files": {"a": "b"}}
