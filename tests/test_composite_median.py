"""The composites' median kernel equals numpy.nanmedian bit for bit (issue 31: numpy's
masked-array path for short axes took a third of a composite job's CPU)."""

from __future__ import annotations

import warnings

import dask.array as da
import numpy as np
import pytest
import xarray as xr

from raster_collect_plugin.core.composites.median import nanmedian_last
from raster_collect_plugin.core.composites.periods import reduce_period


def _bits(values: np.ndarray) -> np.ndarray:
    return values.view(np.uint32 if values.dtype == np.float32 else np.uint64)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("count", [1, 2, 3, 4, 5, 8, 13])
def test_equals_numpy_nanmedian_bit_for_bit(count, dtype):
    rng = np.random.default_rng(count)
    values = rng.normal(0.4, 0.3, (60, 40, count)).astype(dtype)
    values[rng.random(values.shape) < 0.35] = np.nan  # clouds
    values[:4] = np.nan  # never clear
    values[4:8] = np.round(values[4:8])  # ties, and -0.0
    values[8, 0, 0] = np.inf
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = np.nanmedian(values, axis=-1)
    got = nanmedian_last(values)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    assert np.array_equal(np.isnan(got), np.isnan(expected))
    clear = ~np.isnan(expected)
    assert np.array_equal(_bits(got)[clear], _bits(expected)[clear])
    assert np.isnan(got[:4]).all()


def test_reduce_period_median_matches_xarray_on_dask():
    rng = np.random.default_rng(7)
    values = rng.normal(0.5, 0.2, (3, 50, 70)).astype("float32")
    values[rng.random(values.shape) < 0.4] = np.nan
    stack = xr.DataArray(da.from_array(values, chunks=(1, 32, 32)), dims=("time", "y", "x"),
                         coords={"y": np.arange(50), "x": np.arange(70)})
    reduced, count = reduce_period(stack, "median")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = stack.median("time", skipna=True).astype("float32").compute()
    got = reduced.compute()
    assert got.dtype == np.float32 and got.dims == ("y", "x")
    assert np.array_equal(got.values, expected.values, equal_nan=True)
    assert (got.x.values == np.arange(70)).all()
    assert np.array_equal(count.values, (~np.isnan(values)).sum(0))
