"""Writing results: Cloud-Optimized GeoTIFFs and sidecar metadata, always atomically.

Every file is written to a temporary name in the destination folder and renamed into place, so
an interrupted run never leaves a half-written file that a later run would trust.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Dict, Iterator, Optional, Sequence, Union

import numpy as np
import rasterio
from affine import Affine

PathLike = Union[str, Path]


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
        yield temp_path
        os.replace(temp_path, destination)
    finally:
        if temp_path.exists():
            temp_path.unlink()


def write_json(destination: PathLike, payload: Dict[str, Any]) -> Path:
    """Write JSON atomically (pretty-printed, keys in insertion order)."""
    with atomic_path(destination) as temp:
        temp.write_text(json.dumps(payload, indent=2, default=str), encoding="utf-8")
    return Path(destination)


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
    """
    array = data[np.newaxis] if data.ndim == 2 else data
    count, height, width = array.shape
    profile = {
        "driver": "COG",
        "width": width,
        "height": height,
        "count": count,
        "dtype": array.dtype.name,
        "crs": crs,
        "transform": transform,
        "nodata": nodata,
        "compress": "DEFLATE",
        "blocksize": blocksize,
        "overviews": "AUTO" if overviews else "NONE",
        "resampling": "NEAREST",
    }
    if array.dtype.kind == "f":
        profile["predictor"] = 3
    elif array.dtype.kind in "iu":
        profile["predictor"] = 2
    with atomic_path(destination) as temp:
        with rasterio.open(temp, "w", **profile) as dataset:
            dataset.write(array)
            for index, description in enumerate(band_descriptions or [], start=1):
                dataset.set_band_description(index, description)
            if tags:
                dataset.update_tags(**tags)
    return Path(destination)


class StackWriter:
    """A multi-band COG written one band at a time, so only one band is ever in memory.

    Bands go to a tiled scratch GeoTIFF; ``finish`` converts it to a COG at ``destination``
    (atomically). Bands never written keep the fill value.
    """

    def __init__(self, destination: PathLike, *, count: int, height: int, width: int,
                 dtype: str, transform: Affine, crs: Any, nodata: Optional[float],
                 fill: float, band_descriptions: Sequence[str],
                 tags: Optional[Dict[str, str]] = None):
        self.destination = Path(destination)
        self.scratch = self.destination.with_name(f".{self.destination.stem}.scratch.tif")
        profile = {"driver": "GTiff", "width": width, "height": height, "count": count,
                   "dtype": dtype, "crs": crs, "transform": transform, "nodata": nodata,
                   "tiled": True, "blockxsize": 256, "blockysize": 256, "compress": "DEFLATE",
                   "BIGTIFF": "IF_SAFER"}
        self.dataset = rasterio.open(self.scratch, "w", **profile)
        self.fill, self.count, self.shape = fill, count, (height, width)
        self.descriptions, self.tags, self.nodata = list(band_descriptions), tags, nodata
        self.written = set()

    def write(self, band: int, data: np.ndarray) -> None:
        """Write 0-based ``band``."""
        self.dataset.write(data.astype(self.dataset.dtypes[0], copy=False), band + 1)
        self.written.add(band)

    def finish(self) -> Path:
        blank = None
        for band in range(self.count):
            if band not in self.written:
                blank = blank if blank is not None else np.full(self.shape, self.fill,
                                                                self.dataset.dtypes[0])
                self.dataset.write(blank, band + 1)
            if band < len(self.descriptions):
                self.dataset.set_band_description(band + 1, self.descriptions[band])
        if self.tags:
            self.dataset.update_tags(**self.tags)
        self.dataset.close()
        options = {"driver": "COG", "compress": "DEFLATE", "blocksize": 256,
                   "overviews": "AUTO", "resampling": "NEAREST", "BIGTIFF": "IF_SAFER"}
        try:
            with atomic_path(self.destination) as temp:
                from rasterio.shutil import copy as copy_dataset

                copy_dataset(self.scratch, temp, **options)
        finally:
            self.scratch.unlink(missing_ok=True)
        return self.destination

    def abort(self) -> None:
        if not self.dataset.closed:
            self.dataset.close()
        self.scratch.unlink(missing_ok=True)
