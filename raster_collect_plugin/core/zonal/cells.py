"""The cells a polygon takes in ``centre`` and ``all_touched`` mode, as rasterstats takes them:
GDAL's rasterisation (``ALL_TOUCHED`` for the latter) in the polygon's bounding window,
computed with rasterstats' ``bounds_window`` arithmetic. In that window a polygon whose vertex
or edge lies on a grid line at its bounding box takes no cell beyond the line (a unit circle
at a cell corner is 4 cells, not the 6 GDAL burns over a whole raster)."""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np
from affine import Affine
from rasterio import features

from ..areas.pixel_members import snapped

Window = Tuple[int, int, int, int]  # row0, col0, height, width


def cell_window(bounds, transform: Affine, width: int, height: int,
                clip: bool = True) -> Optional[Window]:
    """The cells under ``bounds`` (floor of the top-left corner, ceil of the bottom-right, no
    margin), clipped to the raster unless ``clip`` is False; None when empty."""
    t = transform
    xmin, ymin, xmax, ymax = bounds
    if t.b == 0 and t.d == 0:  # rasterstats' own arithmetic, so ties round the same way
        cols = ((xmin - t.c) / t.a, (xmax - t.c) / t.a)
        rows = ((ymax - t.f) / t.e, (ymin - t.f) / t.e)
    else:
        cols, rows = zip(*(~t * (x, y) for x, y in ((xmin, ymax), (xmax, ymin))))
    col0, row0 = int(np.floor(min(cols))), int(np.floor(min(rows)))
    col1, row1 = int(np.ceil(max(cols))), int(np.ceil(max(rows)))
    if clip:
        col0, row0 = max(col0, 0), max(row0, 0)
        col1, row1 = min(col1, width), min(row1, height)
    if col1 <= col0 or row1 <= row0:
        return None
    return row0, col0, row1 - row0, col1 - col0


def burned_cells(geometry, transform: Affine, all_touched: bool
                 ) -> Tuple[np.ndarray, np.ndarray]:
    """Rows and columns (of the raster; they may lie beyond its edge) of the cells
    ``geometry`` takes, rasterised in its whole bounding window, never one clipped to the
    raster (GDAL's all-touched would burn a cell more at a clipped edge). Its coordinates are
    rounded to a ten-millionth of a cell first, so an edge through cell centres (or on a grid
    line) takes the same cells after a reprojection's nanometres."""
    geometry = snapped(geometry, transform)
    window = cell_window(geometry.bounds, transform, 0, 0, clip=False)
    if window is None:
        return np.empty(0, np.intp), np.empty(0, np.intp)
    row0, col0, height, width = window
    burned = features.rasterize([(geometry, 1)], out_shape=(height, width),
                                transform=transform * Affine.translation(col0, row0),
                                fill=0, dtype="uint8", all_touched=all_touched)
    rows, cols = np.nonzero(burned)
    return rows + row0, cols + col0
