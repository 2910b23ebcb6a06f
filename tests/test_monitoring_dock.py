"""The dock's Disturbance monitoring section (issue 30): one button starts the monitoring of the
chosen forests with the dock's sources, adds the compartments styled by alert, and a second
press continues the folder (no new scene)."""

from datetime import date, datetime

import numpy as np
import pandas as pd
import pytest
from qgis.core import QgsProject, QgsVectorLayer
from qgis.PyQt.QtCore import QDate

from raster_collect_plugin.core.sample.disturbance_catalog import write_scenario
from raster_collect_plugin.core.sample.disturbance_scenario import Event, ScenarioSpec
from raster_collect_plugin.gui.dock import RasterCollectDock
from raster_collect_plugin.gui.run_layers import run_groups
from tests.test_dock import close_dock, tick_index, tick_source, wait_for_job

SPEC = ScenarioSpec(start=date(2024, 1, 1), end=date(2025, 6, 30), columns=2, rows=1,
                    events=(Event(1, "windthrow", date(2025, 3, 14)),))


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    return write_scenario(tmp_path_factory.mktemp("scenario"), SPEC)


def scenario_dock(iface, scenario, folder, max_cloud: float) -> RasterCollectDock:
    """A dock set to monitor the scenario (NDVI, its catalog, a 2024 history) into
    ``folder``; ``max_cloud``: the composites' cloud limit on the form."""
    layer = QgsVectorLayer(f"{scenario.compartments}|layername=compartments", "forests", "ogr")
    assert layer.isValid()
    QgsProject.instance().addMapLayer(layer)
    widget = RasterCollectDock(iface, iface.mainWindow())
    widget.layer_combo.setLayer(layer)
    tick_source(widget, "catalog")
    widget.catalog_edit.setFilePath(str(scenario.catalog))
    widget.max_cloud.setValue(max_cloud)
    tick_index(widget, "NDVI")
    section = widget.monitoring_section
    section.history_start.setDate(QDate(2024, 1, 1))
    section.history_end.setDate(QDate(2024, 12, 31))
    section.folder.setFilePath(str(folder))
    return widget


@pytest.fixture
def dock(qgis_iface, qgis_new_project, scenario, tmp_path):
    widget = scenario_dock(qgis_iface, scenario, tmp_path / "monitoring", 100)
    yield widget
    close_dock(widget)


def test_monitoring_section_runs_and_continues(dock, tmp_path):
    section = dock.monitoring_section
    section.run_button.click()
    assert wait_for_job(dock, 600) == "monitor", dock.last_error
    [layer] = QgsProject.instance().mapLayersByName("disturbance monitoring")
    assert {f["forest_id"]: f["alert"] for f in layer.getFeatures()} == {101: "none",
                                                                        102: "disturbed"}
    assert layer.renderer().classAttribute() == "alert"
    [status] = QgsProject.instance().mapLayersByName("disturbance status")
    # the flagged pixels in the alert colours over the compartments (no black-to-white band)
    assert status.renderer().type() == "paletted"
    assert {c.label: c.color.name() for c in status.renderer().classes()} == {
        "suspected": "#fdae61", "confirmed": "#d73027", "recovered": "#4575b4"}
    [group] = run_groups("monitor")
    assert QgsProject.instance().layerTreeRoot().children()[0] is group
    assert [n.layer() for n in group.findLayers()] == [status, layer]
    assert layer in dock.layer_combo.exceptedLayerList()  # never offered as the forests
    assert dock.status_text() == "Monitoring: 59 new scenes; compartments with new alerts: 102"
    assert "compartments with new alerts: 102" in section.summary.text()
    section.setCollapsed(True)
    section.setCollapsed(False)
    assert section.chart.isVisibleTo(section)
    assert (tmp_path / "monitoring" / "forests.gpkg").exists()  # 'watch' can continue it
    _chart_shows_the_series(section.chart, tmp_path / "monitoring" / "monitoring_series.csv")
    section.run_button.click()
    assert wait_for_job(dock, 600) == "monitor", dock.last_error
    assert "compartments with new alerts: none" in section.summary.text()
    # the second press replaced the first one's layers (one group, one of each layer)
    assert len(run_groups("monitor")) == 1
    assert len(QgsProject.instance().mapLayersByName("disturbance monitoring")) == 1
    assert len(QgsProject.instance().mapLayersByName("disturbance status")) == 1


def test_history_must_end_after_it_starts(dock):
    section = dock.monitoring_section
    section.history_end.setDate(QDate(2023, 1, 1))
    section.run_button.click()
    assert dock.current_task is None
    assert "must end after it starts" in dock.last_error


def test_a_history_shorter_than_a_year_is_said_in_the_section(dock):
    section = dock.monitoring_section
    section.history_start.setDate(QDate(2024, 11, 1))
    section.run_button.click()
    assert wait_for_job(dock, 600) == "monitor", dock.last_error
    assert "(2024-11-01 .. 2024-12-31) is 61 days, less than a year" in section.summary.text()


def _forests_kept(folder, expected: bytes) -> None:
    """The folder still holds its own polygons (no backup left beside them)."""
    assert (folder / "forests.gpkg").read_bytes() == expected
    assert [p.name for p in folder.iterdir() if p.name.startswith(".forests")] == []


def test_a_refused_rerun_with_other_forests_keeps_the_folders_forests(dock, tmp_path):
    folder = tmp_path / "monitoring"
    section = dock.monitoring_section
    section.run_button.click()
    assert wait_for_job(dock, 600) == "monitor", dock.last_error
    kept = (folder / "forests.gpkg").read_bytes()
    layer = dock.layer_combo.currentLayer()
    layer.selectByExpression('"forest_id" = 101')
    dock.selected_only.setChecked(True)  # a subset of the compartments: refused
    section.run_button.click()
    assert wait_for_job(dock, 600) == "monitor"
    assert dock.state == "failed" and "different forests" in dock.last_error
    _forests_kept(folder, kept)  # so the folder (and 'watch') can still continue
    assert QgsVectorLayer(str(folder / "forests.gpkg"), "f", "ogr").featureCount() == 2
    dock.selected_only.setChecked(False)
    section.run_button.click()
    assert wait_for_job(dock, 600) == "monitor", dock.last_error
    assert dock.state == "done"
    assert "compartments with new alerts: none" in section.summary.text()
    # the second press replaced the first one's layers (one group, one of each layer)
    assert len(run_groups("monitor")) == 1
    assert len(QgsProject.instance().mapLayersByName("disturbance monitoring")) == 1
    assert len(QgsProject.instance().mapLayersByName("disturbance status")) == 1


def test_a_failed_first_run_leaves_no_folder(dock, tmp_path):
    section = dock.monitoring_section
    section.history_end.setDate(QDate(2025, 12, 31))  # after the series' last scene
    section.run_button.click()
    assert wait_for_job(dock, 600) == "monitor"
    assert dock.state == "failed" and "end of the history period" in dock.last_error
    assert not (tmp_path / "monitoring").exists()


@pytest.mark.parametrize("first_run", [True, False])
def test_a_cancelled_run_puts_the_folders_forests_back(dock, tmp_path, monkeypatch,
                                                        first_run):
    """The task's cancel path (the child killed, run_job raising JobCancelled) restores the
    folder in the worker thread; a cancelled first run leaves no folder."""
    from raster_collect_plugin.engine import bridge

    folder = tmp_path / "monitoring"
    if not first_run:
        folder.mkdir()
        (folder / "forests.gpkg").write_bytes(b"the folder's own polygons")
    seen = []

    def killed(spec, **_):
        seen.append(QgsVectorLayer(spec["aoi"], "placed", "ogr").featureCount())
        raise bridge.JobCancelled("cancelled: no outputs were written")

    monkeypatch.setattr(bridge, "run_job", killed)
    dock.monitoring_section.run_button.click()
    task = dock.current_task
    assert wait_for_job(dock, 60) == "monitor"
    assert seen == [2]  # the job read this run's polygons in the folder
    assert task.cancelled and dock.state == "cancelled"
    if first_run:
        assert not folder.exists()
    else:
        _forests_kept(folder, b"the folder's own polygons")


def _chart_shows_the_series(chart, table):
    """The chart shows the compartment with new alerts: its observed means (per sensor) and
    the model's expectation as in monitoring_series.csv, the anomalous scenes marked, all of
    them after the windthrow."""
    rows = pd.read_csv(table)
    assert chart.isVisibleTo(chart.parent())
    assert [chart.compartment_combo.itemText(i)
            for i in range(chart.compartment_combo.count())] == ["101", "102"]
    assert chart.compartment_combo.currentText() == "102"
    mine = rows[rows["forest_id"] == 102].sort_values("time", kind="stable")
    lines = chart.plotted()
    times = [datetime.fromisoformat(t) for t in mine["time"]]
    assert lines["expected"][0] == times
    np.testing.assert_allclose(lines["expected"][1], mine["expected"], rtol=1e-9)
    for sensor in ("sentinel-2", "landsat"):
        part = mine[mine["sensor"] == sensor]
        assert len(part) > 0
        np.testing.assert_allclose(lines[f"observed:{sensor}"][1], part["observed"], rtol=1e-9)
    marked = mine[mine["anomalous_fraction"] >= 0.5]
    assert len(marked) >= 3
    np.testing.assert_allclose(lines["anomalies"][1], marked["observed"], rtol=1e-9)
    assert min(lines["anomalies"][0]) >= datetime(2025, 3, 14)
    # the windthrow: observed well below the model once marked
    assert (marked["expected"] - marked["observed"]).min() > 0.2
    chart.compartment_combo.setCurrentText("101")  # an intact compartment: nothing marked
    assert "anomalies" not in chart.plotted()
