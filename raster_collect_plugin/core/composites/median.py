"""The per-pixel median over time that ignores NaN (masked pixels), bit for bit what
``numpy.nanmedian`` returns, without its masked-array path for short axes: that path took a
third of a composite job's CPU (issue 31). A period holds a handful of scenes, so one sort
along time and two gathers are all it needs."""

from __future__ import annotations

import warnings

import numpy as np

# numpy takes another path (its own sort per pixel) from this many values on
NUMPY_SMALL_AXIS = 600


def nanmedian_last(values: np.ndarray) -> np.ndarray:
    """``np.nanmedian(values, axis=-1)`` (NaN where every value is NaN, no warning)."""
    count = values.shape[-1]
    if count >= NUMPY_SMALL_AXIS:
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmedian(values, axis=-1)
    if count == 1:
        return values[..., 0] + 0  # + 0: numpy's masked path returns 0.0 for -0.0
    ordered = np.sort(values, axis=-1)  # NaN sorts last
    valid = count - np.isnan(values).sum(axis=-1)
    low = np.maximum((valid - 1) // 2, 0)[..., np.newaxis]
    high = (valid // 2)[..., np.newaxis]
    lower = np.take_along_axis(ordered, low, axis=-1)[..., 0]
    upper = np.take_along_axis(ordered, np.minimum(high, count - 1), axis=-1)[..., 0]
    with np.errstate(invalid="ignore", over="ignore"):
        # an even count: the mean of the middle two as numpy computes it, (a + b) / 2
        middle = np.true_divide(lower + upper, 2, dtype=values.dtype)
    result = np.where((valid % 2 == 1), lower, middle)
    result[valid == 0] = np.nan
    result += 0  # -0.0 -> 0.0, as numpy's masked-array path does
    return result
