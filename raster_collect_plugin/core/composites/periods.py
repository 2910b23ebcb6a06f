"""Temporal composites over cloud-free pixels only: mean or median per period, with the number
of clear observations per pixel. A period without clear data is NaN, not an error."""

from __future__ import annotations

import warnings
from datetime import date
from typing import TYPE_CHECKING, List, Mapping, Sequence, Tuple

import pandas as pd

if TYPE_CHECKING:
    import xarray as xr

PERIOD_FREQUENCIES = {"month": "MS", "quarter": "QS", "year": "YS"}
METHODS = ("median", "mean")


def period_starts(start: date, end: date, period: str = "month") -> List[pd.Timestamp]:
    """Start of every period that overlaps [start, end]."""
    try:
        frequency = PERIOD_FREQUENCIES[period]
    except KeyError:
        raise ValueError(f"unknown composite period {period!r}; choose from "
                         f"{sorted(PERIOD_FREQUENCIES)}") from None
    first = pd.Timestamp(start).to_period(frequency[0]).start_time
    return list(pd.date_range(first, pd.Timestamp(end), freq=frequency))


def period_label(start: pd.Timestamp, period: str = "month") -> str:
    """'2025-11' for months, '2025-Q4' for quarters, '2025' for years."""
    if period == "month":
        return start.strftime("%Y-%m")
    if period == "quarter":
        return f"{start.year}-Q{start.quarter}"
    return str(start.year)


def period_bounds(start: pd.Timestamp, period: str = "month") -> Tuple[pd.Timestamp,
                                                                        pd.Timestamp]:
    """[start, next start) of the period beginning at ``start``."""
    offset = {"month": pd.DateOffset(months=1), "quarter": pd.DateOffset(months=3),
              "year": pd.DateOffset(years=1)}[period]
    return start, start + offset


def reduce_period(stack: xr.DataArray, method: str = "median") -> Tuple[xr.DataArray,
                                                                        xr.DataArray]:
    """(composite, clear_count) of a (time, y, x) stack whose masked pixels are NaN."""
    if method not in METHODS:
        raise ValueError(f"unknown composite method {method!r}; choose from {METHODS}")
    stack = stack.chunk({"time": -1}) if stack.chunks else stack
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN pixels -> NaN
        reduced = (_median(stack) if method == "median"
                   else stack.mean("time", skipna=True))
    count = stack.notnull().sum("time").astype("uint16")
    return reduced.astype("float32"), count


def _median(stack: xr.DataArray) -> xr.DataArray:
    """The median over time of the non-NaN values (what ``stack.median("time")`` returns,
    bit for bit, several times faster: composites/median.py)."""
    if stack.dtype.kind != "f":
        return stack.median("time", skipna=True)
    import xarray as xr  # not on a job's start path

    from .median import nanmedian_last

    return xr.apply_ufunc(nanmedian_last, stack, input_core_dims=[["time"]],
                          dask="parallelized", output_dtypes=[stack.dtype])


def reduce_bands(values: Mapping[str, xr.DataArray], bands: Sequence[str],
                 method: str = "median") -> xr.DataArray:
    """A (band, y, x) colour composite of one period: each band's median (or mean) over its
    cloud-free pixels (masked pixels are NaN), bands in the given order (e.g. red, green,
    blue). Each band is reduced on its own, as for the indices."""
    reduced = [reduce_period(values[name], method)[0] for name in bands]
    import xarray as xr  # not on a job's start path

    return xr.concat(reduced, dim="band").assign_coords(band=list(bands))
