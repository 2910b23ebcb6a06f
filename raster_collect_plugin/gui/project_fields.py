"""Dock fields saved in the QGIS project and restored when it is reopened, registered by the
section that owns them (one call each):

    register_field("storm/severe_fraction", "severe_fraction_spin")

The value is read from and written to the dock's widget of that name by its type (date edits,
spin boxes, check boxes, combo boxes, line edits, file widgets, lists of check boxes), or with
the ``read``/``write`` functions given. Entries live under the plugin's project scope
(``SCOPE``, key ``dock/<key>``); never register a secret (tokens, passwords):
project files are shared."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional

from qgis.core import QgsProject
from qgis.gui import QgsFileWidget
from qgis.PyQt.QtCore import QDate, Qt
from qgis.PyQt.QtWidgets import (
    QAbstractButton,
    QComboBox,
    QDateEdit,
    QDoubleSpinBox,
    QGroupBox,
    QLineEdit,
    QListWidget,
    QSpinBox,
)

SCOPE = "raster_collect"  # the plugin's scope of the project's entries
DATE = "yyyy-MM-dd"
SECRET_WORDS = ("token", "secret", "password", "passwd", "api_key", "apikey", "credential")


@dataclass(frozen=True)
class DockField:
    """One saved field: the project key, the dock attribute holding its widget, and optional
    functions reading its value as text and writing that text back."""

    key: str
    widget: str
    read: Optional[Callable[[Any], Any]] = None
    write: Optional[Callable[[Any, Any], None]] = None


FIELDS: Dict[str, DockField] = {}


def register_field(key: str, widget: str, *, read: Optional[Callable[[Any], Any]] = None,
                   write: Optional[Callable[[Any, Any], None]] = None) -> DockField:
    """Save the dock's ``widget`` (attribute name) in the project under ``key`` and restore it
    on reopen. Registering a key again replaces it. Raises ValueError for a key or widget name
    that looks like a secret: those stay in QGIS's authentication database."""
    lowered = f"{key} {widget}".lower()
    if any(word in lowered for word in SECRET_WORDS):
        raise ValueError(f"{key!r} looks like a secret: secrets are never written into project "
                         "files (use QGIS's authentication database)")
    field = DockField(key, widget, read, write)
    FIELDS[key] = field
    return field


def register_state(key: str, widget: str, state_of: Callable[[Any], Dict[str, Any]],
                   restore: Callable[[Any, Dict[str, Any]], None]) -> DockField:
    """``register_field`` for a section saved as one JSON object: ``state_of(section)`` gives
    it, ``restore(section, state)`` puts it back; an unreadable entry leaves the section as
    it is."""

    def write(section, text) -> None:
        try:
            state = json.loads(text)
        except ValueError:
            return
        if isinstance(state, dict):
            restore(section, state)

    return register_field(key, widget, read=lambda section: json.dumps(state_of(section),
                                                                       sort_keys=True),
                          write=write)


def _checked_keys(widget) -> List[str]:
    return [str(widget.item(r).data(Qt.ItemDataRole.UserRole) or widget.item(r).text())
            for r in range(widget.count())
            if widget.item(r).checkState() == Qt.CheckState.Checked]


def read_widget(widget) -> Any:
    """A widget's value as text (or a list of text for a list of check boxes)."""
    if isinstance(widget, QDateEdit):
        return widget.date().toString(DATE)
    if isinstance(widget, (QSpinBox, QDoubleSpinBox)):
        return repr(widget.value())
    if isinstance(widget, (QAbstractButton, QGroupBox)):
        return "true" if widget.isChecked() else "false"
    if isinstance(widget, QComboBox):
        return widget.currentText()
    if isinstance(widget, QgsFileWidget):
        return widget.filePath()
    if isinstance(widget, QLineEdit):
        return widget.text()
    if isinstance(widget, QListWidget):
        return _checked_keys(widget)
    raise TypeError(f"cannot save a {type(widget).__name__} in the project: register it with "
                    "read= and write= functions")


def write_widget(widget, value: Any) -> None:
    """Put a value read by ``read_widget`` back into the widget."""
    if isinstance(widget, QDateEdit):
        day = QDate.fromString(str(value), DATE)
        if day.isValid():
            widget.setDate(day)
    elif isinstance(widget, QSpinBox):
        widget.setValue(int(float(value)))
    elif isinstance(widget, QDoubleSpinBox):
        widget.setValue(float(value))
    elif isinstance(widget, (QAbstractButton, QGroupBox)):
        widget.setChecked(str(value).lower() == "true")
    elif isinstance(widget, QComboBox):
        widget.setCurrentText(str(value))
    elif isinstance(widget, QgsFileWidget):
        widget.setFilePath(str(value))
    elif isinstance(widget, QLineEdit):
        widget.setText(str(value))
    elif isinstance(widget, QListWidget):
        wanted = set(value)
        for row in range(widget.count()):
            item = widget.item(row)
            key = str(item.data(Qt.ItemDataRole.UserRole) or item.text())
            item.setCheckState(Qt.CheckState.Checked if key in wanted
                               else Qt.CheckState.Unchecked)
    else:
        raise TypeError(f"cannot restore a {type(widget).__name__} from the project")


def save_fields(dock, project: QgsProject) -> int:
    """Every registered field the dock has into the project; returns how many."""
    saved = 0
    for field in FIELDS.values():
        widget = getattr(dock, field.widget, None)
        if widget is None:
            continue
        value = (field.read or read_widget)(widget)
        project.writeEntry(SCOPE, f"dock/{field.key}",
                           [str(v) for v in value] if isinstance(value, list) else str(value))
        saved += 1
    return saved


def restore_fields(dock, project: QgsProject) -> int:
    """Registered fields back from the project (those it holds); returns how many."""
    restored = 0
    for field in FIELDS.values():
        widget = getattr(dock, field.widget, None)
        if widget is None:
            continue
        if isinstance(widget, QListWidget) and field.read is None:
            value, found = project.readListEntry(SCOPE, f"dock/{field.key}")
        else:
            value, found = project.readEntry(SCOPE, f"dock/{field.key}")
        if not found:
            continue
        (field.write or write_widget)(widget, value)
        restored += 1
    return restored
