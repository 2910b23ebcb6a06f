"""Zonal statistics of a (band/period, y, x) stack per polygon, weighted by each pixel's exact
fractional coverage of the polygon (or centre-in / all-touched).

Coverage is computed once per polygon (exactextract's ``cell_id`` and ``coverage``) and reused
for every band. A file is decoded once, top to bottom, into a pixel-interleaved ring of rows
(``_StripReader``; GDAL decodes each strip's tiles in parallel, or reader threads take strips
in turn); the polygons whose rows are in are gathered into batches of (polygon, band) rows
and reduced together by the compiled kernel (``zonal_kernel``) in a thread pool. Overlapping
polygons are independent: no "last one wins".
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Tuple, Union

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import MaskFlags
from rasterio.windows import Window

from ..areas.zones import same_crs
from ..compute import native_memory
from ..pixels.clear_fraction import check_min_clear_fraction
from . import kernel as zonal_kernel
from . import order as zonal_order
from .cells import burned_cells, cell_window

COVERAGE_MODES = ("exact", "centre", "all_touched")
STATISTICS = ("mean", "median", "std", "min", "max", "p10", "p90", "sum", "pixel_count",
              "clear_count", "clear_fraction", "nodata_count", "coefficient_of_variation",
              "majority", "minority", "variety")
QUANTILES = {"median": 0.5, "p10": 0.1, "p90": 0.9}
CLASS_COLUMNS = ("value", "count", "area", "fraction")
DEFAULT_MIN_CLEAR_FRACTION = 0.5

# What each statistic means, for the README and the outputs' metadata ("{weight}" is filled in
# per coverage mode).
_DEFINITIONS = {
    "mean": "sum / clear_count",
    "sum": "sum of value x {weight} over clear cells (NaN when the zone has no clear cell)",
    "std": "population standard deviation, each value counted with its {weight}",
    "min": "smallest clear value", "max": "largest clear value",
    "pixel_count": "sum of {weight} over every cell of the zone, clear or not, including cells "
                   "beyond the raster's edge",
    "clear_count": "sum of {weight} over clear cells (not nodata, not NaN, not masked by the "
                   "raster's mask band)",
    "clear_fraction": "clear_count / pixel_count",
    "nodata_count": "pixel_count - clear_count (cells that are nodata, NaN, masked or beyond "
                    "the raster's edge, as rasterstats counts them)",
    "coefficient_of_variation": "std / mean",
    "variety": "number of distinct clear values",
}
_EXACT = {
    "quantiles": "exactextract's coverage-weighted quantile: distinct values x_1 < ... < x_n "
                 "with summed coverage w_k, S_k = (k-1) w_k + (n-1) (w_1 + ... + w_{k-1}); "
                 "the q-quantile interpolates linearly between the values whose S_k bracket "
                 "q (n-1) (w_1 + ... + w_n)",
    "majority": "the value with the largest summed coverage (ties: the largest value, as "
                "exactextract)",
    "minority": "the value with the smallest summed coverage (ties: the smallest value, as "
                "exactextract)",
}
_CELLS = {
    "quantiles": "numpy linear interpolation over the clear cells' values (np.percentile, "
                 "as rasterstats)",
    "majority": "the most frequent value (ties: the smallest value, as rasterstats)",
    "minority": "the least frequent value (ties: the smallest value, as rasterstats)",
}


def describe_statistics(mode: str = "exact") -> dict:
    """The definition of every statistic in ``mode`` (for metadata and documentation)."""
    if mode not in COVERAGE_MODES:
        raise ValueError(f"coverage must be one of {COVERAGE_MODES}, not {mode!r}")
    weight = ("the cell's fractional coverage of the polygon" if mode == "exact" else
              "1 (cells whose centre is inside)" if mode == "centre" else
              "1 (every cell the polygon touches)")
    rules = _EXACT if mode == "exact" else _CELLS
    definitions = {name: text.format(weight=weight) for name, text in _DEFINITIONS.items()}
    for name in QUANTILES:
        definitions[name] = f"{int(QUANTILES[name] * 100)}th percentile: {rules['quantiles']}"
    definitions["majority"], definitions["minority"] = rules["majority"], rules["minority"]
    definitions["class count/area/fraction"] = (
        f"categorical mode: per distinct value, the sum of {weight} (count), count x cell "
        "area in the raster CRS's units (area) and count / clear_count (fraction)")
    return {"coverage": mode, "statistics": {name: definitions[name] for name in
                                             (*STATISTICS, "class count/area/fraction")}}


class ZonalNotes(list):
    """Notes about zones that were skipped or repaired (one line each)."""


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


class RasterStack:
    """A (bands, rows, cols) source read one window at a time, in its native data type, with a
    validity mask (nodata, NaN and the file's per-dataset mask band).

    ``bands`` picks 1-based bands; ``nodata`` overrides the file's nodata value;
    ``ignore_nodata`` treats the nodata value as data (NaN stays invalid); ``use_mask`` honours
    GDAL per-dataset / alpha mask bands (internal or ``.msk`` masks). ``decode_threads``: how
    many threads GDAL decodes a file's tiles in (each read's tiles in parallel, straight into
    the caller's buffer).
    """

    def __init__(self, source: Union[str, Path, np.ndarray, xr.DataArray], *,  # noqa: F821
                 transform: Optional[Affine] = None, crs=None,
                 labels: Optional[Sequence[str]] = None, bands: Optional[Sequence[int]] = None,
                 nodata: Optional[float] = None, ignore_nodata: bool = False,
                 use_mask: bool = True, decode_threads: int = 1):
        self._dataset = None
        self.ignore_nodata, self.use_mask = ignore_nodata, use_mask
        self.decode_threads = max(1, int(decode_threads)) if isinstance(source, (str, Path)) \
            else 1
        self._opened_with = dict(source=source, transform=transform, crs=crs, labels=labels,
                                 bands=bands, nodata=nodata, ignore_nodata=ignore_nodata,
                                 use_mask=use_mask, decode_threads=decode_threads)
        if isinstance(source, (str, Path)):
            if self.decode_threads > 1:
                native_memory.reuse_freed_buffers()
            with rasterio.Env(GDAL_NUM_THREADS=self.decode_threads):  # read at opening
                self._dataset = rasterio.open(source)
            count = self._dataset.count
            self.indexes = _check_bands(bands, count)
            self.transform, self.crs = self._dataset.transform, self._dataset.crs
            self.shape = (len(self.indexes), self._dataset.height, self._dataset.width)
            self.tags = self._dataset.tags()
            self.dtype = np.dtype(self._dataset.dtypes[self.indexes[0] - 1])
            descriptions = self._dataset.descriptions
            self.labels = list(labels or [descriptions[i - 1] or str(i) for i in self.indexes])
            file_nodata = [self._dataset.nodatavals[i - 1] for i in self.indexes]
            self.nodata = [nodata] * len(self.indexes) if nodata is not None else file_nodata
            flags = [self._dataset.mask_flag_enums[i - 1] for i in self.indexes]
            self.has_mask_band = any(MaskFlags.per_dataset in f or MaskFlags.alpha in f
                                     for f in flags)
            self._array = None
        else:
            array = source
            self.tags = dict(getattr(source, "attrs", {}) or {})
            if hasattr(array, "rio") and transform is None:
                transform, crs = array.rio.transform(), array.rio.crs
            if array.ndim == 2:
                array = array[np.newaxis] if isinstance(array, np.ndarray) else \
                    array.expand_dims("band")
            if transform is None or crs is None:
                raise ValueError("an in-memory stack needs transform= and crs=")
            self.indexes = _check_bands(bands, array.shape[0])
            if self.indexes != list(range(1, array.shape[0] + 1)):  # a subset: copy it
                array = array[[i - 1 for i in self.indexes]]
            self.transform, self.crs, self._array = transform, CRS.from_user_input(crs), array
            self.shape = tuple(array.shape)
            self.dtype = np.dtype(array.dtype)
            self.labels = list(labels or [str(i) for i in self.indexes])
            self.nodata = [nodata] * self.shape[0]
            self.has_mask_band = False

    @property
    def height(self) -> int:
        return self.shape[1]

    @property
    def block_rows(self) -> int:
        """Rows of the file's internal blocks (tiles or strips); 1 in memory."""
        if self._dataset is None:
            return 1
        return int(self._dataset.block_shapes[0][0])

    @property
    def block_cols(self) -> int:
        """Columns of the file's internal blocks; 1 in memory."""
        if self._dataset is None:
            return 1
        return int(self._dataset.block_shapes[0][1])

    @property
    def in_memory(self) -> bool:
        """Whether the stack is a numpy array in memory (files and lazy arrays are read window
        by window)."""
        return self._dataset is None and isinstance(self._array, np.ndarray)

    @property
    def width(self) -> int:
        return self.shape[2]

    @property
    def pixel_area(self) -> float:
        """One cell's area in the CRS's units (m² for a projected CRS in metres)."""
        return abs(self.transform.a * self.transform.e - self.transform.b * self.transform.d)

    def read_values(self, row0: int, col0: int, height: int, width: int, *,
                    out: Optional[np.ndarray] = None
                    ) -> Tuple[np.ndarray, Optional[np.ndarray]]:
        """(values in the native dtype, the mask band's "valid" or None when the stack has no
        mask band), each (bands, height, width); ``validity`` finishes the mask, so it can be
        applied to the cells that are used only. ``out``: an array or a strided view of that shape
        to read into."""
        if self._dataset is None:
            window = self._array[:, row0:row0 + height, col0:col0 + width]
            data = np.asarray(getattr(window, "values", window))
            if out is not None:
                out[...] = data
                data = out
            return data, None
        window = Window(col0, row0, width, height)
        # every block is read once: keep GDAL's cache small
        with rasterio.Env(GDAL_CACHEMAX=128):
            data = self._dataset.read(self.indexes, window=window, out=out)
            mask = None
            if self.use_mask and self.has_mask_band:
                mask = self._dataset.read_masks(self.indexes, window=window) > 0
        return data, mask

    def validity(self, values: np.ndarray, mask: Optional[np.ndarray] = None) -> np.ndarray:
        """True where ``values`` (bands first, any shape after) count: not NaN, not nodata
        and, when given, valid in the mask band."""
        valid = np.ones(values.shape, bool) if mask is None else mask.copy()
        if values.dtype.kind == "f":
            valid &= values == values  # not NaN
        if not self.ignore_nodata:
            for band, nodata in enumerate(self.nodata):
                if nodata is not None and not np.isnan(nodata):
                    native = _as_native(nodata, values.dtype)
                    if native is not None:
                        valid[band] &= values[band] != native
        return valid

    def clone(self) -> RasterStack:
        """The same stack with a file handle of its own (GDAL handles are not shared between
        threads); an array stack is returned as it is."""
        if self._dataset is None:
            return self
        return RasterStack(**self._opened_with)

    def close(self) -> None:
        if self._dataset is not None:
            self._dataset.close()


def _check_bands(bands: Optional[Sequence[int]], count: int) -> List[int]:
    if not bands:
        return list(range(1, count + 1))
    chosen = [int(b) for b in bands]
    wrong = [b for b in chosen if not 1 <= b <= count]
    if wrong:
        from ..areas.zones import ZoneError

        raise ZoneError(f"band(s) {wrong} do not exist: the raster has bands 1-{count}")
    return chosen


def _as_native(value: float, dtype: np.dtype):
    """``value`` in ``dtype`` when the type can hold it exactly (else no cell can equal it)."""
    if dtype.kind in "iub":
        info = np.iinfo(dtype)
        if float(value) != int(value) or not info.min <= int(value) <= info.max:
            return None
        return dtype.type(int(value))
    return dtype.type(value)


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
    # mode can take (``zonal_cells.cell_window``, exactextract's cells)
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


def weighted_quantiles(values: np.ndarray, weights: np.ndarray, quantiles: Sequence[float]
                       ) -> np.ndarray:
    """exactextract's coverage-weighted quantiles of ``values``.

    Equal values are merged (their weights summed) into distinct values x_1 < ... < x_n with
    weights w_k; each gets the position S_k = (k-1) w_k + (n-1) (w_1 + ... + w_{k-1}) and the
    q-quantile interpolates linearly between the values whose positions bracket
    q (n-1) (w_1 + ... + w_n). With equal weights and distinct values this is numpy's linear
    interpolation."""
    values = np.asarray(values).reshape(1, -1)
    weights = np.asarray(weights, dtype="float64").reshape(1, -1)
    valid = weights > 0
    if values.dtype.kind == "f":
        valid &= ~np.isnan(values)
    reduced, _, _ = _kernel(values, valid, weights, np.zeros(1, np.intp), quantiles,
                            exact=True, keep_classes=False)
    return reduced[0, zonal_kernel.QUANTILES_FROM:]


def _kernel(values: np.ndarray, valid: np.ndarray, weights: np.ndarray,
            weight_rows: np.ndarray, quantiles: Sequence[float], *, exact: bool,
            keep_classes: bool) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sort each row (``zonal_order``) and reduce it (``zonal_kernel``): the kernel's columns
    per row, and each row's distinct values and summed weights when ``keep_classes``."""
    rows, cells = values.shape
    levels = np.asarray(quantiles, dtype="float64")
    keep = keep_classes and cells > 0
    class_values = np.empty((rows, cells) if keep else (0, 0))
    class_totals = np.empty_like(class_values)
    reduced = np.empty((rows, zonal_kernel.QUANTILES_FROM + len(levels)))
    zonal_kernel.reduce_sorted_rows(values, valid, zonal_order.sorted_cells(values, valid),
                                    weights, weight_rows, levels, exact, class_values,
                                    class_totals, reduced)
    return reduced, class_values, class_totals


def reduce_zone(values: np.ndarray, weights: np.ndarray, valid: Optional[np.ndarray] = None, *,
                mode: str = "exact", classes: Optional[list] = None) -> np.ndarray:
    """All STATISTICS for one zone: values (bands, cells) in their native dtype, ``valid``
    (bands, cells) True where a value counts (default: not NaN), ``weights`` per cell
    (coverage, or 1). Quantiles and majority follow exactextract in ``exact`` mode and
    numpy/rasterstats otherwise. When ``classes`` is a list, (distinct values, summed
    weights) per band are appended to it."""
    values = np.asarray(values)
    if valid is None:
        valid = ~np.isnan(values) if values.dtype.kind == "f" else np.ones(values.shape, bool)
    weights = np.asarray(weights, dtype="float64")
    present = weights > 0
    values, valid, weights = values[:, present], valid[:, present], weights[present]
    return reduce_rows(values, valid, weights[np.newaxis], weight_rows=np.zeros(len(values), int),
                       mode=mode, classes=classes)


def reduce_rows(values: np.ndarray, valid: np.ndarray, weights: np.ndarray, *,
                weight_rows: Optional[np.ndarray] = None, mode: str = "exact",
                classes: Optional[list] = None) -> np.ndarray:
    """``reduce_zone`` for many (zone, band) rows at once: values and valid are (rows, cells);
    ``weights`` is (rows, cells), or one row per zone with ``weight_rows`` giving each value
    row's weights row (the bands of a zone share its coverage); cells of weight 0 are padding
    (not counted anywhere). Returns (rows, len(STATISTICS)); ``classes`` gets
    (distinct values, summed weights) per row."""
    exact = mode == "exact"
    rows, cells = values.shape
    weights = np.ascontiguousarray(weights, dtype="float64")
    if weight_rows is None:
        weight_rows = np.arange(rows)
    weight_rows = np.asarray(weight_rows, dtype=np.intp)
    valid = valid & (weights > 0)[weight_rows]
    reduced, class_values, class_totals = _kernel(
        values, valid, weights, weight_rows, list(QUANTILES.values()), exact=exact,
        keep_classes=classes is not None)
    result = np.full((rows, len(STATISTICS)), np.nan)
    column = STATISTICS.index
    pixel_count = reduced[:, zonal_kernel.PIXELS]
    clear_count, total = reduced[:, zonal_kernel.CLEAR], reduced[:, zonal_kernel.TOTAL]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / clear_count
        std = np.sqrt(reduced[:, zonal_kernel.SQUARES] / clear_count)
        result[:, column("coefficient_of_variation")] = std / mean
        result[:, column("clear_fraction")] = np.where(pixel_count > 0,
                                                       clear_count / pixel_count, 0.0)
    result[:, column("mean")] = mean
    result[:, column("std")] = std
    result[:, column("sum")] = total  # NaN where no cell is clear
    result[:, column("pixel_count")] = pixel_count
    result[:, column("clear_count")] = clear_count
    result[:, column("nodata_count")] = pixel_count - clear_count
    for name, kernel_column in (("min", zonal_kernel.MIN), ("max", zonal_kernel.MAX),
                                ("variety", zonal_kernel.VARIETY),
                                ("majority", zonal_kernel.MAJORITY),
                                ("minority", zonal_kernel.MINORITY)):
        result[:, column(name)] = reduced[:, kernel_column]
    for k, name in enumerate(QUANTILES):
        result[:, column(name)] = reduced[:, zonal_kernel.QUANTILES_FROM + k]
    if classes is not None:
        varieties = result[:, column("variety")].astype(int)
        classes.extend((class_values[row, :count].copy(), class_totals[row, :count].copy())
                       if count else (np.empty(0), np.empty(0))
                       for row, count in enumerate(varieties))
    return result


def padded_length(cells: int) -> int:
    """The row length a zone of ``cells`` cells is padded to when zones are reduced together:
    a function of the zone alone (four lengths per octave), so a zone's sums do not depend on
    which other zones share its batch."""
    step = max(8, 1 << max(int(cells).bit_length() - 3, 0))
    return -(-int(cells) // step) * step


BATCH_VALUES = 1 << 18  # values gathered per batch of zones (bands x zones x padded cells): small
# enough that a batch's keys, values and sort stay in the CPU's cache


@dataclass
class _Batch:
    """Zones gathered for one ``reduce_rows`` call: ``members`` are positions in the list of
    coverages given to ``_gather``; values and valid are (bands x zones, cells)."""

    members: List[int]
    values: np.ndarray
    valid: np.ndarray
    weights: np.ndarray  # (zones, cells)
    bands: int

    def reduce(self, mode: str, categorical: bool) -> list:
        """Per member: (bands, len(STATISTICS)), or (that, [(values, weights) per band])."""
        zones = len(self.members)
        classes: Optional[list] = [] if categorical else None
        stats = reduce_rows(self.values, self.valid, self.weights,
                            weight_rows=np.tile(np.arange(zones), self.bands), mode=mode,
                            classes=classes).reshape(self.bands, zones, -1)
        if not categorical:
            return [stats[:, k] for k in range(zones)]
        return [(stats[:, k], [classes[band * zones + k] for band in range(self.bands)])
                for k in range(zones)]


def _gather(stack, buffer: np.ndarray, mask_buffer: Optional[np.ndarray], buffer_row0: int,
            col0: int, coverages: Sequence[Coverage], *,
            pixel_interleaved: bool = False) -> List[_Batch]:
    """The cells of zones that lie inside the buffer, copied out of it into one (bands x
    zones, cells) array per padded length and batch (so the buffer may move on). The buffer
    is (bands, rows, cols), or (rows, cols, bands) when ``pixel_interleaved`` (a strip
    reader's ring); raster row r is at buffer row (r - buffer_row0) modulo the buffer's
    height (a ring)."""
    if pixel_interleaved:
        ring, width, bands = buffer.shape
    else:
        bands, ring, width = buffer.shape
    by_length: dict = {}
    for n, coverage in enumerate(coverages):
        by_length.setdefault(padded_length(coverage.weights.size), []).append(n)
    batches = []
    for length, members in by_length.items():
        per_batch = max(1, BATCH_VALUES // max(bands * length, 1))
        for start in range(0, len(members), per_batch):
            batch = members[start:start + per_batch]
            index = np.zeros((len(batch), length), np.intp)
            weights = np.zeros((len(batch), length))
            for k, n in enumerate(batch):
                coverage = coverages[n]
                size = coverage.weights.size
                index[k, :size] = ((coverage.rows + (coverage.row0 - buffer_row0)) % ring
                                   * width + coverage.cols + (coverage.col0 - col0))
                weights[k, :size] = coverage.weights
            shape = (bands * len(batch), length)
            values = _take_cells(buffer, index, pixel_interleaved)
            valid = stack.validity(values, None if mask_buffer is None else
                                   _take_cells(mask_buffer, index, pixel_interleaved)
                                   ).reshape(shape)
            batches.append(_Batch(batch, values.reshape(shape), valid, weights, bands))
    return batches


def _take_cells(buffer: np.ndarray, index: np.ndarray, pixel_interleaved: bool) -> np.ndarray:
    """(bands, zones, cells): the buffer's values at the (zones, cells) flat cell positions
    ``index``."""
    if not pixel_interleaved:
        return np.take(buffer.reshape(buffer.shape[0], -1), index, axis=1)
    # a cell's bands are adjacent: one stretch of memory per zone row, whatever the number of
    # bands (7x faster than the band-sequential take, which misses the cache once per band)
    cells = np.take(buffer.reshape(-1, buffer.shape[2]), index, axis=0)  # (zones, cells, bands)
    return np.ascontiguousarray(np.moveaxis(cells, 2, 0))


def _reduce_batch(stack, buffer: np.ndarray, mask_buffer: Optional[np.ndarray],
                  buffer_row0: int, col0: int, coverages: Sequence[Coverage], mode: str,
                  categorical: bool) -> list:
    """Statistics of zones that lie inside the buffer, gathered into one (bands x zones, cells)
    array per padded length and reduced together."""
    results: list = [None] * len(coverages)
    for batch in _gather(stack, buffer, mask_buffer, buffer_row0, col0, coverages):
        for n, result in zip(batch.members, batch.reduce(mode, categorical)):
            results[n] = result
    return results


ZONES_PER_TASK = 128  # zones of an in-memory stack reduced by one thread at a time


def _in_memory_statistics(stack: RasterStack, coverages: Sequence[Optional[Coverage]],
                          present: List[int], mode: str, categorical: bool,
                          cancel: Optional[Callable[[], bool]]) -> list:
    """An in-memory stack needs no row buffer: groups of zones are gathered from it directly,
    in threads (numpy releases the GIL in the large operations)."""
    from concurrent.futures import ThreadPoolExecutor

    values, mask = stack.read_values(0, 0, stack.height, stack.width)
    ordered = sorted(present, key=lambda i: coverages[i].row0)
    groups = [ordered[k:k + ZONES_PER_TASK] for k in range(0, len(ordered), ZONES_PER_TASK)]

    def reduce_group(group: List[int]) -> list:
        if cancel is not None and cancel():
            raise InterruptedError("cancelled")
        return _reduce_batch(stack, values, mask, 0, 0, [coverages[i] for i in group], mode,
                             categorical)

    results: list = [None] * len(coverages)
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        for group, reduced in zip(groups, pool.map(reduce_group, groups)):
            for i, result in zip(group, reduced):
                results[i] = result
    return results


def iter_zone_statistics(stack: RasterStack, coverages: Sequence[Optional[Coverage]], *,
                         mode: str = "exact", categorical: bool = False,
                         cancel: Optional[Callable[[], bool]] = None, workers: int = 1
                         ) -> list:
    """(bands, len(STATISTICS)) per polygon (None where it misses the raster); with
    ``categorical`` each entry is (statistics, [(values, counts) per band]).

    The raster is read top to bottom, one strip of file blocks at a time, by a reader thread
    (``_StripReader``), so every block is decoded once, with all its bands, whatever the
    number of polygons, and memory holds a few strips plus the tallest polygon's rows.
    Polygons are reduced together (``reduce_rows``) as soon as their rows are in; with
    ``workers`` > 1 in that many threads while the next rows are read.
    """
    results: list = [None] * len(coverages)
    present = [i for i, c in enumerate(coverages) if c is not None]
    if not present:
        return results
    if getattr(stack, "in_memory", False):
        return _in_memory_statistics(stack, coverages, present, mode, categorical, cancel)
    reader = _StripReader(stack, [(c.row0, c.col0, c.height, c.width)
                                  for c in coverages if c is not None])
    order = sorted(present, key=lambda i: coverages[i].row0)
    return _stream_statistics(stack, reader, [(i, coverages[i].row0) for i in order],
                              coverages.__getitem__, len(coverages), mode=mode,
                              categorical=categorical, cancel=cancel, workers=workers)


def _stream_statistics(stack, reader: _StripReader, zones_in_order: Sequence[Tuple[int, int]],
                       coverage_of: Callable[[int], Optional[Coverage]], count: int, *,
                       mode: str, categorical: bool, cancel: Optional[Callable[[], bool]],
                       workers: int) -> list:
    """``iter_zone_statistics`` from a strip reader: ``zones_in_order`` are (zone, the first
    raster row it may use), top to bottom; ``coverage_of(zone)`` may wait for the coverage to
    be computed (``_CoverageFeed``)."""
    results: list = [None] * count
    pool = None
    pending: list = []  # (polygons, future of their statistics), oldest first
    if workers > 1:
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(max_workers=workers)
    waiting: List[Tuple[int, Coverage]] = []  # polygons whose rows are in, not gathered yet

    def collect(until: int) -> None:
        while len(pending) > until:
            polygons, future = pending.pop(0)
            for i, result in zip(polygons, future.result()):
                results[i] = result

    def flush() -> None:
        if cancel is not None and cancel():
            raise InterruptedError("cancelled")
        batches = _gather(stack, reader.values, reader.mask, 0, reader.col0,
                          [coverage for _, coverage in waiting], pixel_interleaved=True)
        for batch in batches:
            polygons = [waiting[n][0] for n in batch.members]
            if pool is None:
                for i, result in zip(polygons, batch.reduce(mode, categorical)):
                    results[i] = result
            else:  # bounded: at most a few batches per thread wait in memory
                pending.append((polygons, pool.submit(batch.reduce, mode, categorical)))
                collect(4 * workers)
        waiting.clear()

    try:
        for i, first_row in zones_in_order:
            coverage = coverage_of(i)
            if coverage is None:
                continue
            end = coverage.row0 + coverage.height
            if end > reader.rows_read():
                if waiting:
                    flush()
                reader.release(first_row)  # rows above it may be overwritten
                reader.wait_for(end)
            waiting.append((i, coverage))
        if waiting:
            flush()
        collect(0)
    finally:
        reader.stop()
        if pool is not None:
            for _, future in pending:
                future.cancel()
            pool.shutdown(wait=True)
    return results


class _CoverageFeed:
    """The coverage of polygons computed in a background thread, ``CHUNK`` polygons at a time
    in the given order (top to bottom), so that the first polygons are gathered and reduced
    while the coverage of the others is computed: until then the strip reader, whose ring
    is released only as polygons are gathered, would wait with the cores half idle."""

    CHUNK = 128

    def __init__(self, polygons: gpd.GeoSeries, stack, mode: str, order: Sequence[int]):
        import threading

        self.order = list(order)
        self._position = {zone: k for k, zone in enumerate(self.order)}
        self._coverages: List[Optional[Coverage]] = [None] * len(polygons)
        self._ready = 0  # the first _ready polygons of the order have their coverage
        self._error: Optional[BaseException] = None
        self._stopped = False
        self._condition = threading.Condition()
        self._thread = threading.Thread(target=self._run, args=(polygons, stack, mode),
                                        name="raster-collect-coverage", daemon=True)
        self._thread.start()

    def _run(self, polygons: gpd.GeoSeries, stack, mode: str) -> None:
        try:
            for first in range(0, len(self.order), self.CHUNK):
                if self._stopped:
                    return
                chunk = self.order[first:first + self.CHUNK]
                for i, coverage in zip(chunk, polygon_coverage(polygons.iloc[chunk], stack,
                                                               mode)):
                    self._coverages[i] = coverage
                with self._condition:
                    self._ready = first + len(chunk)
                    self._condition.notify_all()
        except BaseException as error:  # handed to the thread that waits
            with self._condition:
                self._error = error
                self._condition.notify_all()

    def _wait(self, ready: int) -> None:
        with self._condition:
            while self._ready < ready and self._error is None:
                self._condition.wait()
            if self._error is not None:
                raise self._error

    def coverage_of(self, zone: int) -> Optional[Coverage]:
        """The coverage of ``zone`` (waits for its chunk)."""
        self._wait(self._position[zone] + 1)
        return self._coverages[zone]

    def all(self) -> List[Optional[Coverage]]:
        """Every polygon's coverage (waits for them all)."""
        self._wait(len(self.order))
        return self._coverages

    def stop(self) -> None:
        """Stop after the chunk being computed; wait for the thread."""
        self._stopped = True
        self._thread.join()


RING_BYTES = 512 * 2**20  # a strip reader's ring may grow to this to read ahead


def _plain_pages(shape: Tuple[int, ...], dtype) -> np.ndarray:
    """An uninitialised array in a private anonymous memory map of ordinary pages: not the
    transparent huge pages numpy asks for on large arrays, whose first use in a process can
    cost the kernel most of a second of compaction (measured: 0.84 s of system time to fill
    393 MB, against 0.13 s with ordinary pages), and not shared memory either (a shared map's
    pages cost ~60 % more to fault in and to free)."""
    import mmap

    dtype = np.dtype(dtype)
    count = int(np.prod(shape))
    size = max(count * dtype.itemsize, 1)
    if not hasattr(mmap, "MAP_PRIVATE"):  # Windows: no such flags, nor huge pages to avoid
        return np.empty(shape, dtype)
    pages = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    if hasattr(mmap, "MADV_NOHUGEPAGE"):
        pages.madvise(mmap.MADV_NOHUGEPAGE)
    return np.frombuffer(pages, dtype=dtype, count=count).reshape(shape)


class _StripReader:
    """Reads the file blocks under a set of windows, strip after strip of block rows, top to
    bottom, into a ring of rows (raster row r at ring row r modulo the ring's height). The
    ring is pixel-interleaved, (rows, cols, bands), like the composites themselves: GDAL then
    copies each decoded tile straight in, and a zone's cells are gathered from one stretch of
    memory per row. Reading runs in background threads: one when the stack decodes its tiles
    in parallel itself (``decode_threads``), else ``threads`` with a file handle each (strips
    taken in turn). No strip overwrites rows at or below the ``release``d row; ``wait_for``
    returns once every row above a given row is in.

    ``windows`` are (row0, col0, height, width); the ring's columns span all of them. File
    blocks no window touches are not read (whole strips, and runs of blocks within one)."""

    def __init__(self, stack, windows: Sequence[Tuple[int, int, int, int]], *,
                 threads: Optional[int] = None):
        import threading

        self.stack = stack
        if threads is None:
            threads = 1 if getattr(stack, "decode_threads", 1) > 1 else 2
        block = max(1, getattr(stack, "block_rows", 1))
        if block == 1:
            block = 256  # in-memory or untiled: strips of 256 rows
        tile = max(1, getattr(stack, "block_cols", 1))
        if tile == 1:
            tile = 256  # an array: read in runs of 256 columns
        # (a file in strips has blocks as wide as itself: its rows are read whole, once)
        self.col0 = min(w[1] for w in windows)
        width = max(w[1] + w[3] for w in windows) - self.col0
        touched: dict = {}  # strip -> the tile columns windows cover in it
        for row0, col0, height, cols in windows:
            tiles = range(col0 // tile, (col0 + cols - 1) // tile + 1)
            for strip in range(row0 // block, (row0 + height - 1) // block + 1):
                touched.setdefault(strip, set()).update(tiles)
        self.strips = [(k * block, min((k + 1) * block, stack.height)) for k in sorted(touched)]
        # per strip, the runs of columns to read: file blocks no window covers are skipped
        self.runs = [self._column_runs(touched[k], tile, width) for k in sorted(touched)]
        # a window spans at most ceil(tallest / block) + 1 strips, which the ring must hold;
        # each reading thread needs one strip more to read ahead while those are gathered,
        # as far as RING_BYTES allows (else one thread, reading when a strip is released)
        span = -(-max(w[2] for w in windows) // block) + 1
        strip_bytes = block * width * stack.shape[0] * np.dtype(stack.dtype).itemsize
        threads = max(1, min(threads, len(self.strips),
                             int(RING_BYTES // max(strip_bytes, 1)) - span))
        ahead = threads if (span + threads) * strip_bytes <= RING_BYTES else 0
        ring = (span + ahead) * block
        # pixel-interleaved, as the composites are: a cell's bands sit together, so gathering a
        # zone's cells touches one stretch of memory per zone row, not one per band
        self.values = _plain_pages((ring, width, stack.shape[0]), stack.dtype)
        self.mask: Optional[np.ndarray] = None
        if getattr(stack, "has_mask_band", False) and getattr(stack, "use_mask", True):
            self.mask = _plain_pages(self.values.shape, bool)
            self.mask[...] = True
        self._condition = threading.Condition()
        self._done = [False] * len(self.strips)
        self._read_to = 0  # every needed row above this is in
        self._next = 0  # strips before this one are read (in order)
        self._released = 0  # rows above this are no longer needed
        self._error: Optional[BaseException] = None
        self._stopped = False
        self._handles = [stack] + [stack.clone() for _ in range(threads - 1)]
        self._threads = [threading.Thread(target=self._run, args=(handle, k, threads),
                                          name=f"raster-collect-strips-{k}", daemon=True)
                         for k, handle in enumerate(self._handles)]
        for thread in self._threads:
            thread.start()

    def _run(self, handle, first: int, step: int) -> None:
        ring = self.values.shape[0]
        try:
            for n in range(first, len(self.strips), step):
                start, end = self.strips[n]
                with self._condition:
                    while not self._stopped and end - ring > self._released:
                        self._condition.wait()
                    if self._stopped:
                        return
                at = start % ring
                for first_col, last_col in self.runs[n]:
                    rows, cols = slice(at, at + end - start), slice(first_col, last_col)
                    target = self.values[rows, cols].transpose(2, 0, 1)  # a view
                    data, mask = handle.read_values(start, self.col0 + first_col, end - start,
                                                    last_col - first_col, out=target)
                    if data is not target:
                        target[...] = data
                    if self.mask is not None:
                        self.mask[rows, cols] = True if mask is None else \
                            mask.transpose(1, 2, 0)
                with self._condition:
                    self._done[n] = True
                    while self._next < len(self.strips) and self._done[self._next]:
                        self._read_to = self.strips[self._next][1]
                        self._next += 1
                    self._condition.notify_all()
        except BaseException as error:  # handed to the thread that waits
            with self._condition:
                self._error = error
                self._condition.notify_all()

    def _column_runs(self, tiles: set, tile: int, width: int) -> List[Tuple[int, int]]:
        """Runs of consecutive ``tiles`` (columns of ``tile`` cells) as (first, end) columns of
        the ring (``self.col0`` is its column 0)."""
        runs: List[Tuple[int, int]] = []
        for k in sorted(tiles):
            first = max(k * tile - self.col0, 0)
            end = min((k + 1) * tile - self.col0, width)
            if runs and runs[-1][1] == first:
                runs[-1] = (runs[-1][0], end)
            else:
                runs.append((first, end))
        return runs

    def rows_read(self) -> int:
        with self._condition:
            return self._read_to

    def release(self, row: int) -> None:
        """Rows above ``row`` are no longer needed."""
        with self._condition:
            self._released = max(self._released, row)
            self._condition.notify_all()

    def wait_for(self, row: int) -> None:
        """Wait until every needed row above ``row`` has been read (re-raises a reader's
        error)."""
        with self._condition:
            while self._read_to < row and self._error is None and \
                    any(thread.is_alive() for thread in self._threads):
                self._condition.wait(0.5)
            if self._error is not None:
                raise self._error
            if self._read_to < row:
                raise RuntimeError("the raster reader stopped before the rows were read")

    def stop(self) -> None:
        """Stop reading (after the strips being read), wait for the threads, close the extra
        file handles."""
        with self._condition:
            self._stopped = True
            self._condition.notify_all()
        for thread in self._threads:
            thread.join()
        for handle in self._handles[1:]:
            if handle is not self.stack:
                handle.close()
        self._handles = self._handles[:1]


def zonal_statistics(stack: RasterStack, zones: gpd.GeoDataFrame, *, id_fields: Sequence[str],
                     mode: str = "exact",
                     min_clear_fraction: float = DEFAULT_MIN_CLEAR_FRACTION,
                     categorical: bool = False,
                     cancel: Optional[Callable[[], bool]] = None,
                     workers: int = 1) -> pd.DataFrame:
    """A long table: one row per zone and stack band (period), with the zone's id fields,
    ``period`` (the band label), every statistic and ``usable`` (clear fraction at least
    ``min_clear_fraction``, so clouded periods can be excluded from summaries).

    Zones are checked first (``zone_input.prepare_zones``): empty geometries are skipped,
    invalid ones repaired; both are listed in ``table.attrs["notes"]``. The definitions used
    are in ``table.attrs["statistics"]``. With ``categorical``, the per-class table
    (``class_table``) is in ``table.attrs["classes"]``. ``workers``: threads reducing zones
    while the raster is read (``iter_zone_statistics``).
    """
    from ..areas.zones import prepare_zones

    check_min_clear_fraction(min_clear_fraction)
    if mode not in COVERAGE_MODES:
        raise ValueError(f"coverage must be one of {COVERAGE_MODES}, not {mode!r}")
    zones, notes, _ = prepare_zones(zones, stack.crs, id_fields=id_fields)
    windows = [_window(g.bounds, stack) for g in zones.geometry]
    order = sorted((i for i, w in enumerate(windows) if w), key=lambda i: windows[i][0])
    if getattr(stack, "in_memory", False) or not order:
        coverages = polygon_coverage(zones.geometry, stack, mode)
        results = iter_zone_statistics(stack, coverages, mode=mode, categorical=categorical,
                                       cancel=cancel, workers=workers)
    else:  # read, compute coverage and reduce at once, top to bottom
        reader = _StripReader(stack, [windows[i] for i in order])
        feed = _CoverageFeed(zones.geometry, stack, mode, order)
        try:
            results = _stream_statistics(stack, reader, [(i, windows[i][0]) for i in order],
                                         feed.coverage_of, len(zones), mode=mode,
                                         categorical=categorical, cancel=cancel,
                                         workers=workers)
            coverages = feed.all()
        finally:
            reader.stop()
            feed.stop()
    bands = stack.shape[0]
    blocks, class_rows = [], []
    empty = np.full((bands, len(STATISTICS)), np.nan)
    for name in ("pixel_count", "clear_count", "clear_fraction", "nodata_count", "variety"):
        empty[:, STATISTICS.index(name)] = 0.0
    outside = outside_cells(zones.geometry, stack, mode, coverages)
    column = STATISTICS.index
    for position, result in enumerate(results):
        stats, classes = (result if categorical and result is not None else (result, None))
        stats = (empty if stats is None else stats).copy()
        if outside[position]:  # cells beyond the raster's edge are nodata for the zone
            stats[:, column("pixel_count")] += outside[position]
            stats[:, column("nodata_count")] += outside[position]
            stats[:, column("clear_fraction")] = (stats[:, column("clear_count")]
                                                  / stats[:, column("pixel_count")])
        blocks.append(stats)
        for band, (distinct, counts) in enumerate(classes or ()):
            clear = counts.sum()
            for value, count in zip(distinct, counts):
                class_rows.append((position, band, value, count, count * stack.pixel_area,
                                   count / clear))
    values = np.concatenate(blocks) if blocks else np.empty((0, len(STATISTICS)))
    columns = {field: np.repeat(zones[field].to_numpy(), bands) for field in id_fields}
    columns["period"] = np.tile(np.asarray(stack.labels, dtype=object), len(blocks))
    columns.update({name: values[:, k] for k, name in enumerate(STATISTICS)})
    table = pd.DataFrame(columns)
    table["usable"] = table["clear_fraction"] >= min_clear_fraction
    table.attrs["notes"] = list(notes)
    table.attrs["statistics"] = describe_statistics(mode)
    if categorical:
        table.attrs["classes"] = _class_table(class_rows, zones, id_fields, stack.labels)
    return table


def _class_table(rows, zones, id_fields, labels) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["_zone", "_band", *CLASS_COLUMNS])
    out = pd.DataFrame({field: zones[field].to_numpy()[frame["_zone"].to_numpy()]
                        for field in id_fields})
    out["period"] = np.asarray(labels, dtype=object)[frame["_band"].to_numpy()] \
        if len(frame) else pd.Series([], dtype=object)
    for name in CLASS_COLUMNS:
        out[name] = frame[name].to_numpy()
    return out


def zonal_statistics_of_file(path: Union[str, Path], zones: gpd.GeoDataFrame, *,
                             id_fields: Sequence[str], mode: str = "exact",
                             min_clear_fraction: float = DEFAULT_MIN_CLEAR_FRACTION,
                             bands: Optional[Sequence[int]] = None,
                             nodata: Optional[float] = None, ignore_nodata: bool = False,
                             use_mask: bool = True, categorical: bool = False,
                             cancel: Optional[Callable[[], bool]] = None) -> pd.DataFrame:
    """``zonal_statistics`` of a raster file (also a picklable unit of work for dask); the
    reading options are ``RasterStack``'s."""
    threads = os.cpu_count() or 1
    stack = RasterStack(path, bands=bands, nodata=nodata, ignore_nodata=ignore_nodata,
                        use_mask=use_mask, decode_threads=threads)
    try:
        return zonal_statistics(stack, zones, id_fields=id_fields, mode=mode,
                                min_clear_fraction=min_clear_fraction, categorical=categorical,
                                cancel=cancel, workers=threads)
    finally:
        stack.close()
