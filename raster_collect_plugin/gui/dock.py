"""The Raster Collect dock: pick forest polygons, search archives, fetch and compute.

Layout (usable at 300 x 900): a place for a banner at the top, the form in a scroll area as
collapsible sections (``sections.py``), the scene table and the chart below it, and the action
buttons, progress bar and a fixed-height status line pinned under the scroll area so they never
scroll away or jump. The dock gathers choices, writes a job spec and runs it as a background
QgsTask; ``results.ResultsPresenter`` puts the results on the map on the main thread.
"""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path
from typing import Dict, List, Optional

from qgis.core import (
    Qgis,
    QgsApplication,
    QgsMessageLog,
    QgsProject,
    QgsVectorFileWriter,
    QgsVectorLayer,
)
from qgis.gui import QgsDockWidget
from qgis.PyQt.QtCore import QDate, Qt, QTimer, pyqtSignal
from qgis.PyQt.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from .. import settings
from ..core.pixels import INDICES
from ..core.runs import run_name
from ..engine.cluster_process import LocalClusterProcess
from .engine_prompt import EnginePrompt
from .results import ResultsPresenter
from .sections import (
    COMPUTE_MODES,
    PRESETS,
    SOURCE_SENSORS,
    SOURCES,
    AoiSourcesSection,
    OutputsComputeSection,
    PeriodIndicesSection,
    checked_keys,
    fit_narrow,
    results_section,
)
from .tasks import LOG_TAG, JobTask

__all__ = ["COMPUTE_MODES", "PRESETS", "SOURCES", "DockInputError", "RasterCollectDock"]

DEFAULT_ID_FIELD = "forest_id"
SETTINGS_MODES = ["threads", "local", "remote"]
STATUS_LINES = 2


class DockInputError(ValueError):
    """Something in the dock needs fixing before a run; the message says what."""


class RasterCollectDock(QgsDockWidget):
    """Dock widget: AOI, sources, period, indices, outputs, actions, results and chart."""

    job_finished = pyqtSignal(str)  # the job kind, once its results are on the map

    def __init__(self, iface, parent=None):
        super().__init__("Raster Collect", parent)
        self.iface = iface
        self.setObjectName("RasterCollectDock")
        self.current_task: Optional[JobTask] = None
        self.search_rows: List[Dict] = []
        self.table_layer: Optional[QgsVectorLayer] = None
        self.last_error = ""
        self.state = "ready"  # ready | running | cancelling | cancelled | failed | done
        self._chart = None
        self._run_context: Dict = {}
        self.skipped_sources: List[str] = []
        self.presenter = ResultsPresenter(iface)
        self.cluster = LocalClusterProcess(python=settings.engine_python)

        container = QWidget(self)
        outer = QVBoxLayout(container)
        outer.setContentsMargins(2, 2, 2, 2)
        outer.setSpacing(4)
        # a place for a message above everything (e.g. "set up the processing engine")
        self.banner_layout = QVBoxLayout()
        self.banner_layout.setContentsMargins(0, 0, 0, 0)
        outer.addLayout(self.banner_layout)
        self.engine_prompt = EnginePrompt(iface, container)  # shown while the engine is not ready
        self.banner_layout.addWidget(self.engine_prompt)

        scroll = QScrollArea(container)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll = scroll
        body = QWidget(scroll)
        layout = QVBoxLayout(body)
        layout.setContentsMargins(0, 0, 4, 0)
        self.aoi_section = AoiSourcesSection(body)
        self.period_section = PeriodIndicesSection(body)
        self.outputs_section = OutputsComputeSection(body)
        for section in (self.aoi_section, self.period_section, self.outputs_section):
            layout.addWidget(section)
            self._expose(section)
        self.scenes_box, scenes_layout = results_section(body, "Scenes found",
                                                         "raster_collect_scenes", True)
        self.results_table = QTableWidget(0, 5, self.scenes_box)
        self.results_table.setHorizontalHeaderLabels(
            ["date", "collection", "cloud %", "provider", "id"])
        self.results_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.results_table.setMinimumHeight(140)
        scenes_layout.addWidget(self.results_table)
        layout.addWidget(self.scenes_box)
        from .scene_actions import SceneActions  # scenes as layers: double-click, context menu

        self.scene_actions = SceneActions(self)
        self.chart_box, self.chart_holder = results_section(body, "Time series",
                                                            "raster_collect_chart", True)
        self.pick_button = QToolButton(self.chart_box)
        self.pick_button.setText("Pick a forest…")
        self.pick_button.setToolTip("Click a forest on the map to see its time series for "
                                    "every index and sensor of the run")
        self.pick_button.setCheckable(True)
        self.pick_button.setEnabled(False)
        self.pick_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.report_button = QToolButton(self.chart_box)
        self.report_button.setText("Report…")
        self.report_button.setToolTip("Save a one-page HTML report of the run: map, ranked "
                                      "forests and time series")
        self.report_button.setEnabled(False)
        self.report_button.clicked.connect(self._ask_report)
        tools = QHBoxLayout()
        tools.addWidget(self.pick_button, 1)
        tools.addWidget(self.report_button)
        self.chart_holder.addLayout(tools)
        self.pick_button.toggled.connect(self._pick_forest)
        self._last_run: Optional[tuple] = None
        self._pick_tool = None
        self._forest_dialog = None
        layout.addWidget(self.chart_box)
        layout.addStretch(1)
        fit_narrow(body)
        scroll.setWidget(body)
        outer.addWidget(scroll, 1)
        outer.addWidget(self._action_panel(container))
        self.setWidget(container)

        self.layer_combo.layerChanged.connect(self._on_layer_changed)
        self.selected_only.toggled.connect(self.refresh_summary)
        self.preset_combo.currentIndexChanged.connect(self.apply_preset)
        self.event_date.dateChanged.connect(lambda _: self.apply_preset())
        self.search_button.clicked.connect(self.start_search)
        self.compute_button.clicked.connect(self.start_compute)
        self.cancel_button.clicked.connect(self.cancel)
        self.sample_button.clicked.connect(self.start_sample)
        self._watched_layer = None
        self._on_layer_changed(self.layer_combo.currentLayer())
        self.load_settings()

    # ---------------------------------------------------------------- building the widget

    def _expose(self, section: QWidget) -> None:
        """Section widgets are reachable as dock attributes (``dock.layer_combo``...)."""
        for name, value in vars(section).items():
            if not name.startswith("_"):
                setattr(self, name, value)

    def _action_panel(self, parent: QWidget) -> QWidget:
        """Buttons, progress and status: outside the scroll area, fixed height."""
        panel = QFrame(parent)
        panel.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QVBoxLayout(panel)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(3)
        row = QHBoxLayout()
        self.search_button = QPushButton("Search", panel)
        self.search_button.setToolTip("Find the scenes over the forests (no download)")
        self.compute_button = QPushButton("Fetch && compute", panel)
        self.compute_button.setToolTip("Composites and statistics for the forests")
        self.cancel_button = QPushButton("Cancel", panel)
        self.cancel_button.setEnabled(False)
        for button in (self.search_button, self.compute_button, self.cancel_button):
            button.setSizePolicy(QSizePolicy.Policy.Minimum, QSizePolicy.Policy.Fixed)
            row.addWidget(button)
        layout.addLayout(row)
        self.progress = QProgressBar(panel)
        self.progress.setRange(0, 100)
        self.progress.setTextVisible(True)
        self.progress.setMaximumHeight(self.progress.sizeHint().height())
        layout.addWidget(self.progress)
        self.status = QLabel("Ready", panel)
        self.status.setWordWrap(True)
        self.status.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.status.setFixedHeight(self.status.fontMetrics().lineSpacing() * STATUS_LINES + 4)
        self.status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        layout.addWidget(self.status)
        panel.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        return panel

    def set_status(self, text: str) -> None:
        """Show ``text`` in the fixed-height status line (all of it in the tooltip)."""
        self.status.setToolTip(text)
        metrics = self.status.fontMetrics()
        width = max(self.status.width(), 120) * STATUS_LINES - metrics.averageCharWidth() * 4
        self.status.setText(metrics.elidedText(text, Qt.TextElideMode.ElideRight, width))
        self._status_text = text

    def status_text(self) -> str:
        """The full status message (the label may show it elided)."""
        return getattr(self, "_status_text", self.status.text())

    def compute_spec(self) -> Optional[Dict]:
        """The job's ``compute`` settings. For the session's local cluster this is a marker
        resolved by ``prepare_compute`` in the task's thread (starting a cluster takes
        seconds: never on the UI thread)."""
        mode = COMPUTE_MODES.index(self.compute_mode.currentText())
        if mode == 0:
            return None
        if mode == 2:
            address = self.scheduler_edit.text().strip()
            if not address:
                raise DockInputError("Give the dask scheduler address (tcp://host:8786).")
            return {"mode": "remote", "scheduler_address": address}
        if (self.cluster.running and (self.cluster.workers, self.cluster.threads,
                                      self.cluster.memory_limit)
                != (self.workers_spin.value() or None, self.threads_spin.value(),
                    self.memory_edit.text())):
            self.cluster.stop()  # the user changed the cluster's size
        self.cluster.workers = self.workers_spin.value() or None
        self.cluster.threads = self.threads_spin.value()
        self.cluster.memory_limit = self.memory_edit.text().strip() or "2GB"
        return {"mode": "session"}

    def prepare_compute(self, spec: Dict) -> None:
        """Worker thread: start the session cluster if the job asks for it (no widgets)."""
        if (spec.get("compute") or {}).get("mode") == "session":
            spec["compute"] = {"mode": "remote",
                               "scheduler_address": self.cluster.ensure_started()}

    # ---------------------------------------------------------------- settings

    def load_settings(self) -> None:
        self.max_cloud.setValue(float(settings.value("max_cloud_cover")))
        self.output_folder.setFilePath(settings.value("output_folder"))
        chosen = set(settings.value("indices").split(","))
        for row in range(self.index_list.count()):
            item = self.index_list.item(row)
            item.setCheckState(Qt.CheckState.Checked if item.data(Qt.ItemDataRole.UserRole)
                               in chosen else Qt.CheckState.Unchecked)
        self.period_combo.setCurrentText(settings.value("composite_period"))
        self.method_combo.setCurrentText(settings.value("composite_method"))
        self.custom_url.setText(settings.value("custom_stac_url"))
        mode = settings.value("dask/mode")
        self.compute_mode.setCurrentIndex(SETTINGS_MODES.index(mode) if mode in SETTINGS_MODES
                                          else 0)
        self.workers_spin.setValue(int(settings.value("dask/workers")))
        self.threads_spin.setValue(int(settings.value("dask/threads_per_worker")))
        self.memory_edit.setText(settings.value("dask/memory_limit"))
        self.scheduler_edit.setText(settings.value("dask/scheduler_address"))

    def save_settings(self) -> None:
        settings.set_value("max_cloud_cover", self.max_cloud.value())
        settings.set_value("output_folder", self.output_folder.filePath())
        settings.set_value("indices", ",".join(self.chosen_indices()))
        settings.set_value("composite_period", self.period_combo.currentText())
        settings.set_value("composite_method", self.method_combo.currentText())
        settings.set_value("custom_stac_url", self.custom_url.text())
        settings.set_value("id_field", self.id_field_combo.currentField())
        settings.set_value("dask/mode", SETTINGS_MODES[self.compute_mode.currentIndex()])
        settings.set_value("dask/workers", self.workers_spin.value())
        settings.set_value("dask/threads_per_worker", self.threads_spin.value())
        settings.set_value("dask/memory_limit", self.memory_edit.text())
        settings.set_value("dask/scheduler_address", self.scheduler_edit.text())

    # ---------------------------------------------------------------- AOI

    def _on_layer_changed(self, layer) -> None:
        if self._watched_layer is not None:
            try:
                self._watched_layer.selectionChanged.disconnect(self._on_selection_changed)
            except (TypeError, RuntimeError):
                pass
        self._watched_layer = layer if isinstance(layer, QgsVectorLayer) else None
        if self._watched_layer is not None:
            self._watched_layer.selectionChanged.connect(self._on_selection_changed)
        self.id_field_combo.setLayer(layer)
        if isinstance(layer, QgsVectorLayer):
            preferred = settings.value("id_field") or DEFAULT_ID_FIELD
            for name in (preferred, DEFAULT_ID_FIELD):
                if layer.fields().indexOf(name) >= 0:
                    self.id_field_combo.setField(name)
                    break
        self.refresh_summary()

    def _on_selection_changed(self, *_args) -> None:
        self.refresh_summary()
        self.update_chart()

    def refresh_summary(self) -> None:
        """Show how many polygons the AOI holds, their area and CRS."""
        layer = self.layer_combo.currentLayer()
        if not isinstance(layer, QgsVectorLayer):
            self.aoi_summary.setText("No polygon layer: add the forest compartments")
            return
        features = (list(layer.getSelectedFeatures()) if self.selected_only.isChecked()
                    else list(layer.getFeatures()))
        crs = layer.crs()
        area = sum(f.geometry().area() for f in features if f.hasGeometry())
        size = "geographic CRS (will use UTM)" if crs.isGeographic() else \
            f"{area / 10_000:,.1f} ha"
        self.aoi_summary.setText(f"{len(features)} polygons, {size}, {crs.authid()}")

    def export_aoi(self, folder: Path) -> Dict:
        """Write the chosen polygons to a GeoPackage for the job; checks the AOI first."""
        layer = self.layer_combo.currentLayer()
        if not isinstance(layer, QgsVectorLayer):
            raise DockInputError("No polygon layer chosen: add the forest compartments to the "
                                 "project and pick them under 'Polygon layer'.")
        id_field = self.id_field_combo.currentField()
        if not id_field:
            raise DockInputError("Choose the id field of the forest polygons.")
        if self.selected_only.isChecked() and layer.selectedFeatureCount() == 0:
            raise DockInputError("'Selected features only' is ticked but nothing is selected: "
                                 "select compartments on the map or untick it.")
        options = QgsVectorFileWriter.SaveVectorOptions()
        options.driverName = "GPKG"
        options.layerName = "forests"
        options.onlySelectedFeatures = self.selected_only.isChecked()
        path = folder / "forests.gpkg"
        error = QgsVectorFileWriter.writeAsVectorFormatV3(
            layer, str(path), QgsProject.instance().transformContext(), options)
        if error[0] != QgsVectorFileWriter.WriterError.NoError:
            raise DockInputError(f"Cannot export the polygons: {error[1]}")
        return {"aoi": str(path), "id_field": id_field, "buffer_m": self.buffer_spin.value()}

    # ---------------------------------------------------------------- request

    def chosen_indices(self) -> List[str]:
        return checked_keys(self.index_list)

    def chosen_sources(self, indices: Optional[List[str]] = None) -> List[Dict]:
        """Job sources from the ticked entries and their text fields. Sources whose sensor
        cannot compute any of ``indices`` (Sentinel-1 for NDVI) are left out, and said so
        once in the status line."""
        collections = [c.strip() for c in self.custom_collections.text().split(",")
                       if c.strip()]
        indices = self.chosen_indices() if indices is None else indices
        sensors = {s for name in indices if name in INDICES for s in INDICES[name].sensors}
        specs, skipped = [], []
        for row in range(len(SOURCES)):
            item = self.source_list.item(row)
            if item.checkState() != Qt.CheckState.Checked:
                continue
            key, label, template = SOURCES[row]
            if indices and key in SOURCE_SENSORS and SOURCE_SENSORS[key] not in sensors:
                skipped.append(label)
                continue
            entry = dict(template)
            if key == "catalog":
                if not self.catalog_edit.filePath():
                    raise DockInputError("'Static STAC catalog' is ticked: choose its "
                                         "catalog.json.")
                entry.update(href=self.catalog_edit.filePath(), collections=collections)
            elif key == "custom":
                if not self.custom_url.text().strip() or not collections:
                    raise DockInputError("'Custom STAC API' is ticked: give its URL and the "
                                         "collections to use.")
                entry.update(url=self.custom_url.text().strip(), collections=collections)
            elif key == "maxar":
                events = [e.strip() for e in self.maxar_event.text().split(",") if e.strip()]
                entry["collections"] = events
            specs.append(entry)
        self.skipped_sources = skipped
        if not specs:
            if skipped:
                raise DockInputError(f"{', '.join(skipped)} cannot compute "
                                     f"{', '.join(indices)}: tick an optical source or a "
                                     "radar index (VV, VH, VHVV).")
            raise DockInputError("Tick at least one imagery source.")
        return specs

    def apply_preset(self) -> None:
        preset = self.preset_combo.currentText()
        if preset == "Last 12 months":
            self.end_date.setDate(QDate.currentDate())
            self.start_date.setDate(QDate.currentDate().addYears(-1))
        elif preset == "Before/after an event":
            event = self.event_date.date()
            self.start_date.setDate(event.addMonths(-6))
            self.end_date.setDate(event.addMonths(3))

    def chosen_event_date(self) -> Optional[date]:
        """The event (storm) date when the before/after preset is chosen."""
        chosen = self.period_section.event_date_or_none()
        return None if chosen is None else date(chosen.year(), chosen.month(), chosen.day())

    def base_spec(self, folder: Path, indices: Optional[List[str]] = None) -> Dict:
        start, end = self.start_date.date(), self.end_date.date()
        if end < start:
            raise DockInputError(f"The end date {end.toString('yyyy-MM-dd')} is before the "
                                 f"start date {start.toString('yyyy-MM-dd')}: swap them.")
        spec = self.export_aoi(folder)
        spec.update(sources=self.chosen_sources(indices), start=start.toString("yyyy-MM-dd"),
                    end=end.toString("yyyy-MM-dd"), max_cloud_cover=self.max_cloud.value(),
                    mask_classes=checked_keys(self.mask_list))
        return spec

    # ---------------------------------------------------------------- running

    def _start(self, kind: str, build) -> None:
        if self.current_task is not None:
            self.show_error("A job is already running: wait for it or cancel it.")
            return
        workdir = Path(tempfile.mkdtemp(prefix="raster-collect-dock-"))
        try:
            spec = build(workdir)
        except (DockInputError, ValueError) as problem:
            self.show_error(str(problem))
            return
        self.save_settings()
        self.last_error = ""
        self._run_context = {"event_date": self.chosen_event_date()}
        task = JobTask(f"Raster Collect: {kind}", spec, workdir, self._finished,
                       python=settings.engine_python(),
                       prepare=self.prepare_compute)
        task.progressChanged.connect(lambda value: self._show_progress(task, value))
        self.current_task = task
        note = (f" ({', '.join(self.skipped_sources)} left out: no band for "
                f"{', '.join(self.chosen_indices())})" if self.skipped_sources else "")
        self._set_running(True, f"{kind}: starting{note}")
        QgsApplication.taskManager().addTask(task)

    def start_search(self) -> None:
        def build(workdir: Path) -> Dict:
            spec = self.base_spec(workdir)
            spec.update(kind="search", output=str(workdir / "footprints.gpkg"),
                        output_dir=str(workdir))
            return spec

        self._start("search", build)

    def start_compute(self) -> None:
        def build(workdir: Path) -> Dict:
            if not self.output_folder.filePath():
                raise DockInputError("Choose an output folder (section 'Outputs & compute').")
            indices = self.chosen_indices()
            if not indices:
                raise DockInputError("Tick at least one index (e.g. NDVI).")
            spec = self.base_spec(workdir, indices)
            name = run_name()
            spec.update(kind="zonal", indices=indices, period=self.period_combo.currentText(),
                        method=self.method_combo.currentText(),
                        resolution=self.resolution_spin.value() or None,
                        hexagon_area_m2=self.hexagon_spin.value() * 10_000 or None,
                        output_dir=str(Path(self.output_folder.filePath()) / name),
                        run_name=name)
            if self.colour_check.isChecked():
                spec["colour_composites"] = ["true-colour"]
            compute = self.compute_spec()
            if compute:
                spec["compute"] = compute
            unticked = self.unticked_scene_ids()
            if self.search_rows and unticked:
                spec["item_ids"] = [r["id"] for r in self.search_rows if r["id"] not in unticked]
            return spec

        self._start("compute", build)

    def start_sample(self) -> None:
        """Make the small synthetic sample (in the output folder, or a temporary one)."""
        def build(workdir: Path) -> Dict:
            root = self.output_folder.filePath()
            folder = (Path(root) / "raster-collect-sample" if root else
                      Path(tempfile.mkdtemp(prefix="raster-collect-sample-")))
            return {"kind": "sample", "output_dir": str(folder), "small": True}

        self._start("sample", build)

    def show_sample(self, result: Dict) -> None:
        """Put the sample's forests on the map and fill the form for its catalog and storm."""
        layer = QgsVectorLayer(f"{result['forests']}|layername=forests", "forests (sample)",
                               "ogr")
        if not layer.isValid():
            self.show_error(f"Cannot open the sample forests {result['forests']}")
            return
        QgsProject.instance().addMapLayer(layer)
        self.layer_combo.setLayer(layer)
        self.selected_only.setChecked(False)
        for row, (key, _, _) in enumerate(SOURCES):
            self.source_list.item(row).setCheckState(
                Qt.CheckState.Checked if key == "catalog" else Qt.CheckState.Unchecked)
        self.catalog_edit.setFilePath(result["catalog"])
        self.custom_collections.setText("sentinel-2-l2a,landsat-c2-l2")
        self.preset_combo.setCurrentText("Before/after an event")
        self.event_date.setDate(QDate(2025, 11, 13))
        self.start_date.setDate(QDate(2025, 10, 1))
        self.end_date.setDate(QDate(2025, 12, 31))
        if not self.output_folder.filePath():
            self.output_folder.setFilePath(str(Path(result["forests"]).parent / "outputs"))
        canvas = self.iface.mapCanvas() if self.iface is not None else None
        if canvas is not None:
            canvas.setExtent(canvas.mapSettings().layerExtentToOutputExtent(
                layer, layer.extent()))
            canvas.refresh()
        self.set_status(f"Sample ready: {layer.featureCount()} forests and their imagery "
                        "catalog; press Search or Fetch & compute")

    def cancel(self) -> None:
        """Ask the running job to stop; the status keeps saying so until it has."""
        if self.current_task is not None and self.state == "running":
            self.state = "cancelling"
            self.cancel_button.setEnabled(False)
            self.set_status("Cancelling… (removing partial outputs)")
            self.current_task.cancel()

    def _show_progress(self, task: JobTask, value: float) -> None:
        if task is not self.current_task or self.state != "running":
            return  # late progress of a cancelled task must not overwrite "Cancelling…"
        self.progress.setValue(int(value))
        if task.message:
            self.set_status(task.message)

    def _set_running(self, running: bool, message: str = "") -> None:
        self.state = "running" if running else self.state
        self.search_button.setEnabled(not running)
        self.compute_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        if message:
            self.set_status(message)
        if not running:
            self.progress.setValue(0)

    def _finished(self, task: JobTask) -> None:
        self.current_task = None
        self._set_running(False)
        if self.cluster.running and self.cluster.dashboard:
            self.dashboard_label.setText(f'<a href="{self.cluster.dashboard}">'
                                         f'{self.cluster.dashboard}</a>')
        kind = task.spec["kind"]
        if task.cancelled:
            self.state = "cancelled"
            self.set_status("Cancelled: no outputs were written.")
            self.job_finished.emit(kind)
            return
        if task.error is not None:
            self.state = "failed"
            self.show_error(str(task.error))
            self.job_finished.emit(kind)
            return
        self.state = "done"
        self.progress.setValue(100)
        result = task.result or {}
        self._report_source_problems(result.get("errors") or {})
        if kind == "search":
            self.show_search(result)
        elif kind == "sample":
            self.show_sample(result)
        else:
            self.show_compute(task.spec, result)
        self.job_finished.emit(kind)

    def _report_source_problems(self, errors: Dict[str, str]) -> None:
        """One message bar entry for all sources that could not be used (full text in the
        log), not one per source."""
        if not errors:
            return
        for source, message in errors.items():
            QgsMessageLog.logMessage(f"{source}: {message}", LOG_TAG, Qgis.MessageLevel.Warning)
        names = ", ".join(errors)
        first = next(iter(errors.values()))
        text = (f"{names}: {first}" if len(errors) == 1 else
                f"{len(errors)} sources not used ({names}); details in the "
                f"'{LOG_TAG}' log panel")
        self.iface.messageBar().pushWarning("Raster Collect", text)

    def show_error(self, message: str) -> None:
        self.last_error = message
        self.set_status(message)
        self.iface.messageBar().pushCritical("Raster Collect", message)
        QgsMessageLog.logMessage(message, LOG_TAG, Qgis.MessageLevel.Critical)

    # ---------------------------------------------------------------- results

    def show_search(self, result: Dict) -> None:
        """Scenes in the table (tickable) and their footprints as a layer."""
        self.search_rows = sorted(result.get("items", []),
                                  key=lambda s: (s["datetime"], s["collection"]))
        self.results_table.setRowCount(len(self.search_rows))
        for row, scene in enumerate(self.search_rows):
            cover = scene.get("cloud_cover")
            values = [scene["datetime"][:10], scene["collection"],
                      "" if cover is None else f"{cover:.0f}", scene["provider"], scene["id"]]
            for column, value in enumerate(values):
                item = QTableWidgetItem(str(value))
                if column == 0:
                    item.setCheckState(Qt.CheckState.Checked)
                self.results_table.setItem(row, column, item)
        self.results_table.resizeColumnsToContents()
        self.scenes_box.setCollapsed(False)
        self._reveal(self.scenes_box)
        self.footprint_layer = self.presenter.show_footprints(
            result.get("footprints") or "", visible=self.show_footprints.isChecked())
        self.scene_actions.scenes_found(result, self.footprint_layer)
        self.set_status(f"{len(self.search_rows)} scenes found: untick any to leave out, "
                        "then Fetch & compute")

    def _reveal(self, box: QWidget) -> None:
        """Scroll ``box`` to the top once the layout has made room for its new content
        (timers owned by the scroll area: nothing runs if the dock is gone by then)."""
        def later(action) -> None:
            timer = QTimer(self.scroll)
            timer.setSingleShot(True)
            timer.timeout.connect(action)
            timer.timeout.connect(timer.deleteLater)
            timer.start(0)

        def scroll() -> None:
            self.scroll.widget().layout().activate()
            later(lambda: self.scroll.verticalScrollBar().setValue(box.y()))

        later(scroll)

    def unticked_scene_ids(self) -> set:
        return {self.results_table.item(r, 4).text()
                for r in range(self.results_table.rowCount())
                if self.results_table.item(r, 0).checkState() != Qt.CheckState.Checked}

    def show_compute(self, spec: Dict, result: Dict) -> None:
        """Composites, statistics table and forests-with-latest-values in a group."""
        from .trusted_results import trusted

        result = trusted(result)  # only what the run's manifest lists
        run = self.presenter.show_run(spec, result,
                                      event_date=self._run_context.get("event_date"))
        self.table_layer = run.table
        self.result_group = run.group
        self.set_status(f"Done: {result.get('rows', 0)} statistics rows in "
                        f"{result.get('output_dir')}")
        self.chart_box.setCollapsed(False)
        self._last_run = (spec, result)
        self.pick_button.setEnabled(self.table_layer is not None)
        self.report_button.setEnabled(self.table_layer is not None)
        self.update_chart()
        self._reveal(self.chart_box)

    def update_chart(self) -> None:
        """Time series of the selected compartments (or the first few) in the dock."""
        if self.table_layer is None:
            return
        layer = self.layer_combo.currentLayer()
        id_field = self.id_field_combo.currentField()
        if not isinstance(layer, QgsVectorLayer) or not id_field:
            return
        selected = [f[id_field] for f in layer.getSelectedFeatures()]
        if not selected:
            selected = [f[id_field] for f in layer.getFeatures()][:4]
        if self._chart is None:
            from .chart import TimeSeriesChart

            self._chart = TimeSeriesChart(self.chart_box)
            self.chart_holder.addWidget(self._chart)
        indices = self.chosen_indices() or ["NDVI"]
        self._chart.show_series(self.table_layer, id_field, selected[:8], indices[0],
                                event_date=self._run_context.get("event_date"),
                                indices=indices)

    def _pick_forest(self, on: bool) -> None:
        """Arm (or release) the map tool that opens a clicked forest's time series."""
        canvas = self.iface.mapCanvas() if self.iface is not None else None
        layer = self.layer_combo.currentLayer()
        if canvas is None:
            return
        if not on:
            if self._pick_tool is not None and canvas.mapTool() is self._pick_tool:
                canvas.unsetMapTool(self._pick_tool)
            return
        if not isinstance(layer, QgsVectorLayer) or self.table_layer is None:
            self.pick_button.setChecked(False)
            return
        from .forest_series import ForestPickTool

        self._pick_tool = ForestPickTool(canvas, layer, self.id_field_combo.currentField())
        self._pick_tool.forest_picked.connect(self.show_forest_series)
        self._pick_tool.deactivated.connect(lambda: self.pick_button.setChecked(False))
        canvas.setMapTool(self._pick_tool)
        self.set_status("Click a forest on the map (Esc or another tool to stop)")

    def write_report(self, destination: Path) -> Path:
        """The last run's one-page HTML report."""
        from .run_report import write_run_report

        if self._last_run is None:
            raise DockInputError("Fetch & compute first: the report shows a run's results.")
        spec, result = self._last_run
        return write_run_report(self.presenter.run, spec, result, destination,
                                event_date=self._run_context.get("event_date"))

    def _ask_report(self) -> None:
        from qgis.PyQt.QtCore import QUrl
        from qgis.PyQt.QtGui import QDesktopServices
        from qgis.PyQt.QtWidgets import QFileDialog

        folder = (self._last_run or ({}, {}))[1].get("output_dir") or ""
        path, _ = QFileDialog.getSaveFileName(self, "Save the run report",
                                              str(Path(folder) / "report.html"),
                                              "HTML (*.html)")
        if not path:
            return
        try:
            written = self.write_report(Path(path))
        except (OSError, ValueError) as problem:
            self.show_error(f"Cannot write the report: {problem}")
            return
        self.set_status(f"Report written: {written}")
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(written)))

    def show_forest_series(self, forest) -> None:
        """Every index and sensor of one forest, in a window beside the map."""
        if self.table_layer is None:
            return
        from .forest_series import ForestSeriesDialog

        if self._forest_dialog is None:
            self._forest_dialog = ForestSeriesDialog(self)
        self._forest_dialog.show_forest(self.table_layer, self.id_field_combo.currentField(),
                                        forest, event_date=self._run_context.get("event_date"))
        self._forest_dialog.show()
        self._forest_dialog.raise_()

    def shutdown(self) -> None:
        """Plugin unload: cancel work and stop listening to layers."""
        if self.current_task is not None:
            self.current_task.cancel()
        self.pick_button.setChecked(False)
        self.cluster.stop()
        self.layer_combo.layerChanged.disconnect(self._on_layer_changed)
        if self._watched_layer is not None:
            try:
                self._watched_layer.selectionChanged.disconnect(self._on_selection_changed)
            except (TypeError, RuntimeError):
                pass

