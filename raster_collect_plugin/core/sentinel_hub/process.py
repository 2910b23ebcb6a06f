"""The Process API: an index raster of an area (tiles no larger than the service allows, one
COG written)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Callable, List, Optional, Sequence

from ..sources.providers.base import ProviderError
from . import rules as rules
from .client import PROVIDER_NAME, CopernicusSettings, _reason
from .usage import get_and_record

MAX_TILE_PX = 2500  # the Process API's largest output side


@dataclass
class ProcessOutcome:
    """The written raster (None for a dry run), how many tiles it took, the PU estimate of
    the tiles to send and how many requests were sent (cached tiles cost nothing)."""

    path: Optional[Path]
    tiles: int
    estimated_pu: float
    requests: int = 0
    notes: List[str] = field(default_factory=list)


def _is_cached(request) -> bool:
    """Whether sentinelhub-py already holds this tile's response in ``data_folder``."""
    download = request.download_list[0]
    if not download.data_folder:
        return False
    return Path(download.get_storage_paths()[1]).exists()


def process_index_raster(geometry, *, crs_epsg: int, indices: Sequence[str], start: date,
                         end: date, settings: CopernicusSettings, destination: Path,
                         resolution: float = 10.0, max_tile_px: int = MAX_TILE_PX,
                         cache_dir: Optional[Path] = None,
                         budget: Optional[rules.QuotaBudget] = None, dry_run: bool = False,
                         cancel: Optional[Callable[[], bool]] = None) -> ProcessOutcome:
    """The indices computed server-side over the geometry's bounds, as a COG: per pixel the
    median of the period's clear acquisitions (ORBIT mosaicking, as the local engine's
    composite), then a ``clear_count`` band (clear acquisitions per pixel). Areas larger than
    ``max_tile_px`` a side are split into pixel-aligned tiles and mosaicked, so nothing is
    resampled twice.

    Cost: as for the Statistical API, the PU estimate of the tiles not yet cached is checked
    against ``budget`` before anything is sent and each tile sent is written to its ledger;
    ``dry_run`` returns the estimate and sends nothing (no billable request)."""
    import numpy as np
    from affine import Affine
    from sentinelhub import CRS, BBox, MimeType, MosaickingOrder, SentinelHubRequest

    from ..outputs.files import write_cog
    from .download import QuotaExhausted
    from .evalscripts import (
        CLEAR_COUNT_BAND,
        HARMONIZE_VALUES,
        input_bands,
        process_evalscript,
    )

    if crs_epsg not in rules.SUPPORTED_EPSG:
        raise ProviderError(f"{PROVIDER_NAME}: EPSG:{crs_epsg} is not a CRS Sentinel Hub "
                            "supports; use WGS 84 or the UTM zone of the area "
                            f"(e.g. EPSG:{rules.utm_epsg(153.0, -27.0)})")
    evalscript = process_evalscript(indices)  # the indices checked before the credentials
    config = settings.sh_config(required=not dry_run)  # a dry run sends nothing
    collection = settings.data_collection()
    xmin, ymin, xmax, ymax = geometry.bounds
    x0 = math.floor(xmin / resolution) * resolution
    y1 = math.ceil(ymax / resolution) * resolution
    width = max(1, math.ceil((xmax - x0) / resolution))
    height = max(1, math.ceil((y1 - ymin) / resolution))
    plan = []  # (row0, col0, rows, cols, request, PU)
    samples = rules.acquisitions_estimate(*rules.time_range(start, end))  # ORBIT: per day
    for row0 in range(0, height, max_tile_px):
        for col0 in range(0, width, max_tile_px):
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
            plan.append((row0, col0, rows, cols, request, rules.process_pu(
                width_px=cols, height_px=rows, input_bands=input_bands(indices),
                samples=samples)))
    to_send = [tile for tile in plan if not _is_cached(tile[4])]
    estimated = sum(tile[5] for tile in to_send)
    reason = budget.check(pu=estimated, requests=len(to_send),
                          largest_request_pu=max((t[5] for t in to_send), default=0.0)) \
        if budget is not None else None
    if dry_run:
        notes = [f"{len(to_send)} process requests to send ({len(plan) - len(to_send)} "
                 f"cached), about {estimated:.3f} PU"]
        if reason:
            notes.append(f"would stop: {reason}")
        return ProcessOutcome(None, len(plan), estimated, 0, notes)
    if reason:
        raise ProviderError(f"{PROVIDER_NAME}: {reason}")
    mosaic = np.full((len(indices) + 1, height, width), np.nan, "float32")
    sent = 0
    for n, (row0, col0, rows, cols, request, cost) in enumerate(plan):
        if cancel is not None and cancel():
            raise InterruptedError("cancelled")
        cached = _is_cached(request)
        try:
            # PU are charged only for 2XX responses; a cached tile is no request
            [array] = get_and_record(request, save=cache_dir is not None,
                                     max_wait_seconds=settings.max_retry_wait_seconds,
                                     budget=None if cached else budget, estimated_pu=cost)
        except QuotaExhausted as error:
            raise ProviderError(f"{PROVIDER_NAME}: {error} ({n} of {len(plan)} tiles done"
                                f"{', cached: rerun to continue' if cache_dir else ''})") \
                from None
        except Exception as error:  # sentinelhub raises several download errors
            raise ProviderError(f"{PROVIDER_NAME}: process request failed "
                                f"({_reason(error)})") from None
        sent += 0 if cached else 1
        array = np.asarray(array, dtype="float32")
        if array.ndim == 2:
            array = array[:, :, np.newaxis]
        mosaic[:, row0:row0 + rows, col0:col0 + cols] = np.moveaxis(array, -1, 0)
    transform = Affine(resolution, 0, x0, 0, -resolution, y1)
    path = write_cog(destination, mosaic, transform=transform, crs=f"EPSG:{crs_epsg}",
                     nodata=float("nan"), band_descriptions=[*indices, CLEAR_COUNT_BAND],
                     tags={"provider": PROVIDER_NAME, "start": start.isoformat(),
                           "end": end.isoformat(), "evalscript": "generated from registry"})
    return ProcessOutcome(path, len(plan), estimated, sent)
