"""Composite stacks stored straight into their COG's scratch GeoTIFF when dask runs on this
process's threads: no Zarr scratch store, so no compression, write and read-back of every
stack before the COG is made (issue 31). On a cluster the workers keep the Zarr store (they
may not share this machine's disk)."""

from __future__ import annotations

import contextlib
import threading
from typing import Iterator, List

import dask
import dask.array as da
import numpy as np

from ..outputs.files import StackWriter, disk_full_error


class ScratchTarget:
    """A stack's scratch file, written block by block from dask threads (one at a time: a
    GDAL dataset is not thread-safe)."""

    def __init__(self, writer: StackWriter):
        self.writer, self.lock = writer, threading.Lock()

    def __dask_tokenize__(self):
        return ("raster-collect-scratch", str(self.writer.scratch))

    def write(self, block: np.ndarray, location) -> None:
        (band, _), rows, cols = location
        with self.lock, _disk_full_as_enospc(self.writer.destination):
            self.writer.write_window(band, rows, cols, block)


def _store_block(block: np.ndarray, block_info=None, *, target: ScratchTarget) -> np.ndarray:
    target.write(block, block_info[0]["array-location"])
    return np.ones((1, 1, 1), dtype=bool)


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


def stack_to_cog(stack: da.Array, chunk: int, writer: StackWriter, blocks) -> dask.delayed:
    """A delayed task writing ``writer``'s COG once every block of the (band, y, x) ``stack``
    is in its scratch file; its value is the COG's path. ``blocks`` turns the stored array
    into its blocks (so the task does not optimise the array into a graph of its own)."""
    target = ScratchTarget(writer)
    stored = stack.rechunk((1, chunk, chunk)).map_blocks(
        _store_block, target=target, chunks=(1, 1, 1), dtype=bool,
        meta=np.ones((0, 0, 0), dtype=bool))
    return dask.delayed(_finish, pure=False)(blocks(stored), target=target)
