"""GDAL's CreateCopy with a progress callback, so a long COG copy stops when the run is stopped.

``rasterio.shutil.copy`` is one C call with no progress callback: a SIGTERM (Ctrl-C, Cancel in
QGIS) waited until a long stack's COG was complete. Here the same GDAL (the one rasterio loaded)
is called through ctypes with a callback that returns 0 (abort) once a stop is asked; the copy
runs in the calling thread (in a helper thread its allocations went to a fresh malloc arena
and a composite job's peak memory grew by a quarter). Where the library's functions cannot be
reached (a platform that does not export them through rasterio's module), ``rasterio.shutil.copy``
does the copy and a stop is honoured when it returns.
"""

from __future__ import annotations

import ctypes
from pathlib import Path
from typing import Any, Callable, Dict, Optional

_PROGRESS = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_double, ctypes.c_char_p, ctypes.c_void_p)
_OPEN_RASTER_READ_ONLY_VERBOSE = 0x02 | 0x40  # GDAL_OF_RASTER | GDAL_OF_VERBOSE_ERROR
_library: Optional[Any] = None


class CopyStopped(Exception):
    """The progress callback asked GDAL to stop; the partial copy is the caller's to remove."""


def _gdal() -> Optional[Any]:
    """The GDAL library rasterio loaded, with the few signatures used here; None if its
    functions cannot be reached from rasterio's extension module."""
    global _library
    if _library is None:
        try:
            import rasterio._base

            lib = ctypes.CDLL(rasterio._base.__file__)
            voidp, charp = ctypes.c_void_p, ctypes.c_char_p
            for name, argtypes, restype in (
                    ("GDALOpenEx", [charp, ctypes.c_uint, voidp, voidp, voidp], voidp),
                    ("GDALGetDriverByName", [charp], voidp),
                    ("GDALCreateCopy", [voidp, charp, voidp, ctypes.c_int,
                                        ctypes.POINTER(charp), _PROGRESS, voidp], voidp),
                    ("GDALClose", [voidp], ctypes.c_int),
                    ("CPLErrorReset", [], None),
                    ("CPLGetLastErrorMsg", [], charp)):
                function = getattr(lib, name)
                function.argtypes, function.restype = argtypes, restype
        except (OSError, AttributeError, ImportError):
            _library = False
        else:
            _library = lib
    return _library or None


def _gdal_error(lib: Any, what: str) -> Exception:
    from rasterio.errors import RasterioIOError

    message = (lib.CPLGetLastErrorMsg() or b"").decode("utf-8", "replace").strip()
    return RasterioIOError(f"{what}: {message}" if message else what)


def copy_raster(source: Path, destination: Path, *, driver: str,
                stopped: Callable[[], bool], **creation_options: Any) -> None:
    """Copy ``source`` to ``destination`` with GDAL's ``driver`` (creation options as
    ``rasterio.shutil.copy`` takes them). Raises :class:`CopyStopped` soon after ``stopped()``
    turns true (GDAL reports progress every few tiles); the partial ``destination`` may remain."""
    from rasterio.env import env_ctx_if_needed

    lib = _gdal()
    with env_ctx_if_needed():  # rasterio's GDAL settings, as rasterio.shutil.copy has them
        if lib is None:
            from rasterio.shutil import copy as copy_dataset

            copy_dataset(source, destination, driver=driver, **creation_options)
            if stopped():
                raise CopyStopped(str(destination))
            return
        _copy(lib, source, destination, driver, stopped, creation_options)


def _copy(lib: Any, source: Path, destination: Path, driver: str,
          stopped: Callable[[], bool], creation_options: Dict[str, Any]) -> None:
    def progress(_complete: float, _message: bytes, _data: Any) -> int:
        return 0 if stopped() else 1

    callback = _PROGRESS(progress)  # referenced until GDALCreateCopy returns
    encoded = [f"{key}={value}".upper().encode("utf-8")
               for key, value in creation_options.items()]
    options = (ctypes.c_char_p * (len(encoded) + 1))(*encoded, None)
    lib.CPLErrorReset()
    handle = lib.GDALGetDriverByName(driver.encode("utf-8"))
    if not handle:
        raise _gdal_error(lib, f"GDAL has no {driver} driver")
    source_handle = lib.GDALOpenEx(str(source).encode("utf-8"),
                                   _OPEN_RASTER_READ_ONLY_VERBOSE, None, None, None)
    if not source_handle:
        raise _gdal_error(lib, f"cannot open {source}")
    try:
        copied = lib.GDALCreateCopy(handle, str(destination).encode("utf-8"), source_handle,
                                    0, options, callback, None)
        if not copied:
            if stopped():
                raise CopyStopped(str(destination))
            raise _gdal_error(lib, f"cannot write {destination}")
        if lib.GDALClose(copied) != 0:  # CE_None: the last blocks were flushed
            raise _gdal_error(lib, f"cannot write {destination}")
    finally:
        lib.GDALClose(source_handle)
