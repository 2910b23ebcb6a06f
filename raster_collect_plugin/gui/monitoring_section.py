"""The dock's "Disturbance monitoring" section: the stable history, the monitoring folder and
one button that starts (or continues: only the new scenes) the monitoring of the chosen forests
with the dock's sources; the result's layers are added to the project, styled by alert, and the
chosen compartment's series is charted with the model and its anomalies."""

from __future__ import annotations

from datetime import date
from functools import partial
from pathlib import Path
from typing import ContextManager, Dict, Optional

from qgis.core import (
    QgsCategorizedSymbolRenderer,
    QgsFillSymbol,
    QgsPalettedRasterRenderer,
    QgsProject,
    QgsRasterLayer,
    QgsRendererCategory,
    QgsVectorLayer,
)
from qgis.gui import QgsCollapsibleGroupBox, QgsFileWidget
from qgis.PyQt.QtCore import QDate, Qt
from qgis.PyQt.QtGui import QColor
from qgis.PyQt.QtWidgets import (
    QCheckBox,
    QDateEdit,
    QDoubleSpinBox,
    QLabel,
    QPushButton,
    QSpinBox,
)

from ..core.monitoring import (
    ALERT_COLOURS,
    FORESTS_NAME,
    default_params,
    late_warning,
    placed_forests,
)
from ..core.monitoring.keys import RANGES
from ..core.monitoring.state import CONFIRMED, RECOVERED, STATUS_NAMES, SUSPECTED
from ..core.runs import DEFAULT_MONITOR_MAX_CLOUD_COVER
from ..core.sample import DISTURBANCE, DISTURBANCE_FOLDER, storm_sample_too_short
from ..default_outputs import default_output_root
from .dock_form import DockInputError
from .project_fields import register_state
from .run_layers import mark_group_outputs, new_run_group, replace_previous_runs
from .sections import narrow_form

KIND = "monitor"
NO_CLOUD_LIMIT = -1.0  # the cloud limit box's lowest value, shown as "none"
# the status raster's pixels over the compartments: only those with something to say
STATUS_COLOURS = {SUSPECTED: ALERT_COLOURS["suspected"], CONFIRMED: ALERT_COLOURS["disturbed"],
                  RECOVERED: "#4575b4"}


class MonitoringSection(QgsCollapsibleGroupBox):
    """History period, monitoring folder, the run button and a one-line result."""

    def __init__(self, parent=None):
        super().__init__("Disturbance monitoring", parent)
        self.setObjectName("raster_collect_monitoring")
        self.setSaveCollapsedState(False)
        self.setCollapsed(True)
        form = narrow_form(self)  # labels go above their fields when the dock is narrow
        today = QDate.currentDate()
        self.history_start = QDateEdit(QDate(today.year() - 3, 1, 1), self)
        self.history_end = QDateEdit(QDate(today.year() - 1, 12, 31), self)
        for edit in (self.history_start, self.history_end):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
        self.folder = QgsFileWidget(self)
        self.folder.setStorageMode(QgsFileWidget.StorageMode.GetDirectory)
        self.folder.setFilePath(str(default_output_root() / "monitoring"))
        # the monitoring's own (not the dock's 80 % for composites): what the command line's
        # monitor and a job spec take when none is given, so either continues the folder
        self.max_cloud = QDoubleSpinBox(self)
        self.max_cloud.setRange(NO_CLOUD_LIMIT, 100)
        self.max_cloud.setDecimals(0)
        self.max_cloud.setSuffix(" %")
        self.max_cloud.setSpecialValueText("none")
        self.max_cloud.setToolTip(
            "Scenes cloudier than this are not monitored. none (the default, as "
            "raster-collect monitor and a job spec): every scene, its clouds masked per "
            "pixel. A folder is continued with the limit it was started with")
        self.set_cloud_limit(DEFAULT_MONITOR_MAX_CLOUD_COVER)
        self.run_button = QPushButton("Monitor / update", self)
        self.run_button.setToolTip("Fit the stable history and monitor every later clear "
                                   "scene up to today; run again later: only the new scenes "
                                   "are processed (the folder keeps the state)")
        self.sample_button = QPushButton("Try it on sample data…", self)
        self.sample_button.setToolTip(
            "Create the disturbance sample (8 compartments, Sentinel-2 and Landsat 2023-2025; "
            "windthrow, a clear-fell and a dieback in 2025) and fill the form for it: the "
            "storm sample's 3 months are too few for a stable history")
        self.summary = QLabel("", self)
        self.summary.setWordWrap(True)
        form.addRow(self.sample_button)
        form.addRow("Stable history from", self.history_start)
        form.addRow("to", self.history_end)
        form.addRow("Monitoring folder", self.folder)
        form.addRow("Scene cloud limit", self.max_cloud)
        self.advanced = self._advanced_box()
        form.addRow(self.advanced)
        form.addRow(self.run_button)
        form.addRow(self.summary)
        from .monitoring_chart import MonitoringChart

        self.chart = MonitoringChart(self)
        self.chart_loaded = False  # expanding the section shows every child: keep it hidden
        self.chart.setVisible(False)
        self.collapsedStateChanged.connect(lambda _: self.chart.setVisible(self.chart_loaded))
        form.addRow(self.chart)
        self._index = "NDVI"

    def _advanced_box(self) -> QgsCollapsibleGroupBox:
        """The job spec's finer monitoring keys, collapsed: their defaults (MonitorParams)
        and ranges (core.monitoring.keys), as Processing's advanced parameters."""
        box = QgsCollapsibleGroupBox("Advanced", self)
        box.setObjectName("raster_collect_monitoring_advanced")
        box.setSaveCollapsedState(False)
        box.setCollapsed(True)
        form = narrow_form(box)
        defaults = default_params()
        self.trend = QCheckBox("Linear trend in the history model", box)
        self.trend.setChecked(defaults.trend)
        self.trend.setToolTip("For a history that drifts, e.g. a young stand growing")
        # the lowest value (one under the model's least) reads "default": 10, or the least
        self.min_history_obs = QSpinBox(box)
        self.min_history_obs.setRange(defaults.least_history_obs() - 1, 9999)
        self.min_history_obs.setSpecialValueText("default")
        self.min_history_obs.setToolTip(
            f"Clear history observations a pixel needs to be fitted (default "
            f"{defaults.min_history_obs}, or the model's least when more); a pixel with "
            "fewer is not monitored")
        self.screen_sigma = self._sigma_box(
            box, "screen_sigma", "History observations further than this many σ from a first "
                                 "fit (missed clouds, shadows) are dropped and the model refitted")
        self.outlier_sigma = self._sigma_box(
            box, "outlier_sigma", "Departures are clipped at this many σ before they enter the "
                                  "chart (0: not clipped)")
        form.addRow(self.trend)
        form.addRow("History observations needed", self.min_history_obs)
        form.addRow("Screen history beyond", self.screen_sigma)
        form.addRow("Clip departures at", self.outlier_sigma)
        return box

    @staticmethod
    def _sigma_box(parent, key: str, tip: str) -> QDoubleSpinBox:
        bounds, spin = RANGES[key], QDoubleSpinBox(parent)
        spin.setDecimals(1)
        spin.setRange(bounds.least + 0.1 * bounds.above, bounds.most or 1000)
        spin.setSuffix(" σ")
        spin.setValue(getattr(default_params(), key))
        spin.setToolTip(tip)
        return spin

    def monitoring_keys(self) -> Dict:
        """The Advanced group's keys that are not their default (the spec's ``monitoring``,
        as the command line gives it)."""
        defaults = default_params()
        values = {"trend": self.trend.isChecked(), "screen_sigma": self.screen_sigma.value(),
                  "outlier_sigma": self.outlier_sigma.value()}
        if self.min_history_obs.value() > self.min_history_obs.minimum():
            values["min_history_obs"] = self.min_history_obs.value()
        return {k: v for k, v in values.items() if v != getattr(defaults, k)}

    def cloud_limit(self) -> Optional[float]:
        """The scene cloud limit chosen for monitoring; None: none."""
        value = self.max_cloud.value()
        return None if value <= NO_CLOUD_LIMIT else value

    def set_cloud_limit(self, value: Optional[float]) -> None:
        self.max_cloud.setValue(NO_CLOUD_LIMIT if value is None else value)

    def attach(self, dock) -> None:
        """Run with the dock's forests, sources and first ticked index."""
        self._dock = dock
        self.run_button.clicked.connect(
            lambda: dock._start("monitor", partial(self.build_spec, dock),
                                around=forests_in_place))
        self.sample_button.clicked.connect(
            lambda: dock._start("sample", lambda _workdir: {
                "kind": "sample", "scenario": DISTURBANCE,
                "output_dir": str(dock.output_root() / DISTURBANCE_FOLDER)}))

    def build_spec(self, dock, workdir: Path) -> Dict:
        """The monitor job: the polygons are exported into ``workdir``; the task puts them
        into the folder only for the job (``forests_in_place``)."""
        folder = Path(self.folder.filePath() or default_output_root() / "monitoring")
        start, end = self.history_start.date(), self.history_end.date()
        if end <= start:
            raise ValueError("The stable history must end after it starts.")
        indices = dock.chosen_indices()[:1] or ["NDVI"]
        spec = dock.base_spec(workdir, indices)
        history = (date(start.year(), start.month(), start.day()),
                   date(end.year(), end.month(), end.day()))
        too_short = next(filter(None, (storm_sample_too_short(source.get("href", ""), *history)
                                       for source in spec["sources"])), None)
        if too_short:  # it would fail after the search: say it now
            message = too_short[0].upper() + too_short[1:] + "."
            self.summary.setText(message)  # beside the button: the status line shows 2 lines
            raise DockInputError(message)
        for key in ("start", "end", "buffer_m", "max_cloud_cover"):  # the dock's, not ours
            spec.pop(key, None)
        if self.cloud_limit() is not None:  # left out: the default, as the other doors'
            spec["max_cloud_cover"] = self.cloud_limit()
        if self.monitoring_keys():
            spec["monitoring"] = self.monitoring_keys()
        self._index = indices[0]
        # the polygons stay beside the state: a later run (or 'watch') reads them there
        spec.update(kind="monitor", output_dir=str(folder), index=indices[0],
                    aoi=str(folder / FORESTS_NAME),
                    history_start=start.toString("yyyy-MM-dd"),
                    history_end=end.toString("yyyy-MM-dd"))
        return spec

    def show_sample(self, dock, result: Dict) -> None:
        """Put the disturbance sample's compartments on the map and fill the dock for them:
        its catalog alone, NDVI, the stable history and a monitoring folder beside it."""
        layer = dock.add_sample_forests(result["forests"], result["layer"],
                                        "forests (disturbance sample)", result["catalog"])
        if layer is None:
            return
        for row in range(dock.index_list.count()):
            item = dock.index_list.item(row)
            item.setCheckState(Qt.CheckState.Checked
                               if item.data(Qt.ItemDataRole.UserRole) == "NDVI"
                               else Qt.CheckState.Unchecked)
        for edit, key in ((self.history_start, "history_start"),
                          (self.history_end, "history_end")):
            edit.setDate(QDate.fromString(result[key], "yyyy-MM-dd"))
        self.folder.setFilePath(str(Path(result["catalog"]).parent / "monitoring"))
        self.set_cloud_limit(DEFAULT_MONITOR_MAX_CLOUD_COVER)  # not one kept from earlier
        if self.isCollapsed():
            self.setCollapsed(False)
        self.chart.setVisible(self.chart_loaded)  # expanding shows every child, even unloaded
        self.summary.setText(f"Disturbance sample ready: {layer.featureCount()} compartments, "
                             f"scenes from {result['history_start']} to "
                             f"{result['last_scene_day']}; press Monitor / update")
        dock.set_status("Disturbance sample ready: press Monitor / update")

    def show_result(self, result: Dict) -> None:
        """One group on top (the compartments styled by alert, the flagged pixels over them)
        replacing the previous monitoring's unless runs are kept; say what changed."""
        files = result.get("files", {})
        changes = result.get("changes", {})
        dock = getattr(self, "_dock", None)
        folder = Path(files["monitoring_status"]).parent.name
        group = new_run_group(KIND, f"disturbance monitoring · {folder}")
        status = QgsRasterLayer(files["monitoring_status"], "disturbance status")
        if status.isValid():
            status.setRenderer(status_renderer(status))
            QgsProject.instance().addMapLayer(status, False)
            group.addLayer(status)
        layer = QgsVectorLayer(f"{files['compartments_layer']}|layername=monitoring",
                               "disturbance monitoring", "ogr")
        if layer.isValid():
            layer.setRenderer(alert_renderer())
            QgsProject.instance().addMapLayer(layer, False)
            group.addLayer(layer)  # under the flagged pixels
        mark_group_outputs(group, KIND)
        if dock is not None:
            dock.outputs_left_out.refresh()  # never offered as the polygon layer
        if dock is None or not dock.keep_runs.isChecked():
            replace_previous_runs(KIND, group)
        zones = changes.get("zones_with_new_alerts") or []
        if files.get("series"):
            shown = self.chart.load(Path(files["series"]), changes.get("id_field", "forest_id"),
                                    self._index, select=str(zones[0]) if zones else None)
            self.chart_loaded = shown > 0
            self.chart.setVisible(self.chart_loaded)
        new_alerts = ", ".join(map(str, zones)) or "none"
        last_day = (changes.get("last_time") or "-")[:10]  # a UTC day, as every door names it
        self.summary.setText(
            f"{changes.get('scenes', 0)} new scenes up to {last_day}; "
            f"{changes.get('entered', {}).get('confirmed', 0)} pixels newly confirmed; "
            f"compartments with new alerts: {new_alerts}"
            + (f"\n{late_warning(changes['late_scenes'])}" if changes.get("late_scenes")
               else "")
            + "".join(f"\n{note}" for note in result.get("notes") or []))  # as other doors
        if dock is not None:  # not the last progress line ("scene 2025-06-30")
            dock.set_status(f"Monitoring: {changes.get('scenes', 0)} new scenes; "
                            f"compartments with new alerts: {new_alerts}")


def status_renderer(layer: QgsRasterLayer) -> QgsPalettedRasterRenderer:
    """Suspected, confirmed and recovered pixels in the alert colours; the rest clear."""
    classes = [QgsPalettedRasterRenderer.Class(code, QColor(colour), STATUS_NAMES[code])
               for code, colour in STATUS_COLOURS.items()]
    return QgsPalettedRasterRenderer(layer.dataProvider(), 1, classes)


def forests_in_place(spec: Dict, workdir: Path) -> ContextManager[str]:
    """Worker thread, files only: the run's polygons (exported into ``workdir``) replace the
    monitoring folder's for the job; a failed, refused or cancelled job puts the folder's own
    back (and a first run's new folder is removed), so the folder can still be continued."""
    return placed_forests(workdir / FORESTS_NAME, Path(spec["output_dir"]))


def alert_renderer() -> QgsCategorizedSymbolRenderer:
    """Compartments by alert: red disturbed, orange suspected, green none, grey not monitored."""
    categories = []
    for name, colour in ALERT_COLOURS.items():
        symbol = QgsFillSymbol.createSimple({"color": colour, "outline_color": "#333333",
                                             "outline_width": "0.3"})
        categories.append(QgsRendererCategory(name, symbol, name))
    return QgsCategorizedSymbolRenderer("alert", categories)


def _section_state(section: MonitoringSection) -> Dict[str, object]:
    return {"history_start": section.history_start.date().toString("yyyy-MM-dd"),
            "history_end": section.history_end.date().toString("yyyy-MM-dd"),
            "folder": section.folder.filePath(),
            "max_cloud": section.cloud_limit(),  # null: none
            "advanced": {"trend": section.trend.isChecked(),
                         "min_history_obs": section.min_history_obs.value(),
                         "screen_sigma": section.screen_sigma.value(),
                         "outlier_sigma": section.outlier_sigma.value()}}


def _restore_section(section: MonitoringSection, state: Dict[str, str]) -> None:
    for key, edit in (("history_start", section.history_start),
                      ("history_end", section.history_end)):
        day = QDate.fromString(str(state.get(key) or ""), "yyyy-MM-dd")
        if day.isValid():
            edit.setDate(day)
    if state.get("folder"):
        section.folder.setFilePath(str(state["folder"]))
    limit = state.get("max_cloud")
    if "max_cloud" in state and (limit is None or isinstance(limit, (int, float))):
        section.set_cloud_limit(limit)
    advanced = state.get("advanced") if isinstance(state.get("advanced"), dict) else {}
    if isinstance(advanced.get("trend"), bool):
        section.trend.setChecked(advanced["trend"])
    for key in ("min_history_obs", "screen_sigma", "outlier_sigma"):
        if isinstance(advanced.get(key), (int, float)) and not isinstance(advanced[key], bool):
            getattr(section, key).setValue(advanced[key])


# the monitoring fields travel with the project (gui/project_fields)
register_state("monitoring_section", "monitoring_section", _section_state, _restore_section)
