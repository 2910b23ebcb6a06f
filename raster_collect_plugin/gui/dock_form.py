"""What the dock's form asks for: the chosen sources, indices and event, the AOI exported for a
job, the job specs built from them, and the settings kept between sessions."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Dict, List, Optional

from qgis.core import QgsProject, QgsVectorFileWriter, QgsVectorLayer
from qgis.PyQt.QtCore import QDate, Qt

from .. import settings
from ..core.composites.sizing import SizeError, parse_size
from ..core.compute.options import DASK_KINDS
from ..core.pixels import INDICES
from ..default_outputs import default_output_root
from .sections import COMPUTE_MODES, SOURCE_SENSORS, SOURCES, checked_keys

DEFAULT_ID_FIELD = "forest_id"
SETTINGS_MODES = ["threads", "local", "remote"]


class DockInputError(ValueError):
    """Something in the dock needs fixing before a run; the message says what."""


class DockForm:
    """Part of :class:`RasterCollectDock` (``dock.py``); uses its widgets through ``self``."""

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

    def with_memory_budget(self, spec: Dict) -> Dict:
        """``spec`` with the budget of *Memory budget* when its kind sizes its run (read as
        the command line reads --memory-budget; refused here, before any work)."""
        text = self.budget_edit.text().strip()
        if text and spec.get("kind") in DASK_KINDS:
            try:
                parse_size(text)
            except SizeError as problem:
                raise DockInputError(str(problem)) from None  # it names the budget
            spec["memory_budget"] = text
        return spec

    def prepare_compute(self, spec: Dict) -> None:
        """Worker thread: start the session cluster if the job asks for it (no widgets)."""
        if (spec.get("compute") or {}).get("mode") == "session":
            spec["compute"] = {"mode": "remote",
                               "scheduler_address": self.cluster.ensure_started()}

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
        self.budget_edit.setText(settings.value("memory_budget"))

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
        settings.set_value("memory_budget", self.budget_edit.text().strip())

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
            elif key == "cdse-s2":
                from .copernicus import source_addresses

                entry.update(source_addresses())
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

    def output_root(self) -> Path:
        """The chosen output folder, else beside the project or in Documents (default_outputs)."""
        return Path(self.output_folder.filePath() or default_output_root())

    def unticked_scene_ids(self) -> set:
        return {self.results_table.item(r, 4).text()
                for r in range(self.results_table.rowCount())
                if self.results_table.item(r, 0).checkState() != Qt.CheckState.Checked}
