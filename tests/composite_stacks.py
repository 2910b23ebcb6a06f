"""Composite stacks as the project writes them (``StackWriter``: ZSTD, pixel-interleaved,
128-cell tiles), for tests of the zonal reader."""

import numpy as np
from affine import Affine

from raster_collect_plugin.core.outputs.files import StackWriter

CRS = "EPSG:32756"
TRANSFORM = Affine(10, 0, 500_000, 0, -10, 7_000_000)


def write_stack(path, values: np.ndarray):
    """``values`` (bands, rows, cols) float32 as the project's composite file at ``path``."""
    bands, height, width = values.shape
    writer = StackWriter(path, count=bands, height=height, width=width, dtype="float32",
                         transform=TRANSFORM, crs=CRS, nodata=float("nan"), fill=float("nan"),
                         band_descriptions=[f"period {b + 1}" for b in range(bands)])
    for band in range(bands):
        writer.write(band, values[band])
    writer.finish()
    return path
