"""The engine on every Python and platform users have: one lock per Python, the running Python
reads its own, and engine creation survives what Windows, macOS and corporate networks do
(simulated here: a foreign PYTHONHOME, locked files, a proxy, a custom CA, pip's failures)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from raster_collect_plugin.engine import figures, install, interpreter, markers
from raster_collect_plugin.engine.pip_progress import PipProgress, failure_cause
from raster_collect_plugin.engine.requirements import (
    constraints_file,
    lock_versions,
    parse_constraints,
    shipped_requirements,
    version_key,
)
from raster_collect_plugin.engine.setup_env import redact, setup_environment

ROOT = Path(__file__).resolve().parent.parent
PYENV = Path.home() / ".pyenv" / "versions"
sys.path.insert(0, str(ROOT / "tools"))
from engine_locks import environment_of, readme_table  # noqa: E402


def lock_pins(version, platform_key):
    target = next(p for p in figures.PLATFORMS if p.key == platform_key)
    return parse_constraints(constraints_file(version).read_text(),
                             environment_of(target, version))


def test_one_lock_per_python_pins_every_requirement_on_every_platform_with_wheels():
    assert lock_versions() == list(figures.PYTHONS)
    table = figures.load_figures()["pythons"]
    for version in figures.PYTHONS:
        for target in figures.PLATFORMS:
            if not table[f"{version[0]}.{version[1]}"][target.key]["wheels"]:
                continue
            pins = lock_pins(version, target.key)
            for requirement in shipped_requirements():
                assert requirement.allows(pins[requirement.name]), (version, target.key,
                                                                     requirement)


def test_numpy_2_and_zarr_3_only_where_the_engine_needs_them():
    numpy = {v: lock_pins(v, "manylinux_x86_64")["numpy"] for v in figures.PYTHONS}
    assert version_key(numpy[(3, 13)]) >= version_key("2")  # 1.26.4 has no 3.13 wheel
    assert version_key(numpy[(3, 14)]) >= version_key("2")
    # Debian 12's QGIS 3.22 bindings (Python 3.11) are built on numpy 1.x: the test venv,
    # which loads them, keeps numpy<2 — from the 3.11 lock and the root constraints
    assert version_key(numpy[(3, 11)]) < version_key("2")
    assert 'numpy<2 ; python_version < "3.12"' in (ROOT / "constraints.txt").read_text()
    assert version_key(lock_pins((3, 14), "manylinux_x86_64")["zarr"]) >= version_key("3")
    # Intel Macs: numba/llvmlite without macOS x86_64 wheels are pinned older there only
    assert lock_pins((3, 12), "macosx_x86_64")["numba"] != lock_pins(
        (3, 12), "manylinux_x86_64")["numba"]


def test_markers_of_the_locks_are_evaluated_without_packaging():
    mac = {"sys_platform": "darwin", "platform_machine": "x86_64"}
    assert markers.evaluate("(sys_platform == 'darwin' and platform_machine == 'x86_64')", mac)
    assert not markers.evaluate(
        "(sys_platform == 'linux' and platform_machine == 'x86_64') or (sys_platform == "
        "'win32')", mac)
    assert markers.evaluate('python_version < "3.12"', {"python_version": "3.11"})
    assert not markers.evaluate('python_version < "3.12"', {"python_version": "3.13"})
    assert parse_constraints("a==1 ; sys_platform == 'win32'\na==2 ; sys_platform != 'win32'\n",
                             {"sys_platform": "win32"}) == {"a": "1"}


def test_each_python_reads_its_own_lock():
    here = f"constraints-py{sys.version_info[0]}{sys.version_info[1]}.txt"
    assert constraints_file().name == here
    assert constraints_file((3, 13)).name == "constraints-py313.txt"
    assert constraints_file((3, 15)).name == "constraints-py314.txt"  # nearest older
    assert constraints_file((3, 9)).name == "constraints-py310.txt"
    arguments = install.install_arguments("/e/bin/python", version=(3, 14))
    assert arguments[-4:] == ["-c", str(constraints_file((3, 14))), "-r",
                              str(ROOT / "raster_collect_plugin" / "requirements.txt")]


@pytest.mark.skipif(not (PYENV / "3.13.0" / "bin" / "python3.13").is_file(),
                    reason="needs pyenv's Python 3.13 (~/.pyenv/versions/3.13.0)")
def test_the_doctor_of_a_313_engine_suggests_the_313_pins(tmp_path):
    """The doctor's fix on Python 3.13 names the 3.13 lock (numpy 2), never numpy 1.26.4."""
    folder = tmp_path / "bare313"
    subprocess.run([str(PYENV / "3.13.0" / "bin" / "python3.13"), "-m", "venv",
                    "--without-pip", str(folder)], check=True)
    python = str(interpreter.venv_python(folder))
    done = subprocess.run([python, "-m", "raster_collect_plugin", "doctor", "--json"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    report = json.loads(done.stdout)
    assert "constraints-py313.txt" in report["fix_command"]
    rows = {row["name"]: row for row in report["packages"]}
    assert version_key(rows["numpy"]["tested"]) >= version_key("2")


def test_the_probe_survives_a_foreign_pythonhome(monkeypatch, tmp_path):
    """QGIS on macOS/Windows sets PYTHONHOME for its own Python: passed on, another Python
    (Homebrew, python.org) crashes at start and was silently dropped from the list."""
    foreign = tmp_path / "QGIS.app" / "Contents" / "Resources" / "python"
    foreign.mkdir(parents=True)
    monkeypatch.setenv("PYTHONHOME", str(foreign))
    monkeypatch.setenv("PYTHONPATH", str(foreign / "site-packages"))
    monkeypatch.setenv("PROJ_DATA", str(foreign))
    crashed = subprocess.run(["/usr/bin/python3", "-c", "pass"], capture_output=True)
    assert crashed.returncode != 0  # what the old probe saw
    info = install._probe("/usr/bin/python3")
    assert info is not None and info["version"][:2] == list(sys.version_info[:2])
    found = install.discover_base_pythons()
    assert any(os.path.realpath(b.path) == os.path.realpath("/usr/bin/python3") and b.usable
               for b in found)


def test_base_python_preferred_by_tested_version_not_newest(monkeypatch, tmp_path):
    versions = {"/p/3.14": [3, 14, 0], "/p/3.13": [3, 13, 1], "/p/3.12": [3, 12, 7],
                "/p/3.11": [3, 11, 2], "/p/3.9": [3, 9, 18], "/p/3.15": [3, 15, 0],
                "/Applications/QGIS.app/Contents/MacOS/bin/python3": [3, 12, 8]}
    monkeypatch.setattr(install, "_candidate_paths", lambda label: [(p, "test") for p in
                                                                    versions])
    monkeypatch.setattr(install.Path, "is_file", lambda self: True)
    monkeypatch.setattr(install, "is_shim", lambda path: False)
    monkeypatch.setattr(install, "_probe", lambda path: {
        "executable": path, "version": versions[path], "venv": True, "ensurepip": True,
        "in_venv": False, "prefix": path})
    monkeypatch.setattr(sys, "platform", "darwin")
    monkeypatch.setattr(figures, "current_platform", lambda: "manylinux_x86_64")
    found = install.discover_base_pythons()
    assert [b.path for b in found] == [
        "/p/3.12", "/p/3.11", "/p/3.13", "/p/3.14",
        "/Applications/QGIS.app/Contents/MacOS/bin/python3", "/p/3.15", "/p/3.9"]
    assert "QGIS.app" in found[4].note and found[4].usable
    assert "newer than the tested" in found[5].note and not found[6].usable


def test_venv_creation_retries_when_antivirus_locks_a_file(tmp_path):
    counter = tmp_path / "attempts"
    fake = tmp_path / "python-locked"
    fake.write_text(
        "#!/bin/sh\n"
        f"n=$(cat '{counter}' 2>/dev/null || echo 0); n=$((n+1)); echo $n > '{counter}'\n"
        'if [ $n -le 2 ]; then echo "PermissionError: [WinError 32] The process cannot access '
        'the file because it is being used by another process" >&2; exit 1; fi\n'
        f'exec /usr/bin/python3 "$@" --without-pip\n')
    fake.chmod(0o755)
    slept = []
    with open(tmp_path / "log", "w") as log:
        code = install._make_venv(str(fake), tmp_path / "engine", log, cancel=lambda: False,
                                  env=setup_environment(), sleep=slept.append)
    assert code == 0 and counter.read_text().strip() == "3"
    assert slept == list(install.LOCKED_FILE_RETRIES[:2])
    assert (tmp_path / "engine" / "pyvenv.cfg").is_file()
    assert "a file was locked" in (tmp_path / "log").read_text()


def test_a_failed_install_quotes_pips_own_cause(tmp_path):
    """Offline with a wheel folder that lacks the packages: the message says which package
    pip could not find, not 'see the last lines of the log'."""
    empty = tmp_path / "wheels"
    empty.mkdir()
    with pytest.raises(install.SetupFailed) as failed:
        install.create_engine(tmp_path / "engine", "/usr/bin/python3",
                              log_path=tmp_path / "setup.log", find_links=str(empty))
    message = str(failed.value)
    pin = parse_constraints(constraints_file().read_text())["numpy"]
    # pip says it one of two ways, depending on its version; both name the package
    assert ("ERROR: Could not find a version that satisfies the requirement numpy" in message
            or ("ERROR: Cannot install numpy" in message
                and f"The user requested (constraint) numpy=={pin}" in message)), message
    assert "ResolutionImpossible" in message or "No matching distribution" in message
    assert str(tmp_path / "setup.log") in message and not (tmp_path / "engine").exists()
    log = (tmp_path / "setup.log").read_text()
    assert f"pins constraints-py{sys.version_info[0]}{sys.version_info[1]}.txt" in log


def test_failure_cause_is_the_error_block_not_the_last_lines():
    output = (["Collecting numpy==1.26.4", "  Downloading numpy-1.26.4.tar.gz (15.8 MB)",
               "  Installing build dependencies: started", "  error: subprocess-exited-with-"
               "error", "", "  × Preparing metadata (pyproject.toml) did not run successfully.",
               "  │ exit code: 1", "  ╰─> [3 lines of output]", "      ERROR: Unknown compiler(s):"
               " [['cc'], ['gcc']]", "      [end of output]", ""]
              + [f"  note: line {n}" for n in range(30)]
              + ["error: metadata-generation-failed", "", "× Encountered error while "
                 "generating package metadata.", "╰─> numpy"])
    cause = failure_cause(output)
    assert "ERROR: Unknown compiler(s): [['cc'], ['gcc']]" in cause
    assert "note: line 29" not in cause  # pip's closing notes are not the cause
    assert "error: metadata-generation-failed" in failure_cause(output, limit=40)


def test_progress_is_reported_per_package_while_pip_installs(tmp_path):
    site = tmp_path / "site-packages"
    site.mkdir()
    (site / "pip-24.0.dist-info").mkdir()
    seen = []
    reader = PipProgress(lambda f, m: seen.append((f, m)), expected=3, site_folder=site)
    for line in ["Collecting numpy==1.26.4 (from -c c.txt)",
                 "  Downloading numpy-1.26.4-cp311-cp311-manylinux_2_17_x86_64.whl (18.3 MB)",
                 "Processing ./wheels/affine-2.4.0-py3-none-any.whl",
                 "Requirement already satisfied: pip in ./lib",
                 "Installing collected packages: affine, numpy"]:
        reader.line(line)
    assert [m for _, m in seen[:3]] == ["getting numpy (1 of about 3 packages)",
                                        "downloading numpy, 18.3 MB (1 of about 3)",
                                        "getting affine (2 of about 3 packages)"]
    (site / "affine-2.4.0.dist-info").mkdir()
    reader.tick()
    reader.tick()
    (site / "numpy-1.26.4.dist-info").mkdir()
    reader.tick()
    assert [m for _, m in seen[-2:]] == ["installed affine (1 of 2)", "installed numpy (2 of 2)"]
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 0.9


def test_setup_environment_drops_qgis_settings_and_passes_proxy_and_ca(tmp_path):
    bundle = tmp_path / "corporate-ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    qgis = {"PYTHONHOME": "/q", "PYTHONPATH": "/q/p", "PROJ_DATA": "/q/proj",
            "PROJ_LIB": "/q/proj", "GDAL_DATA": "/q/gdal", "PATH": "/usr/bin",
            "SSL_CERT_FILE": str(bundle)}
    env = setup_environment(qgis, proxy="http://u:s%40cret@proxy.corp:3128",
                            no_proxy="intranet")
    assert not {"PYTHONHOME", "PYTHONPATH", "PROJ_DATA", "PROJ_LIB", "GDAL_DATA"} & set(env)
    assert env["HTTPS_PROXY"] == env["HTTP_PROXY"] == "http://u:s%40cret@proxy.corp:3128"
    assert env["NO_PROXY"] == "intranet" and env["PIP_CERT"] == str(bundle)
    # the user's own proxy variables win over QGIS's setting
    mine = setup_environment(dict(qgis, HTTPS_PROXY="http://mine:8080"), proxy="http://q:1")
    assert mine["HTTPS_PROXY"] == "http://mine:8080" and "HTTP_PROXY" not in mine
    assert redact("http://u:s%40cret@proxy.corp:3128") == "http://u:***@proxy.corp:3128"


def test_qgis_network_proxy_settings_reach_pip(qgis_app):
    from qgis.core import QgsSettings

    from raster_collect_plugin.gui.engine_setup_task import qgis_proxy

    settings = QgsSettings()
    values = {"proxy/proxyEnabled": True, "proxy/proxyType": "HttpProxy",
              "proxy/proxyHost": "proxy.corp", "proxy/proxyPort": "3128",
              "proxy/proxyUser": "forester", "proxy/proxyPassword": "p@ss",
              "proxy/proxyExcludedUrls": "http://intranet/|localhost"}
    try:
        for key, value in values.items():
            settings.setValue(key, value)
        assert qgis_proxy() == ("http://forester:p%40ss@proxy.corp:3128", "intranet,localhost")
        settings.setValue("proxy/proxyType", "Socks5Proxy")
        assert qgis_proxy() == (None, "")
        settings.setValue("proxy/proxyEnabled", False)
        assert qgis_proxy() == (None, "")
    finally:
        for key in values:
            settings.remove(key)


def test_repair_downloads_only_what_is_missing():
    ok = {"packages": [{"name": "numpy", "status": "ok"}, {"name": "dask", "status": "ok"}]}
    assert install.repair_plan(ok) == []
    broken = {"packages": [{"name": "numpy", "status": "ok"},
                           {"name": "dask", "status": "missing"},
                           {"name": "zarr", "status": "wrong version"}]}
    assert install.repair_plan(broken) == ["dask", "zarr"]
    assert install.repair_plan(None)  # unknown state: it may download everything


def test_setup_figures_come_from_the_wheels_and_the_readme_shows_them():
    linux = figures.setup_figures((3, 11), "manylinux_x86_64")
    assert not linux["estimated"] and linux["wheels"] and 150 < linux["download_mb"] < 500
    assert linux["disk_mb"] > 2 * linux["download_mb"]
    windows = figures.setup_figures((3, 12), "win_amd64")
    assert windows["download_mb"] != linux["download_mb"]
    assert figures.setup_figures((3, 12), "freebsd")["estimated"]
    text = install.setup_size_text((3, 11))
    here = figures.setup_figures((3, 11))
    assert f"about {here['download_mb']} MB download" in text
    assert readme_table(figures.load_figures()) in (ROOT / "README.md").read_text()



def test_a_set_up_step_leaves_no_pipe_open(tmp_path):
    """The child's output pipe is closed (it gave a ResourceWarning in every set-up)."""
    import gc
    import io
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code = install._run_step([sys.executable, "-c", "print('hi')"], io.StringIO(),
                                 cancel=lambda: False, on_line=lambda line: None)
        gc.collect()
    assert code == 0
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)], caught
