"""A monitor job spec's values are checked before any work (README, "How the plugin runs the
work"): a wrong value inside ``monitoring`` or a ``resolution``, ``mask_classes``,
``table_formats``, ``crs`` or ``end`` the monitoring cannot use is one JobError/StateError
line naming the key (exit 2), never a traceback half-way through the run."""

import json
import subprocess
import sys

import pytest

from raster_collect_plugin.core.jobs import JobError, validate_spec
from raster_collect_plugin.core.jobs.monitor import check_monitor_spec
from raster_collect_plugin.core.monitoring.state import StateError

SPEC = {"kind": "monitor", "aoi": "forests.gpkg", "output_dir": "out",
        "sources": [{"kind": "static", "href": "catalog.json"}],
        "history_start": "2023-01-01", "history_end": "2024-12-31"}


def _monitoring(**options):
    return dict(SPEC, monitoring=options)


@pytest.mark.parametrize("options, key", [
    ({"threshold": "x"}, "threshold"),
    ({"confirm": "3"}, "confirm"),
    ({"confirm": 2.5}, "confirm"),
    ({"harmonic_order": "2"}, "harmonic_order"),
    ({"trend": 1}, "trend"),
    ({"direction": 1}, "direction"),
    ({"min_drop": True}, "min_drop"),
    ({"alpha": float("nan")}, "alpha"),
])
def test_monitoring_values_of_the_wrong_type_name_the_key(options, key):
    with pytest.raises(JobError, match=f"monitoring '{key}' must be"):
        check_monitor_spec(_monitoring(**options))


@pytest.mark.parametrize("options, words", [
    ({"threshold": -1}, "threshold"),
    ({"min_drop": -0.5}, "min_drop"),
    ({"sensitivity": 0}, "sensitivity"),
    ({"screen_sigma": 0}, "screen_sigma"),
    ({"outlier_sigma": -1}, "outlier_sigma"),
    ({"min_history_obs": 0}, "min_history_obs"),
    ({"confirm": 40000}, "at most 1000"),  # the int16 counters never reached it: no alert ever
    ({"recover": 1001}, "at most 1000"),
])
def test_monitoring_values_out_of_range_are_refused(options, words):
    with pytest.raises(StateError, match=words):
        check_monitor_spec(_monitoring(**options))


@pytest.mark.parametrize("patch, words", [
    ({"resolution": 20}, "'resolution' must be 10 or 30"),
    ({"mask_classes": ["foo"]}, "'mask_classes'.*unknown cloud-mask classes"),
    ({"table_formats": ["xlsx"]}, "'table_formats'.*gpkg, csv, parquet"),
    ({"crs": "EPSG:999999"}, "'crs'"),
    # before the fix: accepted, then a KeyError traceback once the scenes were loaded
    ({"crs": "EPSG:4326"}, "job spec 'crs' EPSG:4326 is geographic"),
    ({"end": "2024-06-01"}, "'end' \\(2024-06-01\\) must be after 'history_end'"),
    # before the fix: accepted, the alerts layer silently held every alert, or none
    ({"alerts_since": "2022-06-01"}, "'alerts_since' \\(2022-06-01\\) is before the history"),
    ({"alerts_since": "2025-07-01", "end": "2025-06-30"},
     "'alerts_since' \\(2025-07-01\\) is after the end \\(2025-06-30\\)"),
    ({"alerts_since": "2099-01-01"}, "'alerts_since' \\(2099-01-01\\) is after the end"),
    # before the fix: "unknown index 'NDVI,EVI'; choose from [...]", as if NDVI were unknown
    ({"index": "NDVI,EVI"}, "a monitoring follows one index, not 'NDVI,EVI': give one "
                            "--index"),
])
def test_other_monitor_values_are_checked_up_front(patch, words):
    with pytest.raises(JobError, match=words):
        check_monitor_spec(dict(SPEC, **patch))


def test_good_values_pass():
    params = check_monitor_spec(dict(
        SPEC, resolution=30, mask_classes=["cloud_high"], table_formats=["csv", "parquet"],
        crs="EPSG:32632", end="2025-06-30",
        monitoring={"confirm": 2, "threshold": 0, "min_drop": 0.1, "trend": True,
                    "alpha": 0.01, "sensitivity": 2}))
    assert (params.confirm, params.threshold, params.trend) == (2, 0, True)


def bad_input_line(spec: dict, tmp_path) -> str:
    """Run ``spec`` as a job in its own process: it must exit 2 with one line on stderr,
    which is returned."""
    path = tmp_path / "job.json"
    path.write_text(json.dumps(spec))
    done = subprocess.run([sys.executable, "-m", "raster_collect_plugin", "job", str(path)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr[-2000:]
    return lines[0]


def test_a_bad_monitoring_value_exits_2_in_one_line(tmp_path):
    # before the fix: a traceback and exit 1 (numpy could not multiply the text 'x')
    spec = dict(SPEC, aoi=str(tmp_path / "missing.gpkg"), output_dir=str(tmp_path / "out"),
                monitoring={"threshold": "x"})
    assert "monitoring 'threshold' must be a number" in bad_input_line(spec, tmp_path)
    assert not (tmp_path / "out").exists()


# '{"kind": "zonal"...}': before the fix watch ran that zonal job into the monitoring folder
@pytest.mark.parametrize("text", ['{"kind": "monitor", ', "[1, 2]", "\udcff",
                                  '{"kind": "zonal", "aoi": "forests.gpkg"}'])
def test_watch_on_a_damaged_saved_spec_exits_2_in_one_line(tmp_path, text):
    # before the fix: a JSONDecodeError / TypeError traceback, exit 1
    (tmp_path / "monitoring_job.json").write_text(text, encoding="utf-8",
                                                  errors="surrogateescape")
    done = subprocess.run([sys.executable, "-m", "raster_collect_plugin", "watch", "--output",
                           str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "is not a monitoring spec" in lines[0]
    assert "raster-collect monitor" in lines[0]


def test_an_alerts_since_after_the_end_exits_2_on_the_command_line(tmp_path):
    done = subprocess.run([sys.executable, "-m", "raster_collect_plugin", "monitor", "--gpkg",
                           str(tmp_path / "forests.gpkg"), "--catalog",
                           str(tmp_path / "catalog.json"), "--history-start", "2024-01-01",
                           "--history-end", "2024-12-31", "--end", "2025-06-30",
                           "--alerts-since", "2026-01-01", "--quiet", "--output",
                           str(tmp_path / "out")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "--alerts-since (2026-01-01) is after the end" in lines[0]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("option, value, words", [
    ("--hex-area-ha", "0", "--hex-area-ha must be a positive number, not 0"),
    ("--min-alert-ha", "-1", "--min-alert-ha must be 0 or more hectares, not -1"),
    ("--max-cloud", "150", "the scene cloud cover limit is a percentage from 0 to 100 "
                           "(--max-cloud), not 150"),
    ("--cloud-buffer", "-5", "the cloud-mask buffer must be 0 or a positive number of "
                             "metres, not -5.0: give --cloud-buffer 0 (no buffer) or more, "
                             "up to 10000"),
    ("--crs", "EPSG:4326", "--crs EPSG:4326 is geographic (degrees); the outputs need a "
                           "projected CRS in metres such as a UTM zone (EPSG:326xx / 327xx), "
                           "or leave --crs out for the scenes' own UTM zone"),
])
def test_the_command_line_names_its_own_option(tmp_path, option, value, words):
    # before the fix: the job spec's key ('hexagon_area_m2', in m²; 'min_alert_ha' "must be
    # a number of hectares" for -1), which the command line has no option for
    done = subprocess.run([sys.executable, "-m", "raster_collect_plugin", "monitor", "--gpkg",
                           str(tmp_path / "forests.gpkg"), "--catalog",
                           str(tmp_path / "catalog.json"), "--history-start", "2024-01-01",
                           "--history-end", "2024-12-31", option, value, "--quiet",
                           "--output", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.strip().splitlines() == [f"raster-collect: error: {words}"]
    with pytest.raises(JobError, match="'min_alert_ha' must be a number of hectares, 0 or"):
        validate_spec(dict(SPEC, min_alert_ha=-1))
