"""The Raster Collect dock: pick forest polygons, search archives, fetch and compute.

The dock gathers choices, writes a job spec and runs it as a background QgsTask (the work
happens in core, in the processing Python); results are added as layers on the main thread.
"""

from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path
from typing import Dict, List, Optional

from qgis.core import (
    Qgis,
    QgsApplication,
    QgsFeatureRequest,
    QgsFieldProxyModel,
    QgsMapLayerProxyModel,
    QgsMessageLog,
    QgsProject,
    QgsVectorFileWriter,
    QgsVectorLayer,
)
from qgis.gui import QgsDockWidget, QgsFieldComboBox, QgsFileWidget, QgsMapLayerComboBox
from qgis.PyQt.QtCore import QDate, Qt, pyqtSignal
from qgis.PyQt.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDateEdit,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from .. import settings
from ..cluster_process import LocalClusterProcess
from ..core.indices import INDICES
from ..core.masks import DEFAULT_MASK_CLASSES, MASK_CLASSES
from .tasks import LOG_TAG, JobTask

DEFAULT_ID_FIELD = "forest_id"
# (key, label, job source without href/url; None = needs the text fields below)
SOURCES = [
    ("pc-s2", "Planetary Computer: Sentinel-2 L2A",
     {"kind": "planetary-computer", "collections": ["sentinel-2-l2a"]}),
    ("pc-landsat", "Planetary Computer: Landsat C2 L2",
     {"kind": "planetary-computer", "collections": ["landsat-c2-l2"]}),
    ("pc-s1", "Planetary Computer: Sentinel-1 RTC",
     {"kind": "planetary-computer", "collections": ["sentinel-1-rtc"]}),
    ("es-s2", "Earth Search: Sentinel-2 L2A (Collection 1)",
     {"kind": "earth-search", "collections": ["sentinel-2-c1-l2a"]}),
    ("es-landsat", "Earth Search: Landsat C2 L2 (requester pays)",
     {"kind": "earth-search", "collections": ["landsat-c2-l2"]}),
    ("maxar", "Maxar Open Data: WorldView (event below)", {"kind": "maxar"}),
    ("catalog", "Static STAC catalog (below)", {"kind": "static"}),
    ("custom", "Custom STAC API (below)", {"kind": "stac"}),
]
PRESETS = ["Custom dates", "Last 12 months", "Before/after an event"]
COMPUTE_MODES = ["Threads in the job (default)", "Local dask cluster (this QGIS session)",
                 "Remote dask scheduler"]
SETTINGS_MODES = ["threads", "local", "remote"]


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
        self._chart = None
        self.cluster = LocalClusterProcess(python=settings.value("engine/python") or None)

        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        body = QWidget(scroll)
        layout = QVBoxLayout(body)
        layout.addWidget(self._aoi_box(body))
        layout.addWidget(self._sources_box(body))
        layout.addWidget(self._period_box(body))
        layout.addWidget(self._outputs_box(body))
        layout.addWidget(self._compute_box(body))
        layout.addLayout(self._actions(body))
        self.progress = QProgressBar(body)
        self.progress.setRange(0, 100)
        self.status = QLabel("Ready", body)
        self.status.setWordWrap(True)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        self.results_table = QTableWidget(0, 5, body)
        self.results_table.setHorizontalHeaderLabels(
            ["provider", "collection", "date", "cloud %", "id"])
        self.results_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.results_table.setMinimumHeight(120)
        layout.addWidget(self.results_table)
        from .scene_actions import SceneActions  # scenes as layers (issue 18)

        self.scene_actions = SceneActions(self)
        self.chart_holder = QVBoxLayout()
        layout.addLayout(self.chart_holder)
        layout.addStretch(1)
        scroll.setWidget(body)
        self.setWidget(scroll)

        self.layer_combo.layerChanged.connect(self._on_layer_changed)
        self.selected_only.toggled.connect(self.refresh_summary)
        self.preset_combo.currentIndexChanged.connect(self.apply_preset)
        self.event_date.dateChanged.connect(lambda _: self.apply_preset())
        self.search_button.clicked.connect(self.start_search)
        self.compute_button.clicked.connect(self.start_compute)
        self.cancel_button.clicked.connect(self.cancel)
        self._watched_layer = None
        self._on_layer_changed(self.layer_combo.currentLayer())
        self.load_settings()

    # ---------------------------------------------------------------- building the widget

    def _aoi_box(self, parent) -> QGroupBox:
        box = QGroupBox("Forests (area of interest)", parent)
        form = QFormLayout(box)
        self.layer_combo = QgsMapLayerComboBox(box)
        self.layer_combo.setFilters(QgsMapLayerProxyModel.Filter.PolygonLayer)
        self.layer_combo.setAllowEmptyLayer(True)
        self.selected_only = QCheckBox("Selected features only", box)
        self.id_field_combo = QgsFieldComboBox(box)
        self.id_field_combo.setFilters(QgsFieldProxyModel.Filter.Int
                                       | QgsFieldProxyModel.Filter.LongLong
                                       | QgsFieldProxyModel.Filter.String)
        self.buffer_spin = QDoubleSpinBox(box)
        self.buffer_spin.setRange(-500, 5000)
        self.buffer_spin.setSuffix(" m")
        self.aoi_summary = QLabel(box)
        form.addRow("Polygon layer", self.layer_combo)
        form.addRow("", self.selected_only)
        form.addRow("Id field", self.id_field_combo)
        form.addRow("Buffer", self.buffer_spin)
        form.addRow("Summary", self.aoi_summary)
        return box

    def _sources_box(self, parent) -> QGroupBox:
        box = QGroupBox("Imagery sources", parent)
        form = QFormLayout(box)
        self.source_list = QListWidget(box)
        for key, label, _ in SOURCES:
            item = QListWidgetItem(label, self.source_list)
            item.setData(Qt.ItemDataRole.UserRole, key)
            item.setCheckState(Qt.CheckState.Unchecked)
        copernicus = QListWidgetItem("Copernicus Data Space: use the Processing algorithm "
                                     "'Sentinel Hub statistics'", self.source_list)
        copernicus.setFlags(Qt.ItemFlag.NoItemFlags)
        copernicus.setToolTip("Server-side statistics with credentials from the QGIS "
                              "authentication database: Processing toolbox > Raster collect")
        self.source_list.setMaximumHeight(150)
        self.catalog_edit = QgsFileWidget(box)
        self.catalog_edit.setFilter("STAC catalog (*.json)")
        self.maxar_event = QLineEdit(box)
        self.maxar_event.setPlaceholderText("event collection id(s), comma separated")
        self.custom_url = QLineEdit(box)
        self.custom_url.setPlaceholderText("https://example.org/stac/v1")
        self.custom_collections = QLineEdit(box)
        self.custom_collections.setPlaceholderText("collections for the catalog / custom API")
        self.max_cloud = QDoubleSpinBox(box)
        self.max_cloud.setRange(0, 100)
        self.max_cloud.setSuffix(" %")
        self.mask_list = QListWidget(box)
        for name in MASK_CLASSES:
            item = QListWidgetItem(name.replace("_", " "), self.mask_list)
            item.setData(Qt.ItemDataRole.UserRole, name)
            item.setCheckState(Qt.CheckState.Checked if name in DEFAULT_MASK_CLASSES
                               else Qt.CheckState.Unchecked)
        self.mask_list.setMaximumHeight(110)
        form.addRow(self.source_list)
        form.addRow("Static catalog", self.catalog_edit)
        form.addRow("Maxar event", self.maxar_event)
        form.addRow("Custom STAC URL", self.custom_url)
        form.addRow("Collections", self.custom_collections)
        form.addRow("Max scene cloud", self.max_cloud)
        form.addRow("Mask as cloud", self.mask_list)
        return box

    def _period_box(self, parent) -> QGroupBox:
        box = QGroupBox("Period", parent)
        form = QFormLayout(box)
        self.preset_combo = QComboBox(box)
        self.preset_combo.addItems(PRESETS)
        self.event_date = QDateEdit(QDate(2025, 11, 13), box)
        self.event_date.setCalendarPopup(True)
        self.start_date = QDateEdit(QDate.currentDate().addYears(-1), box)
        self.end_date = QDateEdit(QDate.currentDate(), box)
        for edit in (self.start_date, self.end_date):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
        self.event_date.setDisplayFormat("yyyy-MM-dd")
        form.addRow("Preset", self.preset_combo)
        form.addRow("Event date", self.event_date)
        form.addRow("Start", self.start_date)
        form.addRow("End", self.end_date)
        return box

    def _outputs_box(self, parent) -> QGroupBox:
        box = QGroupBox("Indices and outputs", parent)
        form = QFormLayout(box)
        self.index_list = QListWidget(box)
        for name, index in INDICES.items():
            item = QListWidgetItem(f"{name}: {index.description}", self.index_list)
            item.setData(Qt.ItemDataRole.UserRole, name)
            item.setCheckState(Qt.CheckState.Unchecked)
        self.index_list.setMaximumHeight(110)
        self.period_combo = QComboBox(box)
        self.period_combo.addItems(["month", "quarter", "year"])
        self.method_combo = QComboBox(box)
        self.method_combo.addItems(["median", "mean"])
        self.resolution_spin = QDoubleSpinBox(box)
        self.resolution_spin.setRange(0, 1000)
        self.resolution_spin.setSpecialValueText("sensor default")
        self.resolution_spin.setSuffix(" m")
        self.hexagon_spin = QDoubleSpinBox(box)
        self.hexagon_spin.setRange(0, 10_000)
        self.hexagon_spin.setSpecialValueText("no hexagons")
        self.hexagon_spin.setSuffix(" ha")
        self.output_folder = QgsFileWidget(box)
        self.output_folder.setStorageMode(QgsFileWidget.StorageMode.GetDirectory)
        form.addRow(self.index_list)
        self.colour_check = QCheckBox("True-colour composite per period too", box)
        form.addRow("", self.colour_check)
        form.addRow("Composite period", self.period_combo)
        form.addRow("Method", self.method_combo)
        form.addRow("Resolution", self.resolution_spin)
        form.addRow("Hexagon size", self.hexagon_spin)
        form.addRow("Output folder", self.output_folder)
        return box

    def _compute_box(self, parent) -> QGroupBox:
        box = QGroupBox("Compute (dask)", parent)
        form = QFormLayout(box)
        self.compute_mode = QComboBox(box)
        self.compute_mode.addItems(COMPUTE_MODES)
        self.workers_spin = QSpinBox(box)
        self.workers_spin.setRange(0, 256)
        self.workers_spin.setSpecialValueText("auto")
        self.threads_spin = QSpinBox(box)
        self.threads_spin.setRange(1, 64)
        self.memory_edit = QLineEdit(box)
        self.scheduler_edit = QLineEdit(box)
        self.scheduler_edit.setPlaceholderText("tcp://scheduler-host:8786")
        self.dashboard_label = QLabel("", box)
        self.dashboard_label.setOpenExternalLinks(True)
        form.addRow("Where", self.compute_mode)
        form.addRow("Local workers", self.workers_spin)
        form.addRow("Threads per worker", self.threads_spin)
        form.addRow("Memory per worker", self.memory_edit)
        form.addRow("Scheduler address", self.scheduler_edit)
        form.addRow("Dashboard", self.dashboard_label)
        return box

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

    def _actions(self, parent) -> QHBoxLayout:
        row = QHBoxLayout()
        self.search_button = QPushButton("Search", parent)
        self.compute_button = QPushButton("Fetch && compute", parent)
        self.cancel_button = QPushButton("Cancel", parent)
        self.cancel_button.setEnabled(False)
        for button in (self.search_button, self.compute_button, self.cancel_button):
            row.addWidget(button)
        return row

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
        return [self.index_list.item(r).data(Qt.ItemDataRole.UserRole)
                for r in range(self.index_list.count())
                if self.index_list.item(r).checkState() == Qt.CheckState.Checked]

    def chosen_sources(self) -> List[Dict]:
        """Job sources from the ticked entries and their text fields."""
        collections = [c.strip() for c in self.custom_collections.text().split(",")
                       if c.strip()]
        specs = []
        for row in range(len(SOURCES)):
            item = self.source_list.item(row)
            if item.checkState() != Qt.CheckState.Checked:
                continue
            key, label, template = SOURCES[row]
            entry = dict(template, name=label.split(":")[0].split(" (")[0])
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
        if not specs:
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

    def base_spec(self, folder: Path) -> Dict:
        start, end = self.start_date.date(), self.end_date.date()
        if end < start:
            raise DockInputError(f"The end date {end.toString('yyyy-MM-dd')} is before the "
                                 f"start date {start.toString('yyyy-MM-dd')}: swap them.")
        spec = self.export_aoi(folder)
        spec.update(sources=self.chosen_sources(), start=start.toString("yyyy-MM-dd"),
                    end=end.toString("yyyy-MM-dd"), max_cloud_cover=self.max_cloud.value(),
                    mask_classes=[self.mask_list.item(r).data(Qt.ItemDataRole.UserRole)
                                  for r in range(self.mask_list.count())
                                  if self.mask_list.item(r).checkState()
                                  == Qt.CheckState.Checked])
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
        task = JobTask(f"Raster Collect: {kind}", spec, workdir, self._finished,
                       python=settings.value("engine/python") or None,
                       prepare=self.prepare_compute)
        task.progressChanged.connect(lambda value: self._show_progress(task, value))
        self.current_task = task
        self._set_running(True, f"{kind}: starting")
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
                raise DockInputError("Choose an output folder.")
            indices = self.chosen_indices()
            if not indices:
                raise DockInputError("Tick at least one index (e.g. NDVI).")
            spec = self.base_spec(workdir)
            run_name = datetime.now().strftime("raster-collect-%Y%m%d-%H%M%S")
            spec.update(kind="zonal", indices=indices, period=self.period_combo.currentText(),
                        method=self.method_combo.currentText(),
                        resolution=self.resolution_spin.value() or None,
                        hexagon_area_m2=self.hexagon_spin.value() * 10_000 or None,
                        output_dir=str(Path(self.output_folder.filePath()) / run_name),
                        run_name=run_name)
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

    def cancel(self) -> None:
        if self.current_task is not None:
            self.status.setText("Cancelling...")
            self.current_task.cancel()

    def _show_progress(self, task: JobTask, value: float) -> None:
        self.progress.setValue(int(value))
        if task.message:
            self.status.setText(task.message)

    def _set_running(self, running: bool, message: str = "") -> None:
        self.search_button.setEnabled(not running)
        self.compute_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        if message:
            self.status.setText(message)
        if not running:
            self.progress.setValue(0)

    def _finished(self, task: JobTask) -> None:
        self.current_task = None
        self._set_running(False)
        if self.cluster.running and self.cluster.dashboard:
            self.dashboard_label.setText(f'<a href="{self.cluster.dashboard}">'
                                         f'{self.cluster.dashboard}</a>')
        from .. import bridge

        if isinstance(task.error, bridge.JobCancelled):
            self.status.setText("Cancelled: no outputs were written.")
            self.job_finished.emit(task.spec["kind"])
            return
        if task.error is not None:
            self.show_error(str(task.error))
            self.job_finished.emit(task.spec["kind"])
            return
        result = task.result or {}
        for source, message in (result.get("errors") or {}).items():
            self.iface.messageBar().pushWarning("Raster Collect", f"{source}: {message}")
            QgsMessageLog.logMessage(f"{source}: {message}", LOG_TAG, Qgis.MessageLevel.Warning)
        if task.spec["kind"] == "search":
            self.show_search(result)
        else:
            self.show_compute(task.spec, result)
        self.job_finished.emit(task.spec["kind"])

    def show_error(self, message: str) -> None:
        self.last_error = message
        self.status.setText(message)
        self.iface.messageBar().pushCritical("Raster Collect", message)
        QgsMessageLog.logMessage(message, LOG_TAG, Qgis.MessageLevel.Critical)

    # ---------------------------------------------------------------- results

    def show_search(self, result: Dict) -> None:
        """Scenes in the table (tickable) and their footprints as a layer."""
        self.search_rows = result.get("items", [])
        self.results_table.setRowCount(len(self.search_rows))
        for row, scene in enumerate(self.search_rows):
            cover = scene.get("cloud_cover")
            values = [scene["provider"], scene["collection"], scene["datetime"][:10],
                      "" if cover is None else f"{cover:.1f}", scene["id"]]
            for column, value in enumerate(values):
                item = QTableWidgetItem(str(value))
                if column == 0:
                    item.setCheckState(Qt.CheckState.Checked)
                self.results_table.setItem(row, column, item)
        self.results_table.resizeColumnsToContents()
        footprints = result.get("footprints")
        if footprints:
            layer = QgsVectorLayer(f"{footprints}|layername=footprints", "scene footprints",
                                   "ogr")
            # in memory: the job's scratch folder is removed once the task ends
            memory = layer.materialize(QgsFeatureRequest())
            memory.setName("scene footprints")
            symbol = memory.renderer().symbol()
            symbol.setOpacity(0.35)
            QgsProject.instance().addMapLayer(memory)
            self.footprint_layer = memory
        self.scene_actions.scenes_found(result, memory if footprints else None)
        self.status.setText(f"{len(self.search_rows)} scenes found")

    def unticked_scene_ids(self) -> set:
        return {self.results_table.item(r, 4).text()
                for r in range(self.results_table.rowCount())
                if self.results_table.item(r, 0).checkState() != Qt.CheckState.Checked}

    def show_compute(self, spec: Dict, result: Dict) -> None:
        """Composites, statistics table and forests-with-latest-values in a group."""
        from .imagery import add_colour_composite_layers
        from .layers import add_composite_layers, add_zonal_layers

        root = QgsProject.instance().layerTreeRoot()
        group = root.insertGroup(0, spec.get("run_name") or "raster-collect")
        for collection in result.get("collections", []):
            add_composite_layers(group, collection)
            add_colour_composite_layers(group, collection)
        added = add_zonal_layers(group, result.get("files", {}), spec.get("indices", []))
        self.table_layer = next((layer for layer in added
                                 if layer.name() == "zonal statistics"), None)
        self.result_group = group
        self.status.setText(f"Done: {result.get('rows', 0)} statistics rows in "
                            f"{result.get('output_dir')}")
        self.update_chart()

    def update_chart(self) -> None:
        """Time series of the selected compartments (or the first few) in the dock."""
        if self.table_layer is None:
            return
        layer = self.layer_combo.currentLayer()
        id_field = self.id_field_combo.currentField()
        if not isinstance(layer, QgsVectorLayer) or not id_field:
            return
        selected = [f[id_field] for f in layer.getSelectedFeatures()]
        if self._chart is None:
            from .chart import TimeSeriesChart

            self._chart = TimeSeriesChart(self.widget())
            self.chart_holder.addWidget(self._chart)
        indices = self.chosen_indices() or ["NDVI"]
        self._chart.show_series(self.table_layer, id_field, selected[:8], indices[0])

    def shutdown(self) -> None:
        """Plugin unload: cancel work and stop listening to layers."""
        if self.current_task is not None:
            self.current_task.cancel()
        self.cluster.stop()
        self.layer_combo.layerChanged.disconnect(self._on_layer_changed)
        if self._watched_layer is not None:
            try:
                self._watched_layer.selectionChanged.disconnect(self._on_selection_changed)
            except (TypeError, RuntimeError):
                pass
