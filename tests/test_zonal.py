"""Zonal statistics: exact expected values for coverage-weighted, centre-in and all-touched
zones, overlapping polygons, masked (cloud) pixels and the clear-fraction threshold."""

import geopandas as gpd
import numpy as np
import pytest
from affine import Affine
from shapely.geometry import box

from raster_collect_plugin.core.outputs.files import write_cog
from raster_collect_plugin.core.zonal.reader import RasterStack
from raster_collect_plugin.core.zonal.reduce import weighted_quantiles
from raster_collect_plugin.core.zonal.statistics import zonal_statistics

TRANSFORM = Affine(1, 0, 0, 0, -1, 10)  # 10 x 10 one-metre pixels, top edge at y=10
CRS = "EPSG:32756"


def column_values(bands=1):
    """Pixel value = column + 1 (band b adds 100*b)."""
    base = np.tile(np.arange(1, 11, dtype="float32"), (10, 1))
    return np.stack([base + 100 * b for b in range(bands)])


def zones(*geometries, ids=None):
    return gpd.GeoDataFrame({"forest_id": ids or list(range(1, len(geometries) + 1))},
                            geometry=list(geometries), crs=CRS)


def stats(stack, frame, **kwargs):
    return zonal_statistics(RasterStack(stack, transform=TRANSFORM, crs=CRS), frame,
                            id_fields=["forest_id"], **kwargs)


def test_exact_centre_and_all_touched_coverage():
    strip = zones(box(0, 9, 2.4, 10))  # row 0: columns 0 and 1 whole, column 2 40 %
    exact = stats(column_values(), strip).iloc[0]
    assert exact["mean"] == pytest.approx((1 + 2 + 0.4 * 3) / 2.4)
    assert exact["sum"] == pytest.approx(1 + 2 + 0.4 * 3)
    assert exact["pixel_count"] == pytest.approx(2.4)
    assert (exact["min"], exact["max"]) == (1, 3)
    centre = stats(column_values(), strip, mode="centre").iloc[0]
    assert centre["mean"] == pytest.approx(1.5) and centre["pixel_count"] == 2
    touched = stats(column_values(), strip, mode="all_touched").iloc[0]
    assert touched["mean"] == pytest.approx(2.0) and touched["pixel_count"] == 3


def test_weighted_std_and_quantiles():
    block = stats(column_values(), zones(box(0, 0, 5, 10))).iloc[0]  # columns 1..5, 10 rows
    assert block["mean"] == pytest.approx(3.0)
    assert block["std"] == pytest.approx(np.std([1, 2, 3, 4, 5]))
    assert block["median"] == pytest.approx(3.0)
    # five distinct values of equal weight: exactextract's definition = numpy's linear one
    assert block["p10"] == pytest.approx(1.4) and block["p90"] == pytest.approx(4.6)
    assert weighted_quantiles(np.array([1.0, 2, 3, 4]), np.ones(4), [0.5])[0] == 2.5


def test_overlapping_polygons_each_get_their_own_statistics():
    left, right = box(0, 0, 6, 10), box(4, 0, 10, 10)  # overlap in columns 4-5
    together = stats(column_values(), zones(left, right)).set_index("forest_id")
    assert together.loc[1, "mean"] == pytest.approx(3.5)  # columns 1..6
    assert together.loc[2, "mean"] == pytest.approx(7.5)  # columns 5..10
    alone = stats(column_values(), zones(right, ids=[2])).set_index("forest_id")
    assert alone.loc[2, "mean"] == together.loc[2, "mean"]


def test_masked_pixels_are_excluded_and_flagged():
    values = column_values(bands=2)
    values[0, :, 0:3] = np.nan  # band 1 ("month 1"): three of five columns clouded
    values[1, :, 0] = np.nan  # band 2: one of five columns clouded
    table = stats(values, zones(box(0, 0, 5, 10)), min_clear_fraction=0.5)
    month1, month2 = table.iloc[0], table.iloc[1]
    assert month1["clear_count"] == 20 and month1["pixel_count"] == 50
    assert month1["clear_fraction"] == pytest.approx(0.4)
    assert month1["mean"] == pytest.approx(4.5)  # columns 4 and 5 only
    assert not month1["usable"]
    assert month2["clear_fraction"] == pytest.approx(0.8) and month2["usable"]
    assert month2["mean"] == pytest.approx(103.5)


def test_zone_outside_the_raster_and_fully_clouded_zone():
    values = column_values()
    values[0, :, 8:] = np.nan
    table = stats(values, zones(box(50, 50, 60, 60), box(8, 0, 10, 10))).set_index("forest_id")
    assert table.loc[1, "clear_count"] == 0 and np.isnan(table.loc[1, "mean"])
    # its 100 cells beyond the raster's edge are nodata for it (rasterstats counts them too)
    assert table.loc[1, "pixel_count"] == 100 and table.loc[1, "nodata_count"] == 100
    assert table.loc[2, "clear_fraction"] == 0 and not table.loc[2, "usable"]
    assert np.isnan(table.loc[2, "median"])


def test_cog_on_disk_matches_exactextract(tmp_path):
    from exactextract import exact_extract

    rng = np.random.default_rng(3)
    data = rng.random((3, 120, 150)).astype("float32")
    data[1, 30:60, 40:90] = np.nan
    transform = Affine(10, 0, 500_000, 0, -10, 7_000_000)
    path = write_cog(tmp_path / "stack.tif", data, transform=transform, crs=CRS,
                     nodata=float("nan"), band_descriptions=["2025-01", "2025-02", "2025-03"])
    centres = rng.uniform([500_100, 6_998_900], [501_400, 6_999_900], size=(40, 2))
    polygons = gpd.GeoDataFrame(
        {"forest_id": range(40)},
        geometry=gpd.points_from_xy(centres[:, 0], centres[:, 1]).buffer(90), crs=CRS)
    ours = zonal_statistics(RasterStack(path), polygons, id_fields=["forest_id"])
    assert list(ours["period"].unique()) == ["2025-01", "2025-02", "2025-03"]
    theirs = exact_extract(str(path), polygons, ["mean", "sum", "count", "stdev", "min", "max"],
                           output="pandas", include_cols=["forest_id"])
    for band, period in enumerate(["2025-01", "2025-02", "2025-03"], start=1):
        mine = ours[ours["period"] == period].set_index("forest_id").sort_index()
        clear = mine["clear_count"].to_numpy() > 0
        assert clear.all() != (band == 2)  # band 2: some zones lie wholly in the masked block
        for ours_name, their_name in (("mean", "mean"), ("sum", "sum"),
                                      ("clear_count", "count"), ("std", "stdev"),
                                      ("min", "min"), ("max", "max")):
            np.testing.assert_allclose(mine[ours_name].to_numpy()[clear],
                                       theirs[f"band_{band}_{their_name}"].to_numpy()[clear],
                                       rtol=1e-9, atol=1e-12, err_msg=ours_name)
        # no clear pixel: NaN statistics (exactextract reports a sum of 0 there)
        assert np.isnan(mine["sum"].to_numpy()[~clear]).all()
