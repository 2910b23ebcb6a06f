"""Monitoring outputs (issue 30): per-pixel COGs, per-compartment and per-hexagon tables and
layers, the "alerts since" patches, and the same outputs whether run once or in 4 increments."""

from datetime import date

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from shapely.geometry import box

from raster_collect_plugin.core.areas.aoi import read_polygons
from raster_collect_plugin.core.monitoring.run import MonitorRequest, run_monitor
from raster_collect_plugin.core.monitoring.state import MonitorParams, StateError
from tests.monitoring_helpers import HISTORY, nth_on_or_after, small_series

PARAMS = MonitorParams(*HISTORY)
INCREMENTS = ("2025-02-10", "2025-05-20", "2025-08-31", "2025-12-31")


def _zones():
    # compartment 1: the two left columns; compartment 2: the right column
    return gpd.GeoDataFrame({"forest_id": [1, 2]},
                            geometry=[box(372_000, 5_351_990, 372_020, 5_352_010),
                                      box(372_020, 5_351_990, 372_030, 5_352_010)],
                            crs="EPSG:32632")


def _request(folder, **extra):
    return MonitorRequest(folder, PARAMS, zones=_zones(), hexagon_area_m2=200.0,
                          alerts_since=date(2024, 12, 31), min_alert_ha=0.01, **extra)


def _read(path):
    with rasterio.open(path) as dataset:
        return dataset.read(1), dataset.nodata


def test_pixel_cogs_and_compartment_tables(tmp_path):
    series = small_series()
    result = run_monitor(_request(tmp_path), series)
    status, nodata = _read(tmp_path / "monitoring_status.tif")
    assert nodata == 255
    assert status.tolist() == [[0, 2, 0], [3, 255, 2]]
    first, _ = _read(tmp_path / "monitoring_first_anomaly.tif")
    expected = nth_on_or_after(series, "2025-03-14", 1)
    assert first[0, 1] == expected.year * 10000 + expected.month * 100 + expected.day
    assert first[0, 0] == 0
    tiers, _ = _read(tmp_path / "monitoring_confidence.tif")
    assert tiers[0, 1] == 3 and tiers[1, 1] == 255
    summary = pd.read_csv(tmp_path / "monitoring_compartments.csv")
    one = summary.set_index("forest_id").loc[1]
    # compartment 1: 4 pixels, 3 monitored; (0,1) confirmed, (1,0) recovered
    assert one["area_ha"] == pytest.approx(0.04)
    assert one["monitored_ha"] == pytest.approx(0.03)
    assert one["confirmed_ha"] == pytest.approx(0.01)
    assert one["recovered_ha"] == pytest.approx(0.01)
    assert one["disturbed_fraction"] == pytest.approx(2 / 3)
    assert one["first_detection"] == expected.isoformat()
    by_month = pd.read_csv(tmp_path / "monitoring_compartments_by_month.csv")
    confirmed = by_month[(by_month["forest_id"] == 2) & (by_month["status"] == "confirmed")]
    assert confirmed[["first_detection_month", "pixels"]].values.tolist() == [["2025-09", 1]]
    layer = gpd.read_file(tmp_path / "monitoring_compartments.gpkg")
    assert set(layer["alert"]) == {"disturbed"} and len(layer) == 2
    # what validate reads without a layer (several polygon layers are refused there)
    own = read_polygons(tmp_path / "monitoring_compartments.gpkg", id_field="forest_id")
    assert sorted(own["forest_id"]) == [1, 2]
    hexagons = gpd.read_file(tmp_path / "monitoring_hexagons.gpkg")
    assert hexagons["disturbed_ha"].sum() == pytest.approx(0.03)
    alerts = gpd.read_file(tmp_path / "monitoring_alerts.gpkg", layer="alerts_since")
    # the recovered pixel's episode and the two confirmed ones, as patches per compartment
    assert alerts["area_ha"].sum() == pytest.approx(0.03)
    assert set(alerts["forest_id"]) == {1, 2}
    assert result.changes["entered"]["confirmed"] == 2
    assert sorted(result.changes["zones_with_new_alerts"]) == [1, 2]


def test_four_increments_write_the_same_outputs(tmp_path):
    series = small_series()
    run_monitor(_request(tmp_path / "once"), series)
    scenes = []
    for end in INCREMENTS:
        result = run_monitor(_request(tmp_path / "steps"), series.sel(time=slice(None, end)))
        scenes.append(result.changes["scenes"])
    # each increment processed only the newer scenes
    assert sum(scenes) == int((series.time.values > np.datetime64("2025-01-01")).sum())
    assert all(count > 0 for count in scenes)
    for name in ("status", "first_anomaly", "confirmation", "magnitude", "confidence"):
        once, _ = _read(tmp_path / "once" / f"monitoring_{name}.tif")
        steps, _ = _read(tmp_path / "steps" / f"monitoring_{name}.tif")
        np.testing.assert_array_equal(once, steps, err_msg=name)
    for table in ("monitoring_compartments", "monitoring_compartments_by_month",
                  "monitoring_hexagons"):
        pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "once" / f"{table}.csv"),
                                      pd.read_csv(tmp_path / "steps" / f"{table}.csv"))
    # a rerun with nothing new processes nothing and changes nothing
    again = run_monitor(_request(tmp_path / "steps"), series)
    assert again.changes["scenes"] == 0 and again.changes["newly_confirmed_pixels"] == 0


def test_other_parameters_cannot_continue_a_state(tmp_path):
    series = small_series()
    run_monitor(_request(tmp_path), series.sel(time=slice(None, "2025-03-01")))
    other = MonitorRequest(tmp_path, MonitorParams(*HISTORY, confirm=4), zones=_zones())
    with pytest.raises(StateError, match="confirm"):
        run_monitor(other, series)
    with pytest.raises(StateError, match="another grid"):
        run_monitor(_request(tmp_path), series.isel(x=[0, 1]))


def test_only_the_forests_are_monitored(tmp_path):
    zones = _zones().iloc[[1]]  # the right column only
    result = run_monitor(MonitorRequest(tmp_path, PARAMS, zones=zones,
                                        alerts_since=date(2024, 12, 31)), small_series())
    status, _ = _read(tmp_path / "monitoring_status.tif")
    assert status.tolist() == [[255, 255, 0], [255, 255, 2]]
    assert result.changes["pixels"]["not monitored"] == 4


def test_cancel_keeps_the_previous_state(tmp_path):
    from raster_collect_plugin.core.composites.requests import Cancelled
    from raster_collect_plugin.core.monitoring.state import MonitorState

    series = small_series()
    run_monitor(_request(tmp_path), series.sel(time=slice(None, "2025-03-01")))
    saved = (tmp_path / "monitoring_state.npz").read_bytes()
    calls = []

    def cancel():
        calls.append(1)
        return len(calls) > 5  # after a few scenes

    with pytest.raises(Cancelled):
        run_monitor(_request(tmp_path), series, cancel=cancel)
    assert (tmp_path / "monitoring_state.npz").read_bytes() == saved
    assert MonitorState.load(tmp_path).last_time < np.datetime64("2025-03-02")


def test_memory_budget_refuses_a_run_too_large(tmp_path):
    from raster_collect_plugin.core.composites.sizing import SizeError

    with pytest.raises(SizeError, match="memory budget"):
        run_monitor(_request(tmp_path, memory_budget=1000), small_series())
    assert not (tmp_path / "monitoring_state.npz").exists()


def test_compartment_series_for_the_chart(tmp_path):
    series = small_series()
    run_monitor(_request(tmp_path / "once"), series)
    for end in INCREMENTS:
        run_monitor(_request(tmp_path / "steps"), series.sel(time=slice(None, end)))
    once = pd.read_csv(tmp_path / "once" / "monitoring_series.csv")
    pd.testing.assert_frame_equal(once, pd.read_csv(tmp_path / "steps" /
                                                    "monitoring_series.csv"))
    two = once[once["forest_id"] == 2].set_index("time")
    # compartment 2: pixels (0,2) and (1,2), clear on every scene
    assert set(two["clear_pixels"]) == {2}
    after = two[two.index >= "2025-09-01"]
    # (1,2) drops 0.3 from 2025-09-01: the mean is 0.15 below the expectation, half anomalous
    assert (after["expected"] - after["observed"]).mean() == pytest.approx(0.15, abs=0.02)
    assert after["anomalous_fraction"].iloc[3:].eq(0.5).all()
    before = two[two.index < "2025-05-01"]
    assert before["anomalous_fraction"].eq(0).all()
    assert (before["expected"] - before["observed"]).abs().max() < 0.03


def test_clear_days_record_for_validate(tmp_path):
    """monitoring_clear_days.npz: every monitored scene's clear pixels, the same from one run
    and from increments (validate counts delays in clear observations from it)."""
    from raster_collect_plugin.core.monitoring.clear_days import read_clear_days

    series = small_series()
    run_monitor(_request(tmp_path / "once"), series)
    for end in INCREMENTS:
        run_monitor(_request(tmp_path / "steps"), series.sel(time=slice(None, end)))
    once = read_clear_days(tmp_path / "once", (2, 3))
    steps = read_clear_days(tmp_path / "steps", (2, 3))
    after = series.sel(time=slice("2025-01-01", None)).sortby("time")
    days = (after["time"].values.astype("datetime64[D]").astype("int64")).astype(float)
    np.testing.assert_array_equal(once.days, days)
    np.testing.assert_array_equal(steps.days, days)
    everything = np.arange(days.size)
    np.testing.assert_array_equal(once.clear[everything], np.isfinite(after.values))
    np.testing.assert_array_equal(steps.clear[everything], once.clear[everything])


def test_clear_days_record_begun_on_an_older_folder(tmp_path):
    """A folder made before the record was kept: the record starts with the next run and
    says from when it is complete (validate counts no clear observations before)."""
    from raster_collect_plugin.core.monitoring.clear_days import CLEAR_FILE, read_clear_days

    series = small_series()
    run_monitor(_request(tmp_path), series.sel(time=slice(None, INCREMENTS[0])))
    (tmp_path / CLEAR_FILE).unlink()  # as a folder of an earlier version
    run_monitor(_request(tmp_path), series.sel(time=slice(None, INCREMENTS[1])))
    run_monitor(_request(tmp_path), series)
    record = read_clear_days(tmp_path, (2, 3))
    times = series.sortby("time")["time"].values
    first_run_last = times[times <= np.datetime64(INCREMENTS[0] + "T23:59")][-1]
    assert record.complete_after == float(first_run_last.astype("datetime64[D]").astype(int))
    assert record.days.min() > record.complete_after - 1
    assert read_clear_days(tmp_path, (3, 2)) is not None  # same pixel count
    assert read_clear_days(tmp_path, (3, 3)) is None  # another grid


def test_an_increment_adds_its_scenes_without_rewriting_the_record(tmp_path):
    """Each run adds its own part to the record (an increment of a long monitoring held and
    compressed every earlier scene again: memory and time growing with the years); a part
    holding scenes newer than the state's last (a run whose state was not kept) is trimmed."""
    import zipfile

    from raster_collect_plugin.core.monitoring.clear_days import (
        CLEAR_FILE,
        ClearDays,
        read_clear_days,
    )

    series = small_series()
    for end in INCREMENTS:
        run_monitor(_request(tmp_path), series.sel(time=slice(None, end)))
    with zipfile.ZipFile(tmp_path / CLEAR_FILE) as archive:
        names = set(archive.namelist())
        first = archive.getinfo("clear_0.npy")
        first = (first.header_offset, first.compress_size, first.CRC)
    assert {f"time_{k}.npy" for k in range(len(INCREMENTS))} <= names
    run_monitor(_request(tmp_path), series)
    with zipfile.ZipFile(tmp_path / CLEAR_FILE) as archive:
        again = archive.getinfo("clear_0.npy")
        assert (again.header_offset, again.compress_size, again.CRC) == first
        assert f"time_{len(INCREMENTS)}.npy" in archive.namelist()
    whole = read_clear_days(tmp_path, (2, 3))
    # a record a day ahead of the state (its scenes of the last day): those go, the rest stay
    last_day = whole.days[-1]
    ClearDays(6).append_to(tmp_path, np.datetime64(int(last_day), "D"), into=tmp_path / "again")
    trimmed = read_clear_days(tmp_path / "again", (2, 3))
    kept = np.flatnonzero(whole.days < last_day)
    assert 0 < kept.size < whole.days.size
    np.testing.assert_array_equal(trimmed.days, whole.days[kept])
    np.testing.assert_array_equal(trimmed.clear[np.arange(kept.size)], whole.clear[kept])
