"""A saved project comes back as it was (issue 26 item 12): the dock's choices, the temporal
controller, the datum transformation chosen once, and footprints in a file (no "temporary
layers" prompt on exit)."""

from datetime import date
from pathlib import Path

from qgis.core import QgsCoordinateReferenceSystem, QgsDatumTransform, QgsProject
from qgis.PyQt.QtCore import QDate, Qt

from tests.test_dock import SOURCES, dock, forests, wait_for_job  # noqa: F401 (fixtures)


def checked_sources(widget):
    return [key for row, (key, _, _) in enumerate(SOURCES)
            if widget.source_list.item(row).checkState() == Qt.CheckState.Checked]


def test_reopening_a_saved_project_brings_the_dock_the_controller_and_the_layers_back(
        dock, forests, small_sample, tmp_path, qgis_iface):  # noqa: F811
    project = QgsProject.instance()
    dock.preset_combo.setCurrentText("Before/after an event")
    dock.start_date.setDate(QDate(2025, 10, 1))
    dock.end_date.setDate(QDate(2025, 12, 31))
    dock.max_cloud.setValue(60)
    dock.start_search()
    assert wait_for_job(dock) == "search", dock.last_error
    footprints = dock.footprint_layer
    # a file beside the outputs, not a memory layer QGIS asks about on exit
    assert footprints.providerType() == "ogr"
    assert footprints.source() == (f"{tmp_path / 'outputs' / 'scene_footprints.gpkg'}"
                                   "|layername=footprints")
    assert footprints.featureCount() == dock.results_table.rowCount() > 0
    dock.start_compute()
    assert wait_for_job(dock) == "zonal", dock.last_error

    # GDA94 / MGA 56 forests, WGS 84 / UTM 56S outputs: several ways from one to the other,
    # the best one is stored in the project, so QGIS does not ask (now or on reopen)
    forests_crs, outputs_crs = forests.crs(), QgsCoordinateReferenceSystem("EPSG:32756")
    assert forests_crs.authid() == "EPSG:28356"
    operations = [o for o in QgsDatumTransform.operations(forests_crs, outputs_crs)
                  if o.isAvailable]
    assert len(operations) > 1
    assert project.transformContext().hasTransform(forests_crs, outputs_crs)
    best = {operations[0].proj,  # stored one way or the other: PROJ's best operation
            [o for o in QgsDatumTransform.operations(outputs_crs, forests_crs)
             if o.isAvailable][0].proj}
    assert project.transformContext().calculateCoordinateOperation(
        forests_crs, outputs_crs) in best

    controller = qgis_iface.mapCanvas().temporalController()
    assert controller.navigationMode() == controller.NavigationMode.Animated
    controller.setCurrentFrameNumber(1)  # the user looks at November
    saved = tmp_path / "forests.qgz"
    assert project.write(str(saved))

    # the session moves on: other choices, the controller switched off, the project closed
    for row in range(dock.source_list.count()):
        dock.source_list.item(row).setCheckState(Qt.CheckState.Unchecked)
    dock.catalog_edit.setFilePath("")
    dock.preset_combo.setCurrentText("Last 12 months")
    dock.max_cloud.setValue(10)
    controller.setNavigationMode(controller.NavigationMode.NavigationOff)
    project.clear()

    assert project.read(str(saved))
    assert dock.status_text().startswith("The project's choices are back in the form")
    assert checked_sources(dock) == ["catalog"]
    assert dock.catalog_edit.filePath() == str(small_sample.catalog_path)
    assert dock.custom_collections.text() == "sentinel-2-l2a"
    assert dock.preset_combo.currentText() == "Before/after an event"
    assert dock.chosen_event_date() == date(2025, 11, 13)
    assert (dock.start_date.date(), dock.end_date.date()) == (QDate(2025, 10, 1),
                                                              QDate(2025, 12, 31))
    assert dock.max_cloud.value() == 60 and dock.chosen_indices() == ["NDVI"]
    assert dock.layer_combo.currentLayer().name() == "forests"
    assert dock.id_field_combo.currentField() == "forest_id"
    assert controller.navigationMode() == controller.NavigationMode.Animated
    assert controller.totalFrameCount() == 3 and controller.currentFrameNumber() == 1
    assert controller.dateTimeRangeForFrameNumber(1).begin().date() == QDate(2025, 11, 1)
    # QGIS's own Temporal Controller panel reads these when it opens the project
    assert project.readNumEntry("TemporalControllerWidget", "/NavigationMode")[0] == int(
        getattr(controller.NavigationMode.Animated, "value",
                controller.NavigationMode.Animated))
    assert project.transformContext().hasTransform(forests_crs, outputs_crs)
    [reopened] = project.mapLayersByName("scene footprints")
    assert reopened.isValid() and reopened.providerType() == "ogr"
    assert not [layer for layer in project.mapLayers().values()
                if layer.providerType() == "memory"
                and not layer.customProperty("skipMemoryLayersCheck")]
    assert Path(tmp_path / "outputs" / "scene_footprints.gpkg").exists()
