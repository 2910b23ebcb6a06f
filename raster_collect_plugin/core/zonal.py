"""Zonal statistics of a (band/period, y, x) stack per polygon, weighted by each pixel's exact
fractional coverage of the polygon (or centre-in / all-touched).

Coverage is computed once per polygon (exactextract's ``cell_id`` and ``coverage``) and reused
for every band: each polygon's window is read once with all its bands and reduced with numpy,
so a 24-band stack costs one pass instead of 24. Only one polygon's window is in memory at a
time. Overlapping polygons are independent: no "last one wins".
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Union

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
from affine import Affine
from rasterio import features
from rasterio.crs import CRS
from rasterio.windows import Window

COVERAGE_MODES = ("exact", "centre", "all_touched")
STATISTICS = ("mean", "median", "std", "min", "max", "p10", "p90", "sum", "pixel_count",
              "clear_count", "clear_fraction")
DEFAULT_MIN_CLEAR_FRACTION = 0.5


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
    """A (bands, rows, cols) source read one window at a time; masked values are NaN."""

    def __init__(self, source: Union[str, Path, np.ndarray, xr.DataArray], *,  # noqa: F821
                 transform: Optional[Affine] = None, crs=None,
                 labels: Optional[Sequence[str]] = None):
        self._dataset = None
        if isinstance(source, (str, Path)):
            self._dataset = rasterio.open(source)
            self.transform, self.crs = self._dataset.transform, self._dataset.crs
            self.shape = (self._dataset.count, self._dataset.height, self._dataset.width)
            self.tags = self._dataset.tags()
            descriptions = self._dataset.descriptions
            self.labels = list(labels or [d or str(i + 1) for i, d in enumerate(descriptions)])
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
            self.transform, self.crs, self._array = transform, CRS.from_user_input(crs), array
            self.shape = tuple(array.shape)
            self.labels = list(labels or [str(i + 1) for i in range(self.shape[0])])

    @property
    def height(self) -> int:
        return self.shape[1]

    @property
    def width(self) -> int:
        return self.shape[2]

    def read(self, row0: int, col0: int, height: int, width: int) -> np.ndarray:
        if self._dataset is not None:
            # every block is read once: decompress in parallel, keep GDAL's cache small
            with rasterio.Env(GDAL_NUM_THREADS="ALL_CPUS", GDAL_CACHEMAX=128):
                data = self._dataset.read(window=Window(col0, row0, width, height),
                                          out_dtype="float32")
            nodata = self._dataset.nodata
            if nodata is not None and not np.isnan(nodata):
                data[data == nodata] = np.nan
            return data
        window = self._array[:, row0:row0 + height, col0:col0 + width]
        return np.asarray(getattr(window, "values", window), dtype="float32")

    def close(self) -> None:
        if self._dataset is not None:
            self._dataset.close()


def polygon_coverage(polygons: gpd.GeoSeries, stack: RasterStack, mode: str = "exact"
                     ) -> List[Optional[Coverage]]:
    """Coverage of each polygon (None where a polygon misses the raster)."""
    if mode not in COVERAGE_MODES:
        raise ValueError(f"coverage must be one of {COVERAGE_MODES}, not {mode!r}")
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


def _window(bounds, stack: RasterStack):
    inverse = ~stack.transform
    xmin, ymin, xmax, ymax = bounds
    cols, rows = zip(*(inverse * (x, y) for x, y in ((xmin, ymax), (xmax, ymin))))
    col0, row0 = max(int(np.floor(min(cols))), 0), max(int(np.floor(min(rows))), 0)
    col1 = min(int(np.ceil(max(cols))), stack.width)
    row1 = min(int(np.ceil(max(rows))), stack.height)
    if col1 <= col0 or row1 <= row0:
        return None
    return row0, col0, row1 - row0, col1 - col0


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
    """Quantiles of ``values`` where each value counts with its weight (coverage). Positions
    are the weights' mid-points, so equal weights give the usual median."""
    return _row_quantiles(values[np.newaxis].astype("float64"), weights, quantiles)[:, 0]


def _row_quantiles(values: np.ndarray, weights: np.ndarray, quantiles: Sequence[float]
                   ) -> np.ndarray:
    """Weighted quantiles of every row of ``values`` (NaN = missing) at once:
    returns (len(quantiles), rows)."""
    order = np.argsort(values, axis=1)  # NaN sort last
    sorted_values = np.take_along_axis(values, order, axis=1)
    valid = np.isfinite(sorted_values)
    sorted_weights = np.where(valid, weights[order], 0.0)
    cumulative = np.cumsum(sorted_weights, axis=1)
    total = cumulative[:, -1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        positions = (cumulative - sorted_weights / 2) / total
    count = valid.sum(axis=1)
    last = np.maximum(count - 1, 0)
    rows = np.arange(values.shape[0])
    out = np.full((len(quantiles), values.shape[0]), np.nan)
    for n, q in enumerate(quantiles):
        below = ((positions < q) & valid).sum(axis=1)
        high = np.minimum(below, last)
        low = np.clip(below - 1, 0, last)
        p_low, p_high = positions[rows, low], positions[rows, high]
        v_low, v_high = sorted_values[rows, low], sorted_values[rows, high]
        with np.errstate(invalid="ignore", divide="ignore"):
            fraction = np.where(p_high > p_low, (q - p_low) / (p_high - p_low), 0.0)
        out[n] = np.where(count > 0, v_low + np.clip(fraction, 0, 1) * (v_high - v_low), np.nan)
    return out


def reduce_zone(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """All STATISTICS for one zone: values (bands, cells) with NaN for masked pixels."""
    result = np.empty((values.shape[0], len(STATISTICS)))
    present = weights > 0
    values, weights = values[:, present], weights[present]
    pixel_count = weights.sum()
    finite = np.isfinite(values)
    w = np.where(finite, weights, 0.0)
    clear_count = w.sum(axis=1)
    any_clear = clear_count > 0
    filled = np.where(finite, values, 0.0)
    total = (filled * w).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / clear_count
        variance = (w * (filled - mean[:, None]) ** 2).sum(axis=1) / clear_count
    column = STATISTICS.index
    result[:, column("mean")] = mean
    result[:, column("std")] = np.sqrt(variance)
    result[:, column("sum")] = np.where(any_clear, total, np.nan)
    result[:, column("pixel_count")] = pixel_count
    result[:, column("clear_count")] = clear_count
    result[:, column("clear_fraction")] = clear_count / pixel_count if pixel_count else 0.0
    result[:, column("min")] = np.where(any_clear, np.where(finite, values, np.inf).min(1),
                                        np.nan)
    result[:, column("max")] = np.where(any_clear, np.where(finite, values, -np.inf).max(1),
                                        np.nan)
    median, p10, p90 = _row_quantiles(values, weights, (0.5, 0.1, 0.9))
    result[:, column("median")] = median
    result[:, column("p10")] = p10
    result[:, column("p90")] = p90
    return result


def iter_zone_statistics(stack: RasterStack, coverages: Sequence[Optional[Coverage]], *,
                         strip_rows: int = 256,
                         cancel: Optional[Callable[[], bool]] = None
                         ) -> List[Optional[np.ndarray]]:
    """(bands, len(STATISTICS)) per polygon (None where it misses the raster).

    Polygons are visited top to bottom over a sliding buffer of raster rows, so every row of
    the stack is read and decompressed once, with all its bands, whatever the number of
    polygons; memory holds ``strip_rows`` plus the tallest polygon's rows.
    """
    results: List[Optional[np.ndarray]] = [None] * len(coverages)
    present = [i for i, c in enumerate(coverages) if c is not None]
    if not present:
        return results
    col0 = min(coverages[i].col0 for i in present)
    col1 = max(coverages[i].col0 + coverages[i].width for i in present)
    buffer = np.empty((stack.shape[0], 0, col1 - col0), "float32")
    buffer_row0 = 0
    for i in sorted(present, key=lambda i: coverages[i].row0):
        if cancel is not None and cancel():
            raise InterruptedError("cancelled")
        coverage = coverages[i]
        end = coverage.row0 + coverage.height
        buffer_end = buffer_row0 + buffer.shape[1]
        if end > buffer_end or coverage.row0 < buffer_row0:
            keep_from = max(coverage.row0, buffer_row0)
            kept = buffer[:, keep_from - buffer_row0:] if keep_from < buffer_end else \
                buffer[:, :0]
            read_from = max(buffer_end, coverage.row0) if kept.shape[1] else coverage.row0
            read_to = min(stack.height, max(end, read_from + strip_rows))
            fresh = stack.read(read_from, col0, read_to - read_from, col1 - col0)
            buffer = np.concatenate([kept, fresh], axis=1)
            buffer_row0 = read_from - kept.shape[1]
        rows = coverage.rows + (coverage.row0 - buffer_row0)
        cols = coverage.cols + (coverage.col0 - col0)
        results[i] = reduce_zone(buffer[:, rows, cols].astype("float64"), coverage.weights)
    return results


def zonal_statistics(stack: RasterStack, zones: gpd.GeoDataFrame, *, id_fields: Sequence[str],
                     mode: str = "exact",
                     min_clear_fraction: float = DEFAULT_MIN_CLEAR_FRACTION,
                     cancel: Optional[Callable[[], bool]] = None) -> pd.DataFrame:
    """A long table: one row per zone and stack band (period), with the zone's id fields,
    ``period`` (the band label), every statistic and ``usable`` (clear fraction at least
    ``min_clear_fraction``, so clouded periods can be excluded from summaries)."""
    if not 0 <= min_clear_fraction <= 1:
        raise ValueError("min_clear_fraction must be between 0 and 1")
    coverages = polygon_coverage(zones.geometry, stack, mode)
    bands = stack.shape[0]
    blocks = []
    empty = np.full((bands, len(STATISTICS)), np.nan)
    for name in ("pixel_count", "clear_count", "clear_fraction"):
        empty[:, STATISTICS.index(name)] = 0.0
    for stats in iter_zone_statistics(stack, coverages, cancel=cancel):
        blocks.append(empty if stats is None else stats)
    values = np.concatenate(blocks) if blocks else np.empty((0, len(STATISTICS)))
    columns = {field: np.repeat(zones[field].to_numpy(), bands) for field in id_fields}
    columns["period"] = np.tile(np.asarray(stack.labels, dtype=object), len(blocks))
    columns.update({name: values[:, k] for k, name in enumerate(STATISTICS)})
    table = pd.DataFrame(columns)
    table["usable"] = table["clear_fraction"] >= min_clear_fraction
    return table


def zonal_statistics_of_file(path: Union[str, Path], zones: gpd.GeoDataFrame, *,
                             id_fields: Sequence[str], mode: str = "exact",
                             min_clear_fraction: float = DEFAULT_MIN_CLEAR_FRACTION,
                             cancel: Optional[Callable[[], bool]] = None) -> pd.DataFrame:
    """``zonal_statistics`` of a raster file (also a picklable unit of work for dask)."""
    stack = RasterStack(path)
    try:
        return zonal_statistics(stack, zones, id_fields=id_fields, mode=mode,
                                min_clear_fraction=min_clear_fraction, cancel=cancel)
    finally:
        stack.close()


def zonal_statistics_distributed(client, path: Union[str, Path], zones: gpd.GeoDataFrame, *,
                                 id_fields: Sequence[str], mode: str = "exact",
                                 min_clear_fraction: float = DEFAULT_MIN_CLEAR_FRACTION,
                                 parts: Optional[int] = None) -> pd.DataFrame:
    """The same table computed on a dask cluster whose workers can read ``path``: zones are
    cut into north-to-south bands so each worker reads a disjoint strip of the raster."""
    count = parts or max(1, 2 * len(client.scheduler_info().get("workers", {})))
    order = np.argsort(-zones.geometry.centroid.y.to_numpy(), kind="stable")
    chunks = [zones.iloc[np.sort(part)] for part in np.array_split(order, count) if len(part)]
    futures = client.map(zonal_statistics_of_file, [str(path)] * len(chunks), chunks,
                         id_fields=list(id_fields), mode=mode,
                         min_clear_fraction=min_clear_fraction, pure=False)
    table = pd.concat(client.gather(futures), ignore_index=True)
    # back to the zones' order, periods in band order, as the single-process engine gives
    rank = {value: n for n, value in enumerate(zones[id_fields[-1]])}
    period_rank = {label: n for n, label in enumerate(dict.fromkeys(table["period"]))}
    keys = table[id_fields[-1]].map(rank) * len(period_rank) + table["period"].map(period_rank)
    return table.iloc[np.argsort(keys.to_numpy(), kind="stable")].reset_index(drop=True)
