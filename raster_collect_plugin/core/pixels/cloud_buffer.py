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
# the largest buffer any door takes (the job spec's range too): 10 km masks whole scenes
MAX_BUFFER_M = 10_000.0


def validate_buffer(buffer_m: float) -> float:
    """A buffer distance in metres (0 = no buffer); negative, non-finite or larger than
    ``MAX_BUFFER_M`` values raise (a typo such as 1e9 grew the mask for hours)."""
    value = float(buffer_m or 0.0)
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"the cloud-mask buffer must be 0 or a positive number of metres, "
                         f"not {buffer_m!r}: give --cloud-buffer 0 (no buffer) or more, up to "
                         f"{MAX_BUFFER_M:g}")
    if value > MAX_BUFFER_M:
        raise ValueError(f"the cloud-mask buffer is at most {MAX_BUFFER_M:g} m (cloud fringes "
                         f"are 20-60 m wide), not {value:g}: give a smaller --cloud-buffer")
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


def _half_width(remaining: float) -> int:
    """The largest whole ``dx`` with ``dx * dx <= remaining``."""
    width = int(np.floor(np.sqrt(remaining)))
    while (width + 1) ** 2 <= remaining:
        width += 1
    while width * width > remaining:
        width -= 1
    return width


def dilate(mask: np.ndarray, buffer_m: float, resolution_m: float) -> np.ndarray:
    """Grow the True pixels of ``mask`` (…, rows, cols) by ``buffer_m`` metres; nothing wraps
    around the edges. The disk is applied a row of it at a time (a run of pixels grown along
    the row, then shifted), so the work grows with the radius, not with its square; rows of the
    disk beyond the array's height change nothing and are skipped."""
    mask = np.asarray(mask, dtype=bool)
    buffer_m = validate_buffer(buffer_m)
    if resolution_m <= 0:
        raise ValueError("resolution must be positive")
    radius = int(np.floor(buffer_m / resolution_m))
    if radius < 1:
        return mask.copy()
    limit = (buffer_m / resolution_m) ** 2 + 1e-9
    rows, cols = mask.shape[-2:]
    pad = min(radius, cols)
    # counts[..., pad + x] = masked pixels left of x in the row, flat beyond both ends: a run
    # [x - w, x + w] holds one when the counts at its two ends differ
    counts = np.zeros(mask.shape[:-1] + (cols + 1 + 2 * pad,), dtype=np.int32)
    np.cumsum(mask, axis=-1, dtype=np.int32, out=counts[..., pad + 1: pad + 1 + cols])
    counts[..., pad + 1 + cols:] = counts[..., pad + cols: pad + cols + 1]
    out = mask.copy()
    for dy in range(0, min(radius, rows - 1) + 1):
        width = min(_half_width(limit - dy * dy), pad)
        # grown along the row by ``width``
        along = (counts[..., pad + width + 1: pad + width + 1 + cols]
                 > counts[..., pad - width: pad - width + cols])
        if dy == 0:
            out |= along
        else:  # out[y, x] |= along[y ± dy, x] where both are inside
            out[..., : rows - dy, :] |= along[..., dy:, :]
            out[..., dy:, :] |= along[..., : rows - dy, :]
    return out


def dilate_lazy(mask, buffer_m: float, resolution_m: float):
    """``dilate`` for an ``xarray.DataArray`` (y, x last), lazily when it is dask-backed."""
    radius = int(np.floor(validate_buffer(buffer_m) / resolution_m))
    if radius < 1:
        return mask
    data = mask.data
    if hasattr(data, "dask"):
        import dask.array as da

        depth = {axis: 0 for axis in range(data.ndim)}
        # dask refuses a depth past the array (a grid narrower than the buffer: a compartment
        # smaller than a pixel); the whole axis is all a chunk can see anyway
        for axis in (data.ndim - 2, data.ndim - 1):
            depth[axis] = min(radius, data.shape[axis])
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
