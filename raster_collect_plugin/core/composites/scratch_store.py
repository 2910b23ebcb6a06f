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
        """Write a (rows, cols) ``block`` of 0-based ``band`` at ``rows``/``cols`` ((start,
        stop) pixel ranges)."""
        with self.lock, _disk_full_as_enospc(self.writer.destination):
            self.writer.write_window(band, rows, cols, block[np.newaxis])


def _finish(_stored: List, *, target: ScratchTarget) -> str:
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
                  blocks) -> Tuple[Dict[str, Delayed], List]:
    """Compute and write every period's composites chunk by chunk. ``periods[n]`` holds the
    period's lazy (time, y, x) inputs, band values (NaN where not clear) by band and the clear
    mask, or None for a period without scenes (its bands keep the writers' fill);
    ``compose`` turns one chunk's input blocks into its outputs by writer name.

    One task per period and chunk computes all of that chunk's outputs and writes them, so
    no composite waits in memory for its writer and no input waits for its other outputs
    (issue 31: with one lazy array per output, 0.7-1.2 GB of composites and loaded scenes
    queued on 4800-7200 px a side, growing with the AOI). Returns a delayed COG task per
    name (its value the COG's path; ``blocks`` turns the stored arrays into their blocks,
    so the task does not optimise them into a graph of its own) and per period (None without
    scenes) the pixels inside the AOI (``inside``) with a clear observation, then those
    clear in each of its time steps: a delayed (1 + time,) array."""
    targets = {name: ScratchTarget(writer) for name, writer in writers.items()}
    stored, clear_pixels = [], []
    for band, period in enumerate(periods):
        if period is None:
            clear_pixels.append(None)
            continue
        values, clear = period
        names = list(values)
        inputs = [values[name].rechunk({0: -1}) for name in names] + [clear.rechunk({0: -1})]
        written = da.map_blocks(
            _store_chunk, inside, *inputs, names=names, band=band, targets=targets,
            compose=compose, drop_axis=0, new_axis=2, dtype="int64",
            chunks=(*((1,) * len(sizes) for sizes in inside.chunks), (1 + clear.shape[0],)),
            meta=np.zeros((0, 0, 0), dtype="int64"),
            token=f"raster-collect-store-{band}-{uuid.uuid4().hex}")
        stored.append(written)
        # a delayed sum of the same blocks: an array sum would be optimised into a graph of
        # its own, writing the chunks a second time (after the COG tasks closed the files)
        clear_pixels.append(dask.delayed(_sum_counts)(blocks(written)))
    cogs = {name: dask.delayed(_finish, pure=False)([blocks(array) for array in stored],
                                                    target=targets[name])
            for name in writers}
    return cogs, clear_pixels


def _sum_counts(blocks: List) -> np.ndarray:
    """The (1 + time,) totals of one period's ``_store_chunk`` counts."""
    return np.block(blocks).sum(axis=(0, 1))


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
        targets[name].write(band, rows, cols, block)
    counts = [np.count_nonzero((outputs["clear_count"] > 0) & inside)]
    counts += [np.count_nonzero(step & inside) for step in clear]
    return np.array(counts, dtype="int64").reshape(1, 1, -1)
