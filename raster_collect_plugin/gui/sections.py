"""The dock's form, one collapsible section a class: forests & sources, period & indices,
outputs & compute. Sections only build and hold widgets; the dock reads them."""

from __future__ import annotations

from typing import Dict, List, Tuple

from qgis.core import QgsFieldProxyModel
from qgis.gui import QgsCollapsibleGroupBox, QgsFieldComboBox, QgsFileWidget, QgsMapLayerComboBox
from qgis.PyQt.QtCore import QDate, Qt
from qgis.PyQt.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateEdit,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..core.pixels import DEFAULT_MASK_CLASSES, INDICES, MASK_CLASSES, default_mask_text
from ..qgis_compat import qgis_enum

# (key, label, job source without href/url)
SOURCES: List[Tuple[str, str, Dict]] = [
    ("pc-s2", "Sentinel-2 L2A · Planetary Computer",
     {"kind": "planetary-computer", "collections": ["sentinel-2-l2a"]}),
    ("pc-landsat", "Landsat C2 L2 · Planetary Computer",
     {"kind": "planetary-computer", "collections": ["landsat-c2-l2"]}),
    ("pc-s1", "Sentinel-1 RTC (radar) · Planetary Computer",
     {"kind": "planetary-computer", "collections": ["sentinel-1-rtc"]}),
    ("es-s2", "Sentinel-2 L2A · Earth Search (Collection 1)",
     {"kind": "earth-search", "collections": ["sentinel-2-c1-l2a"]}),
    ("es-landsat", "Landsat C2 L2 · Earth Search (requester pays)",
     {"kind": "earth-search", "collections": ["landsat-c2-l2"]}),
    ("maxar", "WorldView · Maxar Open Data (event id below)", {"kind": "maxar"}),
    ("catalog", "Static STAC catalog (path below)", {"kind": "static"}),
    ("custom", "Custom STAC API (URL below)", {"kind": "stac"}),
    ("cdse-s2", "Sentinel-2 L2A · Copernicus Data Space (search only; credentials in "
     "Options → Raster Collect)", {"kind": "copernicus"}),
]
# the sensor of sources that hold one sensor only (others: decided per collection by core)
SOURCE_SENSORS = {"pc-s2": "sentinel-2", "pc-landsat": "landsat", "pc-s1": "sentinel-1",
                  "es-s2": "sentinel-2", "es-landsat": "landsat", "maxar": "worldview",
                  "cdse-s2": "sentinel-2"}
PRESETS = ["Custom dates", "Last 12 months", "Before/after an event"]
COMPUTE_MODES = ["Threads in the job (default)", "Local dask cluster (this QGIS session)",
                 "Remote dask scheduler"]


def _section(title: str, parent: QWidget, name: str, collapsed: bool) -> QgsCollapsibleGroupBox:
    box = QgsCollapsibleGroupBox(title, parent)
    box.setObjectName(name)
    box.setSaveCollapsedState(False)  # the same, predictable form at every start
    box.setCollapsed(collapsed)
    return box


def narrow_form(box: QWidget, stacked: bool = False) -> QFormLayout:
    """A form that fits a narrow dock (``stacked``: labels above their fields)."""
    form = QFormLayout(box)
    form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
    form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapAllRows if stacked
                          else QFormLayout.RowWrapPolicy.WrapLongRows)
    return form


def _checklist(parent: QWidget, rows, checked, visible_rows: int) -> QListWidget:
    """A list of tickable rows, ``visible_rows`` tall, long labels elided (full in tooltip)."""
    widget = QListWidget(parent)
    for key, label in rows:
        item = QListWidgetItem(label, widget)
        item.setData(Qt.ItemDataRole.UserRole, key)
        item.setCheckState(Qt.CheckState.Checked if key in checked else Qt.CheckState.Unchecked)
        item.setToolTip(label)
    widget.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    widget.setTextElideMode(Qt.TextElideMode.ElideRight)
    row_height = max(widget.sizeHintForRow(0), widget.fontMetrics().height() + 4)
    widget.setFixedHeight(row_height * visible_rows + 2 * widget.frameWidth() + 2)
    return widget


def checked_keys(widget: QListWidget) -> List[str]:
    """The UserRole keys of the ticked rows of a check list."""
    return [widget.item(r).data(Qt.ItemDataRole.UserRole) for r in range(widget.count())
            if widget.item(r).checkState() == Qt.CheckState.Checked]


class AoiSourcesSection(QgsCollapsibleGroupBox):
    """Which forests (layer, selection, id field, buffer) and which archives."""

    def __init__(self, parent=None):
        super().__init__("Forests && imagery sources", parent)
        self.setObjectName("raster_collect_aoi_sources")
        self.setSaveCollapsedState(False)
        form = narrow_form(self)
        self.layer_combo = QgsMapLayerComboBox(self)
        self.layer_combo.setFilters(qgis_enum("Qgis.LayerFilter.PolygonLayer"))
        self.layer_combo.setAllowEmptyLayer(True)
        self.selected_only = QCheckBox("Selected features only", self)
        self.id_field_combo = QgsFieldComboBox(self)
        self.id_field_combo.setFilters(QgsFieldProxyModel.Filter.Int
                                       | QgsFieldProxyModel.Filter.LongLong
                                       | QgsFieldProxyModel.Filter.String)
        self.buffer_spin = QDoubleSpinBox(self)
        self.buffer_spin.setRange(-500, 5000)
        self.buffer_spin.setSuffix(" m")
        self.aoi_summary = QLabel(self)
        self.aoi_summary.setWordWrap(True)
        self.source_list = _checklist(self, [(k, label) for k, label, _ in SOURCES], (),
                                      len(SOURCES) + 1)
        copernicus = QListWidgetItem("Copernicus Data Space: see Processing > "
                                     "'Sentinel Hub statistics'", self.source_list)
        copernicus.setFlags(Qt.ItemFlag.NoItemFlags)
        copernicus.setToolTip("Server-side statistics with credentials from the QGIS "
                              "authentication database: Processing toolbox > Raster collect")
        self.show_footprints = QCheckBox("Show footprints", self)
        self.show_footprints.setToolTip("Add the found scenes' outlines to the map")
        self.show_footprints.setChecked(True)
        form.addRow("Polygon layer", self.layer_combo)
        form.addRow(self.selected_only)
        form.addRow("Id field", self.id_field_combo)
        form.addRow("Buffer", self.buffer_spin)
        form.addRow(self.aoi_summary)
        self.sample_button = QPushButton("Try it on sample data…", self)
        self.sample_button.setToolTip(
            "Create the small synthetic sample (6 pine compartments near Beerburrum, Sentinel-2 "
            "and Landsat scenes Oct-Dec 2025 with clouds and the 13 Nov storm, as a static STAC "
            "catalog), add its forests to the map and fill the form for it")
        form.addRow(self.sample_button)
        form.addRow(self.source_list)
        form.addRow(self.show_footprints)

        # details most runs never touch: collapsed
        self.details = _section("Catalog, custom API, clouds", self,
                                "raster_collect_source_details", collapsed=True)
        details = narrow_form(self.details, stacked=True)
        self.catalog_edit = QgsFileWidget(self.details)
        self.catalog_edit.setFilter("STAC catalog (*.json)")
        self.maxar_event = QLineEdit(self.details)
        self.maxar_event.setPlaceholderText("event collection id(s), comma separated")
        self.custom_url = QLineEdit(self.details)
        self.custom_url.setPlaceholderText("https://example.org/stac/v1")
        self.custom_collections = QLineEdit(self.details)
        self.custom_collections.setPlaceholderText("collections for the catalog / custom API")
        self.max_cloud = QDoubleSpinBox(self.details)
        self.max_cloud.setRange(0, 100)
        self.max_cloud.setSuffix(" %")
        self.mask_list = _checklist(self.details,
                                    [(name, name.replace("_", " ")) for name in MASK_CLASSES],
                                    DEFAULT_MASK_CLASSES, min(len(MASK_CLASSES), 6))
        details.addRow("Static catalog", self.catalog_edit)
        details.addRow("Maxar event", self.maxar_event)
        details.addRow("Custom STAC URL", self.custom_url)
        details.addRow("Collections", self.custom_collections)
        details.addRow("Max scene cloud", self.max_cloud)
        self.mask_list.setToolTip(default_mask_text())  # the defaults, in core/pixels/masks.py
        details.addRow("Mask as cloud", self.mask_list)
        form.addRow(self.details)
        self.source_list.itemChanged.connect(self._open_details)

    def _open_details(self, item: QListWidgetItem) -> None:
        """Ticking a source that needs a path, URL or event id shows where to give it."""
        if (item.data(Qt.ItemDataRole.UserRole) in ("catalog", "custom", "maxar")
                and item.checkState() == Qt.CheckState.Checked):
            self.details.setCollapsed(False)


class PeriodIndicesSection(QgsCollapsibleGroupBox):
    """When (preset, event date, start, end) and what (indices, composite period, method)."""

    def __init__(self, parent=None):
        super().__init__("Period && indices", parent)
        self.setObjectName("raster_collect_period_indices")
        self.setSaveCollapsedState(False)
        form = narrow_form(self)
        self.preset_combo = QComboBox(self)
        self.preset_combo.addItems(PRESETS)
        self.event_date = QDateEdit(QDate(2025, 11, 13), self)
        self.start_date = QDateEdit(QDate.currentDate().addYears(-1), self)
        self.end_date = QDateEdit(QDate.currentDate(), self)
        for edit in (self.event_date, self.start_date, self.end_date):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
        self.index_list = _checklist(
            self, [(name, f"{name}: {index.description}") for name, index in INDICES.items()],
            (), 6)
        self.period_combo = QComboBox(self)
        self.period_combo.addItems(["month", "quarter", "year"])
        self.method_combo = QComboBox(self)
        self.method_combo.addItems(["median", "mean"])
        form.addRow("Preset", self.preset_combo)
        form.addRow("Event date", self.event_date)
        form.addRow("Start", self.start_date)
        form.addRow("End", self.end_date)
        form.addRow(self.index_list)
        # a short label: a check box never wraps, and a wider one widened the whole form
        self.colour_check = QCheckBox("True-colour composites", self)
        self.colour_check.setToolTip("A 3-band reflectance COG per period too (median of the "
                                     "cloud-free pixels), played by the temporal controller")
        form.addRow(self.colour_check)
        form.addRow("Composite period", self.period_combo)
        form.addRow("Method", self.method_combo)

    def event_date_or_none(self):
        """The event date when the before/after preset is chosen, else None."""
        if self.preset_combo.currentText() == "Before/after an event":
            return self.event_date.date()
        return None


class OutputsComputeSection(QgsCollapsibleGroupBox):
    """Where results go (folder, resolution, hexagons) and where the work runs (dask)."""

    def __init__(self, parent=None):
        super().__init__("Outputs && compute", parent)
        self.setObjectName("raster_collect_outputs_compute")
        self.setSaveCollapsedState(False)
        form = narrow_form(self)
        self.output_folder = QgsFileWidget(self)
        self.output_folder.setStorageMode(QgsFileWidget.StorageMode.GetDirectory)
        self.output_folder.lineEdit().setPlaceholderText(
            "empty: beside the project (or in Documents), folder raster-collect")
        self.resolution_spin = QDoubleSpinBox(self)
        self.resolution_spin.setRange(0, 1000)
        self.resolution_spin.setSpecialValueText("sensor default")
        self.resolution_spin.setSuffix(" m")
        self.hexagon_spin = QDoubleSpinBox(self)
        self.hexagon_spin.setRange(0, 10_000)
        self.hexagon_spin.setSpecialValueText("no hexagons")
        self.hexagon_spin.setSuffix(" ha")
        form.addRow("Output folder", self.output_folder)
        form.addRow("Resolution", self.resolution_spin)
        self.budget_edit = QLineEdit(self)
        self.budget_edit.setPlaceholderText("empty: half this machine's memory")
        self.budget_edit.setToolTip("The memory a composite, statistics, storm or monitoring "
                                    "run may use, e.g. 8GB; a larger run is refused before "
                                    "any download, with the numbers")
        form.addRow("Hexagon size", self.hexagon_spin)
        form.addRow("Memory budget", self.budget_edit)

        self.dask = _section("Dask cluster", self, "raster_collect_dask", collapsed=True)
        dask = narrow_form(self.dask, stacked=True)
        self.compute_mode = QComboBox(self.dask)
        self.compute_mode.addItems(COMPUTE_MODES)
        self.workers_spin = QSpinBox(self.dask)
        self.workers_spin.setRange(0, 256)
        self.workers_spin.setSpecialValueText("auto")
        self.threads_spin = QSpinBox(self.dask)
        self.threads_spin.setRange(1, 64)
        self.memory_edit = QLineEdit(self.dask)
        self.scheduler_edit = QLineEdit(self.dask)
        self.scheduler_edit.setPlaceholderText("tcp://scheduler-host:8786")
        self.dashboard_label = QLabel("", self.dask)
        self.dashboard_label.setOpenExternalLinks(True)
        dask.addRow("Where", self.compute_mode)
        dask.addRow("Local workers", self.workers_spin)
        dask.addRow("Threads per worker", self.threads_spin)
        dask.addRow("Memory per worker", self.memory_edit)
        dask.addRow("Scheduler", self.scheduler_edit)
        dask.addRow("Dashboard", self.dashboard_label)
        form.addRow(self.dask)


def fit_narrow(widget: QWidget, characters: int = 10) -> None:
    """Let every combo box below ``widget`` shrink to a narrow dock (long entries elide)."""
    for combo in widget.findChildren(QComboBox):
        combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        combo.setMinimumContentsLength(characters)


def results_section(parent: QWidget, title: str, name: str, collapsed: bool
                    ) -> Tuple[QgsCollapsibleGroupBox, QVBoxLayout]:
    """A collapsible box for results (scene table, chart) and its layout."""
    box = _section(title, parent, name, collapsed)
    layout = QVBoxLayout(box)
    layout.setContentsMargins(4, 4, 4, 4)
    return box, layout
