"""The job spec's schema, checked before any work: a malformed spec is one JobError line
(an error event for QGIS), never a traceback half-way through a run.

A small declarative table instead of a JSON-Schema dependency: each known key has a type and,
where it matters, a range or a set of values. Unknown keys are allowed (newer doors may send
more); known keys must be right.
"""

from __future__ import annotations

from datetime import date
from numbers import Real
from typing import Any, Callable, Dict, Tuple


class JobError(ValueError):
    """The spec is malformed; the message names the key and what is expected."""


SOURCE_KINDS = ("static", "stac", "maxar", "planetary-computer", "earth-search")


def _text(value) -> bool:
    return isinstance(value, str) and value.strip() != ""


def _number(low=None, high=None, *, integer=False, low_open=False) -> Callable[[Any], bool]:
    def check(value) -> bool:
        if isinstance(value, bool) or not isinstance(value, Real):
            return False
        if integer and int(value) != value:
            return False
        if value != value:  # NaN
            return False
        if low is not None and (value <= low if low_open else value < low):
            return False
        return high is None or value <= high
    return check


def _date(value) -> bool:
    try:
        date.fromisoformat(str(value)[:10])
        return isinstance(value, str)
    except ValueError:
        return False


def _list_of(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: isinstance(value, list) and all(check(v) for v in value)


def _scalar_id(value) -> bool:
    return (isinstance(value, (str, int)) and not isinstance(value, bool))


def _mapping_of_text(value) -> bool:
    return isinstance(value, dict) and all(_text(k) and _text(v) for k, v in value.items())


def _budget(value) -> bool:
    return _text(value) or _number(0, low_open=True)(value)


# key -> (check, what is expected)
SCHEMA: Dict[str, Tuple[Callable[[Any], bool], str]] = {
    "aoi": (_text, "a path to a polygon file"),
    "layer": (_text, "a layer name"),
    "id_field": (_text, "a field name"),
    "ids": (_list_of(_scalar_id), "a list of ids"),
    "sources": (lambda v: isinstance(v, list), "a list of sources"),
    "start": (_date, "a date like 2025-11-13"),
    "end": (_date, "a date like 2025-11-13"),
    "event_date": (_date, "a date like 2025-11-13"),
    "indices": (_list_of(_text), "a list of index names"),
    "custom_indices": (_mapping_of_text, "an object of NAME: formula"),
    "period": (lambda v: v in ("month", "quarter", "year"), "month, quarter or year"),
    "method": (_text, "a composite method such as median"),
    "max_cloud_cover": (_number(0, 100), "a number from 0 to 100"),
    "mask_classes": (_list_of(_text), "a list of cloud-mask class names"),
    "resolution": (_number(0, 10_000, low_open=True), "a positive number of metres"),
    "crs": (_text, "a CRS such as EPSG:28356"),
    "output_dir": (_text, "a folder"),
    "output": (_text, "a file path"),
    "raster": (_text, "a raster path"),
    "coverage": (lambda v: v in ("exact", "centre", "all_touched"),
                 "exact, centre or all_touched"),
    "min_clear_fraction": (_number(0, 1), "a number from 0 to 1"),
    "hexagon_area_m2": (_number(0, low_open=True), "a positive area in m²"),
    "hexagon_edge_m": (_number(0, low_open=True), "a positive length in metres"),
    "h3_resolution": (_number(0, 15, integer=True), "an integer from 0 to 15"),
    "clip": (lambda v: isinstance(v, bool), "true or false"),
    "small": (lambda v: isinstance(v, bool), "true or false"),
    "overwrite": (lambda v: isinstance(v, bool), "true or false"),
    "item_ids": (_list_of(_text), "a list of scene ids"),
    "before_items": (_list_of(_text), "a list of item URLs"),
    "after_items": (_list_of(_text), "a list of item URLs"),
    "buffer_m": (_number(), "a number of metres"),
    "before_days": (_number(1, 3650, integer=True), "a whole number of days (1-3650)"),
    "after_days": (_number(1, 3650, integer=True), "a whole number of days (1-3650)"),
    "thresholds": (lambda v: isinstance(v, dict), "an object"),
    "compute": (lambda v: isinstance(v, dict), "an object"),
    "memory_budget": (_budget, "a size such as 4GB"),
    "cloud_buffer_m": (_number(0, 10_000), "a number of metres (0-10000)"),
    "colour_composites": (_list_of(_text), "a list such as [\"true-colour\"]"),
}

NEEDS: Dict[str, Tuple[str, ...]] = {
    "search": ("aoi", "sources", "start", "end"),
    "composite": ("aoi", "sources", "start", "end", "output_dir"),
    "zonal": ("aoi", "sources", "start", "end", "output_dir"),
    "zonal-raster": ("aoi", "raster", "output_dir"),
    "hexagons": ("aoi", "output"),
    "sample": ("output_dir",),
    "storm": ("aoi", "event_date", "output_dir"),
    "sentinel-hub-statistics": ("aoi", "start", "end", "output_dir"),
    "sign": ("hrefs",),
}


def validate_spec(spec: Any) -> Dict[str, Any]:
    """Check a job spec; returns it or raises JobError naming the key and what it expects."""

    if not isinstance(spec, dict):
        raise JobError(f"a job spec must be a JSON object, not {type(spec).__name__}")
    kind = spec.get("kind")
    if kind not in NEEDS:
        raise JobError(f"job 'kind' must be one of {tuple(NEEDS)}, not {kind!r}")
    for key in NEEDS[kind]:
        if spec.get(key) in (None, "", []):
            raise JobError(f"a {kind} job spec needs '{key}'")
    for key, value in spec.items():
        if key in SCHEMA and value is not None:
            check, expected = SCHEMA[key]
            if not check(value):
                raise JobError(f"job spec '{key}' must be {expected}, not {_show(value)}")
    for n, source in enumerate(spec.get("sources") or []):
        if not isinstance(source, dict):
            raise JobError(f"job spec sources[{n}] must be an object with 'kind'")
        if source.get("kind") not in SOURCE_KINDS:
            raise JobError(f"job spec sources[{n}].kind must be one of {SOURCE_KINDS}, "
                           f"not {_show(source.get('kind'))}")
        collections = source.get("collections")
        if collections is not None and not _list_of(_text)(collections):
            raise JobError(f"job spec sources[{n}].collections must be a list of names")
        for key in ("href", "url", "name"):
            if source.get(key) is not None and not _text(source[key]):
                raise JobError(f"job spec sources[{n}].{key} must be text")
    if kind in ("search", "composite", "zonal", "sentinel-hub-statistics") and \
            date.fromisoformat(spec["end"][:10]) < date.fromisoformat(spec["start"][:10]):
        raise JobError(f"job spec 'end' ({spec['end']}) is before 'start' ({spec['start']}): "
                       "swap the dates")
    return spec


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
