"""The packaged zip installs into a QGIS profile and QGIS finds the plugin and its provider."""

import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

from tools.package_plugin import build

ROOT = Path(__file__).resolve().parent.parent

QGIS_SCRIPT = textwrap.dedent("""
    import json, sys
    from qgis.core import QgsApplication
    app = QgsApplication([], True)
    app.initQgis()
    import qgis.utils
    plugins_dir = sys.argv[1]
    sys.path.insert(0, plugins_dir)
    qgis.utils.plugin_paths = [plugins_dir]
    qgis.utils.updateAvailablePlugins()
    sys.path.insert(0, sys.argv[2])
    from recording_iface import RecordingIface
    from qgis.PyQt.QtWidgets import QMainWindow
    window = QMainWindow()
    qgis.utils.iface = RecordingIface(window)
    name = "raster_collect_plugin"
    found = name in qgis.utils.available_plugins
    loaded = qgis.utils.loadPlugin(name)
    started = qgis.utils.startPlugin(name)
    registry = QgsApplication.processingRegistry()
    provider = registry.providerById("raster_collect")
    print(json.dumps({
        "found": found, "loaded": loaded, "started": started,
        "module_file": sys.modules[name].__file__,
        "has_processing": qgis.utils.pluginMetadata(name, "hasProcessingProvider"),
        "min_version": qgis.utils.pluginMetadata(name, "qgisMinimumVersion"),
        "provider": provider.name() if provider else None,
        "algorithms": sorted(a.id() for a in provider.algorithms()) if provider else [],
        "actions": len(qgis.utils.iface.toolbar_actions),
    }))
    qgis.utils.unloadPlugin(name)
    print(json.dumps({"after_unload": registry.providerById("raster_collect") is None}))
""")


def test_packaged_zip_installs_into_a_qgis_profile(tmp_path):
    archive = build(tmp_path / "staging", tmp_path / "raster_collect_plugin.zip")
    names = zipfile.ZipFile(archive).namelist()
    assert "raster_collect_plugin/metadata.txt" in names
    assert "raster_collect_plugin/resources/icon.svg" in names
    assert "raster_collect_plugin/__init__.py" in names
    assert not any("__pycache__" in n or n.startswith("tests/") for n in names)

    plugins_dir = tmp_path / "profile" / "python" / "plugins"
    plugins_dir.mkdir(parents=True)
    zipfile.ZipFile(archive).extractall(plugins_dir)
    script = tmp_path / "start_qgis.py"
    script.write_text(QGIS_SCRIPT)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    env.pop("PYTHONPATH", None)
    result = subprocess.run(
        [sys.executable, str(script), str(plugins_dir), os.path.dirname(__file__)],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 2, result.stdout + result.stderr
    report = json.loads(lines[0])
    assert report["found"] and report["loaded"] and report["started"], report
    assert report["module_file"].startswith(str(plugins_dir)), report
    assert report["has_processing"] == "yes" and report["min_version"] == "3.22"
    assert report["provider"] == "Raster collect"
    assert "raster_collect:create_sample_data" in report["algorithms"]
    assert report["actions"] == 1
    assert json.loads(lines[1])["after_unload"] is True


def test_make_package_writes_the_zip_with_the_engine_requirements(tmp_path):
    """`make package` (README install step 1) builds the zip users install from."""
    result = subprocess.run(["make", "-s", "-C", str(ROOT), "package", f"DIST={tmp_path}"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    [archive] = tmp_path.glob("raster_collect_plugin-*.zip")
    version = [line.split("=", 1)[1] for line in (ROOT / "metadata.txt").read_text().splitlines()
               if line.startswith("version=")][0]
    assert archive.name == f"raster_collect_plugin-{version}.zip"
    with zipfile.ZipFile(archive) as opened:
        names = set(opened.namelist())
        shipped = opened.read("raster_collect_plugin/requirements.txt").decode()
        pins = opened.read("raster_collect_plugin/constraints-py311.txt").decode()
    for name in ("metadata.txt", "resources/icon.svg", "resources/report_layout.qpt",
                 "__init__.py", "engine/doctor.py",
                 "requirements.txt", "engine/wheel_figures.json",
                 *(f"constraints-py3{minor}.txt" for minor in range(10, 15))):
        assert f"raster_collect_plugin/{name}" in names
    # one source: the zip carries the very files `make setup` installs from
    assert shipped == (ROOT / "raster_collect_plugin" / "requirements.txt").read_text()
    assert "affine>=2.3,<3" in shipped and "pyarrow>=14\n" in shipped
    assert pins == (ROOT / "raster_collect_plugin" / "constraints-py311.txt").read_text()
    assert "numpy==1.26.4" in pins.splitlines()
    assert "-r raster_collect_plugin/requirements.txt" in (ROOT / "requirements.txt").read_text()
    # `make setup` adds the lock of the venv's Python to the development pins
    assert "-c $(ENGINE_LOCK)" in (ROOT / "Makefile").read_text()
    assert not any("__pycache__" in n or n.endswith(".part") for n in names)
