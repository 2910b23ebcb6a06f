"""A buffer in metres around cloud and shadow masks.

Cloud masks (Sentinel-2 SCL, Landsat QA_PIXEL) miss the hazy fringe of clouds and the soft
edge of their shadows: those pixels are labelled clear yet darkened or brightened, and in a
before/after comparison they look like change. Growing the masked area by a distance removes
most of that fringe at the cost of a little clear area. A pixel is masked when its centre lies
within ``buffer_m`` of the centre of a masked pixel (a disk, not a square).

The mask classes themselves live in ``masks.py``; this module only grows whatever they mask.
A run grows the pixels the mask bands mark where the mask band has data (``pixels/load.py``),
not the reflectance bands' no-data: the buffer then needs only the mask bands of neighbouring
chunks.
Works on numpy arrays and on dask-backed ``xarray.DataArray`` stacks (blocks are overlapped so
the result does not depend on chunking).
"""

from __future__ import annotations

from typing import List, Tuple

import numpy as np

# Storm assessments default to 40 m: 2 Sentinel-2 SCL pixels (20 m) or 4 pixels at 10 m, and
# more than one Landsat pixel; haze and shadow fringes are typically 20-60 m wide.
DEFAULT_STORM_BUFFER_M = 40.0


def validate_buffer(buffer_m: float) -> float:
    """A buffer distance in metres (0 = no buffer); negative or non-finite values raise."""
    value = float(buffer_m or 0.0)
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"the cloud-mask buffer must be 0 or a positive number of metres, "
                         f"not {buffer_m!r}")
    return value


def disk_offsets(buffer_m: float, resolution_m: float) -> List[Tuple[int, int]]:
    """(row, col) offsets of every pixel whose centre is within ``buffer_m`` of a centre."""
    buffer_m = validate_buffer(buffer_m)
    if resolution_m <= 0:
        raise ValueError("resolution must be positive")
    radius = int(np.floor(buffer_m / resolution_m))
    limit = (buffer_m / resolution_m) ** 2 + 1e-9
    return [(dy, dx) for dy in range(-radius, radius + 1) for dx in range(-radius, radius + 1)
            if dy * dy + dx * dx <= limit]


def dilate(mask: np.ndarray, buffer_m: float, resolution_m: float) -> np.ndarray:
    """Grow the True pixels of ``mask`` (…, rows, cols) by ``buffer_m`` metres; nothing wraps
    around the edges."""
    mask = np.asarray(mask, dtype=bool)
    offsets = disk_offsets(buffer_m, resolution_m)
    if len(offsets) <= 1:
        return mask.copy()
    rows, cols = mask.shape[-2:]
    out = mask.copy()
    for dy, dx in offsets:
        if dy == 0 and dx == 0:
            continue
        # out[y, x] |= mask[y + dy, x + dx] where both are inside
        target = (..., slice(max(-dy, 0), rows - max(dy, 0)), slice(max(-dx, 0), cols - max(dx, 0)))
        source = (..., slice(max(dy, 0), rows + min(dy, 0)), slice(max(dx, 0), cols + min(dx, 0)))
        out[target] |= mask[source]
    return out


def dilate_lazy(mask, buffer_m: float, resolution_m: float):
    """``dilate`` for an ``xarray.DataArray`` (y, x last), lazily when it is dask-backed."""
    offsets = disk_offsets(buffer_m, resolution_m)
    if len(offsets) <= 1:
        return mask
    radius = max(max(abs(dy), abs(dx)) for dy, dx in offsets)
    data = mask.data
    if hasattr(data, "dask"):
        import dask.array as da

        depth = {axis: 0 for axis in range(data.ndim)}
        depth[data.ndim - 2] = depth[data.ndim - 1] = radius
        grown = da.map_overlap(dilate, data.astype(bool), depth=depth, boundary="none",
                               dtype=bool, buffer_m=buffer_m, resolution_m=resolution_m)
    else:
        grown = dilate(np.asarray(data), buffer_m, resolution_m)
    return mask.copy(data=grown)


def describe(buffer_m: float) -> dict:
    """What the buffer did, for outputs' metadata."""
    value = validate_buffer(buffer_m)
    return {"buffer_m": value,
            "buffer_rule": ("cloud and shadow masks grown by a disk of this radius (pixel "
                            "centres within the distance of a masked pixel's centre)")
            if value else "no buffer"}
