"""Zonal statistics of a (band/period, y, x) stack per polygon, weighted by each pixel's exact
fractional coverage of the polygon (or centre-in / all-touched).

Coverage is computed once per polygon (exactextract's ``cell_id`` and ``coverage``) and reused
for every band: each polygon's window is read once with all its bands and reduced with numpy,
so a 24-band stack costs one pass instead of 24. Only one polygon's window is in memory at a
time. Overlapping polygons are independent: no "last one wins".
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
from rasterio import features
from rasterio.crs import CRS
from rasterio.enums import MaskFlags
from rasterio.windows import Window

from . import zonal_order
from .zone_input import same_crs

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
    GDAL per-dataset / alpha mask bands (internal or ``.msk`` masks).
    """

    def __init__(self, source: Union[str, Path, np.ndarray, xr.DataArray], *,  # noqa: F821
                 transform: Optional[Affine] = None, crs=None,
                 labels: Optional[Sequence[str]] = None, bands: Optional[Sequence[int]] = None,
                 nodata: Optional[float] = None, ignore_nodata: bool = False,
                 use_mask: bool = True):
        self._dataset = None
        self.ignore_nodata, self.use_mask = ignore_nodata, use_mask
        if isinstance(source, (str, Path)):
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
        applied to the cells that are used only. ``out``: a C-contiguous array of that shape
        to read into."""
        if self._dataset is None:
            window = self._array[:, row0:row0 + height, col0:col0 + width]
            data = np.asarray(getattr(window, "values", window))
            if out is not None:
                out[...] = data
                data = out
            return data, None
        window = Window(col0, row0, width, height)
        # every block is read once: decompress in parallel, keep GDAL's cache small
        with rasterio.Env(GDAL_NUM_THREADS="ALL_CPUS", GDAL_CACHEMAX=128):
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

    def close(self) -> None:
        if self._dataset is not None:
            self._dataset.close()


def _check_bands(bands: Optional[Sequence[int]], count: int) -> List[int]:
    if not bands:
        return list(range(1, count + 1))
    chosen = [int(b) for b in bands]
    wrong = [b for b in chosen if not 1 <= b <= count]
    if wrong:
        from .zone_input import ZoneError

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
        window = _window(geometry.bounds, stack)
        if window is None:
            coverages.append(None)
            continue
        row0, col0, height, width = window
        transform = stack.transform * Affine.translation(col0, row0)
        burned = features.rasterize([(geometry, 1)], out_shape=(height, width),
                                    transform=transform, fill=0, dtype="uint8",
                                    all_touched=(mode == "all_touched"))
        rows, cols = np.nonzero(burned)
        coverages.append(Coverage(row0, col0, height, width, rows, cols,
                                  np.ones(rows.size, "float64")) if rows.size else None)
    return coverages


def _window(bounds, stack: RasterStack, clip: bool = True):
    inverse = ~stack.transform
    xmin, ymin, xmax, ymax = bounds
    cols, rows = zip(*(inverse * (x, y) for x, y in ((xmin, ymax), (xmax, ymin))))
    # one cell of margin: all-touched also burns cells that only share an edge with the
    # polygon, exactly as rasterising over the whole raster would
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
        window = _window(geometry.bounds, stack, clip=False)
        row0, col0, height, width = window
        burned = features.rasterize([(geometry, 1)], out_shape=(height, width),
                                    transform=stack.transform * Affine.translation(col0, row0),
                                    fill=0, dtype="uint8", all_touched=(mode == "all_touched"))
        rows, cols = np.nonzero(burned)
        rows, cols = rows + row0, cols + col0
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
    frame = gpd.GeoDataFrame({"_n": np.arange(len(polygons))}, geometry=polygons.values,
                             crs=polygons.crs)
    result = exact_extract(template, frame, ["cell_id", "coverage"], output="pandas",
                           include_cols=["_n"])
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


def weighted_quantiles(values: np.ndarray, weights: np.ndarray, quantiles: Sequence[float]
                       ) -> np.ndarray:
    """exactextract's coverage-weighted quantiles of ``values``.

    Equal values are merged (their weights summed) into distinct values x_1 < ... < x_n with
    weights w_k; each gets the position S_k = (k-1) w_k + (n-1) (w_1 + ... + w_{k-1}) and the
    q-quantile interpolates linearly between the values whose positions bracket
    q (n-1) (w_1 + ... + w_n). With equal weights and distinct values this is numpy's linear
    interpolation."""
    values = np.asarray(values).reshape(1, -1)
    weights = np.asarray(weights, dtype="float64")
    valid = (weights > 0)[None, :]
    if values.dtype.kind == "f":
        valid = valid & ~np.isnan(values)
    if not valid.any():
        return np.full(len(quantiles), np.nan)
    distinct = zonal_order.distinct_values(values, valid, weights)
    return zonal_order.weighted_quantiles(distinct, quantiles)[0]


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
    return reduce_rows(values, valid, np.broadcast_to(weights, values.shape), mode=mode,
                       classes=classes)


def reduce_rows(values: np.ndarray, valid: np.ndarray, weights: np.ndarray, *,
                mode: str = "exact", classes: Optional[list] = None) -> np.ndarray:
    """``reduce_zone`` for many (zone, band) rows at once: values, valid and weights are
    (rows, cells); cells of weight 0 are padding (not counted anywhere). Returns
    (rows, len(STATISTICS)); ``classes`` gets (distinct values, summed weights) per row."""
    exact = mode == "exact"
    rows, cells = values.shape
    result = np.full((rows, len(STATISTICS)), np.nan)
    column = STATISTICS.index
    valid = valid & (weights > 0)
    pixel_count = weights.sum(axis=1)
    w = np.where(valid, weights, 0.0)
    clear_count = w.sum(axis=1)
    any_clear = clear_count > 0
    filled = np.where(valid, values, 0).astype("float64")  # exact for integers up to 32 bits
    if values.dtype.kind in "iub" and not exact:  # whole cells: an exact integer sum
        total = np.where(valid, values, 0).astype("int64").sum(axis=1).astype("float64")
    else:
        total = (filled * w).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / clear_count
        variance = (w * (filled - mean[:, None]) ** 2).sum(axis=1) / clear_count
        std = np.sqrt(variance)
        result[:, column("coefficient_of_variation")] = std / mean
        result[:, column("clear_fraction")] = np.where(pixel_count > 0,
                                                       clear_count / pixel_count, 0.0)
    result[:, column("mean")] = mean
    result[:, column("std")] = std
    result[:, column("sum")] = np.where(any_clear, total, np.nan)
    result[:, column("pixel_count")] = pixel_count
    result[:, column("clear_count")] = clear_count
    result[:, column("nodata_count")] = pixel_count - clear_count
    result[:, column("variety")] = 0.0
    if not cells:
        if classes is not None:
            classes.extend((np.empty(0), np.empty(0)) for _ in range(rows))
        return result
    distinct = zonal_order.distinct_values(values, valid, weights)
    last = np.maximum(distinct.count - 1, 0)
    result[:, column("min")] = distinct.values[:, 0]
    result[:, column("max")] = np.take_along_axis(distinct.values, last[:, None], 1)[:, 0]
    result[:, column("variety")] = distinct.count
    result[:, [column("majority"), column("minority")]] = zonal_order.majority_minority(
        distinct, exact)
    levels = list(QUANTILES.values())
    result[:, [column(name) for name in QUANTILES]] = (
        zonal_order.weighted_quantiles(distinct, levels) if exact
        else zonal_order.cell_quantiles(distinct, levels))
    if classes is not None:
        classes.extend((distinct.values[row, :count], distinct.totals[row, :count])
                       for row, count in enumerate(distinct.count))
    return result


def padded_length(cells: int) -> int:
    """The row length a zone of ``cells`` cells is padded to when zones are reduced together:
    a function of the zone alone (four lengths per octave), so a zone's sums do not depend on
    which other zones share its batch."""
    step = max(8, 1 << max(int(cells).bit_length() - 3, 0))
    return -(-int(cells) // step) * step


BATCH_VALUES = 1 << 22  # values gathered per batch of zones (bands x zones x padded cells)


def _reduce_batch(stack, buffer: np.ndarray, mask_buffer: Optional[np.ndarray],
                  buffer_row0: int, col0: int, coverages: Sequence[Coverage], mode: str,
                  categorical: bool) -> list:
    """Statistics of zones that lie inside the buffer, gathered into one (bands x zones, cells)
    array per padded length and reduced together."""
    bands, _, width = buffer.shape
    flat_values = buffer.reshape(bands, -1)
    flat_mask = None if mask_buffer is None else mask_buffer.reshape(bands, -1)
    results: list = [None] * len(coverages)
    by_length: dict = {}
    for n, coverage in enumerate(coverages):
        by_length.setdefault(padded_length(coverage.weights.size), []).append(n)
    for length, members in by_length.items():
        per_batch = max(1, BATCH_VALUES // max(bands * length, 1))
        for start in range(0, len(members), per_batch):
            batch = members[start:start + per_batch]
            index = np.zeros((len(batch), length), np.intp)
            weights = np.zeros((len(batch), length))
            for k, n in enumerate(batch):
                coverage = coverages[n]
                size = coverage.weights.size
                index[k, :size] = ((coverage.rows + (coverage.row0 - buffer_row0)) * width
                                   + coverage.cols + (coverage.col0 - col0))
                weights[k, :size] = coverage.weights
            shape = (bands * len(batch), length)
            values = np.take(flat_values, index, axis=1)
            valid = stack.validity(values, None if flat_mask is None else
                                   np.take(flat_mask, index, axis=1)).reshape(shape)
            values = values.reshape(shape)
            classes: Optional[list] = [] if categorical else None
            stats = reduce_rows(values, valid, np.broadcast_to(
                weights, (bands, len(batch), length)).reshape(shape), mode=mode,
                classes=classes).reshape(bands, len(batch), -1)
            for k, n in enumerate(batch):
                if categorical:
                    results[n] = (stats[:, k], [classes[band * len(batch) + k]
                                                for band in range(bands)])
                else:
                    results[n] = stats[:, k]
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
                         mode: str = "exact", strip_rows: int = 256,
                         categorical: bool = False,
                         cancel: Optional[Callable[[], bool]] = None) -> list:
    """(bands, len(STATISTICS)) per polygon (None where it misses the raster); with
    ``categorical`` each entry is (statistics, [(values, counts) per band]).

    Polygons are visited top to bottom over a sliding buffer of raster rows, so every row of
    the stack is read and decompressed once, with all its bands, whatever the number of
    polygons; memory holds ``strip_rows`` plus the tallest polygon's rows. The polygons inside
    the buffer are reduced together (``reduce_rows``), not one at a time.
    """
    results: list = [None] * len(coverages)
    present = [i for i, c in enumerate(coverages) if c is not None]
    if not present:
        return results
    if getattr(stack, "in_memory", False):
        return _in_memory_statistics(stack, coverages, present, mode, categorical, cancel)
    col0 = min(coverages[i].col0 for i in present)
    col1 = max(coverages[i].col0 + coverages[i].width for i in present)
    block_rows = max(1, getattr(stack, "block_rows", 1))
    buffer = np.empty((stack.shape[0], 0, col1 - col0), stack.dtype)
    mask_buffer: Optional[np.ndarray] = None
    buffer_row0 = 0
    waiting: List[int] = []  # polygons inside the buffer, not reduced yet

    def flush() -> None:
        if cancel is not None and cancel():
            raise InterruptedError("cancelled")
        reduced = _reduce_batch(stack, buffer, mask_buffer, buffer_row0, col0,
                                [coverages[i] for i in waiting], mode, categorical)
        for i, result in zip(waiting, reduced):
            results[i] = result
        waiting.clear()

    for i in sorted(present, key=lambda i: coverages[i].row0):
        coverage = coverages[i]
        end = coverage.row0 + coverage.height
        buffer_end = buffer_row0 + buffer.shape[1]
        if end > buffer_end or coverage.row0 < buffer_row0:
            if waiting:
                flush()
            keep_from = max(coverage.row0, buffer_row0)
            start = keep_from - buffer_row0 if keep_from < buffer_end else buffer.shape[1]
            kept = buffer[:, start:]
            # strips follow the file's blocks, so no block is decoded for two strips
            read_from = buffer_end if kept.shape[1] else coverage.row0 // block_rows * block_rows
            read_to = min(stack.height, -(-max(end, read_from + strip_rows) // block_rows)
                          * block_rows)
            fresh, fresh_mask = stack.read_values(read_from, col0, read_to - read_from,
                                                  col1 - col0)
            buffer = np.concatenate([kept, fresh], axis=1)
            if fresh_mask is not None:
                kept_mask = mask_buffer[:, start:] if mask_buffer is not None else \
                    np.ones(kept.shape, bool)
                mask_buffer = np.concatenate([kept_mask, fresh_mask], axis=1)
            buffer_row0 = read_from - kept.shape[1]
        waiting.append(i)
    if waiting:
        flush()
    return results


def zonal_statistics(stack: RasterStack, zones: gpd.GeoDataFrame, *, id_fields: Sequence[str],
                     mode: str = "exact",
                     min_clear_fraction: float = DEFAULT_MIN_CLEAR_FRACTION,
                     categorical: bool = False,
                     cancel: Optional[Callable[[], bool]] = None) -> pd.DataFrame:
    """A long table: one row per zone and stack band (period), with the zone's id fields,
    ``period`` (the band label), every statistic and ``usable`` (clear fraction at least
    ``min_clear_fraction``, so clouded periods can be excluded from summaries).

    Zones are checked first (``zone_input.prepare_zones``): empty geometries are skipped,
    invalid ones repaired; both are listed in ``table.attrs["notes"]``. The definitions used
    are in ``table.attrs["statistics"]``. With ``categorical``, the per-class table
    (``class_table``) is in ``table.attrs["classes"]``.
    """
    from .zone_input import prepare_zones

    if not 0 <= min_clear_fraction <= 1:
        raise ValueError("min_clear_fraction must be between 0 and 1")
    if mode not in COVERAGE_MODES:
        raise ValueError(f"coverage must be one of {COVERAGE_MODES}, not {mode!r}")
    zones, notes, _ = prepare_zones(zones, stack.crs, id_fields=id_fields)
    coverages = polygon_coverage(zones.geometry, stack, mode)
    bands = stack.shape[0]
    blocks, class_rows = [], []
    empty = np.full((bands, len(STATISTICS)), np.nan)
    for name in ("pixel_count", "clear_count", "clear_fraction", "nodata_count", "variety"):
        empty[:, STATISTICS.index(name)] = 0.0
    results = iter_zone_statistics(stack, coverages, mode=mode, categorical=categorical,
                                   cancel=cancel)
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
    stack = RasterStack(path, bands=bands, nodata=nodata, ignore_nodata=ignore_nodata,
                        use_mask=use_mask)
    try:
        return zonal_statistics(stack, zones, id_fields=id_fields, mode=mode,
                                min_clear_fraction=min_clear_fraction, categorical=categorical,
                                cancel=cancel)
    finally:
        stack.close()
