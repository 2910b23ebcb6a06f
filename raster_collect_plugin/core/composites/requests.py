"""What a composite run is asked and what it returns: the request, its sources, its time windows,
the results and the two errors a door reports (bad request, cancelled). Plain values: every
step imports them, they import no step."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import geopandas as gpd
import pandas as pd

from ..areas.aoi import Aoi
from ..pixels import masks
from ..sources.providers.base import Provider
from .periods import period_bounds, period_label, period_starts

ProgressCallback = Callable[[float, str], None]
CancelCheck = Callable[[], bool]


class RequestError(ValueError):
    """The request is not usable; the message names the problem and the fix."""


class NothingToCompute(RequestError):
    """No scene matches the dates, forests and cloud limit; the line, each collection's reason
    and the fix last, is given whole (cut at 400 characters it lost the fix)."""

    whole_line = True


class Cancelled(RuntimeError):
    """The user cancelled; nothing was written."""


@dataclass(frozen=True)
class Source:
    """A provider and the collections to use from it."""

    provider: Provider
    collections: Tuple[str, ...]


@dataclass
class CompositeRequest:
    """Everything one composite run needs. Build it with keyword arguments."""

    aoi: Union[Aoi, str, Path, gpd.GeoDataFrame]
    sources: Sequence[Source]
    start: date
    end: date
    output_dir: Union[str, Path]
    indices: Sequence[str] = ("NDVI",)
    custom_indices: Mapping[str, str] = field(default_factory=dict)  # name -> band expression
    period: str = "month"
    method: str = "median"
    max_cloud_cover: Optional[float] = 80.0
    mask_classes: frozenset = masks.DEFAULT_MASK_CLASSES
    cloud_buffer_m: float = 0.0  # metres the cloud/shadow mask grows by (pixels/cloud_buffer.py)
    resolution: Optional[float] = None
    crs: Optional[str] = None
    id_field: str = "forest_id"
    selected_ids: Optional[Sequence] = None
    run_name: Optional[str] = None
    # explicit (label, first day, last day) windows instead of calendar periods (before/after)
    windows: Optional[Sequence[Tuple[str, date, date]]] = None
    memory_budget: Optional[int] = None  # bytes; None: half the machine's memory (sizing.py)
    # colour composites per period beside the indices: "true-colour", "false-colour", "swir"
    colour_composites: Sequence[str] = ()


@dataclass
class CollectionResult:
    """The outputs of one provider's collection."""

    provider: str
    collection: str
    sensor: str
    periods: List[str]
    index_paths: Dict[str, Path]
    count_path: Path
    metadata_path: Path
    scenes: List[dict]
    period_clear_fraction: List[float]
    skipped_indices: Dict[str, str] = field(default_factory=dict)
    colour_paths: Dict[str, Dict[str, Path]] = field(default_factory=dict)  # key->period->COG
    licence: Optional[str] = None  # the data's licence, as its metadata records it


@dataclass
class CompositeResult:
    """What a run produced and what it could not do."""

    output_dir: Path
    collections: List[CollectionResult]
    errors: Dict[str, str]
    notes: List[str]


def _report(progress: Optional[ProgressCallback], fraction: float, message: str) -> None:
    if progress is not None:
        progress(max(0.0, min(1.0, fraction)), message)


def _check_cancel(cancel: Optional[CancelCheck]) -> None:
    if cancel is not None and cancel():
        raise Cancelled("cancelled by the user")


def composite_windows(request: CompositeRequest
                      ) -> List[Tuple[str, pd.Timestamp, pd.Timestamp]]:
    """(label, start, end-exclusive) of every composite: the request's explicit windows or
    its calendar periods."""
    if request.windows:
        return [(label, pd.Timestamp(first), pd.Timestamp(last) + pd.Timedelta(days=1))
                for label, first, last in request.windows]
    return [(period_label(s, request.period), *period_bounds(s, request.period))
            for s in period_starts(request.start, request.end, request.period)]


def partial_period_notes(request: CompositeRequest) -> List[str]:
    """A quarter or year the run's dates cut is composited from that part only, but labelled
    as the whole ("2025-Q4", "2025"): the notes say which days each one holds."""
    if request.windows or request.period not in ("quarter", "year"):
        return []
    notes = []
    last_day = pd.Timestamp(request.end)
    for label, first, end in composite_windows(request):
        held = (max(first, pd.Timestamp(request.start)), min(end - pd.Timedelta(days=1),
                                                             last_day))
        if held != (first, end - pd.Timedelta(days=1)):
            notes.append(f"{label} is composited from {held[0]:%Y-%m-%d} to "
                         f"{held[1]:%Y-%m-%d} only (the run's start and end), not the whole "
                         f"{request.period}")
    return notes


def _naive_utc(moment: datetime):
    stamp = pd.Timestamp(moment)
    return stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo else stamp
