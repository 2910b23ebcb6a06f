"""A compartment that holds no pixel centre (smaller than a pixel, or a sliver) is not
monitored: its alert said "none" with ``monitored_ha`` 0, which an analyst reads as "watched,
nothing found", and it was missing from the by-month table. It is now "not monitored" in the
summary (ranked last), has a "not monitored" row of 0 pixels by month, and the dock's legend
has a colour for it (one list of alerts). And ``min_alert_ha`` 0 flags only compartments with
disturbance."""

import json
import subprocess
import sys
from datetime import date

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from rasterio.transform import from_origin
from shapely.geometry import box

from raster_collect_plugin.core.monitoring.areas import zone_pixels, zone_summary
from raster_collect_plugin.core.monitoring.state import CONFIRMED, NO_ALERT, SUSPECTED, empty_arrays
from raster_collect_plugin.core.sample.disturbance_catalog import write_scenario
from raster_collect_plugin.core.sample.disturbance_scenario import Event, ScenarioSpec

SPEC = ScenarioSpec(start=date(2024, 1, 1), end=date(2025, 6, 30), columns=2, rows=1,
                    events=(Event(1, "windthrow", date(2025, 3, 14)),))
TINY, SLIVER = 901, 902


@pytest.fixture(scope="module")
def monitored(tmp_path_factory):
    scenario = write_scenario(tmp_path_factory.mktemp("scenario"), SPEC)
    forests = gpd.read_file(scenario.compartments, layer="compartments")
    west, south, east, north = forests.geometry.iloc[0].bounds
    # a 3 m square at the corner of a pixel, and a 2 m wide strip along an edge of pixels
    extra = gpd.GeoDataFrame(
        {"forest_id": [TINY, SLIVER], "name": ["tiny", "sliver"]},
        geometry=[box(west + 1, north - 4, west + 4, north - 1),
                  box(west + 0.5, south + 20, west + 2.5, north - 20)], crs=forests.crs)
    path = tmp_path_factory.mktemp("forests") / "forests.gpkg"
    pd.concat([forests, extra], ignore_index=True).to_file(path, layer="compartments")
    output = tmp_path_factory.mktemp("monitoring")
    done = subprocess.run(
        [sys.executable, "-m", "raster_collect_plugin", "--json", "monitor", "--gpkg",
         str(path), "--catalog", str(scenario.catalog), "--history-start", "2024-01-01",
         "--history-end", "2024-12-31", "--end", "2025-06-30", "--output", str(output)],
        capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout), output, extra


def test_the_grid_has_no_pixel_centre_in_them(monitored):
    _, output, extra = monitored
    with rasterio.open(output / "monitoring_status.tif") as dataset:
        transform, shape = dataset.transform, dataset.shape
    rows, cols = np.mgrid[0:shape[0], 0:shape[1]]
    x, y = transform * (cols.ravel() + 0.5, rows.ravel() + 0.5)
    centres = gpd.GeoSeries(gpd.points_from_xy(x, y), crs=extra.crs)
    assert not any(centres.within(polygon).any() for polygon in extra.geometry)


def test_a_compartment_without_pixels_is_not_monitored(monitored):
    result, output, _ = monitored
    table = pd.read_csv(output / "monitoring_compartments.csv").set_index("forest_id")
    # before the fix: "none", as an intact compartment watched through the whole period
    assert table.loc[[TINY, SLIVER], "alert"].tolist() == ["not monitored"] * 2
    assert table.loc[[TINY, SLIVER], "monitored_ha"].tolist() == [0, 0]
    assert table.loc[101, "alert"] == "none" and table.loc[102, "alert"] == "disturbed"
    assert table["rank"].loc[[TINY, SLIVER]].min() > table["rank"].loc[[101, 102]].max()
    assert {row["forest_id"]: row["alert"] for row in result["compartments"]}[TINY] \
        == "not monitored"
    layer = gpd.read_file(output / "monitoring_compartments.gpkg", layer="monitoring")
    assert dict(zip(layer["forest_id"], layer["alert"]))[SLIVER] == "not monitored"
    assert set(layer["alert"]) <= {"disturbed", "suspected", "none", "not monitored"}


def test_the_by_month_table_lists_them_as_not_monitored(monitored):
    _, output, _ = monitored
    by_month = pd.read_csv(output / "monitoring_compartments_by_month.csv")
    rows = by_month[by_month["forest_id"].isin([TINY, SLIVER])]
    # before the fix: no row at all
    assert sorted(rows["forest_id"]) == [TINY, SLIVER]
    assert set(rows["status"]) == {"not monitored"}
    assert rows["pixels"].tolist() == [0, 0] and rows["area_ha"].tolist() == [0, 0]


def test_the_dock_legend_has_every_alert():
    from raster_collect_plugin.gui.monitoring_section import alert_renderer

    values = [category.value() for category in alert_renderer().categories()]
    assert values == ["disturbed", "suspected", "none", "not monitored"]


def test_min_alert_ha_0_flags_only_compartments_with_disturbance():
    """`--min-alert-ha 0` (any disturbed pixel flags) made an intact compartment "disturbed":
    0 disturbed hectares are "at least 0"."""
    transform = from_origin(372_000, 5_352_100, 10, 10)
    zones = gpd.GeoDataFrame({"forest_id": [1, 2, 3]}, geometry=[
        box(372_000, 5_352_000, 372_030, 5_352_100), box(372_030, 5_352_000, 372_060,
                                                           5_352_100),
        box(372_060, 5_352_000, 372_100, 5_352_100)], crs="EPSG:32632")
    pixels = empty_arrays(100)
    pixels["status"][:] = NO_ALERT
    pixels["status"].reshape(10, 10)[0, 0] = CONFIRMED  # one pixel of 1, one of 2 suspected
    pixels["status"].reshape(10, 10)[0, 4] = SUSPECTED
    pixels["confidence"] = np.zeros(100, "uint8")
    pixels["magnitude"] = np.where(pixels["status"] == CONFIRMED, 0.4, np.nan)
    summary = zone_summary(zones, ["forest_id"], zone_pixels(zones, transform, (10, 10)),
                           pixels, 0.01, min_alert_ha=0).set_index("forest_id")
    assert summary["alert"].to_dict() == {1: "disturbed", 2: "suspected", 3: "none"}
