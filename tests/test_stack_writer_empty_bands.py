"""A stack's bands never written (the periods without scenes, most of a run over decades of
months) keep their fill but cost no writing: the scratch file leaves their tiles out (sparse)
and GDAL builds the overviews of a many-band stack in chunks that do not thrash its block
cache (a 600-period stack: 34 -> 7 CPU-s). The COG is the same file, byte for byte."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
import rasterio.shutil
from affine import Affine

from raster_collect_plugin.core.outputs import cog_copy, files
from raster_collect_plugin.core.outputs.files import SCRATCH_LAYOUT, STACK_BLOCK_SIZE

StackWriter = files.StackWriter

TRANSFORM = Affine(10, 0, 500_000, 0, -10, 7_000_000)
COUNT, HEIGHT, WIDTH = 40, 300, 290
WRITTEN = (3, 17, 39)
KINDS = {"float32": dict(nodata=float("nan"), fill=float("nan")),
         "uint16": dict(nodata=None, fill=0)}


def _values(dtype: str) -> np.ndarray:
    rng = np.random.default_rng(7)
    if dtype == "uint16":
        return rng.integers(0, 9, (len(WRITTEN), HEIGHT, WIDTH)).astype("uint16")
    values = rng.uniform(-1, 1, (len(WRITTEN), HEIGHT, WIDTH)).astype("float32")
    values[:, :40, :60] = np.nan
    return values


def _before(tmp_path, dtype: str, values: np.ndarray, descriptions, tags):
    """The COG as it was made before: every blank band written into a dense scratch file,
    GDAL's default overview chunks."""
    scratch = tmp_path / f"dense_{dtype}.tif"
    kind = KINDS[dtype]
    with rasterio.open(scratch, "w", driver="GTiff", width=WIDTH, height=HEIGHT, count=COUNT,
                       dtype=dtype, crs="EPSG:32756", transform=TRANSFORM,
                       nodata=kind["nodata"], **SCRATCH_LAYOUT) as dataset:
        for band in range(COUNT):
            data = values[WRITTEN.index(band)] if band in WRITTEN else \
                np.full((HEIGHT, WIDTH), kind["fill"], dtype)
            dataset.write(data, band + 1)
            dataset.set_band_description(band + 1, descriptions[band])
        dataset.update_tags(**tags)
    cog = tmp_path / f"before_{dtype}.tif"
    rasterio.shutil.copy(scratch, cog, driver="COG", compress="ZSTD", level=1,
                         blocksize=STACK_BLOCK_SIZE, overviews="AUTO", resampling="NEAREST",
                         BIGTIFF="IF_SAFER")
    return cog


@pytest.mark.parametrize("dtype", sorted(KINDS))
def test_empty_bands_are_sparse_in_the_scratch_and_the_cog_is_unchanged(tmp_path, monkeypatch,
                                                                        dtype):
    values = _values(dtype)
    descriptions = [f"19{70 + band // 12}-{band % 12 + 1:02d}" for band in range(COUNT)]
    tags = {"index": "NDVI", "units": "index"}
    seen = {}
    real_copy = cog_copy.copy_raster

    def copy(source, destination, **options):  # what GDAL gets to make the COG from
        with rasterio.open(source) as scratch:
            seen["blank tile"] = scratch.get_tag_item("BLOCK_OFFSET_0_0", "TIFF", bidx=1)
            seen["written tile"] = scratch.get_tag_item("BLOCK_OFFSET_0_0", "TIFF",
                                                        bidx=WRITTEN[0] + 1)
        seen["chunk"] = int(rasterio.env.get_gdal_config("GDAL_OVR_CHUNK_MAX_SIZE") or 0)
        return real_copy(source, destination, **options)

    monkeypatch.setattr(cog_copy, "copy_raster", copy)
    writer = StackWriter(tmp_path / f"after_{dtype}.tif", count=COUNT, height=HEIGHT,
                         width=WIDTH, dtype=dtype, transform=TRANSFORM, crs="EPSG:32756",
                         band_descriptions=descriptions, tags=tags, **KINDS[dtype])
    for k, band in enumerate(WRITTEN):
        writer.write_window(band, (0, HEIGHT), (0, WIDTH), values[k][np.newaxis])
    after = writer.finish()
    assert not seen["blank tile"] and int(seen["written tile"]) > 0  # a period's tiles only
    assert seen["chunk"] >= COUNT * (2 * STACK_BLOCK_SIZE) ** 2 * np.dtype(dtype).itemsize
    before = _before(tmp_path, dtype, values, descriptions, tags)
    assert after.read_bytes() == before.read_bytes()
    with rasterio.open(after) as cog:
        assert cog.count == COUNT and cog.descriptions == tuple(descriptions)
        assert cog.tags()["units"] == "index" and cog.overviews(1) == [2, 4]
        stack = cog.read()
    blank = [b for b in range(COUNT) if b not in WRITTEN]
    if dtype == "float32":
        assert np.isnan(stack[blank]).all()
        assert np.array_equal(stack[list(WRITTEN)], values, equal_nan=True)
    else:
        assert (stack[blank] == 0).all() and np.array_equal(stack[list(WRITTEN)], values)


def test_a_fill_a_sparse_tile_does_not_read_as_is_still_written():
    assert files._reads_as(float("nan"), float("nan"), "float32")
    assert files._reads_as(0, None, "uint16")
    assert not files._reads_as(float("nan"), -9999.0, "float32")
    assert not files._reads_as(5, None, "uint16")
