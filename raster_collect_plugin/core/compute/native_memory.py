"""Process-wide tuning of the C allocator for the engine's raster reads.

GDAL decodes the tiles of a read in parallel (``NUM_THREADS``) into a buffer it allocates and
frees per tile: a tile's cells x every band, 6.3 MB for 256 x 256 cells of a 24-period float32
composite. With
glibc's defaults, buffers that size are each a fresh memory mapping whose pages fault in again
on every tile: decoding a 1.7 GB composite then cost 1.3-1.5 s of system time, against 0.1 s
when freed buffers are kept for reuse. The engine runs in its own process (never inside QGIS),
so the setting affects only it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
REUSED_BUFFER_BYTES = 32 * 2**20  # buffers up to this size come from (and go back to) the heap

_tuned = False


def reuse_freed_buffers() -> bool:
    """Keep freed buffers of up to ``REUSED_BUFFER_BYTES`` for reuse (glibc only; elsewhere
    nothing changes). Idempotent; True when the allocator is tuned."""
    global _tuned
    if _tuned or not sys.platform.startswith("linux"):
        return _tuned
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # setting both also stops glibc's own adjustment of the thresholds
    _tuned = bool(mallopt(_M_MMAP_THRESHOLD, REUSED_BUFFER_BYTES)) and \
        bool(mallopt(_M_TRIM_THRESHOLD, REUSED_BUFFER_BYTES))
    return _tuned
