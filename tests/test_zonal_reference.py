"""Zonal statistics against the reference tools' definitions: quantiles in all three coverage
modes (exactextract's weighted definition / numpy's linear interpolation as rasterstats),
majority/minority/variety, categorical classes, native data types at their extremes, mask
bands, nodata options, band choice and the checks every door gets from the engine."""

import math

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio import features
from shapely.geometry import Point, Polygon, box

from raster_collect_plugin.core.areas.aoi import load_aoi
from raster_collect_plugin.core.areas.zones import ZoneError, repair_polygon
from raster_collect_plugin.core.zonal.reader import RasterStack
from raster_collect_plugin.core.zonal.reduce import weighted_quantiles
from raster_collect_plugin.core.zonal.statistics import (
    describe_statistics,
    zonal_statistics,
    zonal_statistics_of_file,
)

CRS = "EPSG:32756"
TRANSFORM = Affine(1, 0, 0, 0, -1, 10)  # 10 x 10 one-metre cells, top edge at y=10


def frame(*geometries, crs=CRS):
    return gpd.GeoDataFrame({"forest_id": list(range(1, len(geometries) + 1))},
                            geometry=list(geometries), crs=crs)


def columns_1_to_10(dtype="float32"):
    return np.tile(np.arange(1, 11, dtype=dtype), (10, 1))[np.newaxis]


def write(path, data, *, nodata=None, transform=TRANSFORM, crs=CRS, descriptions=None):
    data = data if data.ndim == 3 else data[np.newaxis]
    with rasterio.open(path, "w", driver="GTiff", count=data.shape[0], height=data.shape[1],
                       width=data.shape[2], dtype=data.dtype, transform=transform, crs=crs,
                       nodata=nodata) as dataset:
        dataset.write(data)
        for band, text in enumerate(descriptions or (), start=1):
            dataset.set_band_description(band, text)
    return path


def in_memory(data, zones, **kwargs):
    return zonal_statistics(RasterStack(data, transform=TRANSFORM, crs=CRS), zones,
                            id_fields=["forest_id"], **kwargs)


# --- quantiles ----------------------------------------------------------------------------

def test_quantiles_by_hand_in_each_mode():
    # row 0, columns 0-2 (values 1, 2, 3) covered 1, 1 and 0.4
    strip = frame(box(0, 9, 2.4, 10))
    exact = in_memory(columns_1_to_10(), strip).iloc[0]
    # exactextract: S = (0, 1*1 + 2*1, 2*0.4 + 2*2) = (0, 3, 4.8), total (n-1) sum w = 4.8
    assert exact["median"] == pytest.approx(1 + 2.4 / 3)  # target 2.4 between S1 and S2
    assert exact["p10"] == pytest.approx(1 + 0.48 / 3)
    assert exact["p90"] == pytest.approx(2 + (4.32 - 3) / 1.8)
    centre = in_memory(columns_1_to_10(), strip, mode="centre").iloc[0]  # cells 1, 2
    assert (centre["median"], centre["p10"], centre["p90"]) == pytest.approx((1.5, 1.1, 1.9))
    touched = in_memory(columns_1_to_10(), strip, mode="all_touched").iloc[0]  # 1, 2, 3
    assert (touched["median"], touched["p10"], touched["p90"]) == pytest.approx((2, 1.2, 2.8))


def test_weighted_quantiles_merge_equal_values_like_exactextract():
    # 1 appears twice: one distinct value of weight 2, then 5 with weight 1 -> n = 2,
    # S = (0, 1*1 + 1*2) = (0, 3), total 3: the median is 1 + 1.5/3 * 4 = 3
    assert weighted_quantiles(np.array([1, 5, 1]), np.ones(3), [0.5])[0] == pytest.approx(3.0)
    assert weighted_quantiles(np.array([7.0]), np.array([0.3]), [0.1, 0.9]).tolist() == [7, 7]


def peer_case(tmp_path):
    """A slope-like float raster with nodata and polygons like rasterstats' test layers: two
    overlapping polygons, one partly outside the raster, one multipolygon."""
    rng = np.random.default_rng(7)
    data = (rng.gamma(2.0, 6.0, size=(72, 80))).astype("float32")
    data[10:20, 30:45] = -9999.0
    transform = Affine(30, 0, 244_000, 0, -30, 1_000_000)
    path = write(tmp_path / "slope.tif", data, nodata=-9999.0, transform=transform)
    x0, y0 = 244_000, 1_000_000
    zones = frame(
        Polygon([(x0 + 200, y0 - 300), (x0 + 1300, y0 - 250), (x0 + 1100, y0 - 1400),
                 (x0 + 250, y0 - 1200)]),
        Point(x0 + 1000, y0 - 600).buffer(420),  # overlaps the first and the nodata block
        box(x0 + 2200, y0 - 2300, x0 + 2600, y0 - 1800),  # partly beyond the edge (x0 + 2400)
        Point(x0 + 600, y0 - 1800).buffer(150).union(Point(x0 + 1500, y0 - 1700).buffer(200)),
    )
    return path, data, transform, zones


def rasterstats_cells(geometry, transform, shape, all_touched):
    """The cells rasterstats takes for ``geometry``, as a mask of ``shape``: its
    ``bounds_window`` (floor of the top-left corner, ceil of the bottom-right) and
    ``rasterize_geom`` in that window (python-rasterstats 0.21, ``io.py`` and ``utils.py``,
    BSD-3-Clause, re-typed here)."""
    w, s, e, n = geometry.bounds
    row0, col0 = int(math.floor((n - transform.f) / transform.e)), int(
        math.floor((w - transform.c) / transform.a))
    row1, col1 = int(math.ceil((s - transform.f) / transform.e)), int(
        math.ceil((e - transform.c) / transform.a))
    mask = np.zeros(shape, bool)
    if row1 > row0 and col1 > col0:
        burned = features.rasterize([(geometry, 1)], out_shape=(row1 - row0, col1 - col0),
                                    transform=transform * Affine.translation(col0, row0),
                                    fill=0, dtype="uint8", all_touched=all_touched)
        mask[row0:row1, col0:col1] = burned.astype(bool)
    return mask


@pytest.mark.parametrize("mode", ["centre", "all_touched"])
def test_cell_modes_match_numpy_over_the_rasterised_cells(tmp_path, mode):
    path, data, transform, zones = peer_case(tmp_path)
    table = zonal_statistics_of_file(path, zones, id_fields=["forest_id"], mode=mode)
    for n, geometry in enumerate(zones.geometry):
        # rasterised as rasterstats does, on the raster's grid extended by 20 cells: cells
        # beyond the edge are nodata for the zone (rasterstats reads a boundless window
        # filled with nodata)
        padded = rasterstats_cells(geometry, transform * Affine.translation(-20, -20),
                                   (data.shape[0] + 40, data.shape[1] + 40),
                                   all_touched=(mode == "all_touched"))
        inside = padded[20:-20, 20:-20]
        beyond = padded.sum() - inside.sum()
        cells = data[inside]
        values = cells[cells != -9999.0].astype("float64")
        row = table.iloc[n]
        assert row["clear_count"] == values.size
        assert row["nodata_count"] == (cells == -9999).sum() + beyond
        assert row["pixel_count"] == padded.sum()
        np.testing.assert_allclose(
            row[["median", "p10", "p90"]].to_numpy(float),
            np.percentile(values, [50, 10, 90]), rtol=1e-12)
        unique, counts = np.unique(values, return_counts=True)
        assert row["variety"] == unique.size
        assert row["majority"] == unique[np.argmax(counts)]  # first of ties, as rasterstats
        assert row["minority"] == unique[np.argmin(counts)]
        assert row["coefficient_of_variation"] == pytest.approx(values.std() / values.mean())
        assert row["sum"] == pytest.approx(values.sum(), rel=1e-12)


# the cells rasterstats 0.21 (GDAL 3.10) returned for these shapes on the 10 x 10 grid,
# labelled row * 10 + column: a vertex or an edge on a grid line at the shape's bounding box
# takes no cell beyond the line
RASTERSTATS_CELLS = {
    "circle": (Point(1, 1).buffer(1), [80, 81, 90, 91], [80, 81, 90, 91]),
    "diamond": (Polygon([(2, 1), (3, 2), (2, 3), (1, 2)]), [71, 72, 81, 82], [72, 82]),
    "square on grid lines": (box(4, 4, 6, 7), [34, 35, 44, 45, 54, 55],
                             [34, 35, 44, 45, 54, 55]),
    "triangle": (Polygon([(5, 5), (8, 5), (5, 8)]), [25, 35, 36, 45, 46, 47],
                 [25, 35, 36, 45, 46, 47]),
    "circle off the lines": (Point(6.3, 2.6).buffer(1.2),
                             [65, 66, 67, 75, 76, 77, 85, 86, 87], [66, 75, 76, 86]),
}


@pytest.mark.parametrize("name", list(RASTERSTATS_CELLS))
def test_cell_modes_take_the_cells_rasterstats_takes(tmp_path, name):
    """A unit circle at (1, 1) is 4 cells all-touched, a diamond 4 (not 6 and 5): in memory
    and read from a file (the streaming path)."""
    geometry, touched, centre = RASTERSTATS_CELLS[name]
    labels = np.arange(100, dtype="float32").reshape(1, 10, 10)
    path = write(tmp_path / "labels.tif", labels)
    for mode, expected in (("all_touched", touched), ("centre", centre)):
        in_ram = in_memory(labels, frame(geometry), mode=mode, categorical=True)
        from_file = zonal_statistics_of_file(path, frame(geometry), id_fields=["forest_id"],
                                             mode=mode, categorical=True)
        for table in (in_ram, from_file):
            assert table.iloc[0]["pixel_count"] == len(expected), mode
            assert sorted(table.attrs["classes"]["value"].astype(int)) == expected, mode


def test_all_touched_matches_rasterstats_on_shapes_with_vertices_on_grid_lines(tmp_path):
    """Random polygons whose vertices lie on grid lines, cell corners and half cells, some
    partly beyond the raster's edge: the same cells as rasterstats' window and rasterisation
    (``rasterstats_cells``), cells beyond the edge counted as nodata."""
    rng = np.random.default_rng(26)
    data = rng.integers(1, 50, size=(1, 10, 10)).astype("float32")
    shapes = []
    for _ in range(60):
        centre = rng.integers(-1, 12, size=2) / rng.choice([1, 2])
        points = centre + rng.integers(-6, 7, size=(rng.integers(3, 7), 2)) / 2
        shape = Polygon(points).convex_hull
        if shape.geom_type == "Polygon" and shape.area > 0:
            shapes.append(shape)
    zones = frame(*shapes)
    table = in_memory(data, zones, mode="all_touched").set_index("forest_id")
    for n, geometry in enumerate(shapes, start=1):
        padded = rasterstats_cells(geometry, TRANSFORM * Affine.translation(-20, -20),
                                   (50, 50), all_touched=True)
        inside = padded[20:-20, 20:-20]
        row = table.loc[n]
        assert row["pixel_count"] == padded.sum(), geometry.wkt
        assert row["clear_count"] == inside.sum(), geometry.wkt
        if inside.any():
            assert row["sum"] == pytest.approx(data[0][inside].sum()), geometry.wkt


def test_exact_mode_matches_exactextract(tmp_path):
    from exactextract import exact_extract

    path, _, _, zones = peer_case(tmp_path)
    ours = zonal_statistics_of_file(path, zones, id_fields=["forest_id"], categorical=True)
    theirs = exact_extract(str(path), zones, [
        "median", "quantile(q=0.1)", "quantile(q=0.9)", "majority", "minority", "variety",
        "coefficient_of_variation", "count", "sum", "stdev", "unique", "frac"], output="pandas")
    for mine, their in (("median", "median"), ("p10", "quantile_10"), ("p90", "quantile_90"),
                        ("majority", "majority"), ("minority", "minority"),
                        ("variety", "variety"), ("clear_count", "count"), ("sum", "sum"),
                        ("std", "stdev"),
                        ("coefficient_of_variation", "coefficient_of_variation")):
        np.testing.assert_allclose(ours[mine].to_numpy(float),
                                   theirs[their].to_numpy(float), rtol=1e-6, err_msg=mine)
    classes = ours.attrs["classes"]
    for n, forest in enumerate(zones["forest_id"]):
        expected = dict(zip(theirs["unique"][n], theirs["frac"][n]))
        mine = classes[classes["forest_id"] == forest]
        np.testing.assert_allclose(mine["fraction"], [expected[v] for v in mine["value"]],
                                   rtol=1e-6)


def test_exact_quantiles_of_an_integer_raster_are_not_truncated(tmp_path):
    """exactextract casts an integer raster's quantiles to the raster's type (towards zero);
    we keep the interpolated value, whose integer part is exactextract's answer."""
    from exactextract import exact_extract

    rng = np.random.default_rng(11)
    path = write(tmp_path / "classes.tif", rng.integers(1, 6, (40, 40)).astype("int16"))
    zones = frame(Point(20, -5).buffer(7.3), Point(8, 2).buffer(4.1),
                  crs=CRS)
    with rasterio.open(path, "r+") as dataset:
        dataset.transform = Affine(1, 0, 0, 0, -1, 20)
    ours = zonal_statistics_of_file(path, zones, id_fields=["forest_id"])
    theirs = exact_extract(str(path), zones, ["median", "quantile(q=0.9)"], output="pandas")
    assert (np.trunc(ours["median"].to_numpy()) == theirs["median"].to_numpy()).all()
    assert (np.trunc(ours["p90"].to_numpy()) == theirs["quantile_90"].to_numpy()).all()
    assert not np.allclose(ours["median"], np.trunc(ours["median"]))


def test_majority_ties_follow_each_peer():
    values = np.array([[[1, 1, 2, 2, 3, 3, 3, 4, 5, 5]]], dtype="uint8").repeat(10, axis=1)
    row = frame(box(0, 9, 10, 10))  # one row: 1 x2, 2 x2, 3 x3, 4 x1, 5 x2
    exact = in_memory(values[0], row).iloc[0]
    centre = in_memory(values[0], row, mode="centre").iloc[0]
    assert exact["majority"] == centre["majority"] == 3
    ties = frame(box(0, 9, 4, 10))  # 1 x2, 2 x2
    assert in_memory(values[0], ties).iloc[0]["majority"] == 2  # exactextract: largest
    assert in_memory(values[0], ties, mode="centre").iloc[0]["majority"] == 1  # rasterstats
    assert in_memory(values[0], ties).iloc[0]["minority"] == 1
    assert in_memory(values[0], row).iloc[0]["variety"] == 5


# --- categorical --------------------------------------------------------------------------

def test_categorical_counts_area_and_fraction(tmp_path):
    scl = np.full((10, 10), 4, dtype="uint8")  # vegetation
    scl[:, 6:] = 8  # cloud (medium probability)
    scl[0, :] = 0  # SCL no data
    transform = Affine(10, 0, 500_000, 0, -10, 7_000_100)
    path = write(tmp_path / "scl.tif", scl, nodata=0, transform=transform)
    zone = frame(box(500_000, 7_000_000, 500_074, 7_000_100))  # columns 0-6, 40 % of 7
    for mode, cloud in (("exact", 9 + 0.4 * 9), ("centre", 9), ("all_touched", 18)):
        table = zonal_statistics_of_file(path, zone, id_fields=["forest_id"], mode=mode,
                                         categorical=True)
        classes = table.attrs["classes"].set_index("value")
        veg = 54.0  # 9 valid rows x 6 columns
        assert classes.loc[4, "count"] == veg, mode
        assert classes.loc[8, "count"] == pytest.approx(cloud), mode
        assert classes.loc[8, "area"] == pytest.approx(cloud * 100)  # 10 m cells
        assert classes.loc[4, "fraction"] == pytest.approx(veg / (veg + cloud))
        assert 0 not in classes.index  # nodata is not a class
        assert table.iloc[0]["nodata_count"] == pytest.approx(
            7.4 if mode == "exact" else 7 if mode == "centre" else 8)


# --- native data types --------------------------------------------------------------------

def test_uint32_near_two_to_the_32(tmp_path):
    big = np.uint32(2**32 - 2)
    data = np.full((10, 10), big, dtype="uint32")
    data[:, 0] = 2**32 - 1  # nodata: float32 would make every cell equal to it
    data[:, 1] = 2**32 - 3
    path = write(tmp_path / "u32.tif", data, nodata=2**32 - 1)
    for mode in ("exact", "centre"):
        row = zonal_statistics_of_file(path, frame(box(0, 0, 4, 10)), id_fields=["forest_id"],
                                       mode=mode).iloc[0]
        assert row["clear_count"] == 30 and row["nodata_count"] == 10
        assert row["sum"] == 10 * (2**32 - 3) + 20 * (2**32 - 2)
        assert row["min"] == 2**32 - 3 and row["max"] == 2**32 - 2
        assert row["mean"] == pytest.approx((10 * (2**32 - 3) + 20 * (2**32 - 2)) / 30,
                                            rel=1e-15)
        assert row["majority"] == 2**32 - 2


def test_int32_above_two_to_the_24(tmp_path):
    data = np.full((10, 10), 2**24 + 1, dtype="int32")  # float32 rounds it to 2**24
    data[:, 3] = 2**24  # nodata
    data[:, 2] = 2**31 - 1
    path = write(tmp_path / "i32.tif", data, nodata=2**24)
    row = zonal_statistics_of_file(path, frame(box(0, 0, 4, 10)), id_fields=["forest_id"],
                                   mode="centre").iloc[0]
    assert row["clear_count"] == 30
    assert row["sum"] == 20 * (2**24 + 1) + 10 * (2**31 - 1)
    assert row["min"] == 2**24 + 1 and row["max"] == 2**31 - 1
    assert row["median"] == 2**24 + 1


# --- masks and options ----------------------------------------------------------------------

def test_internal_mask_band_is_honoured(tmp_path):
    path = tmp_path / "masked.tif"
    data = columns_1_to_10("uint16")[0]
    mask = np.full((10, 10), 255, dtype="uint8")
    mask[:, 0:2] = 0  # columns 1 and 2 masked by the dataset mask, not by a nodata value
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
        with rasterio.open(path, "w", driver="GTiff", count=1, height=10, width=10,
                           dtype="uint16", transform=TRANSFORM, crs=CRS) as dataset:
            dataset.write(data, 1)
            dataset.write_mask(mask)
    zone = frame(box(0, 0, 5, 10))
    row = zonal_statistics_of_file(path, zone, id_fields=["forest_id"]).iloc[0]
    assert row["clear_count"] == 30 and row["nodata_count"] == 20
    assert row["mean"] == pytest.approx(4.0) and row["min"] == 3
    unmasked = zonal_statistics_of_file(path, zone, id_fields=["forest_id"],
                                        use_mask=False).iloc[0]
    assert unmasked["clear_count"] == 50 and unmasked["mean"] == pytest.approx(3.0)


def test_nodata_override_ignore_and_band_choice(tmp_path):
    data = np.stack([columns_1_to_10("int16")[0] - 1,  # 0..9, file nodata 0
                     columns_1_to_10("int16")[0] * 10])  # 10..100
    path = write(tmp_path / "two.tif", data, nodata=0, descriptions=["2025-01", "2025-02"])
    zone = frame(box(0, 0, 4, 10))  # columns with 0, 1, 2, 3 (band 1)
    options = dict(id_fields=["forest_id"], mode="centre")
    default = zonal_statistics_of_file(path, zone, **options)
    assert default.iloc[0]["mean"] == pytest.approx(2.0)  # 0 is nodata
    override = zonal_statistics_of_file(path, zone, nodata=3, **options).iloc[0]
    assert override["mean"] == pytest.approx(1.0) and override["nodata_count"] == 10
    ignored = zonal_statistics_of_file(path, zone, ignore_nodata=True, **options).iloc[0]
    assert ignored["mean"] == pytest.approx(1.5) and ignored["clear_count"] == 40
    second = zonal_statistics_of_file(path, zone, bands=[2], **options)
    assert list(second["period"]) == ["2025-02"] and second.iloc[0]["mean"] == 25
    with pytest.raises(ValueError, match=r"band\(s\) \[3\] do not exist"):
        zonal_statistics_of_file(path, zone, bands=[3], **options)


# --- zones checked by the engine --------------------------------------------------------------

def test_empty_geometries_are_skipped_and_reported():
    zones = gpd.GeoDataFrame({"forest_id": [1, 2, 3]},
                             geometry=[box(0, 0, 5, 10), Polygon(), None], crs=CRS)
    table = in_memory(columns_1_to_10(), zones)
    assert list(table["forest_id"]) == [1]
    assert table.attrs["notes"] == ["skipped zone forest_id=2: empty geometry",
                                    "skipped zone forest_id=3: empty geometry"]


def test_invalid_polygon_is_repaired_the_same_way_in_every_door(tmp_path):
    bowtie = Polygon([(0, 0), (4, 4), (4, 0), (0, 4), (0, 0)])  # self-intersecting
    zones = gpd.GeoDataFrame({"forest_id": [1]}, geometry=[bowtie], crs=CRS)
    table = in_memory(columns_1_to_10(), zones)
    assert table.attrs["notes"] == ["repaired invalid geometry of zone forest_id=1"]
    assert table.iloc[0]["pixel_count"] == pytest.approx(8.0)  # two triangles of 4 m²
    aoi = load_aoi(zones)
    assert aoi.frame.geometry.iloc[0].equals(repair_polygon(bowtie))


def test_projected_numbers_labelled_wgs84_get_a_one_line_error():
    zones = frame(box(244_000, 999_000, 245_000, 1_000_000), crs="EPSG:4326")
    with pytest.raises(ZoneError, match="not longitude/latitude: assign their real projected"):
        in_memory(columns_1_to_10(), zones)
    with pytest.raises(ValueError, match="not longitude/latitude"):
        load_aoi(zones)


def test_raster_without_crs_gets_a_one_line_error(tmp_path):
    path = write(tmp_path / "nocrs.tif", columns_1_to_10(), crs=None)
    with pytest.raises(ZoneError, match="the raster has no CRS: assign one") as error:
        zonal_statistics_of_file(path, frame(box(0, 0, 5, 10)), id_fields=["forest_id"])
    assert "\n" not in str(error.value)


def test_pixel_centre_ties_are_decided_in_the_rasters_crs():
    # an edge exactly on cell centres (x = 2.5), the zones' CRS spelt differently from the
    # raster's: the polygon is used as it is, and the tie is decided as GDAL (rasterstats)
    # decides it on the raster's grid
    geometry = box(0, 0, 2.5, 10)
    zone = frame(geometry, crs="+proj=utm +zone=56 +south +datum=WGS84 +units=m")
    row = in_memory(columns_1_to_10(), zone, mode="centre").iloc[0]
    reference = features.geometry_mask([geometry], (10, 10), TRANSFORM, invert=True)
    assert row["pixel_count"] == reference.sum()
    assert row["mean"] == pytest.approx(columns_1_to_10()[0][reference].mean())


def test_definitions_name_each_peer():
    exact, centre = describe_statistics("exact"), describe_statistics("centre")
    assert "exactextract" in exact["statistics"]["median"]
    assert "np.percentile" in centre["statistics"]["p90"]
    assert set(exact["statistics"]) >= {"majority", "minority", "variety", "nodata_count",
                                        "coefficient_of_variation"}


def test_cells_beyond_the_edge_are_nodata_in_every_mode():
    # 4 x 10 cells inside (columns 6-9), 4 x 10 beyond the right edge
    zone = frame(box(6, 0, 14, 10))
    for mode in ("exact", "centre", "all_touched"):
        row = in_memory(columns_1_to_10(), zone, mode=mode).iloc[0]
        assert row["clear_count"] == 40 and row["pixel_count"] == 80, mode
        assert row["nodata_count"] == 40 and row["clear_fraction"] == 0.5, mode
        assert row["mean"] == pytest.approx(8.5), mode


def test_all_nodata_raster(tmp_path):
    """rasterstats' all-nodata case: nothing clear, every cell counted as nodata."""
    path = write(tmp_path / "all_nodata.tif", np.full((10, 10), -9999, "float32"),
                 nodata=-9999)
    for mode in ("exact", "centre", "all_touched"):
        row = zonal_statistics_of_file(path, frame(box(0, 0, 5, 10)), id_fields=["forest_id"],
                                       mode=mode).iloc[0]
        assert row["clear_count"] == 0 and row["nodata_count"] == row["pixel_count"] == 50
        assert row["variety"] == 0 and not row["usable"]
        for name in ("mean", "sum", "median", "p10", "min", "majority", "minority", "std"):
            assert np.isnan(row[name]), (mode, name)
