"""The cloud/shadow mask buffer: a disk in metres, the same lazily (dask) as eagerly."""

import numpy as np
import pytest
import xarray as xr

from raster_collect_plugin.core.pixels.cloud_buffer import (
    describe,
    dilate,
    dilate_lazy,
    disk_offsets,
)


def test_disk_in_metres():
    assert disk_offsets(0, 10) == [(0, 0)]
    assert len(disk_offsets(10, 10)) == 5  # a cross: diagonal centres are 14.1 m away
    assert len(disk_offsets(15, 10)) == 9
    assert len(disk_offsets(40, 10)) == 49  # pixels whose centre is within 40 m: pi r^2 ~ 50
    assert len(disk_offsets(40, 30)) == 5
    with pytest.raises(ValueError, match="positive number of metres"):
        disk_offsets(-5, 10)


def test_dilate_grows_by_the_distance_and_does_not_wrap():
    mask = np.zeros((20, 20), bool)
    mask[10, 10] = True
    mask[0, 0] = True
    grown = dilate(mask, 30, 10)
    assert grown[10, 13] and grown[13, 10] and not grown[10, 14]
    assert grown[12, 12] and not grown[13, 13]  # 28.3 m in, 42.4 m out
    assert grown.sum() == 29 + 11  # a full disk of radius 3 px, a quarter disk in the corner
    assert not grown[19, 19] and not grown[0, 19]


def _brute_force(mask, buffer_m, resolution_m):
    """OR of the mask shifted by every offset of the disk that lands inside the array."""
    rows, cols = mask.shape[-2:]
    out = mask.copy()
    for dy, dx in disk_offsets(buffer_m, resolution_m):
        if abs(dy) < rows and abs(dx) < cols:
            out[..., max(-dy, 0): rows - max(dy, 0), max(-dx, 0): cols - max(dx, 0)] |= \
                mask[..., max(dy, 0): rows + min(dy, 0), max(dx, 0): cols + min(dx, 0)]
    return out


def test_a_buffer_wider_than_the_grid_and_a_huge_one():
    """A buffer reaching past the grid's width (a small forest, a 300 m buffer) crashed with
    "operands could not be broadcast"; --cloud-buffer 1e9 (a typo) grew the mask for hours,
    one disk offset at a time: at most 10 km is taken, and a 10 km disk is quick."""
    rng = np.random.default_rng(3)
    for shape in ((7, 5), (2, 23, 51), (1, 4, 3)):
        mask = rng.random(shape) > 0.9
        for buffer_m in (10, 15, 40, 45, 100, 300):
            for resolution_m in (10, 30, 7.5):
                np.testing.assert_array_equal(dilate(mask, buffer_m, resolution_m),
                                              _brute_force(mask, buffer_m, resolution_m))
    mask = np.zeros((2, 300, 200), bool)
    mask[0, 5, 7] = True
    grown = dilate(mask, 10_000, 10)  # 2 million pixels in the disk
    assert grown[0].all() and not grown[1].any()
    with pytest.raises(ValueError, match=r"at most 10000 m .*not 1e\+09: give a smaller --cloud"):
        dilate(mask, 1e9, 10)


def test_lazy_dilation_matches_across_chunks():
    rng = np.random.default_rng(1)
    stack = rng.random((3, 64, 70)) > 0.995
    array = xr.DataArray(stack, dims=("time", "y", "x")).chunk({"time": 1, "y": 16, "x": 20})
    lazy = dilate_lazy(array, 40, 10)
    assert hasattr(lazy.data, "dask")
    np.testing.assert_array_equal(lazy.values, dilate(stack, 40, 10))
    assert describe(40)["buffer_m"] == 40.0 and describe(0)["buffer_rule"] == "no buffer"


def test_lazy_dilation_of_a_grid_narrower_than_the_buffer():
    """A storm over one compartment smaller than a pixel (a 1 x 1 grid) or a 1 m strip (1 x
    30): its 40 m buffer made dask refuse ("The overlapping depth 4 is larger than your array
    1"), and the storm lost Sentinel-2, read from Landsat alone with that error."""
    rng = np.random.default_rng(2)
    for shape in ((2, 1, 1), (2, 1, 30), (2, 3, 2), (1, 40, 3)):
        stack = rng.random(shape) > 0.7
        array = xr.DataArray(stack, dims=("time", "y", "x")).chunk({"time": 1})
        lazy = dilate_lazy(array, 40, 10)
        np.testing.assert_array_equal(lazy.values, dilate(stack, 40, 10))
    chunked = xr.DataArray(rng.random((1, 3, 9)) > 0.8, dims=("time", "y", "x"))
    lazy = dilate_lazy(chunked.chunk({"y": 1, "x": 2}), 40, 10)  # chunks narrower still
    np.testing.assert_array_equal(lazy.values, dilate(chunked.values, 40, 10))


def test_composites_with_a_buffer_lose_clear_pixels_next_to_clouds_only(small_sample,
                                                                         tmp_path):
    """The buffer in a real composite run: fewer clear observations (never more), most of
    the area still clear, and the distance recorded in the metadata."""
    import json
    from datetime import date

    import rasterio

    from raster_collect_plugin.core.composites.pipeline import run_composites
    from raster_collect_plugin.core.composites.requests import CompositeRequest, Source
    from raster_collect_plugin.core.sample import scenes as sd
    from raster_collect_plugin.core.sources.providers import StaticCatalogProvider

    provider = StaticCatalogProvider("Sample", str(small_sample.catalog_path))
    counts, metadata = {}, {}
    for buffer_m in (0.0, 60.0):
        request = CompositeRequest(aoi=small_sample.forests_path,
                                   sources=[Source(provider, (sd.S2_COLLECTION,))],
                                   start=date(2025, 10, 1), end=date(2025, 10, 31),
                                   output_dir=tmp_path / f"b{buffer_m:g}", max_cloud_cover=100,
                                   cloud_buffer_m=buffer_m)
        result = run_composites(request).collections[0]
        with rasterio.open(result.count_path) as dataset:
            counts[buffer_m] = dataset.read(1).astype(int)
        metadata[buffer_m] = json.loads(result.metadata_path.read_text())["cloud_mask"]
    lost = counts[0.0] - counts[60.0]
    assert (lost >= 0).all() and lost.sum() > 0
    assert (counts[60.0] > 0).sum() > 0.3 * counts[60.0].size  # clear areas stay clear
    assert metadata[60.0]["buffer_m"] == 60.0 and metadata[0.0]["buffer_m"] == 0.0
    assert metadata[60.0]["band"] == "SCL"
