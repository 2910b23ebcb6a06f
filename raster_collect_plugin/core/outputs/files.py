"""Writing results: Cloud-Optimized GeoTIFFs and sidecar metadata, always atomically.

Every file is written to a temporary name in the destination folder and renamed into place, so
an interrupted run never leaves a half-written file that a later run would trust.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Union

import numpy as np
import rasterio
from affine import Affine
from rasterio.enums import Resampling

from ..runs.file_replace import replace
from ..runs.storage import is_remote, put_file

PathLike = Union[str, Path]
# Composite stacks: ZSTD without a predictor decodes ~10x faster than DEFLATE at the same size
# on noisy float32 indices (every zonal read decodes the whole stack); GDAL >= 2.3 reads it.
# Neither a higher level nor the floating-point predictor decodes faster (PREDICTOR=3: 13 %
# smaller, 35 % more CPU to decode; issue 31, round 11).
STACK_COMPRESSION = {"compress": "ZSTD", "zstd_level": 1}
# The scratch file a stack is written into, one band at a time: band-interleaved, so writing a
# band never reads back and recompresses the tiles of the others (a 24-period 4000 x 4000
# stack: 22 s instead of 29 s, making its values included).
# The COG itself stays pixel-interleaved: a window of every period is one byte range, which
# matters over S3/HTTP (band-interleaved stacks took 4.7x longer to read from an S3 server).
SCRATCH_LAYOUT = {"tiled": True, "blockxsize": 256, "blockysize": 256, "interleave": "band",
                  **STACK_COMPRESSION, "BIGTIFF": "IF_SAFER"}
# The composites' tiles: 128 x 128 cells x every period (1.5 MB for 24 float32 periods) are
# decoded within a core's cache before GDAL copies them out; reading a 24-period 4000 x 4000
# stack for zonal statistics took 8 % less time than with 256 x 256 tiles.
STACK_BLOCK_SIZE = 128
# A COG's overviews are built on the band-interleaved scratch file, a band at a time, before the
# COG driver copies them. Left to the driver, they were made from the pixel-interleaved copy in
# chunks of every band that GDAL's block cache could not hold once a stack was wide or long: a
# 120-period 2000 x 2000 stack took 280 CPU-s (7 with the overviews built here), a 600-period
# 424 x 411 one 34 (2.7). The driver's levels are kept: halving, rounded down, until the image
# fits one tile; each level is rounded up here (GDAL's rule for added overviews), so a side of
# odd length has one more overview row or column than the driver made.


def cog_overview_factors(width: int, height: int, block: int) -> List[int]:
    """The overview factors GDAL's COG driver gives an image: halving (rounded down) until it
    fits one ``block`` x ``block`` tile."""
    factors: List[int] = []
    factor = 1
    while width // factor > block or height // factor > block:
        factor *= 2
        factors.append(factor)
    return factors


@contextlib.contextmanager
def finished_file(destination: PathLike) -> Iterator[Path]:
    """Yield a local temporary path; on success it becomes ``destination``: renamed into place
    for a local folder, uploaded in one PUT for an object store (``s3://``, no rename there).
    Nothing is left behind on failure, locally or remotely."""
    if not is_remote(destination):
        with atomic_path(destination) as temp:
            yield temp
        return
    folder = Path(tempfile.mkdtemp(prefix=".raster-collect-upload-"))
    try:
        temp = folder / str(destination).rstrip("/").rsplit("/", 1)[-1]
        yield temp
        put_file(temp, destination)
    finally:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def atomic_path(destination: PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``destination``; rename it into place on success."""
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(
        prefix=f".{destination.stem}.", suffix=".part" + destination.suffix,
        dir=destination.parent,
    )
    os.close(handle)
    temp_path = Path(temp_name)
    temp_path.unlink()
    try:
        try:
            yield temp_path
        except Exception as error:  # GDAL's GeoPackage writer says "no such table", not ENOSPC
            full = disk_full_error(error, destination)  # before the partial file is freed
            if full is not None:
                raise full from error
            raise
        replace(temp_path, destination)  # retried: on Windows QGIS may hold the old one open
    finally:
        if temp_path.exists():
            temp_path.unlink()


def write_json(destination: PathLike, payload: Dict[str, Any]) -> Path:
    """Write JSON atomically (pretty-printed, keys in insertion order)."""
    with finished_file(destination) as temp:
        temp.write_text(json.dumps(payload, indent=2, default=str), encoding="utf-8")
    return destination if is_remote(destination) else Path(destination)


# a write that fails while its disk has less than this left is reported as a full disk: GDAL's
# TIFF writer says "IO error writing tag data", without the system's ENOSPC
FULL_DISK_BYTES = 16 * 1024 * 1024


def disk_full_error(error: BaseException, destination: PathLike) -> Optional[OSError]:
    """``error`` as ``OSError(ENOSPC)`` when writing ``destination`` (a local path) failed
    because its disk is (nearly) full; None when that is not the cause."""
    if isinstance(error, OSError) and error.errno is not None or is_remote(destination):
        return None
    folder = Path(destination).parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return None
    if free >= FULL_DISK_BYTES:
        return None
    reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return OSError(errno.ENOSPC, f"No space left on device writing {destination} ({reason})")


def write_cog(
    destination: PathLike,
    data: np.ndarray,
    *,
    transform: Affine,
    crs: Any,
    nodata: Optional[float] = None,
    band_descriptions: Optional[Sequence[str]] = None,
    tags: Optional[Dict[str, str]] = None,
    blocksize: int = 256,
    overviews: bool = True,
) -> Path:
    """Write a (bands, rows, cols) or (rows, cols) array as a Cloud-Optimized GeoTIFF.

    Band descriptions (e.g. the composite periods) and dataset tags are stored in the file.
    ``destination`` may be an object-store URL (``s3://``; not ``/vsis3/``, which cannot be
    renamed): the file is built locally and uploaded once.
    """
    if str(destination).startswith("/vsis3/"):
        destination = "s3://" + str(destination)[len("/vsis3/"):]
    array = data[np.newaxis] if data.ndim == 2 else data
    count, height, width = array.shape
    options: Dict[str, Any] = {"driver": "COG", "compress": "DEFLATE", "blocksize": blocksize,
                               "overviews": "AUTO" if overviews else "NONE",
                               "resampling": "NEAREST"}
    if array.dtype.kind == "f":
        options["predictor"] = 3
    elif array.dtype.kind in "iu":
        options["predictor"] = 2
    scratch_profile = {"driver": "GTiff", "width": width, "height": height, "count": count,
                       "dtype": array.dtype.name, "crs": crs, "transform": transform,
                       "nodata": nodata, "tiled": True, "blockxsize": blocksize,
                       "blockysize": blocksize,
                       "BIGTIFF": "IF_SAFER"}
    try:
        with finished_file(destination) as temp:
            # uncompressed: as fast as rasterio's in-memory copy was (ZSTD: a third slower)
            scratch = temp.with_name(f"{temp.stem}.scratch.tif")  # a partial's name
            try:
                with rasterio.open(scratch, "w", **scratch_profile) as dataset:
                    dataset.write(array)
                    for index, description in enumerate(band_descriptions or [], start=1):
                        dataset.set_band_description(index, description)
                    if tags:
                        dataset.update_tags(**tags)
                _copy_interruptibly(scratch, temp, options)
            finally:
                scratch.unlink(missing_ok=True)
    except Exception as error:
        full = disk_full_error(error, destination)
        if full is not None:
            raise full from error
        raise
    return destination if is_remote(destination) else Path(destination)


def _copy_interruptibly(scratch: Path, temp: Path, options: Dict[str, Any]) -> None:
    """Copy a finished scratch GeoTIFF into the COG ``temp`` (``finished_file``'s path): one
    GDAL call, run where it is called (in a helper thread a composite job's peak memory grew
    by a quarter, 640 -> 806 MB); its progress callback stops it once Ctrl-C/SIGTERM arrives
    (rasterio's COG writer copies on close with no callback: a large single COG ran to its end),
    and the partial COG goes with ``temp``."""
    from ..compute.interrupts import check_interrupted, deferred_signals, interrupted
    from .cog_copy import copy_raster

    check_interrupted()
    with deferred_signals():
        copy_raster(scratch, temp, stopped=interrupted, **options)


class StackWriter:
    """A multi-band COG written one band at a time, so only one band is ever in memory.

    Bands go to a tiled scratch GeoTIFF; ``finish`` converts it to a COG at ``destination``
    (atomically; uploaded once when it is an object-store URL, the scratch then lives in a
    local temporary folder). Bands never written keep the fill value.
    """

    def __init__(self, destination: PathLike, *, count: int, height: int, width: int,
                 dtype: str, transform: Affine, crs: Any, nodata: Optional[float],
                 fill: float, band_descriptions: Sequence[str],
                 tags: Optional[Dict[str, str]] = None):
        self.remote = is_remote(destination)
        self.destination = destination if self.remote else Path(destination)
        stem = str(destination).rstrip("/").rsplit("/", 1)[-1].rsplit(".", 1)[0]
        folder = Path(tempfile.mkdtemp(prefix=".raster-collect-scratch-")) if self.remote \
            else self.destination.parent
        self.scratch = folder / f".{stem}.scratch.tif"
        # sparse: a tile never written takes no space and reads as nodata (0 without one), so
        # a band that keeps such a fill (a period without scenes) costs nothing to write
        profile = {"driver": "GTiff", "width": width, "height": height, "count": count,
                   "dtype": dtype, "crs": crs, "transform": transform, "nodata": nodata,
                   "SPARSE_OK": True, **SCRATCH_LAYOUT}
        self.dataset = rasterio.open(self.scratch, "w", **profile)
        self.fill, self.count, self.shape = fill, count, (height, width)
        self.descriptions, self.tags, self.nodata = list(band_descriptions), tags, nodata
        self.written = set()

    def write(self, band: int, data: np.ndarray) -> None:
        """Write 0-based ``band``."""
        self.dataset.write(data.astype(self.dataset.dtypes[0], copy=False), band + 1)
        self.written.add(band)

    def write_window(self, band: int, rows, cols, data: np.ndarray) -> None:
        """Write a (bands, rows, cols) block from 0-based ``band`` at ``rows``/``cols``
        ((start, stop) pixel ranges)."""
        from rasterio.windows import Window

        window = Window(cols[0], rows[0], cols[1] - cols[0], rows[1] - rows[0])
        indexes = list(range(band + 1, band + 1 + data.shape[0]))
        self.dataset.write(data.astype(self.dataset.dtypes[0], copy=False), indexes=indexes,
                           window=window)
        self.written.update(range(band, band + data.shape[0]))

    def finish(self) -> Path:
        from ..compute.interrupts import check_interrupted

        blank = None
        sparse_fill = _reads_as(self.fill, self.nodata, self.dataset.dtypes[0])
        for band in range(self.count):
            check_interrupted()  # Ctrl-C/SIGTERM: a long stack stops here, not at its end
            if band not in self.written and not sparse_fill:
                blank = blank if blank is not None else np.full(self.shape, self.fill,
                                                                self.dataset.dtypes[0])
                self.dataset.write(blank, band + 1)
            if band < len(self.descriptions):
                self.dataset.set_band_description(band + 1, self.descriptions[band])
        if self.tags:
            self.dataset.update_tags(**self.tags)
        factors = cog_overview_factors(self.dataset.width, self.dataset.height,
                                       STACK_BLOCK_SIZE)
        if factors:
            with rasterio.Env(COMPRESS_OVERVIEW=STACK_COMPRESSION["compress"],
                              ZSTD_LEVEL_OVERVIEW=STACK_COMPRESSION["zstd_level"]):
                self.dataset.build_overviews(factors, Resampling.nearest)
        self.dataset.close()
        options = {"driver": "COG", "compress": "ZSTD", "level": 1,
                   "blocksize": STACK_BLOCK_SIZE,
                   "overviews": "AUTO", "resampling": "NEAREST", "BIGTIFF": "IF_SAFER"}
        try:
            with finished_file(self.destination) as temp:
                _copy_interruptibly(self.scratch, temp, options)
        finally:
            self._drop_scratch()
        return self.destination

    def _drop_scratch(self) -> None:
        self.scratch.unlink(missing_ok=True)
        if self.remote:
            import shutil

            shutil.rmtree(self.scratch.parent, ignore_errors=True)

    def abort(self) -> None:
        if not self.dataset.closed:
            self.dataset.close()
        self._drop_scratch()


def _reads_as(fill: float, nodata: Optional[float], dtype: str) -> bool:
    """Whether a sparse (never written) tile of a ``dtype`` file with this ``nodata`` reads as
    ``fill``: GDAL gives nodata, or 0 without one."""
    blank = np.asarray(0 if nodata is None else nodata, dtype=dtype)
    wanted = np.asarray(fill, dtype=dtype)
    return bool(np.array_equal(blank, wanted, equal_nan=wanted.dtype.kind == "f"))


def zarr_stack_to_cog(store: str, component: str, destination: PathLike, *,
                      transform: Affine, crs: Any, nodata: Optional[float], fill: float,
                      band_descriptions: Sequence[str], tags: Optional[Dict[str, str]] = None,
                      written: Sequence[bool] = ()) -> str:
    """Convert the (bands, rows, cols) Zarr array ``store``/``component`` into a COG at
    ``destination``, one band in memory at a time. A unit of work for a dask worker: it reads
    the scratch store where it is (local folder or object store) and writes or uploads the
    COG itself, so no pixel passes through the client. Bands flagged False in ``written`` keep
    ``fill`` (they were never computed)."""
    import zarr

    from ..runs.storage import filesystem

    fs, root = filesystem(store)
    # the mapper opened at the array itself: zarr 3 refuses path= with a mapper (zarr 2 and 3)
    array = zarr.open_array(fs.get_mapper(f"{str(root).rstrip('/')}/{component}"), mode="r")
    count, height, width = array.shape
    writer = StackWriter(destination, count=count, height=height, width=width,
                         dtype=array.dtype.name, transform=transform, crs=crs, nodata=nodata,
                         fill=fill, band_descriptions=band_descriptions, tags=tags)
    try:
        for band in range(count):
            if band < len(written) and not written[band]:
                continue
            writer.write(band, array[band])
        return str(writer.finish())
    except BaseException as error:
        full = disk_full_error(error, destination)  # before abort frees the partial file
        writer.abort()
        if full is not None:
            raise full from error
        raise
