"""The analyst's first try of disturbance monitoring in the dock: the storm sample (3 months) is
refused before any run with what to choose, and the disturbance sample (3 years) that the
monitoring section offers fills the form so that *Monitor / update* succeeds."""

import pytest
from qgis.core import QgsProject, QgsVectorLayer
from qgis.PyQt.QtCore import QDate

from raster_collect_plugin.core.jobs import run_job
from raster_collect_plugin.core.jobs.spec import JobError
from raster_collect_plugin.core.sample import sample_of_catalog
from raster_collect_plugin.gui.dock import RasterCollectDock
from tests.test_dock import close_dock, tick_index, tick_source, wait_for_job


@pytest.fixture
def dock(qgis_iface, qgis_new_project, small_sample, tmp_path):
    """The dock as 'Try it on sample data…' leaves it: the storm sample's forests and catalog."""
    layer = QgsVectorLayer(f"{small_sample.forests_path}|layername=forests", "forests", "ogr")
    QgsProject.instance().addMapLayer(layer)
    widget = RasterCollectDock(qgis_iface, qgis_iface.mainWindow())
    widget.layer_combo.setLayer(layer)
    tick_source(widget, "catalog")
    widget.catalog_edit.setFilePath(str(small_sample.catalog_path))
    tick_index(widget, "EVI")
    widget.output_folder.setFilePath(str(tmp_path / "outputs"))
    widget.monitoring_section.folder.setFilePath(str(tmp_path / "monitoring"))
    yield widget
    close_dock(widget)


def test_the_storm_sample_is_refused_before_the_run(dock, small_sample, tmp_path):
    assert sample_of_catalog(str(small_sample.catalog_path)) == "storm"
    dock.monitoring_section.run_button.click()
    assert dock.current_task is None  # no job started
    assert dock.last_error.startswith("The storm sample's scenes cover October to December "
                                      "2025 only")
    assert "(Disturbance monitoring → Try it on sample data…: 3 years" in dock.last_error
    assert dock.monitoring_section.summary.text() == dock.last_error  # beside the button
    assert not (tmp_path / "monitoring").exists()


def test_the_disturbance_sample_fills_the_form_and_monitoring_succeeds(dock, tmp_path):
    section = dock.monitoring_section
    section.setCollapsed(False)
    section.run_button.click()  # the storm sample: refused, said in the section
    section.sample_button.click()
    assert wait_for_job(dock, 300) == "sample", dock.last_error
    root = tmp_path / "outputs" / "raster-collect-disturbance-sample"
    [layer] = QgsProject.instance().mapLayersByName("forests (disturbance sample)")
    assert layer.featureCount() == 8 and dock.layer_combo.currentLayer() is layer
    [source] = dock.chosen_sources()
    assert source["href"] == str(root / "catalog.json")
    assert source["collections"] == ["sentinel-2-l2a", "landsat-c2-l2"]
    assert dock.chosen_indices() == ["NDVI"]
    assert (section.history_start.date(), section.history_end.date()) == (
        QDate(2023, 1, 1), QDate(2024, 12, 31))
    assert section.folder.filePath() == str(root / "monitoring")
    assert dock.status_text() == "Disturbance sample ready: press Monitor / update"
    assert section.summary.text() == ("Disturbance sample ready: 8 compartments, scenes from "
                                      "2023-01-01 to 2025-12-31; press Monitor / update")
    assert not section.chart.isVisibleTo(section)  # no empty chart before a run
    section.run_button.click()
    assert wait_for_job(dock, 600) == "monitor", dock.last_error
    [result] = QgsProject.instance().mapLayersByName("disturbance monitoring")
    alerts = {f["forest_id"]: f["alert"] for f in result.getFeatures()}
    # the scenario's events: windthrow in 102 and 103, clear-fell 105, dieback 106, windthrow 107
    assert {k for k, v in alerts.items() if v == "disturbed"} == {102, 103, 105, 106, 107}
    assert {k for k, v in alerts.items() if v == "none"} == {101, 104, 108}


def test_a_disturbance_sample_job_refuses_small(tmp_path):
    with pytest.raises(JobError, match="'small' is for the storm sample only"):
        run_job({"kind": "sample", "scenario": "disturbance", "small": True,
                 "output_dir": str(tmp_path / "s")})
    with pytest.raises(JobError, match="scenario"):
        run_job({"kind": "sample", "scenario": "forest", "output_dir": str(tmp_path / "s")})
    assert not (tmp_path / "s").exists()


def test_the_command_line_makes_it_too_and_refuses_small(tmp_path):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "raster_collect_plugin", "sample",
                           "--disturbance", "--small", "--output", str(tmp_path / "s")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().endswith(
        "--small is for the storm sample only: leave it out with --disturbance")
    assert not (tmp_path / "s").exists()
