"""Copernicus Data Space Ecosystem through the Sentinel Hub APIs (sentinelhub-py).

- Catalog API: scene search returning STAC items like every other provider.
- Statistical API: per-polygon monthly statistics computed server-side, without downloading
  imagery, returned in the local zonal engine's long-table schema.
- Processing-unit estimates before sending, responses cached on disk by request content
  (URL + body) beside the outputs, so a rerun of the same request from any door costs no
  quota, and a clear stop with what was completed kept when the quota runs out.

Credentials come from the caller (QGIS authentication database) or the environment
(``SH_CLIENT_ID`` / ``SH_CLIENT_SECRET``) and are never written anywhere.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import pandas as pd

from ..sources.providers.base import ProviderError
from ..zonal.reduce import STATISTICS
from . import rules as rules
from .client import (
    COLLECTION,
    PROVIDER_NAME,
    CopernicusSettings,
    _reason,
    is_rate_limited,
)
from .download import interval_error_type
from .units import polygon_pixels
from .usage import get_and_record


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
    return interval_error_type(interval.get("error"))


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
    - Composite: per pixel the median of the interval's clear acquisitions (ORBIT
      mosaicking, see ``evalscripts``), as the local engine's monthly composite; a pixel is
      clear in the interval when at least one acquisition was.
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

    from .download import QuotaExhausted
    from .evalscripts import HARMONIZE_VALUES, input_bands, statistics_evalscript

    evalscript = statistics_evalscript(indices)  # the indices checked before the credentials
    config = settings.sh_config(required=not dry_run)  # a dry run sends nothing
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
    samples = sum(rules.acquisitions_estimate(*pair) for pair in intervals)  # ORBIT
    costs = [rules.statistical_pu(width_px=p.width, height_px=p.height, input_bands=bands,
                                  intervals=len(intervals), samples=samples) for p in plan]
    cached = [_cache_path(cache_dir, settings.base_url, r.payload) for _, r in requests_planned]
    to_send = [n for n, path in enumerate(cached) if path is None or not path.exists()]
    estimated = sum(costs[n] for n in to_send)
    reason = budget.check(pu=estimated, requests=len(to_send),
                          largest_request_pu=max((costs[n] for n in to_send), default=0.0)) \
        if budget is not None else None
    columns = [id_field, "period", "provider", "collection", "index", *STATISTICS, "usable"]
    if dry_run:
        notes = [f"{len(to_send)} requests to send ({len(plan) - len(to_send)} cached), "
                 f"{len(intervals)} intervals each, about {estimated:.3f} PU (assuming "
                 f"{samples} acquisitions, one every {rules.S2_REVISIT_DAYS} days)"]
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
    wait = settings.max_retry_wait_seconds
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
            # PU are charged only for 2XX responses: recorded as each one arrives
            [response] = get_and_record(request, save=False, max_wait_seconds=wait,
                                        budget=budget, estimated_pu=costs[n])
            requests += 1
            response, retries, failed = _retry_intervals(
                response, lambda f, t, piece=piece: build(piece, f, t), interval_retries, wait,
                budget)
            requests += retries
        except QuotaExhausted as error:
            stopped = (f"{PROVIDER_NAME}: {error} ({n} of {len(plan)} requests done, cached: "
                       "rerun to continue)")
            break
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


def _retry_intervals(response: dict, build: Callable, retries: int, max_wait: float = 30.0,
                     budget: Optional[rules.QuotaBudget] = None):
    """Ask again, interval by interval, for the intervals that came back with an error
    (top-level ``status: PARTIAL``); returns the merged response, the number of extra
    requests and the intervals that still fail. Each retry is one more request in the
    ledger (its PU were in the first request's estimate; what the service reports counts)."""
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
                [again] = get_and_record(request, save=False, max_wait_seconds=max_wait,
                                         budget=budget, estimated_pu=0.0)
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
