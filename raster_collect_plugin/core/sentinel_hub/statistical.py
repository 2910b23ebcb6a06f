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

import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import pandas as pd
import pystac

from ..sources.endpoints import CDSE_BASE_URL, CDSE_TOKEN_URL
from ..sources.providers.base import Provider, ProviderError, SearchQuery, passes_cloud_filter
from ..zonal.reduce import STATISTICS
from . import rules as rules

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
    catalog_page_size: int = 100  # Catalog API: 10 a page by default, at most 100

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
    """Sentinel Hub's general rule for one request: area factor (at least 0.01) x input bands
    (without ``dataMask``) / 3 x samples, x2 for 32-bit float output; at least 0.01 PU.
    See ``sentinel_hub_rules`` for the per-API functions the requests use."""
    units = rules.area_factor(width_px, height_px) * bands / rules.PU_BANDS * max(dates, 1)
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
                time=(query.start.isoformat(), query.end.isoformat()),
                limit=self.settings.catalog_page_size))
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
        if http_status(error) != 401:
            raise
        SentinelHubDownloadClient.clear_cache()
        return request.get_data(save_data=save)


def _reason(error: Exception) -> str:
    """One line: the HTTP status and the service's own message when there is one (no URL)."""
    import re

    text = str(error).strip()
    status = re.search(r"\b([45]\d\d) (?:Client|Server) Error", text)
    server = re.search(r'Server response: "(.*)"', text, re.S)
    if server:
        message = " ".join(server.group(1).split())
        return f"HTTP {status.group(1)}: {message}"[:300] if status else message[:300]
    lines = [line for line in text.splitlines() if line and not line.startswith("http")]
    return " ".join(lines[-1:] or [type(error).__name__])[:300]


@dataclass
class StatisticsOutcome:
    """The long table of what was computed, and why it stopped early if it did.

    ``errors`` names what is missing (a polygon, or a polygon's intervals that still failed
    after retries); those responses were not cached, so a rerun asks for them again."""

    table: pd.DataFrame
    requests: int
    estimated_pu: float
    stopped: Optional[str] = None
    errors: Dict[str, str] = field(default_factory=dict)
    crs_epsg: Optional[int] = None
    notes: List[str] = field(default_factory=list)
    planned_requests: int = 0


@dataclass
class _Piece:
    """One Statistical API request: a polygon's grid-aligned bbox piece."""

    zone_id: object
    geometry: object
    bounds: Tuple[float, ...]
    width: int
    height: int
    pieces: int
    polygon_pixels: int = 0


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


def _plan(frame, id_field: str, resolution: float,
          max_side_px: int = rules.MAX_SAMPLE_SIDE_PX) -> List[_Piece]:
    plan = []
    for zone_id, geometry in zip(frame[id_field], frame.geometry):
        bounds = rules.snapped_bounds(geometry.bounds, resolution)
        parts = rules.split_bounds(bounds, resolution, max_side_px)
        for part in parts:
            plan.append(_Piece(zone_id, geometry, part,
                               int(round((part[2] - part[0]) / resolution)),
                               int(round((part[3] - part[1]) / resolution)), len(parts),
                               polygon_pixels(geometry, part, resolution)))
    return plan


def _cache_path(cache_dir: Optional[Path], base_url: str, payload: dict) -> Optional[Path]:
    if cache_dir is None:
        return None
    text = json.dumps({"url": base_url, "payload": payload}, sort_keys=True, default=str)
    return Path(cache_dir) / f"statistics-{hashlib.sha256(text.encode()).hexdigest()[:32]}.json"


def _interval_error(interval: dict) -> Optional[str]:
    error = interval.get("error")
    if not error:
        return None
    return error.get("type", str(error)) if isinstance(error, dict) else str(error)


def statistics_table(zones, *, id_field: str, indices: Sequence[str], start: date, end: date,
                     settings: CopernicusSettings, interval: str = "P1M",
                     resolution: float = 10.0, max_cloud_cover: Optional[float] = None,
                     min_clear_fraction: float = 0.5, cache_dir: Optional[Path] = None,
                     budget: Optional[rules.QuotaBudget] = None, interval_retries: int = 2,
                     max_side_px: int = rules.MAX_SAMPLE_SIDE_PX, dry_run: bool = False,
                     progress: Optional[Callable[[float, str], None]] = None,
                     cancel: Optional[Callable[[], bool]] = None) -> StatisticsOutcome:
    """Statistics per polygon and interval from the Statistical API, in the local engine's
    schema.

    - Values: harmonised S2 L2A (``harmonizeValues: true`` sent explicitly), DN / 10000.
    - Time: ``timeRange`` from ``start`` 00:00 to the day after ``end``, intervals counted from
      ``start`` with ``lastIntervalBehavior: SHORTEN`` so the last (or only) month is kept;
      periods are labelled from the intervals the service returns.
    - Space: polygons are sent in a CRS Sentinel Hub supports (their own if listed, else the
      WGS 84 / UTM zone of the AOI), with a bbox snapped to the resolution grid; a polygon
      whose sample matrix exceeds 2,500 px a side is split into pieces and merged (mean, std,
      min, max and counts exactly; percentiles from summed histograms, to within 0.001).
    - Counts: ``pixel_count`` is the polygon's own pixels with data (the evalscript's
      ``polygon_pixels`` output), not the bounding-box ``sampleCount``.
    - Failures: an interval that fails is retried on its own up to ``interval_retries`` times;
      what still fails is reported in ``errors`` and the rest kept. Only complete responses
      are cached (``cache_dir``), so reruns cost nothing and never replay a failure.
    - Cost: the PU estimate follows the documented rules and is checked against ``budget``
      before anything is sent; ``dry_run`` returns the estimate (in ``notes``) and sends
      nothing."""
    from sentinelhub import CRS, BBox, Geometry, SentinelHubStatistical
    from sentinelhub.exceptions import DownloadFailedException, OutOfRequestsException

    from .evalscripts import HARMONIZE_VALUES, input_bands, statistics_evalscript

    config = settings.sh_config()
    evalscript = statistics_evalscript(indices)
    bands = input_bands(indices)
    collection = settings.data_collection()
    if zones.crs is None:
        raise ProviderError(f"{PROVIDER_NAME}: the polygons have no CRS; set one (e.g. "
                            "EPSG:28356 for MGA zone 56) and try again")
    epsg = rules.request_epsg(zones)
    frame = zones.to_crs(epsg)
    crs = CRS(epsg)
    begin, stop = rules.time_range(start, end)
    intervals = rules.aggregation_intervals(begin, stop, interval, "SHORTEN")
    if not intervals:
        raise ProviderError(f"{PROVIDER_NAME}: no {interval} interval fits {start}..{end}")

    def build(piece: _Piece, time_from: datetime, time_to: datetime):
        aggregation = SentinelHubStatistical.aggregation(
            evalscript=evalscript, time_interval=(time_from, time_to),
            aggregation_interval=interval, resolution=(resolution, resolution))
        aggregation["aggregationInterval"]["lastIntervalBehavior"] = "SHORTEN"
        return SentinelHubStatistical(
            aggregation=aggregation,
            input_data=[SentinelHubStatistical.input_data(
                collection, maxcc=(max_cloud_cover / 100 if max_cloud_cover is not None
                                   else None),
                other_args={"processing": {"harmonizeValues": HARMONIZE_VALUES}})],
            bbox=BBox(piece.bounds, crs=crs), geometry=Geometry(piece.geometry, crs=crs),
            calculations=_calculations(piece.pieces > 1), config=config)

    plan = _plan(frame, id_field, resolution, max_side_px)
    requests_planned = [(piece, build(piece, begin, stop)) for piece in plan]
    costs = [rules.statistical_pu(width_px=p.width, height_px=p.height, input_bands=bands,
                                  intervals=len(intervals)) for p in plan]
    cached = [_cache_path(cache_dir, settings.base_url, r.payload) for _, r in requests_planned]
    to_send = [n for n, path in enumerate(cached) if path is None or not path.exists()]
    estimated = sum(costs[n] for n in to_send)
    reason = budget.check(pu=estimated, requests=len(to_send),
                          largest_request_pu=max((costs[n] for n in to_send), default=0.0)) \
        if budget is not None else None
    columns = [id_field, "period", "provider", "collection", "index", *STATISTICS, "usable"]
    if dry_run:
        notes = [f"{len(to_send)} requests to send ({len(plan) - len(to_send)} cached), "
                 f"{len(intervals)} intervals each, about {estimated:.3f} PU"]
        if budget is not None:
            pu_left, requests_left = budget.left()
            notes.append(f"left this month: {pu_left:.2f} PU, {requests_left} requests")
        if reason:
            notes.append(f"would stop: {reason}")
        return StatisticsOutcome(pd.DataFrame([], columns=columns), 0, estimated, None, {},
                                 epsg, notes, planned_requests=len(to_send))
    if reason:
        raise ProviderError(f"{PROVIDER_NAME}: {reason}")

    responses: Dict[object, List[dict]] = {}
    footprint: Dict[object, int] = {}
    for piece in plan:
        footprint[piece.zone_id] = footprint.get(piece.zone_id, 0) + piece.polygon_pixels
    errors: Dict[str, str] = {}
    requests = 0
    stopped = None
    for n, (piece, request) in enumerate(requests_planned):
        key = f"{id_field}={piece.zone_id}"
        if cancel is not None and cancel():
            stopped = "cancelled"
            break
        if progress is not None:
            progress(n / len(plan), f"{PROVIDER_NAME}: statistics for {key}")
        if cached[n] is not None and cached[n].exists():
            responses.setdefault(piece.zone_id, []).append(json.loads(cached[n].read_text()))
            continue
        try:
            [response] = _get_with_fresh_token(request, save=False)
            requests += 1
            response, retries, failed = _retry_intervals(
                response, lambda f, t, piece=piece: build(piece, f, t), interval_retries)
            requests += retries
            if budget is not None:  # PU are charged only for 2XX responses
                budget.record(pu=costs[n], requests=1 + retries)
        except OutOfRequestsException:
            stopped = (f"{PROVIDER_NAME}: request quota or rate limit exhausted after "
                       f"{config.max_retries} retries; {n} of {len(plan)} requests done "
                       "(cached: rerun to continue)")
            break
        except DownloadFailedException as error:
            if is_rate_limited(error):
                stopped = (f"{PROVIDER_NAME}: request quota or rate limit exhausted; {n} of "
                           f"{len(plan)} requests done (cached: rerun to continue)")
                break
            errors[key] = f"{key}: statistics failed ({_reason(error)})"
            continue
        if failed:
            errors[key] = (f"{key}: intervals still failing after retries (kept the "
                           "others; not cached, rerun to retry): " + ", ".join(failed))
        elif cached[n] is not None:
            cached[n].parent.mkdir(parents=True, exist_ok=True)
            temporary = cached[n].with_suffix(".tmp")
            temporary.write_text(json.dumps(response))
            temporary.replace(cached[n])
        responses.setdefault(piece.zone_id, []).append(response)
    rows: List[dict] = []
    notes: List[str] = []
    for zone_id, parts in responses.items():
        rows += _rows(parts, zone_id, id_field, indices, min_clear_fraction, interval,
                      footprint.get(zone_id, 0))
        if len(parts) > 1:
            notes.append(f"{id_field}={zone_id}: split into {len(parts)} requests (over "
                         f"{max_side_px} px a side): percentiles from summed histograms, "
                         "to within 0.001")
    table = pd.DataFrame(rows, columns=columns)
    return StatisticsOutcome(table, requests, estimated, stopped, errors, epsg, notes,
                             planned_requests=len(to_send))


def http_status(error: Exception) -> Optional[int]:
    """The HTTP status of a failed download (None when there was no response). Judged from
    the response, never from digits in the message: a loopback port such as 42913 or a size
    may contain "429"."""
    response = getattr(getattr(error, "request_exception", None), "response", None)
    return None if response is None else int(response.status_code)


def is_rate_limited(error: Exception) -> bool:
    """Whether a failed download was an HTTP 429 (Too Many Requests)."""
    status = http_status(error)
    return status == 429 if status is not None else "Too Many Requests" in str(error)


PERCENTILES = (10, 50, 90)
# split polygons: histograms that can be added up, percentiles read from the sum
HISTOGRAM = {"binWidth": 0.001, "lowEdge": -1.0, "highEdge": 1.0}


def _calculations(histograms: bool) -> dict:
    default: Dict = {"statistics": {"default": {"percentiles": {"k": list(PERCENTILES)}}}}
    if histograms:
        default["histograms"] = {"default": dict(HISTOGRAM)}
    return {"default": default}


def _histogram_percentiles(histograms: List[dict]) -> Dict[str, float]:
    """Percentiles of the sum of several pieces' histograms, interpolated within the bin
    (accurate to the bin width); NaN where the rank falls below ``lowEdge`` or above
    ``highEdge``."""
    import numpy as np

    bins = histograms[0]["bins"]
    lows = np.array([b["lowEdge"] for b in bins], float)
    highs = np.array([b["highEdge"] for b in bins], float)
    counts = np.zeros(len(bins))
    under = over = 0.0
    for histogram in histograms:
        counts += [b["count"] for b in histogram["bins"]]
        under += histogram.get("underflowCount", histogram.get("underflow", 0)) or 0
        over += histogram.get("overflowCount", histogram.get("overflow", 0)) or 0
    total = counts.sum() + under + over
    out = {}
    for k in PERCENTILES:
        target = k / 100 * total - under
        if total == 0 or target < 0 or target > counts.sum():
            out[f"{float(k):.1f}"] = float("nan")
            continue
        cumulative = np.cumsum(counts)
        n = int(np.searchsorted(cumulative, target))
        n = min(n, len(bins) - 1)
        before = cumulative[n - 1] if n else 0.0
        share = (target - before) / counts[n] if counts[n] else 0.0
        out[f"{float(k):.1f}"] = float(lows[n] + share * (highs[n] - lows[n]))
    return out


def _retry_intervals(response: dict, build: Callable, retries: int):
    """Ask again, interval by interval, for the intervals that came back with an error
    (top-level ``status: PARTIAL``); returns the merged response, the number of extra
    requests and the intervals that still fail."""
    from sentinelhub.exceptions import DownloadFailedException, OutOfRequestsException

    data = list(response.get("data") or [])
    extra = 0
    for _attempt in range(retries):
        failing = [n for n, item in enumerate(data) if _interval_error(item)]
        if not failing:
            break
        for n in failing:
            interval = data[n]["interval"]
            request = build(_parse_time(interval["from"]), _parse_time(interval["to"]))
            try:
                [again] = _get_with_fresh_token(request, save=False)
            except OutOfRequestsException:
                raise
            except DownloadFailedException:
                continue  # the interval stays failed; the other intervals are kept
            extra += 1
            for item in again.get("data") or []:
                if item["interval"]["from"] == interval["from"] and not _interval_error(item):
                    data[n] = item
    failed = [f"{item['interval']['from'][:10]} ({_interval_error(item)})" for item in data
              if _interval_error(item)]
    merged = dict(response, data=data, status="PARTIAL" if failed else "OK")
    return merged, extra, failed


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _merge_stats(parts: List[dict]) -> dict:
    """Statistics of one output band over several bbox pieces (``{"stats", "histogram"}``
    each): counts add, mean and std are pooled exactly (population std), min/max combine,
    percentiles come from the summed histograms (within a bin width of 0.001)."""
    histograms = [p["histogram"] for p in parts if p.get("histogram")]
    parts = [p["stats"] for p in parts]
    if len(parts) == 1:
        return parts[0]
    samples = sum(int(p.get("sampleCount", 0)) for p in parts)
    nodata = sum(int(p.get("noDataCount", 0)) for p in parts)
    valid = [(samples_n, _number(p.get("mean")), _number(p.get("stDev")), p)
             for p in parts
             if (samples_n := int(p.get("sampleCount", 0)) - int(p.get("noDataCount", 0))) > 0]
    merged = {"sampleCount": samples, "noDataCount": nodata}
    count = sum(n for n, *_ in valid)
    if count:
        mean = sum(n * m for n, m, _, _ in valid) / count
        second = sum(n * (s * s + m * m) for n, m, s, _ in valid) / count
        merged.update(mean=mean, stDev=math.sqrt(max(second - mean * mean, 0.0)),
                      min=min(_number(p.get("min")) for *_, p in valid),
                      max=max(_number(p.get("max")) for *_, p in valid))
        if len(histograms) == len(parts):
            merged["percentiles"] = _histogram_percentiles(histograms)
    return merged


def _rows(responses: Sequence[dict], zone_id, id_field: str, indices: Sequence[str],
          min_clear_fraction: float, interval: str = "P1M",
          polygon_footprint: int = 0) -> List[dict]:
    """Table rows from one polygon's responses (one per bbox piece), interval by interval;
    intervals with an ``error`` are left out (reported by the caller).

    ``pixel_count`` is the polygon's own pixels, never the bounding-box ``sampleCount``: the
    larger of the service's ``polygon_pixels`` (input ``dataMask`` 1: inside the polygon and
    imaged) and the polygon's centre-in pixels on the request grid (``polygon_footprint``), so
    a part of the polygon the scene does not cover counts as not clear, as it does locally."""
    from .evalscripts import POLYGON_OUTPUT

    by_interval: Dict[Tuple[str, str], List[dict]] = {}
    failed = set()
    for response in responses:
        for item in response.get("data") or []:
            key = (item["interval"]["from"], item["interval"]["to"])
            if _interval_error(item):
                failed.add(key)
            else:
                by_interval.setdefault(key, []).append(item["outputs"])
    rows = []
    for key in sorted(by_interval):
        if key in failed:
            continue
        outputs = by_interval[key]
        period = rules.period_label(key[0], key[1], interval)
        counted = [o[POLYGON_OUTPUT]["bands"]["B0"] for o in outputs if POLYGON_OUTPUT in o]
        polygon = _merge_stats(counted) if counted else None
        polygon_pixels = float(polygon.get("sampleCount", 0)) - float(
            polygon.get("noDataCount", 0)) if polygon else None
        for index in indices:
            stats = _merge_stats([o[index]["bands"]["B0"] for o in outputs])
            samples = float(stats.get("sampleCount", 0))
            clear = samples - float(stats.get("noDataCount", 0))
            pixels = max(polygon_pixels if polygon_pixels is not None else samples,
                         float(polygon_footprint))
            percentiles = stats.get("percentiles", {})
            mean = _number(stats.get("mean"))
            row = {id_field: zone_id, "period": period, "provider": PROVIDER_NAME,
                   "collection": COLLECTION, "index": index, "mean": mean,
                   "median": _number(percentiles.get("50.0")),
                   "std": _number(stats.get("stDev")), "min": _number(stats.get("min")),
                   "max": _number(stats.get("max")), "p10": _number(percentiles.get("10.0")),
                   "p90": _number(percentiles.get("90.0")),
                   "sum": mean * clear if clear else float("nan"), "pixel_count": pixels,
                   "clear_count": clear, "clear_fraction": clear / pixels if pixels else 0.0}
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

    from .evalscripts import statistics_evalscript

    access = {"iam_role_arn": iam_role_arn} if iam_role_arn else {
        "access_key": os.environ.get("AWS_ACCESS_KEY_ID"),
        "secret_access_key": os.environ.get("AWS_SECRET_ACCESS_KEY")}
    if not iam_role_arn and not all(access.values()):
        raise ProviderError("batch statistics need access to your bucket: give an IAM role "
                            "ARN, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
    from .evalscripts import HARMONIZE_VALUES

    begin, stop = rules.time_range(start, end)
    aggregation = SentinelHubStatistical.aggregation(
        evalscript=statistics_evalscript(indices), time_interval=(begin, stop),
        aggregation_interval=interval, resolution=(resolution, resolution))
    aggregation["aggregationInterval"]["lastIntervalBehavior"] = "SHORTEN"
    return {
        "input": {"features": s3_specification(features_s3_url, **access),
                  "data": [SentinelHubStatistical.input_data(
                      settings.data_collection(),
                      other_args={"processing": {"harmonizeValues": HARMONIZE_VALUES}})]},
        "aggregation": aggregation,
        "calculations": {"default": {"statistics": {"default": {
            "percentiles": {"k": [10, 50, 90]}}}}},
        "output": s3_specification(output_s3_url, **access),
    }


def batch_estimate(zones, *, indices: Sequence[str], start: date, end: date,
                   interval: str = "P1M", resolution: float = 10.0) -> Dict:
    """What a Batch Statistical request over these polygons costs by the documented rules:
    each feature as a Statistical request (grid-aligned bbox, input bands without dataMask,
    one sample per interval), summed, with the batch minimum of 100 PU; plus the account
    conditions (Copernicus Service account, 1000 PU available to create or start)."""
    from .evalscripts import input_bands

    frame = zones.to_crs(rules.request_epsg(zones))
    begin, stop = rules.time_range(start, end)
    count = len(rules.aggregation_intervals(begin, stop, interval, "SHORTEN"))
    per_feature = [rules.statistical_pu(width_px=p.width, height_px=p.height,
                                        input_bands=input_bands(indices), intervals=count)
                   for p in _plan(frame.assign(_id=range(len(frame))), "_id", resolution)]
    features_pu = float(sum(per_feature))
    return {"features": len(frame), "intervals": count, "features_pu": features_pu,
            "minimum_pu": rules.PU_MIN_BATCH_STATISTICAL,
            "estimated_processing_units": rules.batch_statistical_pu(per_feature),
            "pu_reserve_needed": rules.BATCH_PU_RESERVE,
            "account": "Batch Statistical needs a Copernicus Service account (other CDSE "
                       "accounts get HTTP 403) and at least 1000 PU available to create or "
                       "start the request",
            "crs": f"EPSG:{rules.request_epsg(zones)} (the GeoPackage's features must be in "
                   "one CRS Sentinel Hub supports)"}


def redacted(payload: Dict) -> Dict:
    """A copy of a request payload safe to print: storage secrets replaced."""
    import json
    import re

    text = json.dumps(payload)
    for key in ("secretAccessKey", "accessKey"):
        text = re.sub(rf'("{key}": )"[^"]*"', r'\1"***"', text)
    return json.loads(text)


@dataclass
class BatchOutcome:
    """A Batch Statistical request after it was created, started and followed."""

    request_id: str
    status: str
    cost_pu: Optional[float]
    results_url: str
    error: Optional[str] = None


def results_location(output_url: str, request_id: str) -> str:
    """Where Sentinel Hub writes the per-feature JSON files: ``<url>/<REQUEST_ID>/<id>.json``
    for a plain S3 URL, or the template with ``<REQUEST_ID>`` filled in."""
    if "<ID>" in output_url or "<IDENTIFIER>" in output_url:
        return output_url.replace("<REQUEST_ID>", request_id)
    return f"{output_url.rstrip('/')}/{request_id}/<ID>.json"


def run_batch_statistical(payload: Dict, settings: CopernicusSettings, *,
                          poll_seconds: float = 30.0, timeout_seconds: float = 6 * 3600,
                          progress: Optional[Callable[[float, str], None]] = None,
                          cancel: Optional[Callable[[], bool]] = None) -> BatchOutcome:
    """Create the Batch Statistical request, start it (``POST …/{id}/start``: a request left
    CREATED is deleted after 7 days and never runs), then poll its status until DONE, FAILED,
    STOPPED or PARTIAL. Results land in the output bucket (see ``results_location``).
    Accounts that may not use this API get a clear ProviderError."""
    import time

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
        if http_status(error) == 403:
            raise ProviderError(
                f"{PROVIDER_NAME}: this account may not use the Batch Statistical API (HTTP "
                "403): it needs a Copernicus Service account. Use the Statistical API instead "
                "(one request per polygon), or ask CDSE support for a Service account."
            ) from None
        raise ProviderError(f"{PROVIDER_NAME}: batch submission failed "
                            f"({_reason(error)})") from None
    request_id = request.request_id
    where = results_location(payload["output"]["s3"]["url"], request_id)
    try:
        client.start_job(request_id)
        deadline = time.monotonic() + timeout_seconds
        while True:
            status = client.get_status(request_id)
            state = str(status.get("status"))
            percent = float(status.get("completionPercentage") or 0)
            if progress is not None:
                progress(percent / 100, f"{PROVIDER_NAME}: batch {request_id} {state}")
            if state in ("DONE", "FAILED", "STOPPED", "PARTIAL"):
                return BatchOutcome(request_id, state, status.get("costPu"), where,
                                    status.get("error") or status.get("stoppedStatusReason"))
            if cancel is not None and cancel():
                return BatchOutcome(request_id, state, None, where,
                                    "stopped following it (the request keeps running)")
            if time.monotonic() > deadline:
                return BatchOutcome(request_id, state, None, where, "still running: check "
                                    "its status later with the request id")
            time.sleep(poll_seconds)
    except DownloadFailedException as error:
        raise ProviderError(f"{PROVIDER_NAME}: batch request {request_id} was created but "
                            f"could not be started or followed ({_reason(error)}); results "
                            f"would land in {where}") from None
