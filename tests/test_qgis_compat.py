"""One place maps the current QGIS API spellings to QGIS 3.22's (qgis_compat), and the plugin
uses no other spelling: the same code loads on QGIS 3.22 (Qt5) and QGIS 3.40+/4 (Qt6)."""

import re
from pathlib import Path
from types import SimpleNamespace

from qgis.core import Qgis, QgsField
from qgis.PyQt.QtCore import QMetaType

from raster_collect_plugin import qgis_compat
from raster_collect_plugin.qgis_compat import (
    RENAMED_ENUMS,
    field_type,
    new_field,
    qgis_enum,
)

PLUGIN_DIR = Path(qgis_compat.__file__).resolve().parent


def test_every_enum_resolves_on_the_running_qgis(qgis_app):
    for current, old in RENAMED_ENUMS.items():
        value = qgis_enum(current)
        assert value is not None, current
        if Qgis.versionInt() < 33000:  # 3.22: none of the Qgis.* spellings exist yet
            assert value == qgis_compat._resolve(old), current


def test_the_current_spelling_wins_where_qgis_has_it(monkeypatch, qgis_app):
    monkeypatch.setattr(Qgis, "ProcessingSourceType", SimpleNamespace(VectorPolygon="new"),
                        raising=False)
    qgis_enum.cache_clear()
    try:
        assert qgis_enum("Qgis.ProcessingSourceType.VectorPolygon") == "new"
    finally:
        qgis_enum.cache_clear()


def test_fields_get_the_type_argument_their_qgis_accepts(monkeypatch, qgis_app):
    for meta in (QMetaType.Type.QString, QMetaType.Type.Double, QMetaType.Type.Int,
                 QMetaType.Type.Bool, QMetaType.Type.LongLong):
        field = new_field("a", meta)
        assert isinstance(field, QgsField) and field.name() == "a"
        assert int(field.type()) == int(meta)
    assert new_field("b", QMetaType.Type.Double).isNumeric()
    assert not new_field("c", QMetaType.Type.QString).isNumeric()
    if Qgis.versionInt() < 33800:  # before 3.38 QgsField wants a QVariant.Type
        assert type(field_type(QMetaType.Type.Double)) is not type(QMetaType.Type.Double)
    monkeypatch.setattr(Qgis, "versionInt", staticmethod(lambda: 34000))
    assert type(field_type(QMetaType.Type.Double)) is type(QMetaType.Type.Double)


def test_no_pre_3_36_enum_spelling_outside_the_compat_module():
    """The old names are gone on QGIS 4: only qgis_compat may name them (as its fallback)."""
    patterns = []
    for old in RENAMED_ENUMS.values():
        owner, *scope, member = old.split(".")
        patterns.append(re.escape(old))
        patterns.append(rf"\b{re.escape(owner)}\.{re.escape(member)}\b")  # unscoped form
    pattern = re.compile("|".join(patterns))
    offenders = []
    for path in PLUGIN_DIR.rglob("*.py"):
        if path.name == "qgis_compat.py":
            continue
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if pattern.search(line):
                offenders.append(f"{path.relative_to(PLUGIN_DIR)}:{number}: {line.strip()}")
    assert offenders == []


def test_no_qvariant_type_constants_in_the_plugin():
    offenders = [
        f"{path.relative_to(PLUGIN_DIR)}:{number}"
        for path in PLUGIN_DIR.rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if re.search(r"\bQVariant\.(?!Type\b)\w", line)
    ]
    assert offenders == []


def unscoped_enums(source: str) -> list:
    """``Class.Member`` uses of an enum member without its enum (``Qt.AlignLeft``), found by
    asking the Qt5 bindings what each name is: Qt6 (PyQt6) knows only the scoped spelling."""
    import ast

    import qgis.core
    import qgis.gui
    from qgis.PyQt import QtCore, QtGui, QtWidgets

    names = {}
    for module in (QtCore, QtGui, QtWidgets, qgis.core, qgis.gui):
        names.update(vars(module))
    found = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)):
            continue
        owner = names.get(node.value.id)
        value = getattr(owner, node.attr, None) if isinstance(owner, type) else None
        kind = type(value)
        if (isinstance(value, int) and kind not in (int, bool)
                and getattr(owner, kind.__name__, None) is kind and kind.__name__ != node.attr):
            found.append(f"{node.lineno}: {node.value.id}.{node.attr} -> "
                         f"{node.value.id}.{kind.__name__}.{node.attr}")
    return found


def test_enum_members_are_named_with_their_enum(qgis_app):
    assert unscoped_enums("from qgis.PyQt.QtCore import Qt\na = Qt.AlignLeft\n") == [
        "2: Qt.AlignLeft -> Qt.AlignmentFlag.AlignLeft"]
    assert unscoped_enums("b = Qt.AlignmentFlag.AlignLeft\n") == []
    offenders = [f"{path.relative_to(PLUGIN_DIR)}:{line}"
                 for path in PLUGIN_DIR.rglob("*.py")
                 for line in unscoped_enums(path.read_text())]
    assert offenders == []
