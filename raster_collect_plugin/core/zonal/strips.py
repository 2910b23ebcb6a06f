"""The strip reader: decodes each file block of a stack once, top to bottom, into a ring of
rows with a bounded read-ahead, for the zonal reduction to gather zones' cells from (the
composites' tiles by libzstd itself, ``zstd_tiles``; other files by GDAL)."""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import numpy as np

from .zstd_tiles import TileDecoder, ZstdTiles

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


class StripReader:
    """Reads the file blocks under a set of windows, strip after strip of block rows, top to
    bottom, into a ring of rows (raster row r at ring row r modulo the ring's height). The
    ring is pixel-interleaved, like the composites themselves: a zone's cells are gathered
    from one stretch of memory per row whatever the number of bands. Reading runs in
    background threads: one when GDAL decodes a stack's tiles in parallel itself
    (``decode_threads``), else ``threads`` with a file handle each (strips taken in turn). No
    strip overwrites rows at or below the ``release``d row; ``wait_for`` returns once every
    row above a given row is in; ``positions`` and ``take`` find and copy out cells.

    Two layouts of the ring. GDAL copies its decoded tiles into ``values``, (rows, cols,
    bands). Files whose tiles libzstd decompresses itself (``RasterStack.zstd_tiles``) get a
    ring each in ``layers``, (tile columns, rows, tile width, bands), where every tile is one
    contiguous stretch libzstd writes into, nothing copied after.

    ``windows`` are (row0, col0, height, width); the ring's columns span all of them. File
    blocks no window touches are not read (whole strips, and runs of blocks within one)."""

    def __init__(self, stack, windows: Sequence[Tuple[int, int, int, int]], *,
                 threads: Optional[int] = None):
        import threading

        self.stack = stack
        finder = getattr(stack, "zstd_tiles", None)
        self.tiles: Optional[List[ZstdTiles]] = finder() if finder is not None else None
        decode_threads = getattr(stack, "decode_threads", 1)
        if threads is None:
            threads = max(decode_threads, 2) if self.tiles else \
                1 if decode_threads > 1 else 2
        block = max(1, getattr(stack, "block_rows", 1))
        if block == 1:
            block = 256  # in-memory or untiled: strips of 256 rows
        tile = max(1, getattr(stack, "block_cols", 1))
        if tile == 1:
            tile = 256  # an array: read in runs of 256 columns
        if self.tiles:
            block, tile = self.tiles[0].tile_height, self.tiles[0].tile_width
        # (a file in strips has blocks as wide as itself: its rows are read whole, once)
        self.col0 = min(w[1] for w in windows)
        end_col = max(w[1] + w[3] for w in windows)
        if self.tiles:  # whole tiles: the ring starts and ends on tile edges
            self.col0 = self.col0 // tile * tile
            end_col = -(-end_col // tile) * tile
        width = end_col - self.col0
        self.tile_width = tile
        touched: dict = {}  # strip -> the tile columns windows cover in it
        for row0, col0, height, cols in windows:
            tiles = range(col0 // tile, (col0 + cols - 1) // tile + 1)
            for strip in range(row0 // block, (row0 + height - 1) // block + 1):
                touched.setdefault(strip, set()).update(tiles)
        self.block = block
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
        self.ring_rows, self.width = ring, width
        self.values: Optional[np.ndarray] = None
        self.layers: List[Tuple[np.ndarray, int]] = []  # (a file's ring, its first band)
        if self.tiles:
            first = 0
            for source in self.tiles:
                self.layers.append((_plain_pages((width // tile, ring, tile, source.bands),
                                                 source.dtype), first))
                first += source.bands
        else:
            self.values = _plain_pages((ring, width, stack.shape[0]), stack.dtype)
        self.mask: Optional[np.ndarray] = None
        if self.values is not None and getattr(stack, "has_mask_band", False) and \
                getattr(stack, "use_mask", True):
            self.mask = _plain_pages(self.values.shape, bool)
            self.mask[...] = True
        self._condition = threading.Condition()
        self._done = [False] * len(self.strips)
        self._read_to = 0  # every needed row above this is in
        self._next = 0  # strips before this one are read (in order)
        self._released = 0  # rows above this are no longer needed
        self._error: Optional[BaseException] = None
        self._stopped = False
        self._handles = [stack] + ([] if self.tiles else
                                   [stack.clone() for _ in range(threads - 1)])
        self._threads = [threading.Thread(target=self._run,
                                          args=(self._handles[k] if k < len(self._handles)
                                                else None, k, threads),
                                          name=f"raster-collect-strips-{k}", daemon=True)
                         for k in range(threads)]
        for thread in self._threads:
            thread.start()

    def _run(self, handle, first: int, step: int) -> None:
        ring = self.ring_rows
        decoders: List[TileDecoder] = []
        try:
            decoders = [source.decoder() for source in self.tiles or ()]
            for n in range(first, len(self.strips), step):
                start, end = self.strips[n]
                # a tile is decompressed whole: the bottom strip's rows beyond the raster
                # overwrite ring rows too, which must have been released
                written = start + self.block if decoders else end
                with self._condition:
                    while not self._stopped and written - ring > self._released:
                        self._condition.wait()
                    if self._stopped:
                        return
                at = start % ring
                for first_col, last_col in self.runs[n]:
                    if decoders:
                        self._decode_tiles(decoders, start // self.block, at, first_col,
                                           last_col)
                    else:
                        self._read_run(handle, start, end, at, first_col, last_col)
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
        finally:
            for decoder in decoders:
                decoder.close()

    def _read_run(self, handle, start: int, end: int, at: int, first_col: int,
                  last_col: int) -> None:
        """GDAL reads rows start..end of ring columns first_col..last_col into the ring."""
        rows, cols = slice(at, at + end - start), slice(first_col, last_col)
        target = self.values[rows, cols].transpose(2, 0, 1)  # a view
        data, mask = handle.read_values(start, self.col0 + first_col, end - start,
                                        last_col - first_col, out=target)
        if data is not target:
            target[...] = data
        if self.mask is not None:
            self.mask[rows, cols] = True if mask is None else mask.transpose(1, 2, 0)

    def _decode_tiles(self, decoders: Sequence[TileDecoder], tile_row: int, at: int,
                      first_col: int, last_col: int) -> None:
        """libzstd decompresses the tiles of ring columns first_col..last_col of tile row
        ``tile_row``, each file's into its own ring, at ring row ``at``."""
        tile, first_tile = self.tile_width, self.col0 // self.tile_width
        columns = range(first_col // tile, -(-last_col // tile))
        for decoder, (layer, _) in zip(decoders, self.layers):
            decoder.decode_row(tile_row, [first_tile + column for column in columns],
                               [layer[column, at:at + self.block] for column in columns])

    def positions(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Where raster cells (rows, cols) are in the ring: the index ``take`` uses."""
        cols = cols - self.col0
        if not self.layers:
            return rows % self.ring_rows * self.width + cols
        column, within = np.divmod(cols, self.tile_width)
        return (column * self.ring_rows + rows % self.ring_rows) * self.tile_width + within

    def take(self, index: np.ndarray) -> Tuple[np.ndarray, Optional[np.ndarray]]:
        """(values, the mask band's "valid" or None): (bands, *index.shape) copies of the
        cells at ``positions`` ``index``."""
        if not self.layers:
            return (_take_pixels(self.values, index),
                    None if self.mask is None else _take_pixels(self.mask, index))
        if len(self.layers) == 1:
            return _take_pixels(self.layers[0][0], index), None
        values = np.empty((self.stack.shape[0], *index.shape), self.stack.dtype)
        for layer, first in self.layers:
            values[first:first + layer.shape[-1]] = _pixels_at(layer, index)
        return values, None

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


def _pixels_at(ring: np.ndarray, index: np.ndarray) -> np.ndarray:
    """(bands, *index.shape), a view: the cells of a pixel-interleaved ring (bands last) at
    flat cell positions ``index``. A cell's bands are adjacent: one stretch of memory per zone
    row, whatever the number of bands (7x faster than a band-sequential take, which misses
    the cache once per band)."""
    cells = np.take(ring.reshape(-1, ring.shape[-1]), index, axis=0)  # (*index, bands)
    return np.moveaxis(cells, -1, 0)


def _take_pixels(ring: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``_pixels_at`` as a contiguous array."""
    return np.ascontiguousarray(_pixels_at(ring, index))
