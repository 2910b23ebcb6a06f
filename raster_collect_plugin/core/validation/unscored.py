"""The reference polygons that score nothing, each with the reason (``not_scored`` of
``validate``'s result, ``validation.json`` and the report): a reference left out is named,
never silently missing from the recall.

How to call (from ``assessment.validate``)::

    scored, history, future = split_by_date(refs, monitoring_start, monitoring_end)
    refs["_name"] = reference_names(refs)   # before the split: names over the whole file
    not_scored(scored, events, (history, future), (monitoring_start, monitoring_end), shape,
               transform, compartment_pixels, excluded, reference_row)
    # [{"reference": 3, "date": "2025-03-10", "reason": "off the monitored grid ..."}, ...]
"""

from __future__ import annotations

from typing import Dict, List

import numpy as np
import pandas as pd

HISTORY = "dated within the stable history (up to {last}): left out with its pixels"
NOT_SEEN = ("dated after the last scene monitored ({end}): not seen yet, left out with its "
            "pixels")
OFF_GRID = ("off the monitored grid (no pixel centre of the outputs' grid inside it): check "
            "its position and its CRS")
SMALL = ("on the monitored grid but smaller than its pixels (no pixel centre inside it): "
         "scored at a finer resolution only")
OFF_COMPARTMENTS = "outside the compartments validated (no pixel of theirs inside it)"
NOT_MONITORED = ("over a compartment the folder does not monitor ({ids}; it monitors "
                 "others): monitor it to score this reference")
UNDER_HISTORY = "under references dated within the stable history, left out with their pixels"
UNDER_EARLIER = ("under an earlier or equal reference (a duplicate), against which its pixels "
                 "are scored ({others})")


def reference_id(value, number: int):
    """A reference's ``reference_id`` as written (a text id such as 'R-12' too; a whole
    decimal as an integer), its feature number from 1 where it has none."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return number + 1
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return int(value)
    return value


def reference_names(refs) -> List[object]:
    """Each reference's name in the results (``reference_id`` as written, else its feature
    number from 1; ``refs``: the whole file, ``_row`` its order); a name two features share
    (a duplicate id, or an id equal to a feature number) is followed by its feature number,
    'R1 (feature 3)', so every entry and reason names one polygon."""
    names = [reference_id(value, row) for value, row in
             zip(refs.get("reference_id", pd.Series([None] * len(refs))), refs["_row"])]
    shared = pd.Series([str(name) for name in names]).duplicated(keep=False).tolist()
    return [f"{name} (feature {row + 1})" if twice else name
            for name, row, twice in zip(names, refs["_row"], shared)]


def _day(days: float):
    if not np.isfinite(days):
        return None
    return str(np.datetime64("1970-01-01", "D") + np.timedelta64(int(days), "D"))


def _day_number(when) -> float:
    return float((np.datetime64(when, "D") - np.datetime64("1970-01-01", "D")).astype(int))


def split_by_date(refs, start, end):
    """(scored, within the history: before ``start``, not seen yet: after ``end``); a
    None bound leaves nothing out on its side."""
    before = refs["_days"] < _day_number(start) if start is not None else refs["_days"] < -1e12
    after = refs["_days"] > _day_number(end) if end is not None else refs["_days"] > 1e12
    return refs[~before & ~after].reset_index(drop=True), refs[before], refs[after]


def not_scored(refs, events, left_out, bounds, shape, transform,
               compartment_pixels: np.ndarray, excluded: np.ndarray,
               reference_row: np.ndarray, idle=None) -> List[Dict[str, object]]:
    """One entry per reference without a scored pixel, in the file's order; ``left_out``:
    (within the history, not seen yet) of ``split_by_date`` and ``bounds`` its (start, end);
    ``idle``: the compartments not monitored (their ids, the polygons on the grid's CRS), so a
    reference over one is not taken for a misplaced one."""
    from rasterio import features
    from rasterio.transform import array_bounds
    from shapely.geometry import box

    grid = box(*array_bounds(shape[0], shape[1], transform))
    entries = []
    last = (str(np.datetime64(bounds[0], "D") - np.timedelta64(1, "D"))
            if bounds[0] is not None else None)  # the day before the monitoring's start
    for group, reason in zip(left_out, (HISTORY.format(last=last),
                                        NOT_SEEN.format(end=str(bounds[1])[:10]))):
        entries += [(ref, reason) for _, ref in group.iterrows()]
    for number, ref in refs.iterrows():
        if events.empty or events["pixels"].iloc[number] > 0:
            continue
        geometry = ref.geometry
        own = (np.zeros(shape, bool) if geometry is None or geometry.is_empty else
               features.geometry_mask([geometry], out_shape=shape, transform=transform,
                                      invert=True))
        over = ([] if idle is None or own[compartment_pixels].any() or geometry is None
                else [str(i) for i, shape_ in zip(*idle) if shape_.intersects(geometry)])
        if over:
            reason = NOT_MONITORED.format(ids=", ".join(over))
        elif not own.any():
            reason = SMALL if geometry is not None and geometry.intersects(grid) else OFF_GRID
        elif not (own & compartment_pixels).any():
            reason = OFF_COMPARTMENTS
        elif not (own & compartment_pixels & ~excluded).any():
            reason = UNDER_HISTORY
        else:
            winners = np.unique(reference_row[own & compartment_pixels & ~excluded])
            others = ", ".join(str(refs.loc[int(w), "_name"])
                               for w in winners[np.isfinite(winners)])
            reason = UNDER_EARLIER.format(others=others)
        entries.append((ref, reason))
    entries.sort(key=lambda entry: entry[0]["_row"])
    return [{"reference": ref["_name"],
             "date": _day(ref["_days"]), "reason": reason} for ref, reason in entries]
