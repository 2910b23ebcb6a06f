"""The compiled part of the zonal reduction: every statistic of many (zone, band) rows, one
row at a time, with no (rows x cells) temporaries.

numpy sorts each row's cells by value (``zonal_order.sorted_cells``: its vectorised sort is
faster than anything compiled here, on keys built by ``float32_keys``/``integer_keys``); then
``reduce_sorted_rows`` walks each row in cell order for the counts and moments (of linear
power for rows in dB) and once in value order for the distinct values, from which come min,
max, variety, majority, minority and the quantiles. Equal values are merged in sorted order
(ties in cell order), so the order statistics are what ``np.unique`` + ``np.bincount`` per row
give.

Compiled by numba on first use and cached on disk (``NUMBA_CACHE_DIR``, default: the user's
cache folder); the kernels release the GIL, so threads reduce batches of zones in parallel.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def _cache_dir() -> str:
    """A writable folder for numba's compiled kernels: the user's cache (XDG), else a
    private temporary folder; never beside the plugin's source (read-only, or a checkout)."""
    import tempfile

    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    for folder in (os.path.join(base, "raster-collect", "numba"),
                   os.path.join(tempfile.gettempdir(), f"raster-collect-numba-{os.getuid()}"
                                if hasattr(os, "getuid") else "raster-collect-numba")):
        try:
            os.makedirs(folder, exist_ok=True)
            if os.access(folder, os.W_OK):
                return folder
        except OSError:
            continue
    return tempfile.mkdtemp(prefix="raster-collect-numba-")


if not os.environ.get("NUMBA_CACHE_DIR"):
    os.environ["NUMBA_CACHE_DIR"] = _cache_dir()  # read by numba (and dask workers) on import

import numba  # noqa: E402

if not numba.config.CACHE_DIR:  # numba was imported before this module
    numba.config.CACHE_DIR = os.environ["NUMBA_CACHE_DIR"]

CELL_BITS = 31  # the low bits of a sort key: the cell's position in its row
_CELL_MASK = np.uint64((1 << CELL_BITS) - 1)
_INVALID_FLOAT = 0xFFFFFFFF  # above every float32 key (+inf's is 0xFF800000)
_INVALID_INTEGER = 1 << 32  # above every 32-bit integer's key

_DB_TO_LN = np.log(10.0) / 10  # 10^(x/10) = e^(x ln(10)/10): within 2e-15 of the power

# columns of the kernel's result
PIXELS, CLEAR, TOTAL, SQUARES, MIN, MAX, VARIETY, MAJORITY, MINORITY = range(9)
QUANTILES_FROM = 9  # then one column per requested quantile


@numba.njit(nogil=True, cache=True)
def float32_keys(bits, valid, keys):  # pragma: no cover (compiled)
    """Sort keys of float32 values (given as their uint32 bits): unsigned order of the value
    bits = value order (-0.0 taken as 0.0), invalid cells last; the cell position below."""
    rows, cells = bits.shape
    for r in range(rows):
        for c in range(cells):
            key = np.uint64(_INVALID_FLOAT)
            if valid[r, c]:
                b = np.uint64(bits[r, c])
                if b == 0x80000000:  # -0.0
                    b = np.uint64(0)
                key = (b ^ np.uint64(0xFFFFFFFF)) if b >> np.uint64(31) else \
                    (b | np.uint64(0x80000000))
            keys[r, c] = (key << np.uint64(CELL_BITS)) | np.uint64(c)


@numba.njit(nogil=True, cache=True)
def integer_keys(values, valid, offset, keys):  # pragma: no cover (compiled)
    """Sort keys of integers up to 32 bits: value + ``offset`` (2**31 for signed types, so
    they order as unsigned; 0 for unsigned ones), invalid cells last; the cell position
    below."""
    rows, cells = values.shape
    for r in range(rows):
        for c in range(cells):
            key = np.uint64(_INVALID_INTEGER)
            if valid[r, c]:
                key = np.uint64(np.int64(values[r, c]) + offset)
            keys[r, c] = (key << np.uint64(CELL_BITS)) | np.uint64(c)


@numba.njit(nogil=True, cache=True, error_model="numpy")
def reduce_sorted_rows(values, valid, order, weights, weight_row, quantiles, exact,
                       class_values, class_totals, decibels, out):  # pragma: no cover
    """Per row r of values (rows, cells): the kernel's columns (PIXELS ... quantiles) in
    ``out``. The low CELL_BITS bits of ``order[r]`` are the row's cells sorted by value,
    clear (``valid``) cells first (ties in cell order); row r's cell weights are
    ``weights[weight_row[r]]``.
    With ``class_values`` and ``class_totals`` of shape (rows, cells), each row's distinct
    values and summed weights go there (left-aligned, VARIETY of them).
    Rows r where ``decibels[r]`` (a bool per row, or an empty array: none) hold dB values x:
    TOTAL and SQUARES are the moments of their linear power 10^(x/10), computed in the same
    pass (the order statistics stay in dB)."""
    rows, cells = order.shape
    power = np.empty(cells)  # a dB row's cells in linear power
    distinct_x = np.empty(cells)
    distinct_w = np.empty(cells)
    distinct_before = np.empty(cells)
    for r in range(rows):
        w_row = weight_row[r]
        out[r, :] = np.nan
        # counts and moments in cell order: with every cell clear, clear == pixels exactly
        pixels = 0.0
        clear_weight = 0.0
        sum_wx = 0.0
        n = 0  # clear cells
        in_db = decibels.shape[0] == rows and decibels[r]
        for c in range(cells):
            w = weights[w_row, c]
            pixels += w
            if valid[r, c]:
                n += 1
                clear_weight += w
                x = np.float64(values[r, c])
                if in_db:
                    x = np.exp(x * _DB_TO_LN)  # 10^(x/10), twice as fast as the power
                    power[c] = x
                sum_wx += w * x
        out[r, PIXELS] = pixels
        out[r, CLEAR] = clear_weight
        out[r, VARIETY] = 0.0
        if n == 0:
            continue
        mean = sum_wx / clear_weight
        squares = 0.0
        for c in range(cells):
            if valid[r, c]:
                d = (power[c] if in_db else np.float64(values[r, c])) - mean
                squares += weights[w_row, c] * d * d
        out[r, TOTAL] = sum_wx
        out[r, SQUARES] = squares
        d_count, heaviest, lightest = _distinct(values[r], order[r], n, weights[w_row], exact,
                                                distinct_x, distinct_w, distinct_before)
        out[r, MIN] = distinct_x[0]
        out[r, MAX] = distinct_x[d_count - 1]
        out[r, VARIETY] = d_count
        out[r, MAJORITY] = distinct_x[heaviest]
        out[r, MINORITY] = distinct_x[lightest]
        if class_values.shape[0] == rows:
            class_values[r, :d_count] = distinct_x[:d_count]
            class_totals[r, :d_count] = distinct_w[:d_count]
        if exact:
            _weighted_quantiles(distinct_x, distinct_w, distinct_before, d_count, quantiles,
                                out[r, QUANTILES_FROM:])
        else:
            _cell_quantiles(values[r], order[r], n, quantiles, out[r, QUANTILES_FROM:])


@numba.njit(inline="always", error_model="numpy")
def _distinct(values, order, n, weights, exact, distinct_x, distinct_w,
              distinct_before):  # pragma: no cover (compiled)
    """The distinct values among the first n sorted cells, with their summed weights (summed
    in sorted order) and the sum of the weights before each; returns how many, and which
    is the heaviest (ties: the largest value in ``exact`` mode, else the smallest) and the
    lightest (ties: the smallest)."""
    count = 0
    heaviest = 0
    lightest = 0
    previous = np.float64(values[np.intp(order[0] & _CELL_MASK)])
    run = 0.0
    before = 0.0
    for i in range(n + 1):
        x = previous
        if i < n:
            c = np.intp(order[i] & _CELL_MASK)
            x = np.float64(values[c])
        if i == n or x != previous:  # a run of equal values ends
            distinct_x[count] = previous
            distinct_w[count] = run
            distinct_before[count] = before
            before += run
            if count > 0:
                if run > distinct_w[heaviest] or (exact and run == distinct_w[heaviest]):
                    heaviest = count
                if run < distinct_w[lightest]:
                    lightest = count
            count += 1
            run = 0.0
            previous = x
        if i < n:
            run += weights[c]
    return count, heaviest, lightest


@numba.njit(inline="always", error_model="numpy")
def _cell_quantiles(values, order, n, quantiles, out):  # pragma: no cover (compiled)
    """numpy's linear-interpolation percentiles of the first n sorted cells."""
    last = n - 1
    for q in range(quantiles.shape[0]):
        position = quantiles[q] * last
        below = np.floor(position)
        low = np.float64(values[np.intp(order[min(int(below), last)] & _CELL_MASK)])
        high = np.float64(values[np.intp(order[min(int(below) + 1, last)] & _CELL_MASK)])
        out[q] = low + (position - below) * (high - low)


@numba.njit(inline="always", error_model="numpy")
def _weighted_quantiles(x, w, before, n, quantiles, out):  # pragma: no cover (compiled)
    """exactextract's rule (see ``zonal.weighted_quantiles``) over n distinct values x with
    summed weights w (``before[k]`` = w_0 + ... + w_{k-1}): S_k = k w_k + (n-1) before[k]
    for 0-based k (increasing in k), and the q-quantile interpolates between the values whose
    S_k bracket q (n-1) (w_0 + ... + w_{n-1})."""
    total = (before[n - 1] + w[n - 1]) * (n - 1)
    for q in range(quantiles.shape[0]):
        target = quantiles[q] * total
        # the first k whose S_k is above the target (numpy's searchsorted, side="right")
        low, high = 0, n
        while low < high:
            middle = (low + high) >> 1
            if _position(w, before, n, middle) <= target:
                low = middle + 1
            else:
                high = middle
        right = low
        if right >= n:
            out[q] = x[n - 1]
            continue
        left = max(right - 1, 0)
        at_left = _position(w, before, n, left)
        out[q] = x[left] + (target - at_left) * (x[right] - x[left]) / \
            (_position(w, before, n, right) - at_left)


@numba.njit(inline="always", error_model="numpy")
def _position(w, before, n, k):  # pragma: no cover (compiled)
    return 0.0 if k == 0 else k * w[k] + (n - 1) * before[k]


def _load_float32_kernels() -> None:
    """Load the float32 kernels (compile them, the first time on a machine): numba's start-up
    (~0.1 s, or ~2 s compiling) belongs to importing the engine, not to a zonal run."""
    values = np.zeros((1, 1), np.float32)
    valid = np.ones((1, 1), bool)
    keys = np.empty((1, 1), np.uint64)
    float32_keys(values.view(np.uint32), valid, keys)
    reduce_sorted_rows(values, valid, keys, np.ones((1, 1)),
                       np.zeros(1, np.intp), np.array([0.5]), True, np.empty((0, 0)),
                       np.empty((0, 0)), np.zeros(1, np.bool_),
                       np.empty((1, QUANTILES_FROM + 1)))


_load_float32_kernels()
