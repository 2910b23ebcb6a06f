"""Processing units (PU) before a request is sent: what a Process or Statistical request
costs, from its pixels, bands and dates."""

from __future__ import annotations

from typing import Sequence

from . import rules as rules

PU_MINIMUM = 0.01


def estimate_processing_units(*, width_px: int, height_px: int, bands: int, dates: int,
                              float32_output: bool = False) -> float:
    """Sentinel Hub's general rule for one request: area factor (at least 0.01) x input bands
    (without ``dataMask``) / 3 x samples, x2 for 32-bit float output; at least 0.01 PU.
    See ``sentinel_hub_rules`` for the per-API functions the requests use."""
    units = rules.area_factor(width_px, height_px) * bands / rules.PU_BANDS * max(dates, 1)
    if float32_output:
        units *= 2
    return max(PU_MINIMUM, units)


def polygon_pixels(geometry, bounds: Sequence[float], resolution: float) -> int:
    """The polygon's pixels on a grid-aligned sample matrix: centres inside the polygon (the
    rule the local engine's ``coverage="centre"`` uses), whatever the imagery holds there."""
    import numpy as np
    import shapely

    xmin, ymin, xmax, ymax = bounds
    xs = np.arange(xmin + resolution / 2, xmax, resolution)
    ys = np.arange(ymax - resolution / 2, ymin, -resolution)
    grid_x, grid_y = np.meshgrid(xs, ys)
    return int(shapely.contains_xy(geometry, grid_x, grid_y).sum())
