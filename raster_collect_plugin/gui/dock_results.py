"""How the dock presents a finished job: search results, the sample, composites and their chart,
a forest's series, source problems and errors, and the report."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional

from qgis.core import Qgis, QgsMessageLog, QgsProject, QgsVectorLayer
from qgis.PyQt.QtCore import QDate, Qt, QTimer
from qgis.PyQt.QtWidgets import QTableWidgetItem, QWidget

from ..core.runs import DEFAULT_MAX_CLOUD_COVER
from .dock_form import DockInputError
from .messages import for_message_bar, in_dock_words
from .results import local_folder
from .sections import SOURCES
from .tasks import LOG_TAG


class DockResults:
    """Part of :class:`RasterCollectDock` (``dock.py``); uses its widgets through ``self``."""

    def show_sample(self, result: Dict) -> None:
        """Put the sample's forests on the map and fill the form for its catalog and storm."""
        layer = self.add_sample_forests(result["forests"], "forests", "forests (sample)",
                                        result["catalog"])
        if layer is None:
            return
        self.preset_combo.setCurrentText("Before/after an event")
        self.event_date.setDate(QDate(2025, 11, 13))
        self.start_date.setDate(QDate(2025, 10, 1))
        self.end_date.setDate(QDate(2025, 12, 31))
        if not self.output_folder.filePath():
            self.output_folder.setFilePath(str(Path(result["forests"]).parent / "outputs"))
        self.set_status(f"Sample ready: {layer.featureCount()} forests and their imagery "
                        "catalog; press Search or Fetch & compute")

    def add_sample_forests(self, path: str, layer_name: str, title: str,
                           catalog: str) -> Optional[QgsVectorLayer]:
        """A sample's polygons on the map (zoomed to) and chosen in the form, all of them,
        with the sample's catalog as the only source and the default cloud limit; None (said)
        when they cannot be read."""
        layer = QgsVectorLayer(f"{path}|layername={layer_name}", title, "ogr")
        if not layer.isValid():
            self.show_error(f"Cannot open the sample's polygons {path}")
            return None
        QgsProject.instance().addMapLayer(layer)
        self.layer_combo.setLayer(layer)
        self.selected_only.setChecked(False)
        for row, (key, _, _) in enumerate(SOURCES):
            self.source_list.item(row).setCheckState(
                Qt.CheckState.Checked if key == "catalog" else Qt.CheckState.Unchecked)
        self.catalog_edit.setFilePath(catalog)
        self.custom_collections.setText("sentinel-2-l2a,landsat-c2-l2")
        # not the limit remembered from the last session: a sample finds the same scenes for all
        self.max_cloud.setValue(DEFAULT_MAX_CLOUD_COVER)
        canvas = self.iface.mapCanvas() if self.iface is not None else None
        if canvas is not None:
            canvas.setExtent(canvas.mapSettings().layerExtentToOutputExtent(
                layer, layer.extent()))
            canvas.refresh()
        return layer

    def _report_source_problems(self, errors: Dict[str, str]) -> None:
        """One message bar entry for all sources that could not be used (full text in the
        log), not one per source."""
        if not errors:
            return
        for source, message in errors.items():
            QgsMessageLog.logMessage(for_message_bar(f"{source}: {message}"), LOG_TAG,
                                     Qgis.MessageLevel.Warning)
        names = ", ".join(errors)
        first = next(iter(errors.values()))
        text = (f"{names}: {first}" if len(errors) == 1 else
                f"{len(errors)} sources not used ({names}); details in the "
                f"'{LOG_TAG}' log panel")
        self.iface.messageBar().pushWarning("Raster Collect", for_message_bar(text))

    def show_error(self, message: str) -> None:
        message = in_dock_words(message)  # "--history-end" means nothing in the dock
        self.last_error = message
        self.set_status(message)
        self.iface.messageBar().pushCritical("Raster Collect", for_message_bar(message))
        QgsMessageLog.logMessage(for_message_bar(message), LOG_TAG, Qgis.MessageLevel.Critical)

    def show_search(self, result: Dict) -> None:
        """Scenes in the table (tickable) and their footprints as a layer."""
        self.search_rows = sorted(result.get("items", []),
                                  key=lambda s: (s["datetime"], s["collection"]))
        self.results_table.setSortingEnabled(False)  # rows stay where they are written
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
            result.get("footprints") or "", visible=self.show_footprints.isChecked(),
            folder=local_folder(self.output_folder.filePath()))
        self.scene_actions.scenes_found(result, self.footprint_layer)
        self.scene_table.table_filled(self.search_rows)
        if not self.search_rows:
            from .messages import no_scenes_message

            self.set_status(no_scenes_message(
                self.start_date.date().toString("yyyy-MM-dd"),
                self.end_date.date().toString("yyyy-MM-dd"), self.max_cloud.value(),
                [self.source_list.item(r).text().split(" (")[0]  # no "(path below)"
                 for r in range(self.source_list.count())
                 if self.source_list.item(r).checkState() == Qt.CheckState.Checked],
                result.get("errors") or {}))
            return
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

    def show_compute(self, spec: Dict, result: Dict) -> None:
        """Composites, statistics table and forests-with-latest-values in a group."""
        from .trusted_results import trusted

        result = trusted(result)  # only what the run's manifest lists
        run = self.presenter.show_run(spec, result,
                                      event_date=self._run_context.get("event_date"),
                                      keep=self.keep_runs.isChecked())
        self.outputs_left_out.refresh()
        self.table_layer = run.table
        self.result_group = run.group
        from .hexagon_change import hexagon_note

        self.set_status(f"Done: {result.get('rows', 0)} statistics rows{hexagon_note(run)} in "
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
        drawn = self._forest_dialog.show_forest(
            self.table_layer, self.id_field_combo.currentField(), forest,
            event_date=self._run_context.get("event_date"))
        field = self.id_field_combo.currentField()
        if not drawn:
            from .forest_series import NOT_IN_RUN

            self.set_status(f"{field} {forest}: {NOT_IN_RUN}")
        else:  # never leave an earlier pick's "not part of the run" beside this one's chart
            self.set_status(f"{field} {forest}: its time series is in the window beside the "
                            "map")
        self._forest_dialog.show()
        self._forest_dialog.raise_()
