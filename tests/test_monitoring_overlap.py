"""Overlapping compartments in monitoring: "pixels belong to the compartment containing their
centre", so a pixel inside two compartments counts in both. Each pixel went to the last
polygon only, so a compartment overlapped by a later one lost area, disturbed hectares, alert
patches and series rows to it (the storm's per-forest tables never did)."""

from datetime import date
from types import SimpleNamespace

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from rasterio.transform import from_origin
from shapely.geometry import box

from raster_collect_plugin.core.monitoring.areas import zone_pixels
from raster_collect_plugin.core.monitoring.outputs import write_zone_outputs
from raster_collect_plugin.core.monitoring.state import CONFIRMED, NO_ALERT, empty_arrays
from raster_collect_plugin.core.monitoring.zone_series import ZoneSeries

CRS = "EPSG:32632"
TRANSFORM = from_origin(372_000, 5_352_100, 10, 10)  # 10 x 10 pixels of 10 m
SHAPE = (10, 10)


def _zones():
    # A: columns 0-5, B: columns 4-9 (columns 4-5 in both), rows 0-9; C: a 4 m square
    # inside A that holds no pixel centre
    return gpd.GeoDataFrame(
        {"forest_id": [1, 2, 3]},
        geometry=[box(372_000, 5_352_000, 372_060, 5_352_100),
                  box(372_040, 5_352_000, 372_100, 5_352_100),
                  box(372_011, 5_352_081, 372_014, 5_352_084)], crs=CRS)


def _pixels():
    pixels = empty_arrays(100)
    pixels["status"][:] = NO_ALERT
    grid = pixels["status"].reshape(SHAPE)
    grid[2:6, 3:6] = CONFIRMED  # 12 pixels: columns 3 (A only), 4-5 (A and B)
    pixels["first_anomaly"].reshape(SHAPE)[2:6, 3:6] = 20_200
    pixels["confirmation"].reshape(SHAPE)[2:6, 3:6] = 20_210
    pixels["magnitude"] = np.where(grid.ravel() == CONFIRMED, 0.4, np.nan)
    pixels["confidence"] = np.where(grid.ravel() == CONFIRMED, 3, 0).astype("uint8")
    return pixels


def test_a_pixel_in_two_compartments_counts_in_both(tmp_path):
    request = SimpleNamespace(output_dir=tmp_path, id_field="forest_id", zones=_zones(),
                              min_alert_ha=0.05, hexagon_area_m2=None,
                              table_formats=("csv",))
    pixels = _pixels()
    files, summary, changed = write_zone_outputs(
        request, SimpleNamespace(shape=SHAPE), pixels, TRANSFORM, CRS, date(2025, 1, 1),
        np.zeros(100, dtype=pixels["confirmation"].dtype))
    table = summary.set_index("forest_id")
    # before the fix: A 0.4 ha (its columns 4-5 went to B) with 0.04 ha disturbed
    assert table.loc[[1, 2], "area_ha"].tolist() == pytest.approx([0.6, 0.6])
    assert table.loc[[1, 2], "disturbed_ha"].tolist() == pytest.approx([0.12, 0.08])
    assert table.loc[1, "alert"] == table.loc[2, "alert"] == "disturbed"
    assert table.loc[3, "area_ha"] == 0 and table.loc[3, "alert"] == "not monitored"
    assert sorted(changed) == [1, 2]
    patches = gpd.read_file(files["alerts_layer"], layer="alerts_since")
    assert sorted(zip(patches["forest_id"], patches["area_ha"].round(2))) == [
        (1, 0.12), (2, 0.08)]
    assert patches.area.round().tolist() == (patches["area_ha"] * 10_000).round().tolist()
    by_month = pd.read_csv(files["monitoring_compartments_by_month_csv"])
    confirmed = by_month[by_month["status"] == "confirmed"].set_index("forest_id")
    assert confirmed["pixels"].to_dict() == {1: 12, 2: 8}


def test_the_series_of_overlapping_compartments_each_hold_their_pixels():
    zones = _zones()
    members = zone_pixels(zones, TRANSFORM, SHAPE)
    assert members.outside().sum() == 0 and len(members.pixel) == 120
    series = ZoneSeries(members, zones["forest_id"].to_numpy(), "forest_id")
    values = np.tile(np.arange(10, dtype="float32"), 10)  # the column number
    scene = SimpleNamespace(valid=np.ones(100, bool), expected=values.astype(float),
                            anomaly=np.zeros(100, bool))
    series("2025-01-05T10:30:00", "landsat", values, scene)
    rows = series.rows[0].set_index("forest_id")
    assert rows["clear_pixels"].to_dict() == {1: 60, 2: 60}
    assert rows.loc[1, "observed"] == np.mean(np.arange(6))
    assert rows.loc[2, "observed"] == np.mean(np.arange(4, 10))


def test_areas_carry_no_float_noise():
    """714 pixels of 0.01 ha are 7.14 ha in the tables, not 7.140000000000001."""
    from raster_collect_plugin.core.monitoring.areas import area_by_status, zone_summary

    transform = from_origin(372_000, 5_352_100, 10, 10)
    zones = gpd.GeoDataFrame({"forest_id": [1]}, geometry=[box(372_000, 5_351_820, 372_510,
                                                               5_352_100)], crs=CRS)
    shape = (28, 51)  # the zone: 28 x 51 = 1428 pixel centres; the top 14 rows confirmed
    members = zone_pixels(zones, transform, shape)
    pixels = empty_arrays(shape[0] * shape[1])
    pixels["status"][:] = NO_ALERT
    pixels["status"].reshape(shape)[:14] = CONFIRMED
    pixels["confidence"] = np.where(pixels["status"] == CONFIRMED, 3, 0).astype("uint8")
    pixels["magnitude"] = np.where(pixels["status"] == CONFIRMED, 0.4, np.nan)
    assert 14 * 51 == 714 and 714 * 0.01 != 7.14  # the noise the tables carried
    summary = zone_summary(zones, ["forest_id"], members, pixels, 0.01, min_alert_ha=0.5)
    assert summary.filter(like="_ha").iloc[0].isin([7.14, 14.28]).sum() >= 2
    by_status = area_by_status(zones, ["forest_id"], members, pixels, 0.01)
    assert sorted(by_status["area_ha"]) == [7.14, 7.14]
