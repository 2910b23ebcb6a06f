"""Radar evidence for the storm assessment from Sentinel Hub (Sentinel-1 GRD on the Copernicus
Data Space) when no STAC source (Planetary Computer's RTC) provides it: the same shape as a
radar composite (VH in dB and observation counts, one band per window)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional, Sequence, Tuple

from .pixels import SensorInput


def sentinel_hub_radar_input(radar, frame, windows: Sequence[Tuple[str, object, object]],
                             output_dir: Path,
                             cancel: Optional[Callable[[], bool]] = None) -> SensorInput:
    """Window composites of Sentinel-1 GRD over the AOI's bounds (in the CRS Sentinel Hub is
    sent: the AOI's own when supported, else its UTM zone) as a radar ``SensorInput``."""
    from ..sentinel_hub.rules import request_epsg
    from ..sentinel_hub.sentinel1 import window_composites

    epsg = request_epsg(frame)
    outcome = window_composites(frame.to_crs(epsg).union_all(), crs_epsg=epsg,
                                windows=list(windows), radar=radar, output_dir=output_dir,
                                cancel=cancel)
    return SensorInput("sentinel-1-grd", "sentinel-1", outcome.vh_path, outcome.count_path,
                       radar=True)
