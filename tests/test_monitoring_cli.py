"""The monitor and watch commands (issue 30) on a small scenario written as real scenes and a
static STAC catalog: a first run, a scheduled ``watch`` that processes only the newer scenes and
reports what changed, and the same pixels as one run to the same day; the job spec checks."""

import json
import subprocess
import sys
from datetime import date

import numpy as np
import pytest
import rasterio

from raster_collect_plugin.core.jobs import JobError, validate_spec
from raster_collect_plugin.core.sample.disturbance_catalog import write_scenario
from raster_collect_plugin.core.sample.disturbance_scenario import Event, ScenarioSpec

SPEC = ScenarioSpec(start=date(2024, 1, 1), end=date(2025, 6, 30), columns=2, rows=1,
                    events=(Event(1, "windthrow", date(2025, 3, 14)),))


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    return write_scenario(tmp_path_factory.mktemp("scenario"), SPEC)


def _cli(*arguments):
    done = subprocess.run([sys.executable, "-m", "raster_collect_plugin", "--json", *arguments],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def _monitor(scenario, output, end):
    return _cli("monitor", "--gpkg", str(scenario.compartments), "--catalog",
                str(scenario.catalog), "--history-start", "2024-01-01", "--history-end",
                "2024-12-31", "--end", end, "--output", str(output))


def _status(folder):
    with rasterio.open(folder / "monitoring_status.tif") as dataset:
        return dataset.read(1)


def test_monitor_then_watch_equals_one_run(scenario, tmp_path):
    first = _monitor(scenario, tmp_path / "steps", "2025-02-28")
    assert first["changes"]["zones_with_new_alerts"] == []
    watched = _cli("watch", "--output", str(tmp_path / "steps"), "--end", "2025-06-30")
    changes = watched["changes"]
    # only the scenes after the first run's last one were searched and processed
    assert changes["first_scene"] > first["changes"]["last_scene"]
    assert changes["scenes"] > 0 and changes["entered"]["confirmed"] > 500
    assert changes["zones_with_new_alerts"] == [102]
    flagged = [row["forest_id"] for row in watched["compartments"]
               if row["alert"] == "disturbed"]
    assert flagged == [102]
    once = _monitor(scenario, tmp_path / "once", "2025-06-30")
    assert once["changes"]["scenes"] == first["changes"]["scenes"] + changes["scenes"]
    np.testing.assert_array_equal(_status(tmp_path / "once"), _status(tmp_path / "steps"))
    again = _cli("watch", "--output", str(tmp_path / "steps"), "--end", "2025-06-30")
    assert again["changes"]["scenes"] == 0
    listed = json.loads((tmp_path / "steps" / "manifest.json").read_text())["files"]
    assert {"monitoring_status.tif", "monitoring_state.npz", "monitoring_compartments.gpkg",
            "monitoring_alerts.gpkg"} <= set(listed)


def test_other_parameters_need_overwrite(scenario, tmp_path):
    _monitor(scenario, tmp_path, "2025-06-30")
    arguments = ("monitor", "--gpkg", str(scenario.compartments), "--catalog",
                 str(scenario.catalog), "--history-start", "2024-01-01", "--history-end",
                 "2024-12-31", "--end", "2025-06-30", "--confirm", "4", "--output",
                 str(tmp_path))
    done = subprocess.run([sys.executable, "-m", "raster_collect_plugin", *arguments],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 2 and "--overwrite" in done.stderr
    again = _cli(*arguments, "--overwrite")
    assert again["changes"]["scenes"] == first_scenes(scenario)
    saved = json.loads((tmp_path / "monitoring_state.json").read_text())
    assert saved["params"]["confirm"] == 4


def first_scenes(scenario):
    """Scenes after the history in the scenario (a run from scratch processes them all)."""
    from raster_collect_plugin.core.sample.disturbance_scenario import make_scenario

    series = make_scenario(SPEC).series
    return int((series.time.values > np.datetime64("2025-01-01")).sum())


def test_watch_needs_a_started_folder(tmp_path):
    done = subprocess.run([sys.executable, "-m", "raster_collect_plugin", "watch", "--output",
                           str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "holds no monitoring yet" in done.stderr


def test_monitor_job_spec_is_checked():
    spec = {"kind": "monitor", "aoi": "forests.gpkg", "output_dir": "out",
            "sources": [{"kind": "static", "href": "catalog.json"}],
            "history_start": "2023-01-01", "history_end": "2024-12-31",
            "monitoring": {"confirm": 3}}
    assert validate_spec(dict(spec)) == spec
    with pytest.raises(JobError, match="needs 'history_end'"):
        validate_spec({k: v for k, v in spec.items() if k != "history_end"})
    with pytest.raises(JobError, match="'harmonise' must be true or false"):
        validate_spec(dict(spec, harmonise="yes"))


def test_an_alerts_since_given_once_is_not_kept_for_watch(scenario, tmp_path):
    """README: alerts since ``--alerts-since``, "default: the previous run's last scene". A day
    given to one monitor run was saved in the folder's spec, so every later ``watch`` reported
    the alerts since that day again, not since its previous run."""
    folder = tmp_path / "steps"
    first = _cli("monitor", "--gpkg", str(scenario.compartments), "--catalog",
                 str(scenario.catalog), "--history-start", "2024-01-01", "--history-end",
                 "2024-12-31", "--end", "2025-02-28", "--alerts-since", "2025-01-15",
                 "--output", str(folder))
    assert first["changes"]["alerts_since"] == "2025-01-15"
    saved = json.loads((folder / "monitoring_job.json").read_text(encoding="utf-8"))
    assert "alerts_since" not in saved
    watched = _cli("watch", "--output", str(folder), "--end", "2025-06-30")
    assert watched["changes"]["alerts_since"] == first["changes"]["last_scene"][:10]
