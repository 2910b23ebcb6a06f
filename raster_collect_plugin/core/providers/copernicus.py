"""Copernicus Data Space Ecosystem through the Sentinel Hub APIs (sentinelhub-py).

- Catalog API: scene search returning STAC items like every other provider.
- Statistical API: per-polygon monthly statistics computed server-side, without downloading
  imagery, returned in the local zonal engine's long-table schema.
- Processing-unit estimates before sending, responses cached on disk by request hash (rerunning
  costs no quota), and a clear stop with what was completed kept when the quota runs out.

Credentials come from the caller (QGIS authentication database) or the environment
(``SH_CLIENT_ID`` / ``SH_CLIENT_SECRET``) and are never written anywhere.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import pandas as pd
import pystac

from ..endpoints import CDSE_BASE_URL, CDSE_TOKEN_URL
from ..zonal import STATISTICS
from .base import Provider, ProviderError, SearchQuery, passes_cloud_filter

PROVIDER_NAME = "Copernicus Data Space"
COLLECTION = "sentinel-2-l2a"
PU_MINIMUM = 0.01


@dataclass(frozen=True)
class CopernicusSettings:
    """Where and how to reach Sentinel Hub (CDSE by default)."""

    base_url: str = CDSE_BASE_URL
    token_url: str = CDSE_TOKEN_URL
    client_id: Optional[str] = None
    client_secret: Optional[str] = None
    max_retries: int = 3
    retry_sleep_seconds: float = 5.0
    timeout_seconds: float = 120.0

    def __repr__(self) -> str:  # never print the secret
        return (f"CopernicusSettings(base_url={self.base_url!r}, token_url={self.token_url!r}, "
                f"client_id={'set' if self.client_id else None})")

    def sh_config(self):
        """A sentinelhub SHConfig; credentials from this object or the environment."""
        from sentinelhub import SHConfig

        client_id = self.client_id or os.environ.get("SH_CLIENT_ID")
        client_secret = self.client_secret or os.environ.get("SH_CLIENT_SECRET")
        if not client_id or not client_secret:
            raise ProviderError(
                f"{PROVIDER_NAME}: no OAuth credentials. In QGIS store the client id and "
                "secret in the authentication database; on the command line set SH_CLIENT_ID "
                "and SH_CLIENT_SECRET.")
        _silence_credential_logging()
        config = SHConfig(use_defaults=True)
        config.sh_client_id, config.sh_client_secret = client_id, client_secret
        config.sh_base_url, config.sh_token_url = self.base_url, self.token_url
        config.max_download_attempts = self.max_retries
        config.max_retries = self.max_retries
        config.download_sleep_time = self.retry_sleep_seconds
        config.download_timeout_seconds = self.timeout_seconds
        return config

    def data_collection(self):
        """Sentinel-2 L2A on this deployment (not the commercial endpoint)."""
        from sentinelhub import DataCollection

        name = f"SENTINEL2_L2A_{abs(hash(self.base_url)) % 10**8}"
        return DataCollection.SENTINEL2_L2A.define_from(name, service_url=self.base_url)


def _silence_credential_logging() -> None:
    """requests-oauthlib logs the token request, client secret included, at DEBUG level:
    never let those records exist, whatever the application's logging level."""
    import logging

    for name in ("requests_oauthlib", "oauthlib"):
        logger = logging.getLogger(name)
        if logger.level < logging.INFO:
            logger.setLevel(logging.INFO)


def estimate_processing_units(*, width_px: int, height_px: int, bands: int, dates: int,
                              float32_output: bool = False) -> float:
    """Sentinel Hub's documented cost: 1 PU = 512 x 512 px x 3 bands of 16-bit input for one
    date; scales with area, bands and dates, x2 for 32-bit float output; at least 0.01."""
    units = (width_px * height_px) / (512 * 512) * (bands / 3) * max(dates, 1)
    if float32_output:
        units *= 2
    return max(PU_MINIMUM, units)


class CopernicusProvider(Provider):
    """Catalog search on CDSE (items carry no COG assets: use the Statistical backend)."""

    kind = "copernicus"

    def __init__(self, name: str = PROVIDER_NAME, settings: Optional[CopernicusSettings] = None):
        super().__init__(name)
        self.settings = settings or CopernicusSettings()

    def search(self, query: SearchQuery) -> List[pystac.Item]:
        from sentinelhub import CRS, BBox, SentinelHubCatalog
        from sentinelhub.exceptions import DownloadFailedException

        config = self.settings.sh_config()
        catalog = SentinelHubCatalog(config=config)
        collection = self.settings.data_collection()
        try:
            results = list(catalog.search(
                collection, bbox=BBox(query.bbox, crs=CRS.WGS84),
                time=(query.start.isoformat(), query.end.isoformat()), limit=100))
        except DownloadFailedException as error:
            raise ProviderError(f"{self.name}: catalog search failed ({_reason(error)})") \
                from None
        items = []
        for feature in results:
            feature.setdefault("stac_version", "1.0.0")
            feature.setdefault("links", [])
            feature.setdefault("assets", {})
            item = pystac.Item.from_dict(feature, preserve_dict=False)
            item.collection_id = COLLECTION
            if passes_cloud_filter(item, query.max_cloud_cover):
                items.append(item)
        return self.tag(items)


def _get_with_fresh_token(request, *, save: bool):
    """``get_data``; if the service refuses a token the client still thought valid (401),
    drop the cached session and try once more with a new token."""
    from sentinelhub.download.sentinelhub_client import SentinelHubDownloadClient
    from sentinelhub.exceptions import DownloadFailedException

    try:
        return request.get_data(save_data=save)
    except DownloadFailedException as error:
        if "401" not in str(error):
            raise
        SentinelHubDownloadClient.clear_cache()
        return request.get_data(save_data=save)


def _reason(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0][:300] if text else type(error).__name__


@dataclass
class StatisticsOutcome:
    """The long table of what was computed, and why it stopped early if it did."""

    table: pd.DataFrame
    requests: int
    estimated_pu: float
    stopped: Optional[str] = None


def statistics_table(zones, *, id_field: str, indices: Sequence[str], start: date, end: date,
                     settings: CopernicusSettings, interval: str = "P1M",
                     resolution: float = 10.0, max_cloud_cover: Optional[float] = None,
                     min_clear_fraction: float = 0.5, cache_dir: Optional[Path] = None,
                     progress: Optional[Callable[[float, str], None]] = None,
                     cancel: Optional[Callable[[], bool]] = None) -> StatisticsOutcome:
    """Monthly statistics per polygon from the Statistical API (one request per polygon),
    in the local engine's schema. Responses are cached in ``cache_dir`` by request hash."""
    from sentinelhub import CRS, Geometry, SentinelHubStatistical
    from sentinelhub.exceptions import DownloadFailedException, OutOfRequestsException

    from ..evalscripts import statistics_evalscript

    config = settings.sh_config()
    evalscript = statistics_evalscript(indices)
    collection = settings.data_collection()
    epsg = zones.crs.to_epsg()
    if zones.crs.is_geographic or epsg is None:
        raise ProviderError("the Statistical API needs the polygons in a projected CRS "
                            "(resolution is in metres)")
    crs = CRS(epsg)
    rows: List[dict] = []
    requests = 0
    months = max(1, (end.year - start.year) * 12 + end.month - start.month + 1)
    estimated = 0.0
    stopped = None
    for n, (zone_id, geometry) in enumerate(zip(zones[id_field], zones.geometry)):
        if cancel is not None and cancel():
            stopped = "cancelled"
            break
        xmin, ymin, xmax, ymax = geometry.bounds
        width = max(1, math.ceil((xmax - xmin) / resolution))
        height = max(1, math.ceil((ymax - ymin) / resolution))
        estimated += estimate_processing_units(width_px=width, height_px=height,
                                               bands=4, dates=months * 6)
        request = SentinelHubStatistical(
            aggregation=SentinelHubStatistical.aggregation(
                evalscript=evalscript, time_interval=(start.isoformat(), end.isoformat()),
                aggregation_interval=interval, resolution=(resolution, resolution)),
            input_data=[SentinelHubStatistical.input_data(collection, maxcc=(
                max_cloud_cover / 100 if max_cloud_cover is not None else None))],
            geometry=Geometry(geometry, crs=crs),
            calculations={"default": {"statistics": {"default": {
                "percentiles": {"k": [10, 50, 90]}}}}},
            config=config, data_folder=str(cache_dir) if cache_dir else None)
        if progress is not None:
            progress(n / len(zones), f"{PROVIDER_NAME}: statistics for {id_field}={zone_id}")
        try:
            [response] = _get_with_fresh_token(request, save=cache_dir is not None)
        except OutOfRequestsException:
            stopped = (f"{PROVIDER_NAME}: request quota or rate limit exhausted after "
                       f"{config.max_retries} retries; {n} of {len(zones)} polygons done "
                       "(cached: rerun to continue)")
            break
        except DownloadFailedException as error:
            reason = _reason(error)
            if "429" in str(error) or "Too Many Requests" in str(error):
                stopped = (f"{PROVIDER_NAME}: request quota or rate limit exhausted; {n} of "
                           f"{len(zones)} polygons done (cached: rerun to continue)")
                break
            raise ProviderError(f"{PROVIDER_NAME}: statistics for {id_field}={zone_id} failed "
                                f"({reason})") from None
        requests += 1
        rows += _rows(response, zone_id, id_field, indices, min_clear_fraction)
    columns = [id_field, "period", "provider", "collection", "index", *STATISTICS, "usable"]
    table = pd.DataFrame(rows, columns=columns)
    return StatisticsOutcome(table, requests, estimated, stopped)


def _rows(response: dict, zone_id, id_field: str, indices: Sequence[str],
          min_clear_fraction: float) -> List[dict]:
    if response.get("status") not in (None, "OK"):
        raise ProviderError(f"{PROVIDER_NAME}: statistics failed: {response.get('error')}")
    rows = []
    for interval in response.get("data", []):
        if interval.get("error"):
            continue
        period = interval["interval"]["from"][:7]
        for index in indices:
            stats = interval["outputs"][index]["bands"]["B0"]["stats"]
            samples = float(stats.get("sampleCount", 0))
            clear = samples - float(stats.get("noDataCount", 0))
            percentiles = stats.get("percentiles", {})
            mean = _number(stats.get("mean"))
            row = {id_field: zone_id, "period": period, "provider": PROVIDER_NAME,
                   "collection": COLLECTION, "index": index, "mean": mean,
                   "median": _number(percentiles.get("50.0")),
                   "std": _number(stats.get("stDev")), "min": _number(stats.get("min")),
                   "max": _number(stats.get("max")), "p10": _number(percentiles.get("10.0")),
                   "p90": _number(percentiles.get("90.0")),
                   "sum": mean * clear if clear else float("nan"), "pixel_count": samples,
                   "clear_count": clear, "clear_fraction": clear / samples if samples else 0.0}
            row["usable"] = row["clear_fraction"] >= min_clear_fraction
            rows.append(row)
    return rows


def _number(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


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
    from sentinelhub import (
        CRS,
        BBox,
        MimeType,
        MosaickingOrder,
        SentinelHubRequest,
    )

    from ..evalscripts import process_evalscript
    from ..outputs import write_cog

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
                    mosaicking_order=MosaickingOrder.MOST_RECENT)],
                responses=[SentinelHubRequest.output_response("default", MimeType.TIFF)],
                bbox=bbox, size=(cols, rows), config=config,
                data_folder=str(cache_dir) if cache_dir else None)
            estimated += estimate_processing_units(width_px=cols, height_px=rows, bands=4,
                                                   dates=1, float32_output=True)
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


def batch_statistical_payload(*, features_s3_url: str, output_s3_url: str,
                              indices: Sequence[str], start: date, end: date,
                              settings: CopernicusSettings, interval: str = "P1M",
                              resolution: float = 10.0, iam_role_arn: Optional[str] = None
                              ) -> Dict:
    """The Batch Statistical request a whole estate needs (features and results in the
    user's object storage) — what ``--dry-run`` shows before anything is submitted. Storage
    access: an IAM role ARN, or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY from the
    environment."""
    from sentinelhub import SentinelHubStatistical
    from sentinelhub.api.utils import s3_specification

    from ..evalscripts import statistics_evalscript

    access = {"iam_role_arn": iam_role_arn} if iam_role_arn else {
        "access_key": os.environ.get("AWS_ACCESS_KEY_ID"),
        "secret_access_key": os.environ.get("AWS_SECRET_ACCESS_KEY")}
    if not iam_role_arn and not all(access.values()):
        raise ProviderError("batch statistics need access to your bucket: give an IAM role "
                            "ARN, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
    return {
        "input": {"features": s3_specification(features_s3_url, **access),
                  "data": [SentinelHubStatistical.input_data(settings.data_collection())]},
        "aggregation": SentinelHubStatistical.aggregation(
            evalscript=statistics_evalscript(indices),
            time_interval=(start.isoformat(), end.isoformat()),
            aggregation_interval=interval, resolution=(resolution, resolution)),
        "calculations": {"default": {"statistics": {"default": {
            "percentiles": {"k": [10, 50, 90]}}}}},
        "output": s3_specification(output_s3_url, **access),
    }


def redacted(payload: Dict) -> Dict:
    """A copy of a request payload safe to print: storage secrets replaced."""
    import json
    import re

    text = json.dumps(payload)
    for key in ("secretAccessKey", "accessKey"):
        text = re.sub(rf'("{key}": )"[^"]*"', r'\1"***"', text)
    return json.loads(text)


def submit_batch_statistical(payload: Dict, settings: CopernicusSettings) -> str:
    """Submit a Batch Statistical request; returns its id. Many account types may not use
    this API: that refusal becomes a clear ProviderError."""
    from sentinelhub import SentinelHubBatchStatistical
    from sentinelhub.exceptions import DownloadFailedException

    client = SentinelHubBatchStatistical(config=settings.sh_config())
    try:
        request = client.create(input_features=payload["input"]["features"],
                                input_data=payload["input"]["data"],
                                aggregation=payload["aggregation"],
                                calculations=payload.get("calculations"),
                                output=payload["output"])
    except DownloadFailedException as error:
        if "403" in str(error):
            raise ProviderError(
                f"{PROVIDER_NAME}: this account may not use the Batch Statistical API (HTTP "
                "403). Use the Statistical API instead (one request per polygon), or ask "
                "for a plan that includes batch processing.") from None
        raise ProviderError(f"{PROVIDER_NAME}: batch submission failed "
                            f"({_reason(error)})") from None
    return request.request_id
