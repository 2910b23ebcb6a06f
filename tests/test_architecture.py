"""Architecture rules that keep the plugin portable and the house readable: core without QGIS,
Qt6-ready code, no import circles, doors on top, small files (docs/architecture.md)."""

import ast
import importlib
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


DOORS = ("cli", "gui", "processing", "engine", "plugin")
MAX_LINES = 500


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PLUGIN_DIR.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules():
    return {_module_name(path): path for path in sorted(PLUGIN_DIR.rglob("*.py"))}


def _face(tree: ast.Module):
    """The ``_FACE`` table of a folder's __init__ (name -> module), if it has one."""
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "_FACE"
                                                for t in node.targets):
            return ast.literal_eval(node.value)
    return None


def import_graph():
    """Module -> the plugin's modules it imports. Counts every import statement anywhere in
    the file: module level, inside functions and under ``if TYPE_CHECKING`` alike (a function
    level import still makes a circle when it runs), and a face's lazily loaded modules."""
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text())
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[:len(package.split(".")) - node.level + 1]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                for alias in node.names:
                    if f"{source}.{alias.name}" in modules:
                        targets.add(f"{source}.{alias.name}")
                    elif source in modules:
                        targets.add(source)
            elif isinstance(node, ast.Import):
                targets.update(a.name for a in node.names if a.name in modules)
        face = _face(tree) if path.name == "__init__.py" else None
        targets.update(f"{name}.{module}" for module in (face or {}).values())
        graph[name] = targets - {name}
    return graph


def strongly_connected(graph):
    """Tarjan's strongly connected components, iteratively."""
    index, low, on_stack, stack, found, counter = {}, {}, set(), [], [], [0]
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    found.append(sorted(component))
    return found


def test_no_import_circles():
    graph = import_graph()
    assert "raster_collect_plugin.core.composites.pipeline" in graph
    circles = [c for c in strongly_connected(graph) if len(c) > 1]
    assert circles == []


def test_core_folders_depend_one_way():
    """Folders of core/ form layers: no two import each other, directly or round a loop."""
    def folder(module):
        parts = module.split(".")
        return ".".join(parts[:3]) if parts[1] == "core" and len(parts) > 2 else module

    folders = {}
    for module, targets in import_graph().items():
        if module.startswith(core.__name__ + "."):
            folders.setdefault(folder(module), set()).update(
                folder(t) for t in targets if t.startswith(core.__name__ + "."))
    for name in folders:
        folders[name].discard(name)
    assert [c for c in strongly_connected(folders) if len(c) > 1] == []


def test_the_circle_finder_finds_a_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert [c for c in strongly_connected(graph) if len(c) > 1] == [["a", "b", "c"]]


def test_lower_layers_never_import_the_doors():
    doors = tuple(f"{core.__name__.rpartition('.')[0]}.{door}" for door in DOORS)
    offenders = [f"{module} -> {target}" for module, targets in import_graph().items()
                 if module.startswith(core.__name__)
                 for target in targets if target.startswith(doors)]
    assert offenders == []


def test_core_modules_import_modules_not_faces():
    """A face is for the doors; inside core a module names the module it needs, so the graph
    above shows the real dependencies (and no face loads a sibling folder whole)."""
    faces = {name for name, path in _modules().items()
             if path.name == "__init__.py" and _face(ast.parse(path.read_text())) is not None}
    offenders = [f"{module} -> {target}" for module, targets in import_graph().items()
                 if module.startswith(core.__name__ + ".") and module not in faces
                 for target in targets if target in faces]
    assert offenders == []


def test_faces_name_real_things_and_no_module():
    for name, path in _modules().items():
        face = _face(ast.parse(path.read_text())) if path.name == "__init__.py" else None
        for exported, module in (face or {}).items():
            assert not (path.parent / f"{exported}.py").exists(), (name, exported)
            assert hasattr(importlib.import_module(f"{name}.{module}"), exported), (name, exported)


def test_files_stay_small_and_names_do_not_repeat_their_folder():
    too_long = {str(p.relative_to(PLUGIN_DIR)): n for p in PLUGIN_DIR.rglob("*.py")
                if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert too_long == {}
    repeats = [str(p.relative_to(PLUGIN_DIR)) for p in PLUGIN_DIR.rglob("*.py")
               if p.stem == p.parent.name]
    assert repeats == []
