"""Sentinel Hub's documented rules, in one place, for the Copernicus Data Space requests:
supported CRS, aggregation intervals, sample-matrix limits, processing-unit cost and the
free-tier monthly budget.

Sources (CDSE documentation, APIs/SentinelHub/…): Process/Crs (CRS list), Statistical and the
API reference (``aggregationInterval.lastIntervalBehavior``, width/height at most 2500),
Overview/ProcessingUnit (PU multiplication factors and minimums), Overview/RateLimiting
(``Retry-After`` in milliseconds) and BatchStatistical (service accounts, 1000 PU reserve).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

from ..areas.utm import area_utm, utm_epsg  # noqa: F401 (rules.utm_epsg: copernicus.py)

# Process/Crs.qmd: WGS84, Web Mercator, UTM north and south, and these national systems
SUPPORTED_EPSG = frozenset({4326, 3857, *range(32601, 32661), *range(32701, 32761), 2154,
                            2180, 2193, 3003, 3004, 3005, 3006, 3031, 3035, 3161, 3346, 3413,
                            3416, 3578, 3580, 3765, 3794, 3844, 3912, 3995, 4026, 5514, 28992,
                            32184})
MAX_SAMPLE_SIDE_PX = 2500  # Statistical API width/height maximum (and Process API output)
PU_AREA_PX = 512 * 512
PU_BANDS = 3
PU_MIN_AREA_FACTOR = 0.01
PU_MIN_STATISTICAL = 0.01  # per request
PU_MIN_PROCESS = 0.005  # per request
PU_MIN_BATCH_STATISTICAL = 100.0  # per batch request
BATCH_PU_RESERVE = 1000.0  # needed in the account to create, analyse or start a batch
FREE_TIER = {"requests_per_month": 10_000, "pu_per_month": 10_000.0,
             "requests_per_minute": 300, "pu_per_minute": 300.0}


def request_epsg(frame) -> int:
    """The CRS to send a GeoDataFrame's polygons in: its own when Sentinel Hub supports it
    and it is projected (resolution in metres), else the WGS 84 / UTM zone of the AOI's
    centre (EPSG:28356 MGA zone 56 -> EPSG:32756)."""
    epsg = frame.crs.to_epsg() if frame.crs is not None else None
    if epsg in SUPPORTED_EPSG and not frame.crs.is_geographic:
        return int(epsg)
    return area_utm(frame.to_crs(4326).geometry.explode(index_parts=False).bounds.to_numpy())[0]


def snapped_bounds(bounds: Sequence[float], resolution: float) -> Tuple[float, ...]:
    """A polygon's bounds grown to multiples of the resolution: the sample matrix then lies on
    the Sentinel-2 10/20/60 m grid (UTM tiles start on multiples of 60 m), so no pixel is
    resampled and a pixel belongs to the polygon when its centre does."""
    xmin, ymin, xmax, ymax = bounds
    return (math.floor(xmin / resolution) * resolution, math.floor(ymin / resolution) * resolution,
            math.ceil(xmax / resolution) * resolution, math.ceil(ymax / resolution) * resolution)


def split_bounds(bounds: Sequence[float], resolution: float,
                 max_side_px: int = MAX_SAMPLE_SIDE_PX) -> List[Tuple[float, ...]]:
    """Grid-aligned pieces of (snapped) bounds, each at most ``max_side_px`` a side."""
    xmin, ymin, xmax, ymax = bounds
    width = int(round((xmax - xmin) / resolution))
    height = int(round((ymax - ymin) / resolution))
    pieces = []
    for row0 in range(0, height, max_side_px):
        for col0 in range(0, width, max_side_px):
            cols, rows = min(max_side_px, width - col0), min(max_side_px, height - row0)
            pieces.append((xmin + col0 * resolution, ymax - (row0 + rows) * resolution,
                           xmin + (col0 + cols) * resolution, ymax - row0 * resolution))
    return pieces


# ---------------------------------------------------------------------- intervals

# an aggregation interval this tool and the service count alike: n days, weeks, months or
# years, n >= 1 (P0D looped for ever)
INTERVAL = re.compile(r"P([1-9]\d*)([DWMY])")


def is_interval(value) -> bool:
    """Whether ``value`` is an aggregation interval (``INTERVAL``)."""
    return isinstance(value, str) and INTERVAL.fullmatch(value) is not None


def _add(moment: datetime, duration: str) -> datetime:
    match = INTERVAL.fullmatch(duration)
    if not match:
        raise ValueError(f"aggregation interval {duration!r}: use PnD, PnW, PnM or PnY")
    count, unit = int(match.group(1)), match.group(2)
    if unit in "DW":
        return moment + timedelta(days=count * (7 if unit == "W" else 1))
    months = moment.month - 1 + count * (12 if unit == "Y" else 1)
    year, month = moment.year + months // 12, months % 12 + 1
    last_day = (date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)).day
    return moment.replace(year=year, month=month, day=min(moment.day, last_day))


def time_range(start: date, end: date) -> Tuple[datetime, datetime]:
    """The request's ``timeRange``: from the start day's 00:00 to the day after ``end`` at
    00:00 (UTC), so the end day is included and a range of whole months divides exactly."""
    begin = datetime(start.year, start.month, start.day, tzinfo=timezone.utc)
    stop = datetime(end.year, end.month, end.day, tzinfo=timezone.utc) + timedelta(days=1)
    return begin, stop


def aggregation_intervals(start: datetime, end: datetime, duration: str,
                          behaviour: str = "SHORTEN") -> List[Tuple[datetime, datetime]]:
    """The intervals the service makes: ``duration`` steps counted from ``start``; the last,
    incomplete one skipped (SKIP, the service default), shortened to ``end`` (SHORTEN, what
    this project sends so the last month is kept) or extended (EXTEND)."""
    out, begin = [], start
    while begin < end:
        stop = _add(begin, duration)
        if stop > end:
            if behaviour == "SHORTEN":
                out.append((begin, end))
            elif behaviour == "EXTEND":
                out.append((begin, stop))
            break
        out.append((begin, stop))
        begin = stop
    return out


def period_label(interval_from: str, interval_to: str, duration: str) -> str:
    """The table's ``period`` for an interval the service returned: ``YYYY-MM`` when it is a
    calendar month (as the local engine labels its monthly composites), else its first day
    ``YYYY-MM-DD`` (intervals count from ``timeRange.from``, rarely the 1st)."""
    begin = datetime.fromisoformat(interval_from.replace("Z", "+00:00"))
    if duration == "P1M" and begin.day == 1 and begin.hour == 0:
        return begin.strftime("%Y-%m")
    return begin.strftime("%Y-%m-%d")


# ---------------------------------------------------------------------- processing units

def area_factor(width_px: int, height_px: int) -> float:
    """Requested sample matrix (bbox) / 512 x 512, at least 0.01."""
    return max(PU_MIN_AREA_FACTOR, width_px * height_px / PU_AREA_PX)


def band_factor(input_bands: Sequence[str]) -> float:
    """Input bands / 3; ``dataMask`` is free unless it is the only band."""
    counted = [b for b in input_bands if b != "dataMask"] or list(input_bands)
    return len(counted) / PU_BANDS


def statistical_pu(*, width_px: int, height_px: int, input_bands: Sequence[str],
                   intervals: int, samples: Optional[int] = None) -> float:
    """One Statistical API request: area x bands x data samples per pixel (one per interval
    under SIMPLE mosaicking, one per acquisition under ORBIT: pass ``samples``); output is
    JSON, so no 32-bit factor; at least 0.01 PU."""
    count = intervals if samples is None else samples
    units = area_factor(width_px, height_px) * band_factor(input_bands) * max(count, 0)
    return max(PU_MIN_STATISTICAL, units)


# Sentinel-2A and 2B together revisit a place every 5 days at the equator; ORBIT mosaicking
# gives one sample per acquisition day, and ProcessingUnit.qmd charges per data sample. The
# service's own count is known only after the request (where swaths overlap, or with a third
# satellite, there are more): the estimate says so.
S2_REVISIT_DAYS = 5


def acquisitions_estimate(begin: datetime, end: datetime) -> int:
    """Sentinel-2 acquisition days expected in [begin, end): one every ``S2_REVISIT_DAYS``
    days, at least one."""
    days = (end - begin).total_seconds() / 86400
    return max(1, math.ceil(days / S2_REVISIT_DAYS - 1e-9))


def process_pu(*, width_px: int, height_px: int, input_bands: Sequence[str],
               float32_output: bool = True, samples: int = 1) -> float:
    """One Process API request (32-bit float TIFF counts twice); at least 0.005 PU."""
    units = area_factor(width_px, height_px) * band_factor(input_bands) * samples
    return max(PU_MIN_PROCESS, units * (2 if float32_output else 1))


def batch_statistical_pu(feature_pus: Sequence[float]) -> float:
    """A Batch Statistical request: the general rules per feature, at least 100 PU."""
    return max(PU_MIN_BATCH_STATISTICAL, float(sum(feature_pus)))


# ---------------------------------------------------------------------- monthly budget

def default_usage_ledger() -> Path:
    """This user's Sentinel Hub spending ledger: ``RASTER_COLLECT_SH_LEDGER`` or
    ``$XDG_CACHE_HOME/raster-collect/sentinel-hub-usage.json`` (``~/.cache`` by default)."""
    import os

    from .cache import user_cache_root

    explicit = os.environ.get("RASTER_COLLECT_SH_LEDGER")
    return Path(explicit) if explicit else user_cache_root() / "sentinel-hub-usage.json"


@dataclass
class QuotaBudget:
    """What the user allows this tool to spend a calendar month (free tier by default), and
    what it has already spent, kept in a small JSON ledger (estimates, as sent)."""

    pu_per_month: float = FREE_TIER["pu_per_month"]
    requests_per_month: int = FREE_TIER["requests_per_month"]
    ledger: Optional[Path] = None
    pu_per_minute: float = FREE_TIER["pu_per_minute"]

    def _month(self) -> str:
        return datetime.now(timezone.utc).strftime("%Y-%m")

    def spent(self) -> Tuple[float, int]:
        if self.ledger is None or not Path(self.ledger).exists():
            return 0.0, 0
        from .ledger import reconciled_pu  # reported costs replace their estimates

        month = json.loads(Path(self.ledger).read_text()).get(self._month(), {})
        return reconciled_pu(month), int(month.get("requests", 0))

    def left(self) -> Tuple[float, int]:
        pu, requests = self.spent()
        return self.pu_per_month - pu, self.requests_per_month - requests

    def check(self, *, pu: float, requests: int,
              largest_request_pu: float = 0.0) -> Optional[str]:
        """None if the estimate fits what is left this month (and no single request exceeds
        the per-minute PU limit, which it could never pass), else the reason to stop."""
        if largest_request_pu > self.pu_per_minute:
            return (f"one request would cost {largest_request_pu:.1f} PU, more than the "
                    f"{self.pu_per_minute:g} PU a minute the account allows; nothing was "
                    "sent. Use a shorter date range or a coarser resolution.")
        pu_left, requests_left = self.left()
        if pu > pu_left + 1e-9 or requests > requests_left:
            return (f"the estimate ({pu:.2f} PU in {requests} requests) exceeds what is left "
                    f"of this month's budget ({max(pu_left, 0):.2f} PU, "
                    f"{max(requests_left, 0)} requests); nothing was sent. Raise the budget "
                    "(--pu-budget / --request-budget) or narrow the dates or polygons.")
        return None

    def record(self, *, pu: float, requests: int) -> None:
        if self.ledger is None or not requests:
            return
        from .ledger import update_month

        def change(month: dict) -> None:
            month["pu"] = round(month["pu"] + pu, 6)
            month["requests"] += requests

        update_month(Path(self.ledger), self._month(), change)
