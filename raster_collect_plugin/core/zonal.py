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
from typing import Callable, Iterator, List, Optional, Sequence, Union

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
            descriptions = self._dataset.descriptions
            self.labels = list(labels or [d or str(i + 1) for i, d in enumerate(descriptions)])
            self._array = None
        else:
            array = source
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
            data = self._dataset.read(window=Window(col0, row0, width, height),
                                      out_dtype="float64", masked=True)
            return np.ma.filled(data, np.nan)
        window = self._array[:, row0:row0 + height, col0:col0 + width]
        return np.asarray(getattr(window, "values", window), dtype="float64")

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
    order = np.argsort(values)
    values, weights = values[order], weights[order]
    cumulative = np.cumsum(weights)
    positions = (cumulative - weights / 2) / cumulative[-1]
    return np.interp(quantiles, positions, values)


def reduce_zone(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """All STATISTICS for one zone: values (bands, cells) with NaN for masked pixels."""
    result = np.full((values.shape[0], len(STATISTICS)), np.nan)
    present = weights > 0
    values, weights = values[:, present], weights[present]
    pixel_count = weights.sum()
    finite = np.isfinite(values)
    w = np.where(finite, weights, 0.0)
    clear_count = w.sum(axis=1)
    filled = np.where(finite, values, 0.0)
    total = (filled * w).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / clear_count
        variance = (w * (filled - mean[:, None]) ** 2).sum(axis=1) / clear_count
    result[:, STATISTICS.index("mean")] = mean
    result[:, STATISTICS.index("std")] = np.sqrt(variance)
    result[:, STATISTICS.index("sum")] = np.where(clear_count > 0, total, np.nan)
    result[:, STATISTICS.index("pixel_count")] = pixel_count
    result[:, STATISTICS.index("clear_count")] = clear_count
    result[:, STATISTICS.index("clear_fraction")] = clear_count / pixel_count if pixel_count \
        else 0.0
    for band in np.nonzero(clear_count > 0)[0]:
        band_values, band_weights = values[band, finite[band]], weights[finite[band]]
        result[band, STATISTICS.index("min")] = band_values.min()
        result[band, STATISTICS.index("max")] = band_values.max()
        median, p10, p90 = weighted_quantiles(band_values, band_weights, (0.5, 0.1, 0.9))
        result[band, STATISTICS.index("median")] = median
        result[band, STATISTICS.index("p10")] = p10
        result[band, STATISTICS.index("p90")] = p90
    return result


def iter_zone_statistics(stack: RasterStack, coverages: Sequence[Optional[Coverage]]
                         ) -> Iterator[Optional[np.ndarray]]:
    """(bands, len(STATISTICS)) per polygon, reading each polygon's window once."""
    for coverage in coverages:
        if coverage is None:
            yield None
            continue
        window = stack.read(coverage.row0, coverage.col0, coverage.height, coverage.width)
        yield reduce_zone(window[:, coverage.rows, coverage.cols], coverage.weights)


def zonal_statistics(stack: RasterStack, zones: gpd.GeoDataFrame, *, id_fields: Sequence[str],
                     mode: str = "exact",
                     min_clear_fraction: float = DEFAULT_MIN_CLEAR_FRACTION,
                     cancel: Optional[Callable[[], bool]] = None,
                     progress: Optional[Callable[[float], None]] = None) -> pd.DataFrame:
    """A long table: one row per zone and stack band (period), with the zone's id fields,
    ``period`` (the band label), every statistic and ``usable`` (clear fraction at least
    ``min_clear_fraction``, so clouded periods can be excluded from summaries)."""
    if not 0 <= min_clear_fraction <= 1:
        raise ValueError("min_clear_fraction must be between 0 and 1")
    coverages = polygon_coverage(zones.geometry, stack, mode)
    blocks = []
    for n, stats in enumerate(iter_zone_statistics(stack, coverages)):
        if cancel is not None and cancel():
            raise InterruptedError("cancelled")
        if progress is not None and n % 50 == 0:
            progress(n / max(len(coverages), 1))
        if stats is None:
            stats = np.full((stack.shape[0], len(STATISTICS)), np.nan)
            stats[:, STATISTICS.index("pixel_count")] = 0
            stats[:, STATISTICS.index("clear_count")] = 0
            stats[:, STATISTICS.index("clear_fraction")] = 0
        block = pd.DataFrame(stats, columns=list(STATISTICS))
        block.insert(0, "period", stack.labels)
        for position, field in enumerate(id_fields):
            block.insert(position, field, zones[field].iloc[n])
        blocks.append(block)
    table = pd.concat(blocks, ignore_index=True) if blocks else pd.DataFrame(
        columns=[*id_fields, "period", *STATISTICS])
    table["usable"] = table["clear_fraction"] >= min_clear_fraction
    return table
