"""The analyst's first try of disturbance monitoring in the dock: the storm sample (3 months) is
refused before any run with what to choose, and the disturbance sample (3 years) that the
monitoring section offers fills the form so that *Monitor / update* succeeds."""

import json

import pytest
from qgis.core import QgsProject, QgsVectorLayer
from qgis.PyQt.QtCore import QDate

from raster_collect_plugin import cli
from raster_collect_plugin.core.jobs import run_job
from raster_collect_plugin.core.jobs.spec import JobError
from raster_collect_plugin.core.sample import sample_of_catalog, storm_sample_too_short
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
    section = dock.monitoring_section
    section.history_start.setDate(QDate(2025, 10, 1))
    section.history_end.setDate(QDate(2025, 11, 30))
    section.run_button.click()
    assert dock.current_task is None  # no job started
    # the small sample: two Sentinel-2 and two Landsat scenes a month
    assert dock.last_error.startswith(
        "The storm sample has 8 Sentinel-2 and Landsat scene(s) between 2025-10-01 and "
        "2025-11-30 (its scenes run from 2025-10-")
    assert "at least 10 clear observations per pixel in the stable history: choose a " \
        "history within its scenes, or use the disturbance sample instead (Disturbance " \
        "monitoring → Try it on sample data…: 3 years" in dock.last_error
    assert dock.monitoring_section.summary.text() == dock.last_error  # beside the button
    assert not (tmp_path / "monitoring").exists()


def test_the_disturbance_sample_fills_the_form_and_monitoring_succeeds(dock, tmp_path, capsys):
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
    # the last scene's UTC day, not its time (2025-12-27T10:10:00); every scene: the
    # monitoring's default cloud limit is none, as the command line's (the dock sent its
    # form's 80 % and found 80)
    assert section.summary.text().startswith("119 new scenes up to 2025-12-27; "), \
        section.summary.text()
    # the command line with the same inputs finds the same scenes and records the same run,
    # so either door continues the other's folder (a default drifting apart fails here)
    path, _, name = layer.source().partition("|layername=")
    assert cli.main(["--json", "monitor", "--gpkg", path, "--layer", name, "--catalog",
                     source["href"], "--collections", ",".join(source["collections"]),
                     "--history-start", "2023-01-01", "--history-end", "2024-12-31",
                     "--output", str(tmp_path / "cli")]) == 0
    assert json.loads(capsys.readouterr().out)["changes"]["scenes"] == 119

    def run_record(folder):
        return json.loads((folder / "manifest.json").read_text())["run"]

    assert run_record(tmp_path / "cli") == run_record(root / "monitoring")


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


def test_the_full_storm_sample_with_a_long_enough_history_is_not_refused(tmp_path):
    """The 12-month storm sample (`raster-collect sample`, `demo`) can be monitored with a
    history of 8 months: only a history holding too few of its scenes is refused."""
    from datetime import date

    from raster_collect_plugin.core.sample import make_sample
    from raster_collect_plugin.core.sample.choice import _item_days

    sample = make_sample(tmp_path / "full")
    catalog = str(sample.catalog_path)
    days = _item_days(sample.catalog_path.parent)
    assert len(days) == 48 and min(days) >= date(2025, 1, 1) and max(days) <= date(2025, 12, 31)
    assert storm_sample_too_short(catalog, date(2025, 1, 1), date(2025, 8, 31)) is None
    assert storm_sample_too_short(catalog, date(2025, 1, 1), date(2025, 2, 28)).startswith(
        "the storm sample has 8 Sentinel-2 and Landsat scene(s) between 2025-01-01 and "
        "2025-02-28 (its scenes run from 2025-01-05 to 2025-12-27)")
    assert storm_sample_too_short(catalog, date(2025, 1, 1), date(2025, 12, 31)) == (
        "the storm sample has no scene after the stable history (its scenes run from "
        "2025-01-05 to 2025-12-27; the history ends 2025-12-31): end the history earlier, or "
        "use the disturbance sample instead (Disturbance monitoring → Try it on sample data…: "
        "3 years of Sentinel-2 and Landsat)")
    assert storm_sample_too_short(str(tmp_path / "catalog.json"), date(2025, 1, 1),
                                  date(2025, 3, 31)) is None  # not a sample


def test_one_sample_is_never_written_over_the_other(tmp_path, small_sample):
    """Both samples write catalog.json: the disturbance sample written into the storm
    sample's folder replaced its catalog while sample.json stayed, so the doors took the
    disturbance catalog for the storm sample. Refused both ways, nothing written."""
    from raster_collect_plugin import cli
    from raster_collect_plugin.core.sample import make_sample
    from raster_collect_plugin.core.sample.catalog import SampleFolderError
    from raster_collect_plugin.core.sample.disturbance_catalog import write_scenario

    storm = small_sample.root
    before = {p: p.stat().st_mtime_ns for p in storm.rglob("*")}
    with pytest.raises(SampleFolderError, match="holds the storm sample: the disturbance "
                                                "sample cannot be written over it"):
        write_scenario(storm)
    assert {p: p.stat().st_mtime_ns for p in storm.rglob("*")} == before
    assert cli.main(["--quiet", "sample", "--disturbance", "--output", str(storm)]) == 2
    scenario = tmp_path / "scenario"
    scenario.mkdir()
    (scenario / "scenario.json").write_text("{}")  # a disturbance sample's manifest
    with pytest.raises(SampleFolderError, match="holds the disturbance sample"):
        make_sample(scenario)
    assert sorted(p.name for p in scenario.iterdir()) == ["scenario.json"]


def test_a_cloud_limit_remembered_from_an_earlier_session_does_not_change_a_sample(
        qgis_iface, qgis_new_project, small_sample):
    """The dock brings back the last session's cloud limit; both samples' forms set it back to
    the default, so *Try it on sample data…* finds the same scenes for every user."""
    from raster_collect_plugin import settings
    from raster_collect_plugin.core.runs import DEFAULT_MAX_CLOUD_COVER

    settings.set_value("max_cloud_cover", 20.0)
    widget = RasterCollectDock(qgis_iface, qgis_iface.mainWindow())
    try:
        assert widget.max_cloud.value() == 20.0  # restored
        widget.monitoring_section.show_sample(widget, {
            "forests": str(small_sample.forests_path), "layer": "forests",
            "catalog": str(small_sample.catalog_path), "history_start": "2023-01-01",
            "history_end": "2024-12-31", "last_scene_day": "2025-12-31"})
        assert widget.max_cloud.value() == DEFAULT_MAX_CLOUD_COVER == 80.0
        # the monitoring's own limit too: its default, none (as the command line's)
        assert widget.monitoring_section.cloud_limit() is None
        widget.monitoring_section.max_cloud.setValue(20.0)
        widget.monitoring_section.show_sample(widget, {
            "forests": str(small_sample.forests_path), "layer": "forests",
            "catalog": str(small_sample.catalog_path), "history_start": "2023-01-01",
            "history_end": "2024-12-31", "last_scene_day": "2025-12-31"})
        assert widget.monitoring_section.max_cloud.text() == "none"
        widget.max_cloud.setValue(20.0)
        widget.show_sample({"forests": str(small_sample.forests_path),
                            "catalog": str(small_sample.catalog_path)})
        assert widget.max_cloud.value() == DEFAULT_MAX_CLOUD_COVER
    finally:
        close_dock(widget)
