"""The composites' tiles decompressed by libzstd itself, straight into the zonal reader's ring.

A composite stack is a local GeoTIFF in 128 x 128 tiles, ZSTD without a predictor, every
period of a cell together (``outputs.files``). Read through GDAL, each tile is decompressed
into a buffer of GDAL's, which is cleared and then copied into the reader's ring. Here each
row of tiles is mapped from the file and libzstd writes each tile where the ring wants it:
28 % less CPU to read a 24-period 4000 x 4000 stack on 2 cores (issue 31), the same values
bit for bit (``tests/test_zstd_tiles.py`` compares them with GDAL's). Any other file (another
codec, a predictor, band-interleaved, strips, a mask band, a subset of its bands, a remote
file), or a Python where no libzstd can be found, is read through GDAL as before.

libzstd comes from where GDAL's own comes from: the library rasterio's wheel bundles (Linux,
macOS, Windows), else the system's.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import mmap
import os
import sys
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np

_UNSET = object()
_library = _UNSET


def libzstd() -> Optional[ctypes.CDLL]:
    """libzstd through ctypes (found once per process), or None when there is none."""
    global _library
    if _library is _UNSET:
        _library = _load_libzstd()
    return _library


def _candidates() -> List[str]:
    """The zstd libraries to try: those bundled with rasterio's wheel (the one its GDAL
    already loaded: ``rasterio.libs`` on Linux and Windows, ``rasterio/.dylibs`` on macOS),
    then the system's."""
    import rasterio

    package = os.path.dirname(rasterio.__file__)
    found = []
    for folder in (package + ".libs", os.path.join(package, ".dylibs")):
        for pattern in ("libzstd*.so*", "libzstd*.dylib", "zstd*.dll", "libzstd*.dll"):
            found.extend(sorted(glob.glob(os.path.join(folder, pattern))))
    system = ctypes.util.find_library("zstd")
    if system:
        found.append(system)
    return found


def _load_libzstd() -> Optional[ctypes.CDLL]:
    for candidate in _candidates():
        try:
            library = ctypes.CDLL(candidate)  # ctypes releases the GIL in its calls
            library.ZSTD_createDCtx.restype = ctypes.c_void_p
            library.ZSTD_createDCtx.argtypes = []
            library.ZSTD_freeDCtx.restype = ctypes.c_size_t
            library.ZSTD_freeDCtx.argtypes = [ctypes.c_void_p]
            library.ZSTD_decompressDCtx.restype = ctypes.c_size_t
            library.ZSTD_decompressDCtx.argtypes = [ctypes.c_void_p, ctypes.c_void_p,
                                                    ctypes.c_size_t, ctypes.c_void_p,
                                                    ctypes.c_size_t]
            library.ZSTD_isError.restype = ctypes.c_uint
            library.ZSTD_isError.argtypes = [ctypes.c_size_t]
            library.ZSTD_getErrorName.restype = ctypes.c_char_p
            library.ZSTD_getErrorName.argtypes = [ctypes.c_size_t]
        except (OSError, AttributeError):  # not loadable here, or not a libzstd
            continue
        return library
    return None


@dataclass(frozen=True)
class ZstdTiles:
    """A pixel-interleaved ZSTD GeoTIFF whose tiles libzstd can decompress: each into
    (tile_height, tile_width, bands) values of ``dtype``; a tile the file lacks (a sparse
    file) is ``nodata``, or 0, as GDAL reads it."""

    path: str
    tile_height: int
    tile_width: int
    bands: int
    dtype: np.dtype
    nodata: Optional[float]

    @classmethod
    def of(cls, dataset, indexes: Sequence[int]) -> Optional[ZstdTiles]:
        """The tiles of an open rasterio ``dataset`` read with every band (``indexes``, in
        order), when libzstd can decompress them into the reader's ring; else None."""
        path = dataset.name
        structure = dataset.tags(ns="IMAGE_STRUCTURE")
        types = set(dataset.dtypes)
        if (libzstd() is None or dataset.driver != "GTiff" or not os.path.isfile(path)
                or structure.get("COMPRESSION") != "ZSTD"
                or structure.get("INTERLEAVE") != "PIXEL"
                or structure.get("PREDICTOR", "1") != "1" or "NBITS" in structure
                or list(indexes) != list(range(1, dataset.count + 1)) or len(types) != 1
                or not dataset.profile.get("tiled") or len(set(dataset.block_shapes)) != 1
                or sys.byteorder != "little" or not _little_endian_tiff(path)):
            return None
        tile_height, tile_width = dataset.block_shapes[0]
        return cls(path, int(tile_height), int(tile_width), dataset.count,
                   np.dtype(types.pop()), dataset.nodata)

    def decoder(self) -> TileDecoder:
        """A decoder of these tiles with its own file handles (one per reading thread)."""
        return TileDecoder(self)


def _little_endian_tiff(path: str) -> bool:
    with open(path, "rb") as file:
        return file.read(2) == b"II"


class TileDecoder:
    """Reads and decompresses tiles of one file into given arrays (not thread-safe: one per
    thread).

    A row of tiles is mapped into memory for as long as libzstd decompresses it (its tiles
    lie together in a COG): libzstd reads the compressed bytes from the page cache itself,
    where a read would first copy them (13 % less CPU to read a stack). Each tile's pages
    leave the process's memory once it is decompressed (``MADV_DONTNEED``; the page cache
    keeps them): a 24-period 4000 x 4000 stack's zonal run peaked at 610 MB, not 670 MB.
    Tiles scattered through the file are read one by one.
    The file's size is checked against its tiles first: a file cut short is an error, not a
    fault. (A file truncated in place while mapped would still fault the process; the
    project's writers replace files, they never truncate one being read.)"""

    def __init__(self, tiles: ZstdTiles):
        import rasterio

        self.tiles = tiles
        self._library = libzstd()
        # GDAL lists where the tiles are (only those asked for are looked up: a large raster's
        # tile index is read lazily)
        self._dataset = rasterio.open(tiles.path)
        self._file = open(tiles.path, "rb", buffering=0)
        self._size = os.fstat(self._file.fileno()).st_size
        self._compressed = np.empty(0, np.uint8)  # a scattered tile's bytes (reused)
        self._context = self._library.ZSTD_createDCtx()
        if not self._context:
            self.close()
            raise MemoryError("libzstd could not make a decompression context")

    def locate(self, tile_row: int, columns: Sequence[int]) -> Tuple[np.ndarray, np.ndarray]:
        """(offsets, sizes) in bytes of tiles (tile_row, each of ``columns``); 0 for a tile
        the file lacks."""
        offsets = np.zeros(len(columns), np.int64)
        sizes = np.zeros(len(columns), np.int64)
        for k, column in enumerate(columns):
            offset = self._dataset.get_tag_item(f"BLOCK_OFFSET_{column}_{tile_row}", "TIFF",
                                                bidx=1)
            size = self._dataset.get_tag_item(f"BLOCK_SIZE_{column}_{tile_row}", "TIFF",
                                              bidx=1)
            offsets[k], sizes[k] = int(offset or 0), int(size or 0)
        return offsets, sizes

    def decode_row(self, tile_row: int, columns: Sequence[int],
                   outs: Sequence[np.ndarray]) -> None:
        """Tiles (tile_row, each of ``columns``) into ``outs``: C-contiguous (tile_height,
        tile_width, bands) arrays of the file's type (edge tiles are whole in the file,
        padding included)."""
        tiles = self.tiles
        for out in outs:
            if not out.flags.c_contiguous or out.dtype != tiles.dtype or \
                    out.shape != (tiles.tile_height, tiles.tile_width, tiles.bands):
                raise ValueError("a tile is decompressed into a contiguous array of its shape")
        offsets, sizes = self.locate(tile_row, columns)
        present = (offsets > 0) & (sizes > 0)
        for out in (out for out, there in zip(outs, present) if not there):
            out[...] = 0 if tiles.nodata is None else tiles.nodata  # as GDAL reads it
        if not present.any():
            return
        columns = [column for column, there in zip(columns, present) if there]
        outs = [out for out, there in zip(outs, present) if there]
        offsets, sizes = offsets[present], sizes[present]
        first, end = int(offsets.min()), int((offsets + sizes).max())
        if end > self._size:
            raise OSError(f"{tiles.path}: tile row {tile_row} is cut short: the file is "
                          "truncated or being written; write it again")
        if end - first > 2 * int(sizes.sum()) + mmap.ALLOCATIONGRANULARITY:
            for column, offset, size, out in zip(columns, offsets, sizes, outs):
                self._read_tile(tile_row, column, int(offset), int(size), out)
            return  # scattered: each tile read on its own
        start = first // mmap.ALLOCATIONGRANULARITY * mmap.ALLOCATIONGRANULARITY
        with mmap.mmap(self._file.fileno(), end - start, access=mmap.ACCESS_READ,
                       offset=start) as mapped:
            view = np.frombuffer(mapped, np.uint8)
            try:
                base = view.ctypes.data - start
                released = 0  # bytes of the map whose pages have left the process's memory
                for column, offset, size, out in zip(columns, offsets, sizes, outs):
                    self._decompress(base + int(offset), int(size), out, tile_row, column)
                    done = (int(offset + size) - start) // mmap.PAGESIZE * mmap.PAGESIZE
                    if hasattr(mmap, "MADV_DONTNEED") and done > released:
                        mapped.madvise(mmap.MADV_DONTNEED, released, done - released)
                        released = done
            finally:
                del view  # the map closes only once no array uses it

    def _read_tile(self, tile_row: int, tile_col: int, offset: int, size: int,
                   out: np.ndarray) -> None:
        if self._compressed.size < size:
            self._compressed = np.empty(size, np.uint8)
        self._file.seek(offset)
        if self._file.readinto(memoryview(self._compressed)[:size]) != size:
            raise OSError(f"{self.tiles.path}: tile {tile_row},{tile_col} is cut short: the "
                          "file is truncated or being written; write it again")
        self._decompress(self._compressed.ctypes.data, size, out, tile_row, tile_col)

    def _decompress(self, address: int, size: int, out: np.ndarray, tile_row: int,
                    tile_col: int) -> None:
        library = self._library
        written = library.ZSTD_decompressDCtx(self._context, out.ctypes.data, out.nbytes,
                                              address, size)
        if library.ZSTD_isError(written) or written != out.nbytes:
            reason = library.ZSTD_getErrorName(written).decode() \
                if library.ZSTD_isError(written) else f"{written} bytes, not {out.nbytes}"
            raise OSError(f"{self.tiles.path}: tile {tile_row},{tile_col} does not decompress "
                          f"({reason}): the file is corrupt; write it again")

    def close(self) -> None:
        if getattr(self, "_context", None):
            self._library.ZSTD_freeDCtx(self._context)
            self._context = None
        self._dataset.close()
        self._file.close()
