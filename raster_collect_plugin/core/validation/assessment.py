"""Validate per-pixel monitoring outputs against reference polygons of disturbance.

How to call::

    from raster_collect_plugin.core.validation.assessment import (
        validate, validation_report, write_validation)
    result = validate(outputs, references, compartments, observations=series)
    result["pixel"]         # {"precision", "recall", "f1", "tp", "fp", "fn", "tn", ...}
    result["compartment"]   # the same over compartments (flagged vs disturbed)
    result["delay"]         # {"first_anomaly": {"days": {mean, median, n},
                            #                    "observations": {...}}, "confirmation": ...}
    result["compartments"]  # pandas table, one row per compartment
    result["events"]        # pandas table, one row per reference polygon
    result["event_types"]   # pandas table, one row per event type (recall, median delays)
    print(validation_report(result))
    write_validation(result, folder)   # validation.json, *_compartments.csv, *_events.csv,
                                       # *_event_types.csv, *_report.md

``outputs``: an ``xr.Dataset`` (or a mapping of (y, x) arrays with ``transform`` and ``crs``
given) with ``status`` (codes 0 no alert, 1 suspected, 2 confirmed, 3 recovered, 255 not
monitored, or those names) and the date rasters ``first_anomaly`` and/or ``confirmation``
(datetime64 with NaT, or days since 1970-01-01 with 0 = none). A pixel counts as detected
when its status is confirmed or recovered (without ``status``: when it has a ``detection``
date). ``references``: polygons with a date column (``date_field``); ``compartments``: polygons
with ``id_field``. ``observations``: (time, y, x) series (NaN = not clear), clear booleans
or a ``metrics.ClearRecord`` (a monitoring folder's ``monitoring_clear_days.npz``), for the
delay in clear observations (1 = detected on the first clear observation on or after the
event). Only pixels inside compartments are evaluated. A compartment counts as disturbed
(reference) or flagged (detected) when at least ``min_fraction`` of its pixels are; one with no
pixel on the outputs' grid is "not evaluated", left out of the compartment scores.
References dated before ``monitoring_start`` are left out, and so are their pixels; so are
those dated after ``monitoring_end`` (the last scene monitored: not seen yet), with their
pixels not under another reference.
"""

from __future__ import annotations

import json
import math
from datetime import date
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import pandas as pd
from affine import Affine

from ..areas.pixel_members import snapped, zone_pixels
from ..outputs.files import atomic_path, write_json
from .dates import reference_dates
from .metrics import (
    Outcomes,
    as_days,
    clear_observations_between,
    clear_record,
    outcomes,
    scores,
    summary,
)
from .unscored import not_scored, reference_names, split_by_date

DETECTED_STATUS = (2, 3)  # confirmed, recovered (core.monitoring's codes)
STATUS_CODES = {"no alert": 0, "suspected": 1, "confirmed": 2, "recovered": 3,
                "not monitored": 255}
DATE_LAYERS = ("first_anomaly", "confirmation")
NOT_EVALUATED = "not evaluated"  # a compartment with no pixel on the outputs' grid


def validate(outputs, references, compartments, *, id_field: str = "forest_id",
             date_field: str = "date", detection: str = "confirmation",
             observations=None, transform: Optional[Affine] = None, crs=None,
             min_fraction: float = 0.02, monitoring_start: Optional[date] = None,
             monitoring_end: Optional[date] = None,
             detected_status: Sequence[int] = DETECTED_STATUS,
             unmonitored=None) -> Dict[str, object]:
    """Per-pixel and per-compartment precision, recall, F1 and detection delays (see the
    module docstring); ``detection``: the date layer a detection is dated by;
    ``unmonitored``: compartments the folder does not monitor (a reference over one is
    named so in ``not_scored``, as over a compartment without a pixel on the grid)."""
    layers = _layers(outputs)
    transform, crs = _grid(outputs, layers, transform, crs)
    _check_polygons(references, "reference polygons", date_field, "a date column")
    _check_polygons(compartments, "compartments", id_field, "an id field")
    shape = next(iter(layers.values())).shape
    refs = references.to_crs(crs).reset_index(drop=True)
    # edges through pixel centres keep their pixels whatever CRS the references came from
    refs.geometry = [None if g is None else snapped(g, transform) for g in refs.geometry]
    refs["_days"] = as_days(reference_dates(refs[date_field]).values.astype("datetime64[ns]"))
    refs["_row"] = np.arange(len(refs))  # the feature's number in the file, from 0
    refs["_name"] = reference_names(refs)  # its name in the results, one polygon each
    everything = refs  # the file's references, those left out by date too
    refs, history, future = split_by_date(refs, monitoring_start, monitoring_end)
    excluded = _burn(history, np.ones(len(history)), shape, transform, 0) > 0
    # earliest drawn last: wins; of one day (a duplicate), the first in the file
    order = refs.sort_values(["_days", "_row"], ascending=False, kind="stable").index
    truth_days = _burn(refs.loc[order], refs.loc[order, "_days"].values, shape, transform,
                       np.nan)
    reference_row = _burn(refs.loc[order], np.asarray(order, "float64"), shape, transform,
                          np.nan)
    zones = compartments.to_crs(crs).reset_index(drop=True)
    # a pixel in two overlapping compartments counts in each (as the monitoring's tables)
    members = zone_pixels(zones, transform, shape)
    in_zone = ~members.outside().reshape(shape)
    if len(zones) and not in_zone.any():  # else every one a 0-pixel "TN"
        raise ValueError(_no_pixel_message(zones, transform, shape))
    # not yet seen: left out with their pixels, but for those of an earlier reference
    excluded |= (_burn(future, np.ones(len(future)), shape, transform, 0) > 0) & \
        ~np.isfinite(truth_days)
    inside = in_zone & ~excluded

    dates = {name: as_days(layers[name]) for name in DATE_LAYERS if name in layers}
    if detection not in dates:
        raise ValueError(f"the outputs have no {detection!r} date layer; they have "
                         f"{sorted(dates)}")
    if "status" in layers:
        detected = np.isin(_status_codes(layers["status"]), list(detected_status))
    else:
        detected = np.isfinite(dates[detection])
    result = outcomes(truth_days, detected, dates[detection], inside)
    delays = _delays(result, truth_days, dates, observations)
    pixel = scores(result.tp.sum(), result.fp.sum(), result.fn.sum(), result.tn.sum())
    pixel["early"] = int(result.early.sum())
    pixel["evaluated"] = int(inside.sum())
    table = _compartment_table(zones, id_field, members, inside, truth_days, detected,
                               result, dates[detection], delays, min_fraction)
    evaluated = (table["pixels"] > 0).values
    flagged, disturbed = table["flagged"].values, table["disturbed"].values
    compartment = scores((flagged & disturbed).sum(), (flagged & ~disturbed).sum(),
                         (~flagged & disturbed).sum(), (~flagged & ~disturbed & evaluated).sum())
    # outside the outputs' grid (or only under references before the monitoring): no pixel
    # says anything of them, so they are not counted (they were each a "TN")
    compartment["not_evaluated"] = int((~evaluated).sum())
    events = _event_table(refs, reference_row, inside, result, delays, zones, members,
                          id_field)
    idle = zones[~evaluated]
    if unmonitored is not None and len(unmonitored):
        idle = pd.concat([idle, unmonitored.to_crs(crs)])
    unscored = not_scored(refs, events, (history, future), (monitoring_start, monitoring_end),
                          shape, transform, in_zone, excluded, reference_row,
                          (idle[id_field].tolist(), idle.geometry.tolist()))
    return {"pixel": pixel, "compartment": compartment, "not_scored": unscored,
            "event_types": _by_kind(everything, refs, events, reference_row, inside, result,
                                    delays),
            "delay": {name: {unit: summary(values[result.tp]) for unit, values in
                             per_layer.items()} for name, per_layer in delays.items()},
            "compartments": table, "events": events,
            "parameters": {"detection": detection, "min_fraction": min_fraction,
                           "detected_status": list(detected_status), "id_field": id_field,
                           "monitoring_start": str(monitoring_start or ""),
                           "monitoring_end": str(monitoring_end or "")}}


def _check_polygons(frame, what: str, column: str, kind: str) -> None:
    if frame.crs is None:
        raise ValueError(f"the {what} have no CRS: assign one (e.g. EPSG:32632) and try again")
    if column not in frame.columns:
        fields = [c for c in frame.columns if c != frame.geometry.name]
        raise ValueError(f"the {what} have no field {column!r} ({kind}); their fields are "
                         f"{fields}: choose one")


def _no_pixel_message(zones, transform: Affine, shape) -> str:
    """Why compartments hold no pixel of the grid: off it, or on it but each smaller than a
    pixel (a sliver along an edge of pixels is not "off the grid")."""
    from shapely.geometry import box

    west, north = transform * (0, 0)
    east, south = transform * (shape[1], shape[0])
    extent = box(min(west, east), min(south, north), max(west, east), max(south, north))
    if zones.geometry.intersects(extent).any():
        return ("none of the compartments holds a pixel centre of the monitoring outputs' "
                f"{abs(transform.a):g} m grid (each smaller than a pixel, or a sliver): give "
                "compartments at least a pixel wide (--compartments)")
    return ("none of the compartments overlaps the monitoring outputs' grid: give the "
            "compartments that were monitored (--compartments)")


def _layers(outputs) -> Dict[str, np.ndarray]:
    names = [n for n in ("status", *DATE_LAYERS) if n in outputs]
    if not names:
        raise ValueError("the outputs have none of status, first_anomaly, confirmation")
    return {name: np.asarray(outputs[name].values if hasattr(outputs[name], "values")
                             else outputs[name]) for name in names}


def _grid(outputs, layers, transform, crs):
    if transform is None:
        if not (hasattr(outputs, "coords") and "x" in outputs.coords and "y" in outputs.coords):
            raise ValueError("give the outputs' transform (or x/y coordinates)")
        xs, ys = np.asarray(outputs["x"].values), np.asarray(outputs["y"].values)
        dx = float(xs[1] - xs[0]) if xs.size > 1 else float(outputs.attrs["resolution"])
        dy = float(ys[1] - ys[0]) if ys.size > 1 else -dx
        transform = Affine(dx, 0, float(xs[0]) - dx / 2, 0, dy, float(ys[0]) - dy / 2)
    if crs is None:
        crs = getattr(outputs, "attrs", {}).get("crs")
        if crs is None:
            raise ValueError("give the outputs' crs (or a 'crs' attribute)")
    return transform, crs


def _burn(frame, values, shape, transform, fill) -> np.ndarray:
    """Rasterise polygons (pixel centres inside) with one value each; later rows win."""
    from rasterio import features

    out = np.full(shape, fill, "float64")
    shapes = [(geometry, float(value)) for geometry, value in zip(frame.geometry, values)
              if geometry is not None and not geometry.is_empty]
    if not shapes:
        return out
    return features.rasterize(shapes, out_shape=shape, transform=transform, fill=fill,
                              dtype="float64")


def _status_codes(status: np.ndarray) -> np.ndarray:
    if status.dtype.kind in "US O":
        return np.vectorize(lambda s: STATUS_CODES.get(str(s), -1), otypes=[int])(status)
    return status.astype("int64")


def _delays(result: Outcomes, truth_days, dates, observations) -> Dict[str, Dict[str, np.ndarray]]:
    record = clear_record(observations)
    delays = {}
    for name, days in dates.items():
        found = result.tp & np.isfinite(days)
        per = {"days": np.where(found, days - truth_days, np.nan)}
        if record is not None:
            counted = found & (truth_days > record.complete_after)  # else scenes missing
            per["observations"] = clear_observations_between(
                record.days, record.clear, np.where(counted, truth_days, np.nan), days)
        delays[name] = per
    return delays


def _compartment_table(zones, id_field, members, inside, truth_days, detected, result,
                       detect_days, delays, min_fraction) -> pd.DataFrame:
    rows = []
    flat = {name: np.ravel(values) for name, values in (
        ("truth", truth_days), ("detected", detected), ("tp", result.tp), ("fp", result.fp),
        ("fn", result.fn), ("detect_days", detect_days))}
    flat_delays = {name: {unit: np.ravel(values) for unit, values in per.items()}
                   for name, per in delays.items()}
    for zone_id, pixels_of_zone in zip(zones[id_field], _pixels_by_zone(members, len(zones))):
        here = pixels_of_zone[np.ravel(inside)[pixels_of_zone]]  # flat indices, raster order
        truth = flat["truth"][here]
        pixels = int(here.size)
        reference = int(np.isfinite(truth).sum())
        found = int(flat["detected"][here].sum())
        tp_here = flat["tp"][here]
        counts = scores(tp_here.sum(), flat["fp"][here].sum(), flat["fn"][here].sum())
        event = np.nanmin(truth) if reference else np.nan
        first = np.nanmin(flat["detect_days"][here][tp_here]) if tp_here.any() else np.nan
        row = {id_field: zone_id, "pixels": pixels, "reference_pixels": reference,
               "detected_pixels": found,
               "disturbed": pixels > 0 and reference > 0 and reference >= min_fraction * pixels,
               "flagged": pixels > 0 and found > 0 and found >= min_fraction * pixels,
               "event_date": _as_date(event), "first_detection": _as_date(first),
               "delay_days": first - event if np.isfinite(first) else np.nan,
               "pixel_precision": counts["precision"], "pixel_recall": counts["recall"],
               "pixel_f1": counts["f1"]}
        for name, per in flat_delays.items():
            for unit, values in per.items():
                row[f"median_{name}_delay_{unit}"] = summary(values[here][tp_here])["median"]
        rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    table["outcome"] = np.select(
        [table["pixels"] == 0, table["flagged"] & table["disturbed"], table["flagged"],
         table["disturbed"]], [NOT_EVALUATED, "TP", "FP", "FN"], "TN")
    return table


def _event_table(refs, reference_row, inside, result, delays, zones, members,
                 id_field) -> pd.DataFrame:
    rows = []
    for number, ref in refs.iterrows():
        here = inside & (reference_row == number)
        hit = here & result.tp
        rows.append({"reference": ref["_name"],
                     id_field: _compartments_of(here, members, zones[id_field]),
                     "event": ref.get("event"), "date": _as_date(ref["_days"]),
                     **_recall_row(here, hit, delays)})
    table = pd.DataFrame(rows)
    if not table.empty:  # ids as written: 12, not 12.0 beside a reference off them
        table[id_field] = pd.Series([row[id_field] for row in rows], dtype=object)
    return table


def _pixels_by_zone(members, zones: int) -> List[np.ndarray]:
    """Per compartment, the flat indices of its pixels in raster order (one sort of the
    pixel-compartment pairs: a full-grid mask per compartment cost zones x pixels)."""
    order = np.argsort(members.zone, kind="stable")  # pairs come in pixel order
    bounds = np.searchsorted(members.zone[order], np.arange(zones + 1))
    return [members.pixel[order[bounds[n]:bounds[n + 1]]] for n in range(zones)]


def _compartments_of(here: np.ndarray, members, ids: pd.Series):
    """The id of the compartment holding a reference's evaluated pixels ``here`` (as written:
    a text id too), or the ids of several joined by '; ', most pixels first; None when none."""
    counts = np.bincount(members.zone[here.ravel()[members.pixel]], minlength=len(ids))
    found = np.flatnonzero(counts)
    order = found[np.argsort(-counts[found], kind="stable")]
    if order.size == 1:
        value = ids.iloc[int(order[0])]
        return value.item() if isinstance(value, np.generic) else value
    return "; ".join(str(ids.iloc[int(n)]) for n in order) if order.size else None


NO_EVENT_TYPE = "(no event type)"  # the event_types row of references with an empty 'event'


def _by_kind(everything, refs, events, reference_row, inside, result,
             delays) -> pd.DataFrame:
    """Recall and median delays per event type (a ``event`` column), e.g. dieback is slower
    to confirm than windthrow: ``references`` counts the file's references of the type
    (``everything``), ``scored`` those that score a pixel (the others are in ``not_scored``);
    ``refs``: those dated within the monitoring (``reference_row``'s rows, ``events``')."""
    if "event" not in everything.columns or everything.empty:
        return pd.DataFrame()
    scored = set(refs.loc[(events["pixels"] > 0).to_numpy(), "_row"]) if len(events) else set()
    rows = []  # a reference without an event type is one too (it was left out of the table)
    kinds = everything["event"].astype(object).where(everything["event"].notna(),
                                                     NO_EVENT_TYPE)
    for kind, group in everything.groupby(kinds, sort=True):
        mine = np.asarray(refs.index[refs["_row"].isin(group["_row"])], "float64")
        here = inside & np.isin(reference_row, mine)
        hit = here & result.tp
        rows.append({"event": kind, "references": len(group),
                     "scored": sum(row in scored for row in group["_row"]),
                     **_recall_row(here, hit, delays)})
    return pd.DataFrame(rows)


def _recall_row(here, hit, delays) -> dict:
    """Pixels, detected pixels, recall and median delays of the reference pixels ``here``
    (``hit``: those detected)."""
    row = {"pixels": int(here.sum()), "detected_pixels": int(hit.sum()),
           "recall": hit.sum() / here.sum() if here.any() else np.nan}
    for name, per in delays.items():
        for unit, values in per.items():
            row[f"median_{name}_delay_{unit}"] = summary(values[hit])["median"]
    return row


def _as_date(days: float) -> Optional[str]:
    if days is None or not np.isfinite(days):
        return None
    return str(np.datetime64("1970-01-01", "D") + np.timedelta64(int(days), "D"))


def _number(value) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "n/a"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def validation_report(result: Dict[str, object]) -> str:
    """A short Markdown report of ``validate``'s result."""
    lines = ["# Validation against reference polygons", ""]
    for level in ("pixel", "compartment"):
        s = result[level]
        lines.append(f"- **{level}**: precision {_number(s['precision'])}, recall "
                     f"{_number(s['recall'])}, F1 {_number(s['f1'])} (TP {s['tp']}, FP "
                     f"{s['fp']}, FN {s['fn']}, TN {s.get('tn', 'n/a')}"
                     + (f"; {s['not_evaluated']} not evaluated: no pixel on the outputs' grid"
                        if s.get("not_evaluated") else "") + ")")
    for name, per in result["delay"].items():
        parts = [f"{_number(v['mean'])} mean / {_number(v['median'])} median {unit}"
                 for unit, v in per.items()]
        lines.append(f"- **delay to {name.replace('_', ' ')}**: " + "; ".join(parts))
    params = result["parameters"]
    lines += ["", f"Detected = status in {params['detected_status']} (confirmed, recovered), "
              f"dated by {params['detection']}; a compartment is flagged / disturbed when at "
              f"least {params['min_fraction']:.0%} of its pixels are. A detection before the "
              "reference date counts as a false positive and a miss.", "",
              "## Not scored", "", _markdown(pd.DataFrame(result.get("not_scored", []))), "",
              "## Event types", "", _markdown(result["event_types"]), "",
              "## Compartments", "", _markdown(result["compartments"]), "",
              "## Reference polygons", "", _markdown(result["events"])]
    return "\n".join(lines) + "\n"


def _markdown(table: pd.DataFrame) -> str:
    if table.empty:
        return "(none)"
    head = "| " + " | ".join(map(str, table.columns)) + " |"
    rule = "| " + " | ".join("---" for _ in table.columns) + " |"
    body = ["| " + " | ".join(_number(v) if isinstance(v, float) else str(v) for v in row)
            + " |" for row in table.itertuples(index=False)]
    return "\n".join([head, rule, *body])


def write_validation(result: Dict[str, object], folder, *, stem: str = "validation"
                     ) -> Dict[str, Path]:
    """Write the summary (JSON), the two tables (CSV) and the report (Markdown)."""
    folder = Path(folder)
    files = {"summary": write_json(folder / f"{stem}.json", summary_document(result))}
    for key in ("compartments", "events", "event_types"):
        destination = folder / f"{stem}_{key}.csv"
        with atomic_path(destination) as temp:
            result[key].to_csv(temp, index=False)
        files[key] = destination
    destination = folder / f"{stem}_report.md"
    with atomic_path(destination) as temp:
        temp.write_text(validation_report(result), encoding="utf-8")
    files["report"] = destination
    return files


def summary_document(result: Dict[str, object]) -> Dict[str, object]:
    """The headline numbers as plain JSON (``validation.json``, the job's result): numpy
    values as numbers, NaN (a score with nothing to score) as null."""
    summary = {key: result[key] for key in ("pixel", "compartment", "delay", "not_scored",
                                            "parameters")}
    return _clean(json.loads(json.dumps(summary, default=_plain)))


def _clean(value):
    """NaN -> None (JSON has no NaN)."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _plain(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return None if np.isnan(value) else float(value)
    return str(value)
