"""Zonal statistics of a (band/period, y, x) stack per polygon, weighted by each pixel's exact
fractional coverage of the polygon (or centre-in / all-touched).

Coverage is computed once per polygon (exactextract's ``cell_id`` and ``coverage``) and reused
for every band. A file is decoded once, top to bottom, into a pixel-interleaved ring of rows
(``StripReader``: reader threads take strips in turn; libzstd decompresses the composites'
tiles straight into the ring, ``zstd_tiles``, GDAL any other file's); the polygons whose
rows are in are gathered into batches of (polygon, band) rows and reduced together by the
compiled kernel (``zonal_kernel``) in a thread pool. Overlapping polygons are independent: no
"last one wins".
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Optional, Sequence, Union

import geopandas as gpd
import numpy as np
import pandas as pd

from ..areas.zones import ZoneError
from ..pixels.clear_fraction import check_min_clear_fraction
from .coverage import COVERAGE_MODES, _window, outside_cells, polygon_coverage
from .reader import RasterStack
from .reduce import QUANTILES, STATISTICS, _CoverageFeed, _stream_statistics, iter_zone_statistics
from .strips import StripReader

CLASS_COLUMNS = ("value", "count", "area", "fraction")
# the statistics tables' columns besides the zones' ids (an id field may not be one of them)
TABLE_COLUMNS = ("period", "provider", "collection", "index", *STATISTICS, "usable",
                 *CLASS_COLUMNS)
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

# Bands in decibels (their file's or band's ``units`` is "dB": the VV and VH composites):
# gamma0 is linear power, averaged in linear units and converted to dB afterwards, as the
# providers of Sentinel-1 RTC say (``reduce.reduce_rows``, in the kernel's pass).
_DECIBELS = {
    "which": "bands whose unit type or 'units' tag, or whose file's 'units' tag, is dB (the VV "
             "and VH composites; 'decibel_bands' in the notes of a zonal --raster run)",
    "mean": "10·log10(sum of P x {weight} / clear_count) in dB, P = 10^(value/10) the linear "
            "power: the dB of the mean linear power, not the mean of the dB values",
    "sum": "sum of P x {weight} over clear cells, in linear power (not dB)",
    "std": "population standard deviation of P (linear power, not dB), each value counted "
           "with its {weight}",
    "coefficient_of_variation": "std / mean of P, both in linear power (unitless: the "
                                "speckle and texture measure, 1/sqrt(ENL))",
    "min, max, median, p10, p90, majority, minority": "in dB, of the dB values; the quantiles "
        "interpolate linearly between dB values (the same value as in linear power wherever "
        "no interpolation happens, log being monotonic)",
}


def refuse_id_named_like_a_column(id_field: str, others: Sequence[str] = ()) -> None:
    """An id field named like a column the tables write ("period", "mean"; a storm's "rank",
    ``others``) made two columns of that name: a traceback once the statistics were made.
    ZoneError (exit 2), for every door before any work."""
    if id_field in {*TABLE_COLUMNS, *others, "geometry"}:
        raise ZoneError(f"the id field {id_field!r} has the name of a column the outputs "
                        "write: rename it in the polygon file, or choose another id field "
                        "(--id-field, a spec's 'id_field')")

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
                                             (*STATISTICS, "class count/area/fraction")},
            "decibel_bands": {name: text.format(weight=weight)
                              for name, text in _DECIBELS.items()}}


class ZonalNotes(list):
    """Notes about zones that were skipped or repaired (one line each)."""


# enough that a batch's keys, values and sort stay in the CPU's cache


def zonal_statistics(stack: RasterStack, zones: gpd.GeoDataFrame, *, id_fields: Sequence[str],
                     mode: str = "exact",
                     min_clear_fraction: float = DEFAULT_MIN_CLEAR_FRACTION,
                     categorical: bool = False,
                     cancel: Optional[Callable[[], bool]] = None,
                     workers: int = 1) -> pd.DataFrame:
    """A long table: one row per zone and stack band (period), with the zone's id fields,
    ``period`` (the band label), every statistic and ``usable`` (clear fraction at least
    ``min_clear_fraction``, so clouded periods can be excluded from summaries).

    Zones are checked first (``areas.zones.prepare_zones``): empty geometries are skipped,
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
        reader = StripReader(stack, [windows[i] for i in order])
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
