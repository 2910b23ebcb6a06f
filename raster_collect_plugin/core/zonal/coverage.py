"""Which cells each polygon covers and by how much: exact fractions (exactextract), cell
centres, or all touched cells; cells outside the raster reported."""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence

import geopandas as gpd
import numpy as np

from ..areas.zones import same_crs
from .cells import burned_cells, cell_window
from .reader import RasterStack

COVERAGE_MODES = ("exact", "centre", "all_touched")




@dataclass
class Coverage:
    """The pixels one polygon touches, in its bounding window, with their weights."""

    row0: int
    col0: int
    height: int
    width: int
    rows: np.ndarray  # relative to the window
    cols: np.ndarray
    weights: np.ndarray


def polygon_coverage(polygons: gpd.GeoSeries, stack: RasterStack, mode: str = "exact"
                     ) -> List[Optional[Coverage]]:
    """Coverage of each polygon (None where a polygon misses the raster)."""
    if mode not in COVERAGE_MODES:
        raise ValueError(f"coverage must be one of {COVERAGE_MODES}, not {mode!r}")
    if not same_crs(polygons.crs, stack.crs):
        polygons = polygons.to_crs(stack.crs)
    if mode == "exact":
        return _exact_coverage(polygons, stack)
    coverages: List[Optional[Coverage]] = []
    for geometry in polygons:
        window = cell_window(geometry.bounds, stack.transform, stack.width, stack.height)
        if window is None:
            coverages.append(None)
            continue
        row0, col0, height, width = window
        rows, cols = burned_cells(geometry, stack.transform, mode == "all_touched")
        inside = (rows >= row0) & (rows < row0 + height) & (cols >= col0) & (cols < col0 + width)
        rows, cols = rows[inside] - row0, cols[inside] - col0
        coverages.append(Coverage(row0, col0, height, width, rows, cols,
                                  np.ones(rows.size, "float64")) if rows.size else None)
    return coverages


def _window(bounds, stack: RasterStack, clip: bool = True):
    inverse = ~stack.transform
    xmin, ymin, xmax, ymax = bounds
    cols, rows = zip(*(inverse * (x, y) for x, y in ((xmin, ymax), (xmax, ymin))))
    # the rows and columns read for a zone: one cell of margin around the cells any coverage
    # mode can take (``cells.cell_window``, exactextract's cells)
    col0, row0 = int(np.floor(min(cols))) - 1, int(np.floor(min(rows))) - 1
    col1, row1 = int(np.ceil(max(cols))) + 1, int(np.ceil(max(rows))) + 1
    if clip:
        col0, row0 = max(col0, 0), max(row0, 0)
        col1, row1 = min(col1, stack.width), min(row1, stack.height)
    if col1 <= col0 or row1 <= row0:
        return None
    return row0, col0, row1 - row0, col1 - col0


def outside_cells(polygons: gpd.GeoSeries, stack: RasterStack, mode: str,
                  coverages: Sequence[Optional[Coverage]]) -> np.ndarray:
    """Per polygon (in the raster's CRS): its cells that lie beyond the raster's edge, counted
    as the mode counts cells (coverage in ``exact``). They are nodata for the zone, as in
    rasterstats (whose nodata count includes them)."""
    out = np.zeros(len(polygons))
    left, top = stack.transform.c, stack.transform.f
    right = left + stack.width * stack.transform.a
    bottom = top + stack.height * stack.transform.e
    xmin, xmax, ymin, ymax = min(left, right), max(left, right), min(top, bottom), \
        max(top, bottom)
    for n, geometry in enumerate(polygons):
        gx0, gy0, gx1, gy1 = geometry.bounds
        if gx0 >= xmin and gx1 <= xmax and gy0 >= ymin and gy1 <= ymax:
            continue
        if mode == "exact":
            inside = coverages[n].weights.sum() if coverages[n] is not None else 0.0
            outside = geometry.area / stack.pixel_area - inside
            out[n] = outside if outside > 1e-9 * max(inside, 1.0) else 0.0
            continue
        rows, cols = burned_cells(geometry, stack.transform, mode == "all_touched")
        out[n] = np.count_nonzero((rows < 0) | (rows >= stack.height) | (cols < 0)
                                  | (cols >= stack.width))
    return out


def _exact_coverage(polygons: gpd.GeoSeries, stack: RasterStack) -> List[Optional[Coverage]]:
    from exactextract import exact_extract
    from exactextract.raster import NumPyRasterSource

    left, top = stack.transform.c, stack.transform.f
    right = left + stack.width * stack.transform.a
    bottom = top + stack.height * stack.transform.e
    template = NumPyRasterSource(np.broadcast_to(np.uint8(0), (stack.height, stack.width)),
                                 left, bottom, right, top, srs_wkt=stack.crs.to_wkt())
    result = exact_extract(template, _wkb_features(polygons, stack.crs.to_wkt()),
                           ["cell_id", "coverage"], output="pandas", include_cols=["_n"])
    coverages: List[Optional[Coverage]] = [None] * len(polygons)
    for n, cell_ids, weights in zip(result["_n"], result["cell_id"], result["coverage"]):
        cell_ids = np.asarray(cell_ids, dtype="int64")
        if cell_ids.size == 0:
            continue
        rows, cols = np.divmod(cell_ids, stack.width)
        row0, col0 = int(rows.min()), int(cols.min())
        coverages[n] = Coverage(row0, col0, int(rows.max()) - row0 + 1,
                                int(cols.max()) - col0 + 1, rows - row0, cols - col0,
                                np.asarray(weights, dtype="float64"))
    return coverages


def _wkb_features(polygons: gpd.GeoSeries, srs_wkt: str):
    """The polygons as an exactextract feature source handing over WKB (its GeoPandas source
    goes through GeoJSON text, which takes longer than the coverage itself); each feature's
    ``_n`` is its position."""
    import shapely
    from exactextract.feature import Feature, FeatureSource

    class WkbFeature(Feature):
        def __init__(self, n: int, wkb: bytes):
            Feature.__init__(self)
            self.n, self.wkb = n, wkb

        def geometry(self) -> bytes:
            return self.wkb

        def get(self, name: str) -> int:
            return self.n

        def fields(self) -> list:
            return ["_n"]

    class WkbFeatures(FeatureSource):
        def __init__(self):
            super().__init__()
            self.wkbs = shapely.to_wkb(np.asarray(polygons.values))

        def count(self) -> int:
            return len(self.wkbs)

        def __iter__(self):
            for n, wkb in enumerate(self.wkbs):
                yield WkbFeature(n, wkb)

        def srs_wkt(self) -> str:
            return srs_wkt

    return WkbFeatures()
