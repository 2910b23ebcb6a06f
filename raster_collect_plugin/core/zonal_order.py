"""Order statistics (min, max, quantiles, majority, minority, variety) of many rows at once,
a row being one zone's cells in one band: one sort of a (rows, cells) array.

Each row's clear cells are sorted by value (equal values keep their cell order, so weights are
summed in the same order as a per-row ``np.unique`` + ``np.bincount`` would), then equal values
are merged into distinct values with summed weights. Every row goes through the same array
operations instead of a Python loop per zone and band: for a 24-period stack and thousands of
zones this is what makes the zonal time series several times faster.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

_CELL_BITS = 31  # a zone may have up to 2**31 cells
_INVALID_KEY = np.uint64(1 << 32)  # sorts after every 32-bit integer's key


@dataclass
class DistinctValues:
    """Per row: the distinct clear values in increasing order and their summed weights,
    left-aligned and padded (``values`` NaN, ``totals`` 0) beyond ``count``."""

    values: np.ndarray  # (rows, cells) float64
    totals: np.ndarray  # (rows, cells) float64
    count: np.ndarray  # (rows,) distinct values per row
    sorted_cells: np.ndarray  # (rows, cells) float64: each row's clear values, sorted
    clear: np.ndarray  # (rows,) clear cells per row


def _float32_keys(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """uint64 keys of float32 values: unsigned order = value order, invalid cells last."""
    bits = (values + np.float32(0)).view(np.uint32)  # -0.0 becomes 0.0: one value
    # negative floats: all bits flipped; positive: the sign bit set
    bits ^= (bits >> np.uint32(31)) * np.uint32(0x7FFFFFFF) | np.uint32(0x80000000)
    np.putmask(bits, ~valid, np.uint32(0xFFFFFFFF))  # +inf's key is 0xFF800000
    return bits.astype(np.uint64)


def _integer_keys(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """uint64 keys of integers up to 32 bits: unsigned order = value order, invalid last."""
    if values.dtype.kind == "i":
        keys = (values.astype(np.int64) + (1 << 31)).astype(np.uint64)
    else:
        keys = values.astype(np.uint64)
    np.putmask(keys, ~valid, _INVALID_KEY)
    return keys


def _flat_take(array: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """``np.take_along_axis(array, positions, axis=1)`` for 2-D arrays, faster."""
    rows, cells = positions.shape
    offsets = (np.arange(rows, dtype=np.intp) * array.shape[1])[:, None]
    return np.take(np.ascontiguousarray(array).ravel(), positions + offsets)


def sorted_cell_order(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Per row, the cell positions ordered by value, ties in cell order, invalid cells last.

    float32 and integer values are packed with their cell position into one uint64 key and
    sorted with numpy's (vectorised) sort, several times faster than a stable argsort."""
    cells = values.shape[1]
    kind, size = values.dtype.kind, values.dtype.itemsize
    if cells < (1 << _CELL_BITS) and (values.dtype == np.float32 or
                                      (kind in "iub" and size <= 4)):
        keys = _float32_keys(values, valid) if kind == "f" else _integer_keys(values, valid)
        keys <<= np.uint64(_CELL_BITS)
        keys |= np.arange(cells, dtype=np.uint64)
        keys.sort(axis=1)
        return (keys & np.uint64((1 << _CELL_BITS) - 1)).astype(np.intp)
    masked = np.where(valid, values.astype("float64"), np.nan)  # NaN sorts last
    return np.argsort(masked, axis=1, kind="stable")


def distinct_values(values: np.ndarray, valid: np.ndarray, weights: np.ndarray
                    ) -> DistinctValues:
    """Every row's distinct clear values with their summed ``weights`` (per cell, or per row
    and cell)."""
    rows, cells = values.shape
    order = sorted_cell_order(values, valid)
    clear = valid.sum(axis=1)
    in_use = np.arange(cells) < clear[:, None]
    ordered = _flat_take(values, order).astype("float64")
    ordered[~in_use] = np.nan
    starts = in_use.copy()
    starts[:, 1:] &= ordered[:, 1:] != ordered[:, :-1]
    slot = np.cumsum(starts, axis=1)
    slot += (np.arange(rows) * cells - 1)[:, None]
    slot[~in_use] = rows * cells  # one spare bin for the unused cells
    ordered_weights = _flat_take(np.broadcast_to(weights, values.shape), order)
    totals = np.bincount(slot.ravel(), ordered_weights.ravel(),
                         minlength=rows * cells + 1)[:-1].reshape(rows, cells)
    distinct = np.full(rows * cells, np.nan)
    distinct[slot[starts]] = ordered[starts]
    return DistinctValues(distinct.reshape(rows, cells), totals, starts.sum(axis=1),
                          ordered, clear)


def _at(array: np.ndarray, positions: np.ndarray) -> np.ndarray:
    return np.take_along_axis(array, positions[:, None], axis=1)[:, 0]


def weighted_quantiles(distinct: DistinctValues, quantiles: Sequence[float]) -> np.ndarray:
    """(bands, quantiles): exactextract's coverage-weighted quantiles (see
    ``zonal.weighted_quantiles`` for the rule); NaN for bands without clear cells."""
    x, w, n = distinct.values, distinct.totals, distinct.count
    bands, cells = x.shape
    cumulative = np.cumsum(w, axis=1)
    positions = np.zeros((bands, cells))
    positions[:, 1:] = np.arange(1, cells) * w[:, 1:] + (n - 1)[:, None] * cumulative[:, :-1]
    positions[np.arange(cells) >= n[:, None]] = np.inf
    last = np.maximum(n - 1, 0)
    total = _at(cumulative, last) * (n - 1)
    out = np.full((bands, len(quantiles)), np.nan)
    for k, q in enumerate(quantiles):
        target = q * total
        right = (positions <= target[:, None]).sum(axis=1)  # first position > target
        left = np.maximum(right - 1, 0)
        inner = np.minimum(right, last)
        x_left, s_left = _at(x, left), _at(positions, left)
        with np.errstate(invalid="ignore", divide="ignore"):
            between = x_left + (target - s_left) * (_at(x, inner) - x_left) / \
                (_at(positions, inner) - s_left)
        out[:, k] = np.where(right >= n, _at(x, last), between)
    out[n == 0] = np.nan
    return out


def cell_quantiles(distinct: DistinctValues, quantiles: Sequence[float]) -> np.ndarray:
    """(bands, quantiles): numpy's linear-interpolation percentiles of the clear cells (as
    rasterstats); NaN for bands without clear cells."""
    ordered, clear = distinct.sorted_cells, distinct.clear
    last = np.maximum(clear - 1, 0)
    out = np.full((ordered.shape[0], len(quantiles)), np.nan)
    for k, q in enumerate(quantiles):
        position = q * (clear - 1).astype("float64")
        below = np.floor(position)
        low = _at(ordered, np.minimum(below.astype(np.intp), last))
        high = _at(ordered, np.minimum(below.astype(np.intp) + 1, last))
        out[:, k] = low + (position - below) * (high - low)
    out[clear == 0] = np.nan
    return out


def majority_minority(distinct: DistinctValues, exact: bool) -> np.ndarray:
    """(bands, 2): the values with the largest and the smallest summed weight. Ties: the
    smallest value for the minority; for the majority the largest value in ``exact`` mode (as
    exactextract) and the smallest otherwise (as rasterstats)."""
    x, w, n = distinct.values, distinct.totals, distinct.count
    cells = x.shape[1]
    used = np.arange(cells) < n[:, None]
    minority = np.where(used, w, np.inf).argmin(axis=1)
    heaviest = np.where(used, w, -np.inf)
    majority = cells - 1 - heaviest[:, ::-1].argmax(axis=1) if exact else heaviest.argmax(axis=1)
    out = np.stack([_at(x, majority), _at(x, minority)], axis=1)
    out[n == 0] = np.nan
    return out
