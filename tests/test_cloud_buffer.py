"""The cloud/shadow mask buffer: a disk in metres, the same lazily (dask) as eagerly."""

import numpy as np
import pytest
import xarray as xr

from raster_collect_plugin.core.cloud_buffer import (
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


def test_lazy_dilation_matches_across_chunks():
    rng = np.random.default_rng(1)
    stack = rng.random((3, 64, 70)) > 0.995
    array = xr.DataArray(stack, dims=("time", "y", "x")).chunk({"time": 1, "y": 16, "x": 20})
    lazy = dilate_lazy(array, 40, 10)
    assert hasattr(lazy.data, "dask")
    np.testing.assert_array_equal(lazy.values, dilate(stack, 40, 10))
    assert describe(40)["buffer_m"] == 40.0 and describe(0)["buffer_rule"] == "no buffer"
