"""What a saved project brings back: the dock's choices (sources, catalog, dates, indices...),
the temporal controller's mode, range, step and frame, and the datum transformations between
the forests' and the outputs' CRS (chosen once, stored in the project: no prompt on reopen).

Entries live under the plugin's scope of the project (``QgsProject.writeEntry``); the
temporal controller's are also written where QGIS's Temporal Controller panel reads them."""

from __future__ import annotations

from typing import Iterable, List, Optional

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsDateTimeRange,
    QgsDatumTransform,
    QgsInterval,
    QgsProject,
    QgsTemporalNavigationObject,
    QgsVectorLayer,
)
from qgis.PyQt.QtCore import QDate, QDateTime, QObject, Qt

from ..qgis_compat import qgis_enum
from .project_fields import SCOPE, restore_fields, save_fields

PANEL = "TemporalControllerWidget"  # QGIS's Temporal Controller panel reads these
DATE = "yyyy-MM-dd"


def _number(text: str, default: float) -> float:
    """Numbers are stored as text (``writeEntry`` has no float overload in every QGIS)."""
    try:
        return float(text)
    except (TypeError, ValueError):
        return default


def _checked(widget) -> List[str]:
    return [str(widget.item(r).data(Qt.ItemDataRole.UserRole) or widget.item(r).text())
            for r in range(widget.count())
            if widget.item(r).checkState() == Qt.CheckState.Checked]


def _check(widget, keys: Iterable[str]) -> None:
    wanted = set(keys)
    for row in range(widget.count()):
        item = widget.item(row)
        key = str(item.data(Qt.ItemDataRole.UserRole) or item.text())
        item.setCheckState(Qt.CheckState.Checked if key in wanted else Qt.CheckState.Unchecked)


def save_dock_state(dock, project: QgsProject) -> None:
    """The dock's choices into the project."""
    from .sections import SOURCES

    sources = [SOURCES[r][0] for r in range(dock.source_list.count())
               if dock.source_list.item(r).checkState() == Qt.CheckState.Checked]
    layer = dock.layer_combo.currentLayer()
    entries = {
        "dock/sources": sources, "dock/indices": _checked(dock.index_list),
        "dock/masks": _checked(dock.mask_list),
        "dock/catalog": dock.catalog_edit.filePath(),
        "dock/collections": dock.custom_collections.text(),
        "dock/custom_url": dock.custom_url.text(), "dock/maxar_event": dock.maxar_event.text(),
        "dock/preset": dock.preset_combo.currentText(),
        "dock/event": dock.event_date.date().toString(DATE),
        "dock/start": dock.start_date.date().toString(DATE),
        "dock/end": dock.end_date.date().toString(DATE),
        "dock/period": dock.period_combo.currentText(),
        "dock/output_folder": dock.output_folder.filePath(),
        "dock/layer": layer.id() if layer is not None else "",
        "dock/id_field": dock.id_field_combo.currentField(),
    }
    for key, value in entries.items():
        project.writeEntry(SCOPE, key, value)
    project.writeEntry(SCOPE, "dock/max_cloud", repr(float(dock.max_cloud.value())))
    project.writeEntry(SCOPE, "dock/selected_only", dock.selected_only.isChecked())
    save_fields(dock, project)  # the fields other sections registered


def restore_dock_state(dock, project: QgsProject) -> bool:
    """The dock's choices back from the project; False if it holds none."""
    from .sections import SOURCES

    sources, found = project.readListEntry(SCOPE, "dock/sources")
    if not found:
        return False

    def text(key: str) -> str:
        return project.readEntry(SCOPE, key)[0]

    layer = project.mapLayer(text("dock/layer"))
    if isinstance(layer, QgsVectorLayer):
        dock.layer_combo.setLayer(layer)
        if text("dock/id_field"):
            dock.id_field_combo.setField(text("dock/id_field"))
    dock.selected_only.setChecked(project.readBoolEntry(SCOPE, "dock/selected_only")[0])
    for row, (key, _, _) in enumerate(SOURCES):
        dock.source_list.item(row).setCheckState(
            Qt.CheckState.Checked if key in sources else Qt.CheckState.Unchecked)
    _check(dock.index_list, project.readListEntry(SCOPE, "dock/indices")[0])
    _check(dock.mask_list, project.readListEntry(SCOPE, "dock/masks")[0])
    dock.catalog_edit.setFilePath(text("dock/catalog"))
    dock.custom_collections.setText(text("dock/collections"))
    dock.custom_url.setText(text("dock/custom_url"))
    dock.maxar_event.setText(text("dock/maxar_event"))
    dock.max_cloud.setValue(_number(text("dock/max_cloud"), 100.0))
    if text("dock/period"):
        dock.period_combo.setCurrentText(text("dock/period"))
    if text("dock/output_folder"):
        dock.output_folder.setFilePath(text("dock/output_folder"))
    # the preset and the event date move the dates: set them first, the dates last
    dock.preset_combo.setCurrentText(text("dock/preset"))
    for key, widget in (("dock/event", dock.event_date), ("dock/start", dock.start_date),
                        ("dock/end", dock.end_date)):
        day = QDate.fromString(text(key), DATE)
        if day.isValid():
            widget.setDate(day)
    restore_fields(dock, project)
    return True


# ---------------------------------------------------------------- temporal controller

def remember_temporal(controller: QgsTemporalNavigationObject, project: QgsProject) -> None:
    """The controller's mode, range, step and frame into the project (the QGIS panel's
    entries and time settings too, so QGIS itself restores them)."""
    extent = controller.temporalExtents()
    step = controller.frameDuration()
    mode = int(getattr(controller.navigationMode(), "value", controller.navigationMode()))
    project.writeEntry(PANEL, "/NavigationMode", mode)
    project.writeEntry(PANEL, "/StartDateTime", extent.begin().toString(Qt.DateFormat.ISODate))
    project.writeEntry(PANEL, "/EndDateTime", extent.end().toString(Qt.DateFormat.ISODate))
    settings = project.timeSettings()
    settings.setTemporalRange(extent)
    settings.setTimeStep(step.originalDuration())
    settings.setTimeStepUnit(step.originalUnit())
    project.writeEntry(SCOPE, "temporal/mode", mode)
    project.writeEntry(SCOPE, "temporal/begin", extent.begin().toString(Qt.DateFormat.ISODate))
    project.writeEntry(SCOPE, "temporal/end", extent.end().toString(Qt.DateFormat.ISODate))
    project.writeEntry(SCOPE, "temporal/step", repr(float(step.originalDuration())))
    project.writeEntry(SCOPE, "temporal/unit", int(getattr(step.originalUnit(), "value",
                                                           step.originalUnit())))
    project.writeEntry(SCOPE, "temporal/frame", int(controller.currentFrameNumber()))


def restore_temporal(controller: Optional[QgsTemporalNavigationObject],
                     project: QgsProject) -> bool:
    """Put the controller back as the project saved it; False if there was nothing."""
    mode, found = project.readNumEntry(SCOPE, "temporal/mode")
    if controller is None or not found:
        return False
    begin = QDateTime.fromString(project.readEntry(SCOPE, "temporal/begin")[0],
                                 Qt.DateFormat.ISODate)
    end = QDateTime.fromString(project.readEntry(SCOPE, "temporal/end")[0],
                               Qt.DateFormat.ISODate)
    if not begin.isValid() or not end.isValid():
        return False
    unit_type = type(qgis_enum("Qgis.TemporalUnit.Months"))
    unit = unit_type(project.readNumEntry(SCOPE, "temporal/unit")[0])
    controller.setTemporalExtents(QgsDateTimeRange(begin, end))
    controller.setFrameDuration(QgsInterval(
        _number(project.readEntry(SCOPE, "temporal/step")[0], 1.0), unit))
    controller.setNavigationMode(type(qgis_enum("Qgis.TemporalNavigationMode.Disabled"))(mode))
    frame = project.readNumEntry(SCOPE, "temporal/frame", 0)[0]
    controller.setCurrentFrameNumber(min(max(frame, 0), controller.totalFrameCount() - 1))
    return True


# ---------------------------------------------------------------- datum transformations

def register_transformations(crs_list: Iterable[QgsCoordinateReferenceSystem],
                             project: QgsProject) -> int:
    """For each pair of these CRSs with several possible operations (GDA94 / MGA forests,
    WGS 84 / UTM outputs), store PROJ's best available one in the project's transform
    context: QGIS then never asks which to use (also when the project is reopened).
    Returns the number of pairs registered."""
    unique = []
    for crs in crs_list:
        if crs.isValid() and all(crs != seen for seen in unique):
            unique.append(crs)
    context = project.transformContext()
    added = 0
    for position, source in enumerate(unique):
        for target in unique[position + 1:]:
            if context.hasTransform(source, target):
                continue
            operations = [o for o in QgsDatumTransform.operations(source, target)
                          if o.isAvailable and o.proj]
            if len(operations) < 2:
                continue  # one way only: QGIS does not ask
            context.addCoordinateOperation(source, target, operations[0].proj, True)
            added += 1
    if added:
        project.setTransformContext(context)
    return added


class ProjectHooks(QObject):
    """The dock's link to project saving and reading (one per dock)."""

    def __init__(self, dock):
        super().__init__(dock)
        self.dock = dock
        project = QgsProject.instance()
        project.writeProject.connect(self.write)
        project.readProject.connect(self.read)

    def _controller(self) -> Optional[QgsTemporalNavigationObject]:
        from .temporal_focus import temporal_controller

        iface = self.dock.iface
        return temporal_controller(iface.mapCanvas() if iface is not None else None)

    def write(self, *_args) -> None:
        project = QgsProject.instance()
        save_dock_state(self.dock, project)
        controller = self._controller()
        if controller is not None and controller.navigationMode() != \
                qgis_enum("Qgis.TemporalNavigationMode.Disabled"):
            remember_temporal(controller, project)

    def read(self, *_args) -> None:
        project = QgsProject.instance()
        if restore_dock_state(self.dock, project) and self.dock.current_task is None:
            self.dock.set_status("The project's choices are back in the form (sources, "
                                 "catalog, dates, indices)")
        restore_temporal(self._controller(), project)

    def close(self) -> None:
        project = QgsProject.instance()
        for signal, slot in ((project.writeProject, self.write),
                             (project.readProject, self.read)):
            try:
                signal.disconnect(slot)
            except (TypeError, RuntimeError):
                pass
