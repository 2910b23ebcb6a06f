"""The reduction: each zone's cells gathered into batches and reduced by the compiled kernel
(weighted mean, quantiles, counts), in memory or streamed from the strip reader."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, Tuple

import geopandas as gpd
import numpy as np

from . import kernel as zonal_kernel
from . import order as zonal_order
from .coverage import Coverage, polygon_coverage
from .reader import RasterStack
from .strips import StripReader

STATISTICS = ("mean", "median", "std", "min", "max", "p10", "p90", "sum", "pixel_count",
              "clear_count", "clear_fraction", "nodata_count", "coefficient_of_variation",
              "majority", "minority", "variety")
QUANTILES = {"median": 0.5, "p10": 0.1, "p90": 0.9}




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
                            exact=True, keep_classes=False, decibels=None)
    return reduced[0, zonal_kernel.QUANTILES_FROM:]


_NO_ROWS = np.zeros(0, np.bool_)  # the kernel's ``decibels`` when no row is in dB


def _kernel(values: np.ndarray, valid: np.ndarray, weights: np.ndarray,
            weight_rows: np.ndarray, quantiles: Sequence[float], *, exact: bool,
            keep_classes: bool, decibels: Optional[np.ndarray]
            ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sort each row (``zonal_order``) and reduce it (``zonal_kernel``): the kernel's columns
    per row (TOTAL and SQUARES of linear power where ``decibels``, a bool per row), and each
    row's distinct values and summed weights when ``keep_classes``."""
    rows, cells = values.shape
    levels = np.asarray(quantiles, dtype="float64")
    keep = keep_classes and cells > 0
    class_values = np.empty((rows, cells) if keep else (0, 0))
    class_totals = np.empty_like(class_values)
    reduced = np.empty((rows, zonal_kernel.QUANTILES_FROM + len(levels)))
    zonal_kernel.reduce_sorted_rows(values, valid, zonal_order.sorted_cells(values, valid),
                                    weights, weight_rows, levels, exact, class_values,
                                    class_totals, _NO_ROWS if decibels is None else decibels,
                                    reduced)
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
                classes: Optional[list] = None,
                decibels: Optional[np.ndarray] = None) -> np.ndarray:
    """``reduce_zone`` for many (zone, band) rows at once: values and valid are (rows, cells);
    ``weights`` is (rows, cells), or one row per zone with ``weight_rows`` giving each value
    row's weights row (the bands of a zone share its coverage); cells of weight 0 are padding
    (not counted anywhere). Returns (rows, len(STATISTICS)); ``classes`` gets
    (distinct values, summed weights) per row. Rows where ``decibels`` (bool per row) is True
    hold dB values: their mean, sum, std and coefficient of variation are of linear power
    P = 10^(x/10), as the providers of Sentinel-1 RTC say to average gamma0 (the kernel sums
    w P in the pass that reads the cells): ``mean`` = 10·log10(sum(w P) / sum(w)) in dB;
    ``sum`` = sum(w P) and ``std`` (population, weighted) in linear power;
    ``coefficient_of_variation`` = std / mean of P. The order statistics stay in dB (log is
    monotonic)."""
    exact = mode == "exact"
    rows, cells = values.shape
    weights = np.ascontiguousarray(weights, dtype="float64")
    if weight_rows is None:
        weight_rows = np.arange(rows)
    weight_rows = np.asarray(weight_rows, dtype=np.intp)
    valid = valid & (weights > 0)[weight_rows]
    in_db = None if decibels is None or not np.any(decibels) else np.asarray(decibels, bool)
    reduced, class_values, class_totals = _kernel(
        values, valid, weights, weight_rows, list(QUANTILES.values()), exact=exact,
        keep_classes=classes is not None, decibels=in_db)
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
    if in_db is not None:  # the mean of linear power, in dB
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(in_db, 10 * np.log10(mean), mean)
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
@dataclass
class _Batch:
    """Zones gathered for one ``reduce_rows`` call: ``members`` are positions in the list of
    coverages given to ``_gather``; values and valid are (bands x zones, cells)."""

    members: List[int]
    values: np.ndarray
    valid: np.ndarray
    weights: np.ndarray  # (zones, cells)
    bands: int
    decibels: Optional[Sequence[bool]] = None  # per band: values in dB (``reduce_rows``)

    def reduce(self, mode: str, categorical: bool) -> list:
        """Per member: (bands, len(STATISTICS)), or (that, [(values, weights) per band])."""
        zones = len(self.members)
        classes: Optional[list] = [] if categorical else None
        decibels = np.repeat(self.decibels, zones) if any(self.decibels or ()) else None
        stats = reduce_rows(self.values, self.valid, self.weights,
                            weight_rows=np.tile(np.arange(zones), self.bands), mode=mode,
                            classes=classes, decibels=decibels).reshape(self.bands, zones, -1)
        if not categorical:
            return [stats[:, k] for k in range(zones)]
        return [(stats[:, k], [classes[band * zones + k] for band in range(self.bands)])
                for k in range(zones)]


class _ArrayCells:
    """Cells of a stack already in memory, (bands, rows, cols), found and copied out as a strip
    reader's are (``positions``, ``take``)."""

    def __init__(self, values: np.ndarray, mask: Optional[np.ndarray]):
        self.values, self.mask = values, mask

    def positions(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        return rows * self.values.shape[2] + cols

    def take(self, index: np.ndarray) -> Tuple[np.ndarray, Optional[np.ndarray]]:
        def cells(array):
            return np.take(array.reshape(array.shape[0], -1), index, axis=1)

        return cells(self.values), None if self.mask is None else cells(self.mask)


def _gather(stack, cells, coverages: Sequence[Coverage]) -> List[_Batch]:
    """The cells of zones, copied out of ``cells`` (a strip reader, or ``_ArrayCells``) into
    one (bands x zones, cells) array per padded length and batch (so a reader's ring may
    move on)."""
    bands = stack.shape[0]
    by_length: dict = {}
    for n, coverage in enumerate(coverages):
        by_length.setdefault(padded_length(coverage.weights.size), []).append(n)
    batches = []
    for length, members in by_length.items():
        per_batch = max(1, BATCH_VALUES // max(bands * length, 1))
        for start in range(0, len(members), per_batch):
            batch = members[start:start + per_batch]
            index = np.zeros((len(batch), length), np.intp)  # padding: the first position
            weights = np.zeros((len(batch), length))
            for k, n in enumerate(batch):
                coverage = coverages[n]
                size = coverage.weights.size
                index[k, :size] = cells.positions(coverage.rows + coverage.row0,
                                                  coverage.cols + coverage.col0)
                weights[k, :size] = coverage.weights
            shape = (bands * len(batch), length)
            values, mask = cells.take(index)
            valid = stack.validity(values, mask).reshape(shape)
            batches.append(_Batch(batch, values.reshape(shape), valid, weights, bands,
                                  getattr(stack, "decibels", None)))
    return batches


def _reduce_batch(stack, cells: _ArrayCells, coverages: Sequence[Coverage], mode: str,
                  categorical: bool) -> list:
    """Statistics of zones in an in-memory stack, gathered into one (bands x zones, cells)
    array per padded length and reduced together."""
    results: list = [None] * len(coverages)
    for batch in _gather(stack, cells, coverages):
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

    cells = _ArrayCells(*stack.read_values(0, 0, stack.height, stack.width))
    ordered = sorted(present, key=lambda i: coverages[i].row0)
    groups = [ordered[k:k + ZONES_PER_TASK] for k in range(0, len(ordered), ZONES_PER_TASK)]

    def reduce_group(group: List[int]) -> list:
        if cancel is not None and cancel():
            raise InterruptedError("cancelled")
        return _reduce_batch(stack, cells, [coverages[i] for i in group], mode, categorical)

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
    (``StripReader``), so every block is decoded once, with all its bands, whatever the
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
    reader = StripReader(stack, [(c.row0, c.col0, c.height, c.width)
                                  for c in coverages if c is not None])
    order = sorted(present, key=lambda i: coverages[i].row0)
    return _stream_statistics(stack, reader, [(i, coverages[i].row0) for i in order],
                              coverages.__getitem__, len(coverages), mode=mode,
                              categorical=categorical, cancel=cancel, workers=workers)


def _stream_statistics(stack, reader: StripReader, zones_in_order: Sequence[Tuple[int, int]],
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
        batches = _gather(stack, reader, [coverage for _, coverage in waiting])
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
