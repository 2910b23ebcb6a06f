"""Composite stacks stored straight into their COG's scratch GeoTIFF when dask runs on this
process's threads: no Zarr scratch store, so no compression, write and read-back of every
stack before the COG is made (issue 31). On a cluster the workers keep the Zarr store (they
may not share this machine's disk)."""

from __future__ import annotations

import contextlib
import threading
import uuid
from typing import Callable, Dict, Iterator, List, Optional, Tuple

import dask
import dask.array as da
import numpy as np
from dask.delayed import Delayed

from ..outputs.files import StackWriter, disk_full_error

# one chunk's band values by band and clear mask -> its outputs by writer name
Compose = Callable[[Dict[str, np.ndarray], np.ndarray], Dict[str, np.ndarray]]


class ScratchTarget:
    """A stack's scratch file, written block by block from dask threads (one at a time: a
    GDAL dataset is not thread-safe)."""

    def __init__(self, writer: StackWriter):
        self.writer, self.lock = writer, threading.Lock()

    def __dask_tokenize__(self):
        return ("raster-collect-scratch", str(self.writer.scratch))

    def write(self, band: int, rows, cols, block: np.ndarray) -> None:
        """Write a (rows, cols) ``block`` of 0-based ``band`` (or a (bands, rows, cols) one
        from ``band`` on) at ``rows``/``cols`` ((start, stop) pixel ranges)."""
        with self.lock, _disk_full_as_enospc(self.writer.destination):
            self.writer.write_window(band, rows, cols,
                                     block if block.ndim == 3 else block[np.newaxis])


def _finish(target: ScratchTarget) -> str:
    """Turn a written scratch file into its COG (after every chunk is written)."""
    with _disk_full_as_enospc(target.writer.destination):
        return str(target.writer.finish())


def open_writer(**kwargs) -> StackWriter:
    """A StackWriter (its scratch file created now), a full disk raised as ENOSPC."""
    with _disk_full_as_enospc(kwargs["destination"]):
        return StackWriter(**kwargs)


@contextlib.contextmanager
def _disk_full_as_enospc(destination) -> Iterator[None]:
    """GDAL's write errors on a (nearly) full disk raised as ``OSError(ENOSPC)``, which a run
    reports as a full disk rather than a failure to read the scenes."""
    try:
        yield
    except Exception as error:
        full = disk_full_error(error, destination)
        if full is not None:
            raise full from error
        raise


def store_periods(periods: List[Optional[Tuple[Dict[str, da.Array], da.Array]]],
                  writers: Dict[str, StackWriter], inside: da.Array, compose: Compose,
                  colour_writers: Optional[List[Dict[str, StackWriter]]] = None
                  ) -> Tuple[Dict[str, Delayed], Dict[str, Dict[int, Delayed]], StoredPeriods]:
    """Compute and write every period's composites chunk by chunk. ``periods[n]`` holds the
    period's lazy (time, y, x) inputs, band values (NaN where not clear) by band and the clear
    mask, or None for a period without scenes (its bands keep the writers' fill);
    ``compose`` turns one chunk's input blocks into its outputs by writer name.

    One task per period and chunk computes all of that chunk's outputs and writes them, so
    no composite waits in memory for its writer and no input waits for its other outputs
    (issue 31: with one lazy array per output, 0.7-1.2 GB of composites and loaded scenes
    queued on 4800-7200 px a side, growing with the AOI). ``colour_writers[n]``: period n's
    colour composites by key (``compose`` gives them as ``colour:KEY``, (band, y, x)).

    Returns a delayed COG task per name and per colour key and period (their values the COGs'
    paths), to be computed once ``StoredPeriods.compute`` has written every chunk, and the
    stores."""
    targets = {name: ScratchTarget(writer) for name, writer in writers.items()}
    colour_targets = [{key: ScratchTarget(writer) for key, writer in per.items()}
                      for per in (colour_writers or [{}] * len(periods))]
    stored: List[Optional[da.Array]] = []
    for band, period in enumerate(periods):
        if period is None:
            stored.append(None)
            continue
        values, clear = period
        names = list(values)
        inputs = [values[name].rechunk({0: -1}) for name in names] + [clear.rechunk({0: -1})]
        stored.append(da.map_blocks(
            _store_chunk, inside, *inputs, names=names, band=band,
            targets=targets | {f"colour:{key}": target
                               for key, target in colour_targets[band].items()},
            compose=compose, drop_axis=0, new_axis=2, dtype="int64",
            chunks=(*((1,) * len(sizes) for sizes in inside.chunks), (1 + clear.shape[0],)),
            meta=np.zeros((0, 0, 0), dtype="int64"),
            token=f"raster-collect-store-{band}-{uuid.uuid4().hex}"))
    cogs = {name: dask.delayed(_finish, pure=False)(targets[name]) for name in writers}
    colour_cogs: Dict[str, Dict[int, Delayed]] = {}
    for band, per_period in enumerate(colour_targets):
        for key, target in per_period.items():
            colour_cogs.setdefault(key, {})[band] = dask.delayed(_finish, pure=False)(target)
    return cogs, colour_cogs, StoredPeriods(stored, inside.chunks[0], inside.shape[1])


class StoredPeriods:
    """The lazy stores of every period (None for a period without scenes), each a
    (row chunks, column chunks, 1 + time) array of per-chunk counts, computed a band of chunk
    rows at a time so the memory a run holds is bounded by the band, not by the AOI."""

    def __init__(self, stored: List[Optional[da.Array]], row_chunks: Tuple[int, ...],
                 width: int):
        self.stored, self.row_chunks, self.width = stored, tuple(row_chunks), width

    def bands(self, max_pixels: int) -> List[slice]:
        """Consecutive chunk rows, as few per band as keep a band within ``max_pixels``
        (at least one row each)."""
        bands: List[slice] = []
        first, pixels = 0, 0
        for row, rows in enumerate(self.row_chunks):
            if row > first and pixels + rows * self.width > max_pixels:
                bands.append(slice(first, row))
                first, pixels = row, 0
            pixels += rows * self.width
        bands.append(slice(first, len(self.row_chunks)))
        return bands

    def compute(self, compute: Callable, bands: List[slice], *,
                progress: Optional[Callable[[float], None]] = None
                ) -> List[Optional[np.ndarray]]:
        """Write every chunk, one band of chunk rows after the other, with ``compute``
        (``scheduling.compute``'s signature). Returns per period (None without scenes) the
        pixels inside the AOI with a clear observation, then those clear in each of its time
        steps (a (1 + time,) array)."""
        totals: List[Optional[np.ndarray]] = [None] * len(self.stored)
        present = [n for n, array in enumerate(self.stored) if array is not None]
        for k, rows in enumerate(bands):
            def band_progress(fraction: float, k: int = k) -> None:
                if progress is not None:
                    progress((k + fraction) / len(bands))

            [computed] = compute([self.stored[n].blocks[rows] for n in present],
                                 progress=band_progress)
            for n, counts in zip(present, computed):
                band_total = counts.sum(axis=(0, 1))
                totals[n] = band_total if totals[n] is None else totals[n] + band_total
        return totals


def _store_chunk(inside: np.ndarray, *inputs: np.ndarray, names: List[str], band: int,
                 targets: Dict[str, ScratchTarget], compose: Compose,
                 block_info=None) -> np.ndarray:
    """Compute one chunk's outputs of one period (``inputs``: the band values in ``names``'
    order, then the clear mask) and write them. Returns the chunk's pixels inside the AOI
    with a clear observation, then with a clear pixel in each time step: (1, 1, 1 + time)."""
    rows, cols = block_info[0]["array-location"]
    clear = inputs[-1]
    outputs = compose(dict(zip(names, inputs[:-1])), clear)
    for name, block in outputs.items():
        # a colour composite has a file per period, its bands from the first on
        targets[name].write(0 if name.startswith("colour:") else band, rows, cols, block)
    counts = [np.count_nonzero((outputs["clear_count"] > 0) & inside)]
    counts += [np.count_nonzero(step & inside) for step in clear]
    return np.array(counts, dtype="int64").reshape(1, 1, -1)
