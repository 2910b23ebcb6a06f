"""Architecture rules that keep the plugin portable (core without QGIS, Qt6-ready code)."""

import json
import os
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import raster_collect_plugin.core as core

PLUGIN_DIR = Path(core.__file__).resolve().parent.parent


def core_module_names():
    names = [core.__name__]
    for info in pkgutil.walk_packages(core.__path__, prefix=core.__name__ + "."):
        names.append(info.name)
    return names


def test_core_never_imports_qgis_or_qt():
    modules = core_module_names()
    assert "raster_collect_plugin.core.sample.scenes" in modules, modules
    script = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('qgis', 'PyQt5', 'PyQt6'))\n"
        "print(json.dumps(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            cwd=PLUGIN_DIR.parent, check=True)
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def test_no_qt5_only_constructs():
    offenders = []
    pattern = re.compile(r"\bexec_\(|resources_rc|QRegExp\b|from PyQt5|import PyQt5")
    for path in PLUGIN_DIR.rglob("*.py"):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if pattern.search(line):
                offenders.append(f"{path.name}:{number}: {line.strip()}")
    assert offenders == []


def test_no_eval_or_exec_of_text():
    offenders = [
        str(path) for path in PLUGIN_DIR.rglob("*.py")
        if re.search(r"(^|[^.\w])(eval|exec)\(", path.read_text())
    ]
    assert offenders == []


def test_qgis_side_never_loads_the_heavy_geospatial_wheels():
    """gui/ and processing/ run inside QGIS, whose GDAL/GEOS/PROJ clash with the wheels' copies:
    they must reach core only through job specs run in a separate Python (engine/bridge.py)."""
    modules = ["raster_collect_plugin", "raster_collect_plugin.plugin",
               "raster_collect_plugin.settings"]
    modules += [f"raster_collect_plugin.engine.{p.stem}"
                for p in (PLUGIN_DIR / "engine").glob("*.py")]
    for package in ("gui", "processing"):
        folder = PLUGIN_DIR / package
        modules += [f"raster_collect_plugin.{package}.{p.stem}" for p in folder.glob("*.py")
                    if p.stem != "__init__"]
    script = (
        "import importlib, json, sys\n"
        "from qgis.core import QgsApplication\n"
        "app = QgsApplication([], False)\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "from raster_collect_plugin.processing.provider import RasterCollectProvider\n"
        "RasterCollectProvider().loadAlgorithms()\n"
        "heavy = ('rasterio', 'shapely', 'pyogrio', 'pyproj', 'geopandas', 'odc', 'fiona',\n"
        "         'exactextract', 'xarray', 'dask', 'numba', 'llvmlite')\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in heavy)\n"
        "print(json.dumps(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            cwd=PLUGIN_DIR.parent,
                            env=dict(os.environ, QT_QPA_PLATFORM="offscreen"))
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


QT5_PLUGIN = '''
from qgis.PyQt.QtCore import QVariant, Qt
from qgis.core import QgsField

FIELD = QgsField("name", QVariant.String)
BUTTON = Qt.MidButton


def fill(menu, slot):
    """Qt5-only: addAction(text, slot)."""
    menu.addAction("Run", slot)
'''


def run_qt6_lint(*args):
    return subprocess.run([sys.executable, str(PLUGIN_DIR.parent / "tools" / "qt6_lint.py"),
                           *map(str, args)], capture_output=True, text=True, timeout=600)


def test_qt6_lint_passes_on_the_packaged_plugin():
    """`make lint`'s Qt6 / QGIS 4 check (qgis-plugin-analyzer) on the plugin as the zip has it."""
    result = run_qt6_lint()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "qt6-lint: 0 Qt5-only finding(s)" in result.stdout


def test_qt6_lint_fails_on_qt5_only_idioms(tmp_path):
    plugin = tmp_path / "qt5_plugin"
    plugin.mkdir()
    (plugin / "metadata.txt").write_text(
        "[general]\nname=qt5\nqgisMinimumVersion=3.22\nqgisMaximumVersion=3.99\n"
        "version=0.1.0\ncategory=Raster\nrepository=https://example.org\n")
    (plugin / "__init__.py").write_text("def classFactory(iface):\n    return None\n")
    (plugin / "old.py").write_text(QT5_PLUGIN)
    result = run_qt6_lint(plugin)
    assert result.returncode == 1, result.stdout + result.stderr
    for expected in ("old.py:5: OBSOLETE_VARIANT", "old.py:6: QT6_REMOVED_ENUM",
                     "old.py:11: QT6_ADDACTION_MULTIARG", "METADATA_QGIS4"):
        assert expected in result.stdout, result.stdout
