"""Late scenes (a tester's scenario): Landsat C2 L2 is published days after acquisition,
Sentinel-2 L2A within a day, so a monitoring run can process a Sentinel-2 scene newer than
Landsat scenes not yet published. The state is sequential in time: those Landsat scenes can no
longer be added. ``watch`` names them (``late_scenes``, one warning line) instead of dropping
them silently, and ``--settle-days`` (scenes wait until that old) makes monitor + watch end
exactly where a run from scratch ends."""

import json
import os
import subprocess
import sys
from datetime import date

import numpy as np
import pytest

from raster_collect_plugin.core.jobs.monitor import run_monitor_job
from raster_collect_plugin.core.jobs.run import build_sources
from raster_collect_plugin.core.monitoring.state import MonitorState
from raster_collect_plugin.core.sample.catalog import write_static_catalog
from raster_collect_plugin.core.sample.disturbance_catalog import write_scenario
from raster_collect_plugin.core.sample.disturbance_scenario import Event, ScenarioSpec
from tests.test_monitoring_spec_values import bad_input_line

SPEC = ScenarioSpec(start=date(2024, 1, 1), end=date(2025, 6, 30), columns=2, rows=1,
                    events=(Event(1, "windthrow", date(2025, 3, 14)),))
FIRST_END, LANDSAT_UNTIL = "2025-04-07", "2025-03-20"  # Landsat 18 days behind at first


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    return write_scenario(tmp_path_factory.mktemp("scenario"), SPEC)


def publish(scenario, root, until: str, landsat_until: str = None):
    """The scenario's catalog under ``root`` as a provider lists it on ``until``: Landsat up to
    ``landsat_until`` (default ``until``); rewritten in place, as a provider's catalog grows."""
    landsat_until = landsat_until or until
    items = {collection: [item for item in found if item["properties"]["datetime"][:10] <= (
                 landsat_until if collection.startswith("landsat") else until)]
             for collection, found in scenario.items.items()}
    write_static_catalog(root, items, None, catalog_id="published")
    for collection, found in items.items():
        for item in found:
            for source in (scenario.root / collection / item["id"]).glob("*.tif"):
                target = root / collection / item["id"] / source.name
                if not target.exists():
                    os.symlink(source, target)
    return root / "catalog.json"


def _cli(*arguments):
    done = subprocess.run([sys.executable, "-m", "raster_collect_plugin", "--json", *arguments],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout), done.stderr


def _monitor(scenario, catalog, output, end, *extra):
    return _cli("monitor", "--gpkg", str(scenario.compartments), "--catalog", str(catalog),
                "--history-start", "2024-01-01", "--history-end", "2024-12-31", "--end", end,
                "--output", str(output), *extra)


def _assert_same_state(folder, scratch):
    steps, once = (MonitorState.load(f) for f in (folder, scratch))
    assert steps.last_time == once.last_time
    np.testing.assert_array_equal(steps.beta, once.beta)
    for name, values in once.arrays.items():
        np.testing.assert_array_equal(steps.arrays[name], values, err_msg=name)


def test_watch_names_the_landsat_scenes_published_late(scenario, tmp_path):
    catalog = publish(scenario, tmp_path / "catalog", FIRST_END, LANDSAT_UNTIL)
    first, _ = _monitor(scenario, catalog, tmp_path / "steps", FIRST_END)
    assert first["changes"]["late_scenes"] == []
    publish(scenario, tmp_path / "catalog", "2025-06-30")
    watched, stderr = _cli("watch", "--output", str(tmp_path / "steps"), "--end", "2025-06-30")
    last = first["changes"]["last_scene"]  # the newest Sentinel-2 scene by FIRST_END
    expected = [item["id"] for item in scenario.items["landsat-c2-l2"]
                if LANDSAT_UNTIL < item["properties"]["datetime"][:10]
                and item["properties"]["datetime"][:19] <= last]
    late = watched["changes"]["late_scenes"]
    assert expected and [scene["id"] for scene in late] == expected
    assert {scene["sensor"] for scene in late} == {"landsat"}
    assert all(LANDSAT_UNTIL < scene["date"] <= FIRST_END for scene in late)
    warnings = [line for line in stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1
    assert f"{len(expected)} landsat scene(s)" in warnings[0]
    assert "--overwrite" in warnings[0] and "--settle-days" in warnings[0]
    saved = json.loads((tmp_path / "steps" / "monitoring_changes.json").read_text())
    assert saved["late_scenes"] == late
    # the increment misses them: a run from scratch has more scenes
    once, _ = _monitor(scenario, catalog, tmp_path / "once", "2025-06-30")
    assert once["changes"]["scenes"] == (first["changes"]["scenes"]
                                         + watched["changes"]["scenes"] + len(expected))
    # still named by the next run (nothing was done about them)
    again, _ = _cli("watch", "--output", str(tmp_path / "steps"), "--end", "2025-06-30")
    assert [scene["id"] for scene in again["changes"]["late_scenes"]] == expected


def test_settle_days_make_the_increments_end_where_a_scratch_run_ends(scenario, tmp_path):
    catalog = publish(scenario, tmp_path / "catalog", FIRST_END, LANDSAT_UNTIL)
    first, _ = _monitor(scenario, catalog, tmp_path / "steps", FIRST_END, "--settle-days", "20")
    changes = first["changes"]
    assert changes["settle_days"] == 20 and changes["settled_until"] == "2025-03-18"
    assert changes["last_scene"][:10] <= "2025-03-18" and changes["waiting_scenes"] > 0
    publish(scenario, tmp_path / "catalog", "2025-06-30")
    watched, stderr = _cli("watch", "--output", str(tmp_path / "steps"), "--end", "2025-06-30")
    assert watched["changes"]["late_scenes"] == [] and "warning:" not in stderr
    assert watched["changes"]["settled_until"] == "2025-06-10"  # the folder kept 20 days
    once, _ = _monitor(scenario, catalog, tmp_path / "once", "2025-06-30", "--settle-days", "20")
    assert once["changes"]["scenes"] == (first["changes"]["scenes"]
                                         + watched["changes"]["scenes"])
    _assert_same_state(tmp_path / "steps", tmp_path / "once")
    for name in ("monitoring_status.tif", "monitoring_confirmation.tif"):
        assert (tmp_path / "steps" / name).exists()
    import rasterio

    for name in ("monitoring_status.tif", "monitoring_first_anomaly.tif",
                 "monitoring_confirmation.tif", "monitoring_magnitude.tif"):
        with rasterio.open(tmp_path / "steps" / name) as a, \
                rasterio.open(tmp_path / "once" / name) as b:
            np.testing.assert_array_equal(a.read(1), b.read(1), err_msg=name)


def test_a_folder_without_recorded_scenes_continues(scenario, tmp_path):
    """A folder made before the scenes were recorded: its first continuation takes the
    window's scenes as processed (no false alarm), later ones name late scenes."""
    catalog = publish(scenario, tmp_path / "catalog", FIRST_END, LANDSAT_UNTIL)
    spec = {"kind": "monitor", "aoi": str(scenario.compartments), "layer": "compartments",
            "output_dir": str(tmp_path / "old"), "sources": [{"kind": "static",
                                                              "href": str(catalog)}],
            "history_start": "2024-01-01", "history_end": "2024-12-31", "end": "2025-03-31"}
    run_monitor_job(spec, build_sources(spec["sources"]))
    meta = tmp_path / "old" / "monitoring_state.json"
    info = json.loads(meta.read_text())
    assert info["processed_scenes"]
    del info["processed_scenes"], info["late_scenes"]
    meta.write_text(json.dumps(info))
    later = run_monitor_job(dict(spec, end=FIRST_END), build_sources(spec["sources"]))
    assert later["changes"]["late_scenes"] == [] and later["changes"]["scenes"] > 0
    assert MonitorState.load(tmp_path / "old").processed_scenes
    publish(scenario, tmp_path / "catalog", "2025-06-30")
    last = run_monitor_job(dict(spec, end="2025-06-30"), build_sources(spec["sources"]))
    assert last["changes"]["late_scenes"] and {
        s["sensor"] for s in last["changes"]["late_scenes"]} == {"landsat"}


@pytest.mark.parametrize("value", [-1, 2.5, "7", True])
def test_a_bad_settle_days_in_a_job_spec_is_one_line(tmp_path, value):
    spec = {"kind": "monitor", "aoi": str(tmp_path / "forests.gpkg"),
            "output_dir": str(tmp_path / "out"),
            "sources": [{"kind": "static", "href": str(tmp_path / "catalog.json")}],
            "history_start": "2024-01-01", "history_end": "2024-12-31", "settle_days": value}
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    done = subprocess.run([sys.executable, "-m", "raster_collect_plugin", "job", str(path)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "settle_days" in lines[0] and "whole number" in lines[0]
    assert not (tmp_path / "out").exists()


def test_a_huge_settle_days_is_no_crash(scenario, tmp_path):
    # before the fix: OverflowError ("date value out of range") traceback, exit 1
    from raster_collect_plugin.core.monitoring.late import settle_cutoff

    assert settle_cutoff(date(2025, 6, 30), 10**12) == date.min
    assert settle_cutoff(date(2025, 6, 30), 10) == date(2025, 6, 20)
    spec = {"kind": "monitor", "aoi": str(scenario.compartments),
            "output_dir": str(tmp_path / "out"),
            "sources": [{"kind": "static", "href": str(scenario.catalog)}],
            "history_start": "2024-01-01", "history_end": "2024-12-31", "end": "2025-03-31",
            "settle_days": 10**12}
    assert "before the history ends" in bad_input_line(spec, tmp_path)
    assert not (tmp_path / "out").exists()


def test_a_bad_settle_days_option_is_refused(tmp_path):
    done = subprocess.run([sys.executable, "-m", "raster_collect_plugin", "watch", "--output",
                           str(tmp_path), "--settle-days", "-3"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "not a whole number of days" in done.stderr


def _state(last: str, processed=None, late=()):
    from raster_collect_plugin.core.monitoring.state import MonitorParams

    return MonitorState(MonitorParams(date(2023, 1, 1), date(2024, 12, 31)), (1, 1),
                        np.zeros((1, 1)), {}, np.datetime64(last, "ns"),
                        processed_scenes=processed, late_scenes=list(late))


def test_the_record_keeps_the_window_and_late_scenes_stay_named():
    import xarray as xr

    from raster_collect_plugin.core.monitoring.late import (
        LATE_WINDOW_DAYS,
        late_scenes,
        record_processed,
    )

    times = np.array(["2025-01-10T10:00", "2025-03-20T10:00", "2025-04-01T10:00",
                      "2025-04-02T10:00"], dtype="datetime64[ns]")
    series = xr.DataArray(np.zeros((4, 1, 1)), dims=("time", "y", "x"),
                          coords={"time": times, "scene_id": ("time", ["a", "b+c", "d", "e"])})
    state = _state("2025-04-02T10:00", processed={"z": "2025-04-01T09:00:00"})
    record_processed(state, series, np.datetime64("2025-03-01", "ns"))
    # b, c (one fused step), d, e added; z kept; a is older than the window and not added
    assert set(state.processed_scenes) == {"b", "c", "d", "e", "z"}
    old = _state("2025-04-02T10:00")  # a folder made before: unknown until adopted
    record_processed(old, series, np.datetime64("2025-03-01", "ns"))
    assert old.processed_scenes is None
    record_processed(old, series, np.datetime64("2025-03-01", "ns"), {"y": "2025-03-10T10:00:00"})
    assert set(old.processed_scenes) == {"b", "c", "d", "e", "y"}
    earlier = {"id": "x", "date": "2025-01-01", "collection": "landsat-c2-l2",
               "sensor": "landsat"}
    state.late_scenes = [earlier]
    found = [{"id": i, "collection": "landsat-c2-l2", "sensor": "landsat", "time": t}
             for i, t in (("b", "2025-03-20T10:00:00"), ("f", "2025-03-25T10:00:00"),
                          ("g", "2025-04-03T10:00:00"))]  # g: newer, not late
    assert [s["id"] for s in late_scenes(state, found)] == ["x", "f"]
    assert LATE_WINDOW_DAYS == 60
