"""The Raster Collect dock: pick forest polygons and run searches / computations.

The dock only gathers user choices and shows results; the work is done by core through
background tasks (see ``gui/tasks.py``).
"""

from __future__ import annotations

from qgis.core import QgsFieldProxyModel, QgsMapLayerProxyModel, QgsVectorLayer
from qgis.gui import QgsDockWidget, QgsFieldComboBox, QgsMapLayerComboBox
from qgis.PyQt.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

DEFAULT_ID_FIELD = "forest_id"


class RasterCollectDock(QgsDockWidget):
    """Dock widget with the AOI picker, actions, progress bar and status line."""

    def __init__(self, iface, parent=None):
        super().__init__("Raster Collect", parent)
        self.iface = iface
        self.setObjectName("RasterCollectDock")

        body = QWidget(self)
        layout = QVBoxLayout(body)
        form = QFormLayout()
        self.layer_combo = QgsMapLayerComboBox(body)
        self.layer_combo.setFilters(QgsMapLayerProxyModel.Filter.PolygonLayer)
        self.selected_only = QCheckBox("Selected features only", body)
        self.id_field_combo = QgsFieldComboBox(body)
        self.id_field_combo.setFilters(
            QgsFieldProxyModel.Filter.Int | QgsFieldProxyModel.Filter.LongLong
            | QgsFieldProxyModel.Filter.String
        )
        self.aoi_summary = QLabel(body)
        form.addRow("Forest polygons", self.layer_combo)
        form.addRow("", self.selected_only)
        form.addRow("Id field", self.id_field_combo)
        form.addRow("AOI", self.aoi_summary)
        layout.addLayout(form)

        self.search_button = QPushButton("Search", body)
        self.compute_button = QPushButton("Fetch && compute", body)
        self.cancel_button = QPushButton("Cancel", body)
        self.cancel_button.setEnabled(False)
        for button in (self.search_button, self.compute_button, self.cancel_button):
            layout.addWidget(button)
        self.progress = QProgressBar(body)
        self.progress.setRange(0, 100)
        self.status = QLabel("Ready", body)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addStretch(1)
        self.setWidget(body)

        self.layer_combo.layerChanged.connect(self._on_layer_changed)
        self.selected_only.toggled.connect(self.refresh_summary)
        self._on_layer_changed(self.layer_combo.currentLayer())

    def _on_layer_changed(self, layer) -> None:
        self.id_field_combo.setLayer(layer)
        if isinstance(layer, QgsVectorLayer) and layer.fields().indexOf(DEFAULT_ID_FIELD) >= 0:
            self.id_field_combo.setField(DEFAULT_ID_FIELD)
        self.refresh_summary()

    def refresh_summary(self) -> None:
        """Show how many polygons the AOI holds, their area and CRS."""
        layer = self.layer_combo.currentLayer()
        if not isinstance(layer, QgsVectorLayer):
            self.aoi_summary.setText("No polygon layer in the project")
            return
        if self.selected_only.isChecked():
            features = list(layer.getSelectedFeatures())
        else:
            features = list(layer.getFeatures())
        area_ha = sum(f.geometry().area() for f in features if f.hasGeometry()) / 10_000
        crs = layer.crs()
        unit = "ha" if not crs.isGeographic() else "deg² ×10⁴"
        self.aoi_summary.setText(
            f"{len(features)} polygons, {area_ha:,.1f} {unit}, {crs.authid()}"
        )

    def shutdown(self) -> None:
        """Called on plugin unload: disconnect from layers so nothing outlives the plugin."""
        self.layer_combo.layerChanged.disconnect(self._on_layer_changed)
