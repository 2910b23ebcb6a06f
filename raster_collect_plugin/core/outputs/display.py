"""How each index is shown, stated once for the map, the legend, the chart and the report:
a fixed raster ramp range, a fixed chart y range and fixed, ordered legend classes, so
months, forests and runs compare at a glance (no per-layer stretch, no Jenks).

Pure data and arithmetic: no Qt, no QGIS (the dock and the report both read it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

# red (stressed / bare) -> yellow -> green (healthy canopy)
VEGETATION_COLOURS = ("#a50026", "#f46d43", "#fee08b", "#66bd63", "#006837")
# neutral ramp for indices where "more" is not "healthier" (water, radar backscatter)
NEUTRAL_COLOURS = ("#440154", "#3b528b", "#21918c", "#5ec962", "#fde725")
# a stand's mean index change since the event: drop red, stable pale, gain green. Worded as
# drops, never as damage classes: "severe" / "moderate" / "light" name the storm damage
# classes only (core/storm/classes.py), which are decided per pixel and by extent
CHANGE_BREAKS = (-2.0, -0.30, -0.15, -0.05, 0.05, 2.0)
CHANGE_LABELS = ("drop > 0.30", "drop 0.15 - 0.30", "drop 0.05 - 0.15",
                 "stable (-0.05 to 0.05)", "gain > 0.05")
CHANGE_COLOURS = ("#d73027", "#fc8d59", "#fee08b", "#d9ef8b", "#1a9850")


@dataclass(frozen=True)
class IndexDisplay:
    """Display conventions of one index."""

    raster_range: Tuple[float, float]  # colour ramp min/max of composite rasters
    chart_range: Tuple[float, float]  # y axis of time-series charts
    breaks: Tuple[float, ...]  # legend class edges, ascending (n classes: n + 1 edges)
    labels: Tuple[str, ...]  # one per class
    colours: Tuple[str, ...] = VEGETATION_COLOURS


_VEGETATION_LABELS = ("bare / no canopy", "sparse", "moderate", "healthy", "dense, healthy")

DISPLAY: Dict[str, IndexDisplay] = {
    "NDVI": IndexDisplay((0.0, 1.0), (-0.2, 1.0), (-1.0, 0.2, 0.4, 0.6, 0.8, 1.0),
                         _VEGETATION_LABELS),
    "EVI": IndexDisplay((0.0, 0.8), (-0.2, 1.0), (-1.0, 0.1, 0.2, 0.35, 0.5, 2.5),
                        _VEGETATION_LABELS),
    "SAVI": IndexDisplay((0.0, 0.8), (-0.2, 1.0), (-1.5, 0.15, 0.3, 0.45, 0.6, 1.5),
                         _VEGETATION_LABELS),
    "NDRE": IndexDisplay((0.0, 0.6), (-0.2, 0.8), (-1.0, 0.1, 0.2, 0.3, 0.4, 1.0),
                         _VEGETATION_LABELS),
    "NDMI": IndexDisplay((-0.3, 0.6), (-0.5, 0.8), (-1.0, -0.1, 0.05, 0.2, 0.35, 1.0),
                         ("very dry", "dry", "moderate", "moist canopy", "very moist canopy")),
    "NBR": IndexDisplay((-0.2, 0.8), (-0.5, 1.0), (-1.0, 0.1, 0.25, 0.4, 0.55, 1.0),
                        ("burnt / bare", "low", "moderate", "healthy", "dense, healthy")),
    "NDWI": IndexDisplay((-0.8, 0.4), (-1.0, 1.0), (-1.0, -0.6, -0.4, -0.2, 0.0, 1.0),
                         ("dense vegetation", "vegetation", "mixed", "wet / sparse", "water"),
                         NEUTRAL_COLOURS),
    "VHVV": IndexDisplay((0.0, 0.6), (0.0, 1.0), (0.0, 0.1, 0.2, 0.3, 0.4, 10.0),
                         ("< 0.1", "0.1 - 0.2", "0.2 - 0.3", "0.3 - 0.4", "> 0.4"),
                         NEUTRAL_COLOURS),
    "VV": IndexDisplay((-25.0, 0.0), (-30.0, 5.0), (-60.0, -20.0, -15.0, -10.0, -5.0, 30.0),
                       ("< -20 dB", "-20 to -15 dB", "-15 to -10 dB", "-10 to -5 dB",
                        "> -5 dB"), NEUTRAL_COLOURS),
    "VH": IndexDisplay((-30.0, -5.0), (-35.0, 0.0), (-60.0, -25.0, -20.0, -15.0, -10.0, 30.0),
                       ("< -25 dB", "-25 to -20 dB", "-20 to -15 dB", "-15 to -10 dB",
                        "> -10 dB"), NEUTRAL_COLOURS),
}


def index_display(index: str, values: Iterable[float] = ()) -> IndexDisplay:
    """The display of a registered index; for a user-defined one, five equal classes over
    the data's own range (still fixed for the run, ascending and non-overlapping)."""
    known = DISPLAY.get(index.upper())
    if known is not None:
        return known
    finite = [v for v in values if v is not None and v == v]
    low, high = (min(finite), max(finite)) if finite else (-1.0, 1.0)
    if high <= low:
        low, high = low - 0.5, high + 0.5
    step = (high - low) / 5
    breaks = tuple(low + step * k for k in range(6))
    labels = tuple(f"{breaks[k]:.2f} - {breaks[k + 1]:.2f}" for k in range(5))
    return IndexDisplay((low, high), (low, high), breaks, labels, NEUTRAL_COLOURS)


def classes(display: IndexDisplay) -> List[Tuple[float, float, str, str]]:
    """(lower, upper, label, colour) per legend class, ascending."""
    return [(display.breaks[k], display.breaks[k + 1], display.labels[k], display.colours[k])
            for k in range(len(display.labels))]


def change_classes() -> List[Tuple[float, float, str, str]]:
    """(lower, upper, label, colour) of the before/after change classes, ascending."""
    return [(CHANGE_BREAKS[k], CHANGE_BREAKS[k + 1], CHANGE_LABELS[k], CHANGE_COLOURS[k])
            for k in range(len(CHANGE_LABELS))]


def period_start(label: str) -> Optional[date]:
    """The first day of a period label: '2025-11', '2025-Q4' or '2025' (None otherwise)."""
    text = str(label).strip()
    try:
        if len(text) == 7 and text[4] == "-" and text[5] == "Q":
            return date(int(text[:4]), 3 * (int(text[6]) - 1) + 1, 1)
        if len(text) >= 7 and text[4] == "-":
            return date(int(text[:4]), int(text[5:7]), 1)
        if len(text) == 4:
            return date(int(text), 1, 1)
    except ValueError:
        return None
    return None


def period_end(label: str) -> Optional[date]:
    """The first day after a period label's period (None if the label is not a period)."""
    start = period_start(label)
    if start is None:
        return None
    text = str(label).strip()
    months = 12 if len(text) == 4 else 3 if "Q" in text else 1
    month = start.month - 1 + months
    return date(start.year + month // 12, month % 12 + 1, 1)


@dataclass(frozen=True)
class PeriodPlacement:
    """Where a composite period goes on a time axis: its span, the middle where its value
    is drawn, and whether it contains the event (its value mixes before and after)."""

    start: datetime
    middle: datetime
    end: datetime
    straddles_event: bool


def period_placement(label: str, event: Optional[date] = None) -> Optional[PeriodPlacement]:
    """The one rule every chart and the report use to place a period's value: at the
    middle of the period, not its first day (a November composite after a 13 November storm
    is drawn after the event line); ``straddles_event`` when the event falls inside it."""
    start, end = period_start(label), period_end(label)
    if start is None or end is None:
        return None
    begin = datetime(start.year, start.month, start.day)
    finish = datetime(end.year, end.month, end.day)
    return PeriodPlacement(begin, begin + (finish - begin) / 2, finish,
                           event is not None and start <= event < end)


def before_after_change(points: Sequence[Tuple[str, float]], event: date
                        ) -> Optional[Tuple[float, float, float]]:
    """(before, after, after - before): mean of the usable period values wholly before the
    event's period and of those after it; None when either side has no value. The event's
    own period is left out (it mixes both states)."""
    before, after = [], []
    for label, value in points:
        start, end = period_start(label), period_end(label)
        if start is None or end is None or value is None or value != value:
            continue
        if end <= event:
            before.append(value)
        elif start > event:
            after.append(value)
    if not before or not after:
        return None
    mean_before, mean_after = sum(before) / len(before), sum(after) / len(after)
    return mean_before, mean_after, mean_after - mean_before
