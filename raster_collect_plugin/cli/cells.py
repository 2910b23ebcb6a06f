"""Hexagon and H3 cell sizes checked before any work: a wrong one is one exit-2 line."""

from __future__ import annotations

import math
from typing import Optional

from .common import BadInput

H3_RESOLUTIONS = range(0, 16)


def check_cell_options(*, sizes: Optional[dict] = None, h3: Optional[int] = None,
                       h3_flag: str = "--h3") -> None:
    """``sizes``: {flag: value} of hexagon areas (ha) or edges (m), each positive when given;
    ``h3``: an H3 resolution from 0 to 15 when given. At most one of them: a grid has one
    cell size (the others would be silently ignored)."""
    given = [flag for flag, value in (sizes or {}).items() if value is not None]
    given += [h3_flag] if h3 is not None else []
    if len(given) > 1:
        raise BadInput(f"give one cell size, not {' and '.join(given)}: a grid has one")
    for flag, value in (sizes or {}).items():
        if value is not None and not (math.isfinite(value) and value > 0):
            raise BadInput(f"{flag} must be a positive number, not {value:g}")
    if h3 is not None and h3 not in H3_RESOLUTIONS:
        raise BadInput(f"{h3_flag} must be an H3 resolution from 0 (cells of ~4 million km²) "
                       f"to 15 (~1 m²), not {h3}; 9 gives cells of about 10 ha")
