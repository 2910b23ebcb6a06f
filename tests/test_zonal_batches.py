"""Zones reduced together (one sort for every band and zone of a batch) give each zone the
statistics it gets alone, with numpy's own answers for the order statistics; and a table does
not depend on how the zones were cut into blocks for the workers."""

import threading

import dask.array
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from shapely.geometry import Point, box

from raster_collect_plugin.core.zonal.coverage import polygon_coverage
from raster_collect_plugin.core.zonal.reader import RasterStack
from raster_collect_plugin.core.zonal.reduce import STATISTICS, iter_zone_statistics, reduce_zone
from raster_collect_plugin.core.zonal.tasks import zonal_tables
from tests.composite_stacks import CRS, TRANSFORM, write_stack

ORDER_STATISTICS = ("min", "max", "median", "p10", "p90", "majority", "minority", "variety")


def scattered_zones(count: int, size: int, seed: int = 3) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    centres = rng.uniform(60, size * 10 - 60, (count, 2))
    radii = rng.uniform(15, 55, count)
    return gpd.GeoDataFrame(
        {"forest_id": np.arange(count)},
        geometry=[Point(500_000 + x, 7_000_000 - y).buffer(r)
                  for (x, y), r in zip(centres, radii)], crs=CRS)


def rounded_stack(size: int, bands: int, seed: int = 4) -> np.ndarray:
    """float32 values with many ties (one decimal) and cloud holes (NaN)."""
    rng = np.random.default_rng(seed)
    values = np.round(rng.normal(0.5, 0.2, (bands, size, size)), 1).astype("float32")
    values[rng.random(values.shape) < 0.15] = np.nan
    return values


def tall_zones(count: int, size: int) -> gpd.GeoDataFrame:
    """Narrow north-south strips, each taller than a 256-row file block."""
    x = np.linspace(100, size * 10 - 100, count)
    return gpd.GeoDataFrame(
        {"forest_id": np.arange(count)},
        geometry=[box(500_000 + left, 7_000_000 - (300 + 23 * n) * 10 - 3_050,
                      500_000 + left + 37, 7_000_000 - (300 + 23 * n) * 10)
                  for n, left in enumerate(x)], crs=CRS)


@pytest.mark.parametrize("source", ["memory", "lazy", "file", "file-threads",
                                    "file-small-ring", "file-gdal", "file-gdal-small-ring",
                                    "file-gdal-decode-threads"])
@pytest.mark.parametrize("mode", ["exact", "centre", "all_touched"])
def test_batched_zones_equal_each_zone_alone(mode, source, tmp_path, monkeypatch):
    if source.endswith("small-ring"):  # one reader, no read-ahead: the ring holds one zone span
        from raster_collect_plugin.core.zonal import strips

        monkeypatch.setattr(strips, "RING_BYTES", 1)
    if source.startswith("file-gdal"):  # GDAL decodes the tiles, not libzstd
        from raster_collect_plugin.core.zonal import zstd_tiles

        monkeypatch.setattr(zstd_tiles, "_library", None)
    # a file of several 256-row blocks, more than the reader's ring holds (it wraps around),
    # with zones taller than a block
    size = 1100 if source.startswith("file") else 120
    values = rounded_stack(size, 5)
    if source.startswith("file"):  # GDAL decodes tiles in parallel for one reading thread
        stack = RasterStack(write_stack(tmp_path / "stack.tif", values),
                            decode_threads=2 if source == "file-gdal-decode-threads" else 1)
        # the bottom strip is shorter than a tile (1100 rows): libzstd decodes it whole
        assert (stack.zstd_tiles() is None) == source.startswith("file-gdal")
    elif source == "lazy":  # a dask-backed array is read strip by strip, never whole
        lazy = xr.DataArray(dask.array.from_array(values, chunks=(1, 32, 32)),
                            dims=("band", "y", "x"))
        stack = RasterStack(lazy, transform=TRANSFORM, crs=CRS)
    else:
        stack = RasterStack(values, transform=TRANSFORM, crs=CRS)
    assert stack.in_memory == (source == "memory")  # the row-buffer path otherwise
    frame = scattered_zones(200, size) if source.startswith("file") else \
        scattered_zones(60, size)
    if source.startswith("file"):
        frame = pd.concat([frame, tall_zones(6, size)], ignore_index=True)
    coverages = polygon_coverage(frame.geometry, stack, mode)
    batched = iter_zone_statistics(stack, coverages, mode=mode, categorical=True,
                                   workers=2 if source == "file-threads" else 1)
    if source.startswith("file"):
        assert max(c.height for c in coverages) > 300
    order = [STATISTICS.index(name) for name in ORDER_STATISTICS]
    checked = 0
    for coverage, (statistics, classes) in zip(coverages, batched):
        rows, cols = coverage.row0 + coverage.rows, coverage.col0 + coverage.cols
        cells = values[:, rows, cols]
        alone_classes: list = []
        alone = reduce_zone(cells, coverage.weights, mode=mode, classes=alone_classes)
        np.testing.assert_array_equal(statistics[:, order], alone[:, order])
        np.testing.assert_allclose(statistics, alone, rtol=1e-12, equal_nan=True)
        for (batch_values, batch_totals), (own_values, own_totals) in zip(classes,
                                                                         alone_classes):
            np.testing.assert_array_equal(batch_values, own_values)
            np.testing.assert_allclose(batch_totals, own_totals, rtol=1e-12)
        if mode != "exact":  # whole cells: numpy's own percentiles, min, max and variety
            for band in range(values.shape[0]):
                clear = cells[band][~np.isnan(cells[band])]
                if not clear.size:
                    continue
                expected = np.percentile(clear.astype("float64"), [50, 10, 90])
                got = statistics[band, [STATISTICS.index(n) for n in ("median", "p10", "p90")]]
                np.testing.assert_allclose(got, expected, rtol=1e-12)
                assert statistics[band, STATISTICS.index("variety")] == np.unique(clear).size
                assert statistics[band, STATISTICS.index("min")] == clear.min()
                checked += 1
    assert mode == "exact" or checked > 100


def test_tables_do_not_depend_on_the_zone_blocks(tmp_path, monkeypatch):
    from raster_collect_plugin.core.zonal import tasks as zonal_tasks

    path = write_stack(tmp_path / "ndvi.tif", rounded_stack(200, 4))
    frame = scattered_zones(150, 200)
    files = [("stac", "s2", "NDVI", str(path))]
    tables, blocks = [], []
    for cells_per_block in (200, 2_000, 10**9):  # about 40, 4 and 1 blocks of zones
        monkeypatch.setattr(zonal_tasks, "CELLS_PER_LOCAL_BLOCK", cells_per_block)
        blocks.append(len(zonal_tasks._local_blocks_on_grid(str(path), frame)))
        tables.append(zonal_tables(files, frame, id_fields=["forest_id"]))
    assert blocks[0] > blocks[1] > blocks[2] == 1
    assert len(tables[0]) == 150 * 4
    assert tables[0]["mean"].notna().mean() > 0.9
    for table in tables[1:]:
        pd.testing.assert_frame_equal(table, tables[0], check_exact=True)


class FailingStack:
    """A file stack whose third strip cannot be read."""

    def __init__(self, stack):
        self.stack, self.reads = stack, 0

    def __getattr__(self, name):
        return getattr(self.stack, name)

    def zstd_tiles(self):
        return None  # read through GDAL (read_values)

    def read_values(self, *args, **kwargs):
        self.reads += 1
        if self.reads == 3:
            raise OSError("TIFFReadEncodedTile() failed: the file is truncated")
        return self.stack.read_values(*args, **kwargs)


def started_since(before: set) -> list:
    """The threads started since ``before`` and still running. (Not a count of all threads:
    one an earlier test file left in this xdist worker may end meanwhile.)"""
    return [thread.name for thread in threading.enumerate() if thread not in before]


@pytest.mark.parametrize("decoder", ["gdal", "libzstd"])
def test_a_read_error_reaches_the_caller_and_stops_the_reader(decoder, tmp_path):
    path = write_stack(tmp_path / "stack.tif", rounded_stack(1100, 2))
    stack = RasterStack(path)
    coverages = polygon_coverage(scattered_zones(100, 1100).geometry, stack, "exact")
    if decoder == "libzstd":  # the file is cut after its tiles were listed
        decoder = stack.zstd_tiles()[0].decoder()
        cut = int(decoder.locate(3, [0])[0][0]) + 10
        decoder.close()
        with open(path, "r+b") as file:
            file.truncate(cut)
    else:
        stack = FailingStack(stack)
    before = set(threading.enumerate())
    with pytest.raises(OSError, match="truncated"):
        iter_zone_statistics(stack, coverages, workers=2)
    assert started_since(before) == []


def test_cancelling_stops_the_reader(tmp_path):
    stack = RasterStack(write_stack(tmp_path / "stack.tif", rounded_stack(1100, 2)))
    coverages = polygon_coverage(scattered_zones(100, 1100).geometry, stack, "exact")
    checks = []
    before = set(threading.enumerate())
    with pytest.raises(InterruptedError):
        iter_zone_statistics(stack, coverages, workers=2,
                             cancel=lambda: checks.append(1) or len(checks) > 1)
    assert started_since(before) == []


def test_a_mask_band_masks_the_cells_it_covers_in_every_band(tmp_path):
    """A multi-band file with an internal mask band, read through the strip reader's ring:
    each band's statistics are those of its values with the masked cells as NaN."""
    import rasterio

    values = rounded_stack(700, 3, seed=8)
    mask = np.full((700, 700), 255, "uint8")
    mask[150:420, 90:500] = 0  # a cloud: across block edges and many zones
    path = tmp_path / "masked.tif"
    profile = {"driver": "GTiff", "width": 700, "height": 700, "count": 3, "dtype": "float32",
               "crs": CRS, "transform": TRANSFORM, "tiled": True, "blockxsize": 128,
               "blockysize": 128, "compress": "ZSTD", "interleave": "pixel"}
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True), \
            rasterio.open(path, "w", **profile) as dataset:
        dataset.write(values)
        dataset.write_mask(mask)
    frame = pd.concat([scattered_zones(150, 700), tall_zones(4, 700)], ignore_index=True)
    masked = values.copy()
    masked[:, mask == 0] = np.nan
    expected_stack = RasterStack(masked, transform=TRANSFORM, crs=CRS)
    for threads in (1, 2):
        stack = RasterStack(path, decode_threads=threads)
        assert stack.has_mask_band
        coverages = polygon_coverage(frame.geometry, stack, "exact")
        got = iter_zone_statistics(stack, coverages, workers=2)
        expected = iter_zone_statistics(expected_stack, coverages)
        stack.close()
        touched = 0
        for coverage, ours, theirs in zip(coverages, got, expected):
            np.testing.assert_allclose(ours, theirs, rtol=1e-12, equal_nan=True)
            touched += bool(((coverage.row0 + coverage.rows >= 150) &
                             (coverage.row0 + coverage.rows < 420)).any())
        assert touched > 20


def test_tables_do_not_depend_on_the_coverage_chunks(tmp_path, monkeypatch):
    """Coverage is computed top to bottom in chunks while zones are reduced: the chunk size
    changes nothing in the table."""
    from raster_collect_plugin.core.zonal import statistics as zonal

    path = write_stack(tmp_path / "ndvi.tif", rounded_stack(600, 3))
    frame = pd.concat([scattered_zones(160, 600), tall_zones(5, 600)], ignore_index=True)
    tables = []
    for chunk in (7, 10**6):
        monkeypatch.setattr(zonal._CoverageFeed, "CHUNK", chunk)
        stack = RasterStack(path, decode_threads=2)
        tables.append(zonal.zonal_statistics(stack, frame, id_fields=["forest_id"], workers=2))
        stack.close()
    assert tables[0]["mean"].notna().mean() > 0.9
    pd.testing.assert_frame_equal(tables[0], tables[1], check_exact=True)


def test_a_coverage_error_reaches_the_caller_and_stops_the_threads(tmp_path, monkeypatch):
    from raster_collect_plugin.core.zonal import reduce
    from raster_collect_plugin.core.zonal import statistics as zonal

    path = write_stack(tmp_path / "ndvi.tif", rounded_stack(600, 2))
    frame = scattered_zones(120, 600)
    real_coverage, calls = reduce.polygon_coverage, []

    def failing_coverage(polygons, stack, mode="exact"):
        calls.append(len(polygons))
        if len(calls) == 3:
            raise RuntimeError("GEOS error: the geometry cannot be processed")
        return real_coverage(polygons, stack, mode)

    monkeypatch.setattr(zonal._CoverageFeed, "CHUNK", 16)
    monkeypatch.setattr(reduce, "polygon_coverage", failing_coverage)
    stack = RasterStack(path, decode_threads=2)
    before = set(threading.enumerate())
    with pytest.raises(RuntimeError, match="GEOS error"):
        zonal.zonal_statistics(stack, frame, id_fields=["forest_id"], workers=2)
    stack.close()
    assert len(calls) == 3 and started_since(before) == []


class CountingStack:
    """A file stack that counts the cells it is asked to read."""

    def __init__(self, stack):
        self.stack, self.cells, self.widths = stack, 0, set()

    def __getattr__(self, name):
        return getattr(self.stack, name)

    def read_values(self, row0, col0, height, width, **kwargs):
        self.cells += height * width
        self.widths.add(width)
        return self.stack.read_values(row0, col0, height, width, **kwargs)


def read_and_compare(stack, frame: gpd.GeoDataFrame, values: np.ndarray) -> CountingStack:
    """Every zone's statistics from ``stack`` read through a ``CountingStack``, checked
    against the same ``values`` in memory; returns the counter."""
    coverages = polygon_coverage(frame.geometry, stack, "exact")
    counting = CountingStack(stack)
    got = iter_zone_statistics(counting, coverages, workers=2)
    expected = iter_zone_statistics(RasterStack(values, transform=TRANSFORM, crs=CRS), coverages)
    assert all(result is not None for result in got)
    for ours, theirs in zip(got, expected):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, equal_nan=True)
    return counting


def test_file_blocks_no_zone_covers_are_not_read(tmp_path):
    """Zones in two far corners of a file of 128-px tiles: only the tiles under them are
    decoded (not the whole rows of tiles between), and the statistics are unchanged."""
    values = rounded_stack(1100, 2, seed=6)
    stack = RasterStack(write_stack(tmp_path / "stack.tif", values), decode_threads=2)
    assert (stack.block_rows, stack.block_cols) == (128, 128)
    zones = scattered_zones(40, 200)  # the north-west corner
    east = scattered_zones(40, 200, seed=9)  # moved to the south-east corner
    east["geometry"] = east.translate(9_000, -9_000)
    frame = pd.concat([zones, east], ignore_index=True)
    counting = read_and_compare(stack, frame, values)
    # two corners of about 2 x 2 tiles each, of the 9 x 9 tiles in the file
    assert counting.cells <= 10 * 128 * 128
    stack.close()


def test_a_file_in_strips_is_read_in_whole_rows(tmp_path):
    """A strip-organised GeoTIFF (blocks as wide as the file): zones at its west and east
    edges are read in rows spanning both, so no strip is decoded twice."""
    import rasterio

    values = rounded_stack(1100, 2, seed=6)
    path = tmp_path / "strips.tif"
    with rasterio.open(path, "w", driver="GTiff", width=1100, height=1100, count=2,
                       dtype="float32", crs=CRS, transform=TRANSFORM, compress="ZSTD") as out:
        out.write(values)
    west = scattered_zones(30, 200)
    east = scattered_zones(30, 200, seed=9)
    east["geometry"] = east.translate(9_000, 0)
    frame = pd.concat([west, east], ignore_index=True)
    stack = RasterStack(path, decode_threads=2)
    assert stack.block_cols == 1100
    counting = read_and_compare(stack, frame, values)
    (width,) = counting.widths  # every read spans from the west zones to the east ones
    assert width > 880
    stack.close()
