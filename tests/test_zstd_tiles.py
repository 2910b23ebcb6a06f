"""The composites' tiles decompressed by libzstd itself (``core/zonal/zstd_tiles.py``) give
the values GDAL gives, bit for bit; files it cannot read that way are read through GDAL; a
damaged or truncated tile is an error naming the file."""

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from shapely.geometry import Point

from raster_collect_plugin.core.pixels.asset_reader import corrupt_asset_error
from raster_collect_plugin.core.zonal import zstd_tiles
from raster_collect_plugin.core.zonal.reader import RasterStack
from raster_collect_plugin.core.zonal.strips import StripReader
from raster_collect_plugin.core.zonal.tasks import _StackedFiles, zonal_tables
from tests.composite_stacks import CRS, TRANSFORM, write_stack

HEIGHT, WIDTH = 300, 270  # not a multiple of the 128-cell tiles: edge tiles are padded


def composite(path, bands: int, seed: int):
    """A composite stack as the project writes it (ZSTD, pixel-interleaved, 128-cell tiles)."""
    rng = np.random.default_rng(seed)
    values = rng.normal(0.5, 0.2, (bands, HEIGHT, WIDTH)).astype("float32")
    values[rng.random(values.shape) < 0.1] = np.nan
    return write_stack(path, values), values


def zones(count: int = 40) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(7)
    centres = rng.uniform(100, WIDTH * 10 - 100, (count, 2))
    return gpd.GeoDataFrame(
        {"forest_id": np.arange(count)},
        geometry=[Point(500_000 + x, 7_000_000 - y * HEIGHT / WIDTH).buffer(r)
                  for (x, y), r in zip(centres, rng.uniform(20, 400, count))], crs=CRS)


def through_the_ring(stack):
    """Every cell of the raster read by a strip reader and taken out of its ring:
    (values (bands, rows, cols), mask or None)."""
    reader = StripReader(stack, [(0, 0, HEIGHT, WIDTH)])
    try:
        reader.wait_for(HEIGHT)
        rows, cols = np.mgrid[0:HEIGHT, 0:WIDTH]
        return reader.take(reader.positions(rows, cols))
    finally:
        reader.stop()


def test_libzstd_is_found_beside_gdal():
    assert zstd_tiles.libzstd() is not None
    assert any("rasterio" in path for path in zstd_tiles._candidates())


def test_the_ring_holds_the_values_gdal_reads(tmp_path):
    path, values = composite(tmp_path / "ndvi.tif", 5, seed=1)
    stack = RasterStack(path)
    tiles = stack.zstd_tiles()
    assert tiles is not None and (tiles[0].tile_height, tiles[0].tile_width) == (128, 128)
    # every cell of the raster, through the libzstd ring, against the values written
    read, mask = through_the_ring(stack)
    stack.close()
    assert mask is None
    np.testing.assert_array_equal(read, values)  # NaN where NaN, every other bit equal


def test_tables_equal_gdals_bit_for_bit(tmp_path, monkeypatch):
    files = [("c", "sentinel-2", index, str(composite(tmp_path / f"{index}.tif", bands,
                                                      seed)[0]))
             for index, bands, seed in (("NDVI", 4, 2), ("EVI", 3, 3))]
    stacked = _StackedFiles([RasterStack(f[3]) for f in files])
    assert len(stacked.zstd_tiles()) == 2  # one ring per file
    stacked.close()
    frame = zones()
    with_libzstd = zonal_tables(files, frame, id_fields=["forest_id"])
    monkeypatch.setattr(zstd_tiles, "_library", None)
    assert RasterStack(files[0][3]).zstd_tiles() is None
    with_gdal = zonal_tables(files, frame, id_fields=["forest_id"])
    assert with_libzstd["mean"].notna().sum() > 200
    pd.testing.assert_frame_equal(with_libzstd, with_gdal, check_exact=True)


def _written(path, **options):
    profile = dict(driver="GTiff", width=WIDTH, height=HEIGHT, count=3, dtype="float32",
                   crs=CRS, transform=TRANSFORM, tiled=True, blockxsize=128, blockysize=128)
    profile.update(options)
    values = np.random.default_rng(0).random((3, HEIGHT, WIDTH)).astype("float32")
    with rasterio.open(path, "w", **profile) as dataset:
        dataset.write(values.astype(profile["dtype"]))
        if options.pop("mask", False):
            dataset.write_mask(np.full((HEIGHT, WIDTH), 255, np.uint8))
    return path


@pytest.mark.parametrize("options, bands", [
    (dict(compress="deflate"), None),
    (dict(compress="zstd", predictor=3), None),
    (dict(compress="zstd", interleave="band"), None),
    (dict(compress="zstd", tiled=False), None),
    (dict(compress="zstd", interleave="pixel"), [1, 3]),  # a subset of the bands
    (dict(compress="zstd", interleave="pixel", mask=True), None),
], ids=["deflate", "predictor", "band-interleaved", "strips", "band-subset", "mask-band"])
def test_other_files_are_read_through_gdal_with_the_same_values(options, bands, tmp_path):
    path = _written(tmp_path / "other.tif", **options)
    stack = RasterStack(path, bands=bands)
    assert stack.zstd_tiles() is None
    read, _ = through_the_ring(stack)
    with rasterio.open(path) as dataset:
        np.testing.assert_array_equal(read, dataset.read(bands))


def test_the_same_file_without_a_predictor_is_read_by_libzstd(tmp_path):
    # the control for the parametrised refusals above: what they change is what refuses
    assert RasterStack(_written(tmp_path / "plain.tif", compress="zstd",
                                interleave="pixel")).zstd_tiles() is not None


def test_a_damaged_tile_names_the_file(tmp_path):
    path, _ = composite(tmp_path / "ndvi.tif", 3, seed=4)
    stack = RasterStack(path)
    tiles = stack.zstd_tiles()[0]
    decoder = tiles.decoder()
    with open(path, "r+b") as file:  # tile (1, 1) no longer starts as a ZSTD frame
        file.seek(int(decoder.locate(1, [1])[0][0]))
        file.write(b"\xff" * 8)
    out = np.empty((128, 128, 3), np.float32)
    try:
        decoder.decode_row(0, [0, 1], [out, out.copy()])  # intact tiles still read
        with pytest.raises(OSError, match="ndvi.tif: tile 1,1 does not decompress") as raised:
            decoder.decode_row(1, [0, 1], [out, out.copy()])
    finally:
        decoder.close()
        stack.close()
    # the doors' corrupt-file message (as for a tile GDAL cannot decode): names the file
    corrupt = corrupt_asset_error(str(path), raised.value)
    assert corrupt is not None and f"{path} is corrupt or unreadable" in str(corrupt)


def test_libzstd_is_looked_for_where_each_platforms_wheel_puts_it(tmp_path, monkeypatch):
    """rasterio's wheels bundle GDAL's libraries beside the package, libzstd among them
    (listed from the wheels the engine locks pin, 2026-12-07): ``rasterio.libs/libzstd-
    00c5c26d.so.1.5.7`` on Linux (1.4.4, auditwheel), ``rasterio.libs/zstd-f1824be4....dll`` on
    Windows (1.4.4, delvewheel), ``rasterio/.dylibs/libzstd.1.5.0.dylib`` on macOS x86_64
    (1.4.3, delocate) and ``libzstd.1.5.7.dylib`` on arm64 (1.5.1)."""
    package = tmp_path / "rasterio"
    (package / ".dylibs").mkdir(parents=True)
    (tmp_path / "rasterio.libs").mkdir()
    for name in ("rasterio.libs/zstd-8a1b2c3d.dll", "rasterio/.dylibs/libzstd.1.5.6.dylib",
                 "rasterio.libs/libgdal-123.so.36"):
        (tmp_path / name).write_bytes(b"")
    monkeypatch.setattr(rasterio, "__file__", str(package / "__init__.py"))
    monkeypatch.setattr(zstd_tiles.ctypes.util, "find_library", lambda name: None)
    found = [path.replace("\\", "/") for path in zstd_tiles._candidates()]
    assert found == [str(tmp_path / "rasterio.libs/zstd-8a1b2c3d.dll").replace("\\", "/"),
                     str(package / ".dylibs/libzstd.1.5.6.dylib").replace("\\", "/")]
    monkeypatch.setattr(zstd_tiles, "_library", zstd_tiles._UNSET)
    assert zstd_tiles.libzstd() is None  # empty files: nothing loads, GDAL reads


@pytest.mark.parametrize("columns", [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [0, 9]],
                         ids=["a-row-mapped", "scattered-tiles-read-one-by-one"])
def test_a_row_of_tiles_decodes_to_gdals_values(columns, tmp_path):
    values = np.random.default_rng(5).random((4, 128, 1280)).astype("float32")
    write_stack(tmp_path / "wide.tif", values)
    tiles = RasterStack(tmp_path / "wide.tif").zstd_tiles()[0]
    decoder = tiles.decoder()
    outs = [np.empty((128, 128, 4), np.float32) for _ in columns]
    try:
        decoder.decode_row(0, columns, outs)
    finally:
        decoder.close()
    for column, out in zip(columns, outs):
        np.testing.assert_array_equal(np.moveaxis(out, 2, 0),
                                      values[:, :, column * 128:(column + 1) * 128])


@pytest.mark.parametrize("nodata", [-9999.0, None])
def test_tiles_a_sparse_file_lacks_read_as_gdal_reads_them(nodata, tmp_path):
    """GDAL's SPARSE_OK files leave out tiles never written; GDAL reads them as the nodata
    value, or 0 without one."""
    path = tmp_path / "sparse.tif"
    values = np.random.default_rng(2).random((3, 128, 256)).astype("float32")
    with rasterio.open(path, "w", driver="GTiff", width=WIDTH, height=HEIGHT, count=3,
                       dtype="float32", crs=CRS, transform=TRANSFORM, tiled=True,
                       blockxsize=128, blockysize=128, compress="zstd", interleave="pixel",
                       sparse_ok=True, nodata=nodata) as dataset:
        dataset.write(values, window=rasterio.windows.Window(0, 0, 256, 128))
    stack = RasterStack(path)
    decoder = stack.zstd_tiles()[0].decoder()
    try:
        assert decoder.locate(1, [0])[1][0] == 0  # the file has no tile there
    finally:
        decoder.close()
    read, _ = through_the_ring(stack)
    with rasterio.open(path) as dataset:
        expected = dataset.read()
    np.testing.assert_array_equal(read, expected)
    np.testing.assert_array_equal(read[:, :128, :256], values)
    assert (read[:, 200, 200] == (0 if nodata is None else nodata)).all()
