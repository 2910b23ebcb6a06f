"""Each row's clear cells in value order (ties in cell order, invalid cells last), for many
rows at once: the sort behind every order statistic of the zonal reduction.

float32 and integer values up to 32 bits are packed with their cell position into one uint64
key per cell (order-preserving value bits above the position) and sorted with numpy's
vectorised sort, several times faster than a stable argsort; other types fall back to one.
"""

from __future__ import annotations

import numpy as np

from . import kernel as zonal_kernel

CELL_BITS = zonal_kernel.CELL_BITS  # a row may have up to 2**31 cells


def sorted_cells(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """(rows, cells) uint64: per row, the cell positions in value order (ties in cell order,
    invalid cells last) in the low ``CELL_BITS`` bits of each entry (the bits above them are
    the sort key, or zero)."""
    rows, cells = values.shape
    kind, size = values.dtype.kind, values.dtype.itemsize
    if cells < (1 << CELL_BITS) and (values.dtype == np.float32 or
                                      (kind in "iu" and size <= 4) or kind == "b"):
        keys = np.empty((rows, cells), np.uint64)
        if kind == "f":
            zonal_kernel.float32_keys(values.view(np.uint32), valid, keys)
        else:
            zonal_kernel.integer_keys(values.view(np.uint8) if kind == "b" else values,
                                      valid, (1 << 31) if kind == "i" else 0, keys)
        keys.sort(axis=1)
        return keys
    masked = np.where(valid, values.astype("float64"), np.nan)  # NaN sorts last
    return np.argsort(masked, axis=1, kind="stable").astype(np.uint64)
