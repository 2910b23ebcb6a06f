"""The Process API: an index raster of an area (tiles no larger than the service allows, one
COG written)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Callable, Optional, Sequence

from ..sources.providers.base import ProviderError
from . import rules as rules
from .client import PROVIDER_NAME, CopernicusSettings, _get_with_fresh_token, _reason

MAX_TILE_PX = 2500  # the Process API's largest output side


@dataclass
class ProcessOutcome:
    """The written raster, how many tiles it took and the PU estimate."""

    path: Path
    tiles: int
    estimated_pu: float


def process_index_raster(geometry, *, crs_epsg: int, indices: Sequence[str], start: date,
                         end: date, settings: CopernicusSettings, destination: Path,
                         resolution: float = 10.0, max_tile_px: int = MAX_TILE_PX,
                         cache_dir: Optional[Path] = None,
                         cancel: Optional[Callable[[], bool]] = None) -> ProcessOutcome:
    """The indices computed server-side (cloud-masked, most recent clear mosaic of the period)
    over the geometry's bounds, as a COG. Areas larger than ``max_tile_px`` a side are split
    into pixel-aligned tiles and mosaicked, so nothing is resampled twice."""
    import numpy as np
    from affine import Affine
    from sentinelhub import CRS, BBox, MimeType, MosaickingOrder, SentinelHubRequest

    from ..outputs.files import write_cog
    from .evalscripts import HARMONIZE_VALUES, input_bands, process_evalscript

    if crs_epsg not in rules.SUPPORTED_EPSG:
        raise ProviderError(f"{PROVIDER_NAME}: EPSG:{crs_epsg} is not a CRS Sentinel Hub "
                            "supports; use WGS 84 or the UTM zone of the area "
                            f"(e.g. EPSG:{rules.utm_epsg(153.0, -27.0)})")
    config = settings.sh_config()
    evalscript = process_evalscript(indices)
    collection = settings.data_collection()
    xmin, ymin, xmax, ymax = geometry.bounds
    x0 = math.floor(xmin / resolution) * resolution
    y1 = math.ceil(ymax / resolution) * resolution
    width = max(1, math.ceil((xmax - x0) / resolution))
    height = max(1, math.ceil((y1 - ymin) / resolution))
    mosaic = np.full((len(indices), height, width), np.nan, "float32")
    tiles = 0
    estimated = 0.0
    for row0 in range(0, height, max_tile_px):
        for col0 in range(0, width, max_tile_px):
            if cancel is not None and cancel():
                raise InterruptedError("cancelled")
            rows, cols = min(max_tile_px, height - row0), min(max_tile_px, width - col0)
            bbox = BBox((x0 + col0 * resolution, y1 - (row0 + rows) * resolution,
                         x0 + (col0 + cols) * resolution, y1 - row0 * resolution),
                        crs=CRS(crs_epsg))
            request = SentinelHubRequest(
                evalscript=evalscript,
                input_data=[SentinelHubRequest.input_data(
                    collection, time_interval=(start.isoformat(), end.isoformat()),
                    mosaicking_order=MosaickingOrder.MOST_RECENT,
                    other_args={"processing": {"harmonizeValues": HARMONIZE_VALUES}})],
                responses=[SentinelHubRequest.output_response("default", MimeType.TIFF)],
                bbox=bbox, size=(cols, rows), config=config,
                data_folder=str(cache_dir) if cache_dir else None)
            estimated += rules.process_pu(width_px=cols, height_px=rows,
                                          input_bands=input_bands(indices))
            try:
                [array] = _get_with_fresh_token(request, save=cache_dir is not None)
            except Exception as error:  # sentinelhub raises several download errors
                raise ProviderError(f"{PROVIDER_NAME}: process request failed "
                                    f"({_reason(error)})") from None
            array = np.asarray(array, dtype="float32")
            if array.ndim == 2:
                array = array[:, :, np.newaxis]
            mosaic[:, row0:row0 + rows, col0:col0 + cols] = np.moveaxis(array, -1, 0)
            tiles += 1
    transform = Affine(resolution, 0, x0, 0, -resolution, y1)
    path = write_cog(destination, mosaic, transform=transform, crs=f"EPSG:{crs_epsg}",
                     nodata=float("nan"), band_descriptions=list(indices),
                     tags={"provider": PROVIDER_NAME, "start": start.isoformat(),
                           "end": end.isoformat(), "evalscript": "generated from registry"})
    return ProcessOutcome(path, tiles, estimated)
