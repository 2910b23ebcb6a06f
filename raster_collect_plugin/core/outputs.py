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
