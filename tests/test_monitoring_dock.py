"""The dock's Disturbance monitoring section (issue 30): one button starts the monitoring of the
chosen forests with the dock's sources, adds the compartments styled by alert, and a second
press continues the folder (no new scene)."""

from datetime import date

import pytest
from qgis.core import QgsProject, QgsVectorLayer
from qgis.PyQt.QtCore import QDate

from raster_collect_plugin.core.sample.disturbance_catalog import write_scenario
from raster_collect_plugin.core.sample.disturbance_scenario import Event, ScenarioSpec
from raster_collect_plugin.gui.dock import RasterCollectDock
from tests.test_dock import tick_index, tick_source, wait_for_job

SPEC = ScenarioSpec(start=date(2024, 1, 1), end=date(2025, 6, 30), columns=2, rows=1,
                    events=(Event(1, "windthrow", date(2025, 3, 14)),))


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    return write_scenario(tmp_path_factory.mktemp("scenario"), SPEC)


@pytest.fixture
def dock(qgis_iface, qgis_new_project, scenario, tmp_path):
    layer = QgsVectorLayer(f"{scenario.compartments}|layername=compartments", "forests", "ogr")
    assert layer.isValid()
    QgsProject.instance().addMapLayer(layer)
    widget = RasterCollectDock(qgis_iface, qgis_iface.mainWindow())
    widget.layer_combo.setLayer(layer)
    tick_source(widget, "catalog")
    widget.catalog_edit.setFilePath(str(scenario.catalog))
    widget.max_cloud.setValue(100)
    tick_index(widget, "NDVI")
    section = widget.monitoring_section
    section.history_start.setDate(QDate(2024, 1, 1))
    section.history_end.setDate(QDate(2024, 12, 31))
    section.folder.setFilePath(str(tmp_path / "monitoring"))
    yield widget
    if widget.current_task is not None:
        widget.current_task.cancel()
        wait_for_job(widget)
    widget.shutdown()
    widget.deleteLater()


def test_monitoring_section_runs_and_continues(dock, tmp_path):
    section = dock.monitoring_section
    section.run_button.click()
    assert wait_for_job(dock, 600) == "monitor", dock.last_error
    [layer] = QgsProject.instance().mapLayersByName("disturbance monitoring")
    assert {f["forest_id"]: f["alert"] for f in layer.getFeatures()} == {101: "none",
                                                                        102: "disturbed"}
    assert layer.renderer().classAttribute() == "alert"
    assert QgsProject.instance().mapLayersByName("disturbance status")
    assert "compartments with new alerts: 102" in section.summary.text()
    assert (tmp_path / "monitoring" / "forests.gpkg").exists()  # 'watch' can continue it
    section.run_button.click()
    assert wait_for_job(dock, 600) == "monitor", dock.last_error
    assert "compartments with new alerts: none" in section.summary.text()


def test_history_must_end_after_it_starts(dock):
    section = dock.monitoring_section
    section.history_end.setDate(QDate(2023, 1, 1))
    section.run_button.click()
    assert dock.current_task is None
    assert "must end after it starts" in dock.last_error
