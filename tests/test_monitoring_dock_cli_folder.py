"""One monitoring folder, two doors: the dock's *Monitor / update* and ``raster-collect monitor
--output FOLDER`` with the same inputs continue each other's folder. The dock sent its form's
cloud limit (80 %) where the command line and a job spec take none, so the other door's rerun
was refused ("different --max-cloud") and the two found different scenes."""

import json

import pytest

from raster_collect_plugin import cli
from raster_collect_plugin.core.runs import DEFAULT_MONITOR_MAX_CLOUD_COVER
from raster_collect_plugin.core.sample.disturbance_catalog import write_scenario
from tests.test_dock import close_dock, wait_for_job
from tests.test_monitoring_dock import SPEC, scenario_dock


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    return write_scenario(tmp_path_factory.mktemp("scenario"), SPEC)


@pytest.fixture
def dock(qgis_iface, qgis_new_project, scenario, tmp_path):
    """The dock as a user leaves it: its own cloud limit at the composites' default (80 %)."""
    widget = scenario_dock(qgis_iface, scenario, tmp_path / "monitoring", 80)
    yield widget
    close_dock(widget)


def _command_line(scenario, folder, capsys, *end):
    code = cli.main(["--json", "monitor", "--gpkg", str(scenario.compartments), "--catalog",
                     str(scenario.catalog), "--history-start", "2024-01-01", "--history-end",
                     "2024-12-31", *end, "--output", str(folder)])
    out, err = capsys.readouterr()
    assert code == 0, err  # before the fix: exit 2, "different --max-cloud"
    return json.loads(out)["changes"]


def _dock_run(dock) -> int:
    dock.monitoring_section.run_button.click()
    assert wait_for_job(dock, 600) == "monitor", dock.last_error
    return int(dock.monitoring_section.summary.text().split()[0])  # "59 new scenes up to..."


def test_the_monitoring_cloud_limit_reads_none_by_default(dock):
    section = dock.monitoring_section
    assert DEFAULT_MONITOR_MAX_CLOUD_COVER is None
    assert section.cloud_limit() is None and section.max_cloud.text() == "none"
    section.max_cloud.setValue(40)
    assert section.cloud_limit() == 40.0
    section.max_cloud.setValue(section.max_cloud.minimum())
    assert section.max_cloud.text() == "none" and section.cloud_limit() is None


def test_the_command_line_continues_a_folder_the_dock_started(dock, scenario, tmp_path,
                                                             capsys):
    folder = tmp_path / "monitoring"
    assert _dock_run(dock) > 0
    record = json.loads((folder / "manifest.json").read_text())["run"]["parameters"]
    assert "max_cloud_cover" not in record  # none, as the command line's
    again = _command_line(scenario, folder, capsys)  # up to today, as the dock
    assert again["scenes"] == 0  # continued: nothing new, not refused


def test_the_dock_continues_a_folder_the_command_line_started(dock, scenario, tmp_path,
                                                             capsys):
    folder = tmp_path / "monitoring"
    first = _command_line(scenario, folder, capsys, "--end", "2025-01-31")
    assert _dock_run(dock) > 0  # the scenes after January, up to today
    changes = json.loads((folder / "monitoring_changes.json").read_text())
    assert changes["first_scene"] > first["last_scene"]
    assert changes["zones_with_new_alerts"] == [102]


def test_a_folder_the_dock_started_before_continues_with_its_limit(scenario, tmp_path,
                                                                   monkeypatch):
    """A dock folder made before recorded the ticked default mask classes by name and 80 %:
    the same spec (the section's limit set to 80) continues it, not "different
    mask_classes"."""
    from raster_collect_plugin.core.jobs import monitor, run_job
    from raster_collect_plugin.core.pixels.masks import DEFAULT_MASK_CLASSES

    spec = {"kind": "monitor", "aoi": str(scenario.compartments),
            "sources": [{"kind": "static", "href": str(scenario.catalog)}],
            "history_start": "2024-01-01", "history_end": "2024-12-31", "end": "2025-01-31",
            "max_cloud_cover": 80.0, "mask_classes": sorted(DEFAULT_MASK_CLASSES),
            "output_dir": str(tmp_path / "monitoring")}
    with monkeypatch.context() as before:  # the record as it was: the classes by name
        before.setattr(monitor, "_recorded_mask", lambda _, given: sorted(given))
        first = run_job(dict(spec))
    again = run_job(dict(spec, end="2025-03-31"))
    assert again["changes"]["first_scene"] > first["changes"]["last_scene"]


def test_the_advanced_keys_default_to_the_specs_and_reach_the_run(dock, scenario, tmp_path,
                                                                  capsys):
    """The section's collapsed *Advanced* group: left alone it sends no monitoring key (the
    spec's defaults); set, a folder it writes is continued by monitor with the same options."""
    section = dock.monitoring_section
    assert section.advanced.isCollapsed()
    assert section.monitoring_keys() == {} and section.min_history_obs.text() == "default"
    assert (section.trend.isChecked(), section.screen_sigma.value(),
            section.outlier_sigma.value()) == (False, 5.0, 10.0)
    section.trend.setChecked(True)
    section.min_history_obs.setValue(12)
    section.screen_sigma.setValue(4)
    section.outlier_sigma.setValue(8)
    assert section.monitoring_keys() == {"trend": True, "min_history_obs": 12,
                                         "screen_sigma": 4.0, "outlier_sigma": 8.0}
    assert _dock_run(dock) > 0
    kept = json.loads((tmp_path / "monitoring" / "manifest.json").read_text())["run"][
        "parameters"]["monitoring"]
    assert (kept["trend"], kept["min_history_obs"], kept["screen_sigma"],
            kept["outlier_sigma"]) == (True, 12, 4.0, 8.0)
    assert _command_line(scenario, tmp_path / "monitoring", capsys, "--trend",
                         "--min-history-obs", "12", "--screen-sigma", "4",
                         "--outlier-sigma", "8")["scenes"] == 0
