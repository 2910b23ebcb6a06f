"""A stack's bands never written (the periods without scenes, most of a run over decades of
months) keep their fill but cost no writing: the scratch file leaves their tiles out (sparse).
The overviews are built on the band-interleaved scratch, a band at a time, at the levels GDAL's
COG driver makes (left to the driver, a 600-period stack took 34 CPU-s, a 120-period
2000 x 2000 one 280). Every pixel is as before; an overview of an odd side has one more row or
column."""

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
def test_empty_bands_are_sparse_and_the_overviews_built_on_the_scratch(tmp_path, monkeypatch,
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
            seen["overviews"] = scratch.overviews(1)
        return real_copy(source, destination, **options)

    monkeypatch.setattr(cog_copy, "copy_raster", copy)
    writer = StackWriter(tmp_path / f"after_{dtype}.tif", count=COUNT, height=HEIGHT,
                         width=WIDTH, dtype=dtype, transform=TRANSFORM, crs="EPSG:32756",
                         band_descriptions=descriptions, tags=tags, **KINDS[dtype])
    for k, band in enumerate(WRITTEN):
        writer.write_window(band, (0, HEIGHT), (0, WIDTH), values[k][np.newaxis])
    after = writer.finish()
    assert not seen["blank tile"] and int(seen["written tile"]) > 0  # a period's tiles only
    # the overviews are built on the band-interleaved scratch, at the COG driver's levels
    assert seen["overviews"] == [2, 4]
    before = _before(tmp_path, dtype, values, descriptions, tags)
    with rasterio.open(after) as cog, rasterio.open(before) as old:
        assert cog.count == COUNT and cog.descriptions == tuple(descriptions)
        assert cog.tags()["units"] == "index" and cog.overviews(1) == old.overviews(1) == [2, 4]
        assert cog.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        assert cog.block_shapes[0] == old.block_shapes[0] == (STACK_BLOCK_SIZE,) * 2
        stack = cog.read()
        assert np.array_equal(stack, old.read(), equal_nan=True)  # every pixel as before
    with rasterio.open(after, OVERVIEW_LEVEL=0) as half, \
            rasterio.open(before, OVERVIEW_LEVEL=0) as old_half:
        assert half.shape == old_half.shape == (150, 145)  # even sides: the driver's sizes
        assert np.array_equal(half.read(), old_half.read(), equal_nan=True)
    with rasterio.open(after, OVERVIEW_LEVEL=1) as quarter:
        assert quarter.shape == (75, 73)  # 290 / 4 rounded up (the driver: down, 72)
        sampled = quarter.read(WRITTEN[0] + 1)  # nearest: the band's own values
        assert np.isin(sampled[sampled == sampled], stack[WRITTEN[0]]).all()
        assert np.isnan(quarter.read(1)).all() if dtype == "float32" else \
            (quarter.read(1) == 0).all()
    blank = [b for b in range(COUNT) if b not in WRITTEN]
    if dtype == "float32":
        assert np.isnan(stack[blank]).all()
        assert np.array_equal(stack[list(WRITTEN)], values, equal_nan=True)
    else:
        assert (stack[blank] == 0).all() and np.array_equal(stack[list(WRITTEN)], values)


@pytest.mark.parametrize("height,width", [(411, 424), (257, 130), (129, 2001), (128, 128),
                                          (129, 129), (999, 1001)])
def test_the_overview_levels_are_the_cog_drivers(tmp_path, height, width):
    source = tmp_path / "plain.tif"
    with rasterio.open(source, "w", driver="GTiff", width=width, height=height, count=1,
                       dtype="uint8", crs="EPSG:32756", transform=TRANSFORM) as dataset:
        dataset.write(np.ones((1, height, width), "uint8"))
    cog = tmp_path / "cog.tif"
    rasterio.shutil.copy(source, cog, driver="COG", blocksize=STACK_BLOCK_SIZE,
                         overviews="AUTO")
    with rasterio.open(cog) as made:
        assert files.cog_overview_factors(width, height, STACK_BLOCK_SIZE) == made.overviews(1)


def test_a_fill_a_sparse_tile_does_not_read_as_is_still_written():
    assert files._reads_as(float("nan"), float("nan"), "float32")
    assert files._reads_as(0, None, "uint16")
    assert not files._reads_as(float("nan"), -9999.0, "float32")
    assert not files._reads_as(5, None, "uint16")
