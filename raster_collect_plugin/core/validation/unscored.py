"""The reference polygons that score nothing, each with the reason (``not_scored`` of
``validate``'s result, ``validation.json`` and the report): a reference left out is named,
never silently missing from the recall.

How to call (from ``assessment.validate``)::

    not_scored(history, refs, events, monitoring_start, shape, transform, compartment_pixels,
               excluded, reference_row)
    # [{"reference": 3, "date": "2025-03-10", "reason": "off the monitored grid ..."}, ...]
"""

from __future__ import annotations

from typing import Dict, List

import numpy as np
import pandas as pd

HISTORY = "dated within the stable history (before {start}): left out with its pixels"
OFF_GRID = ("off the monitored grid (no pixel centre of the outputs' grid inside it): check "
            "its position and its CRS")
OFF_COMPARTMENTS = "outside the compartments validated (no pixel of theirs inside it)"
UNDER_HISTORY = "its pixels lie under references dated within the stable history"
UNDER_EARLIER = ("its pixels are scored against an earlier (or equal) reference over them "
                 "({others})")


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


def _day(days: float):
    if not np.isfinite(days):
        return None
    return str(np.datetime64("1970-01-01", "D") + np.timedelta64(int(days), "D"))


def not_scored(history, refs, events, monitoring_start, shape, transform,
               compartment_pixels: np.ndarray, excluded: np.ndarray,
               reference_row: np.ndarray) -> List[Dict[str, object]]:
    """One entry per reference without a scored pixel, in the file's order."""
    from rasterio import features

    entries = []
    for _, ref in history.iterrows():
        entries.append((ref, HISTORY.format(start=str(monitoring_start)[:10])))
    for number, ref in refs.iterrows():
        if events.empty or events["pixels"].iloc[number] > 0:
            continue
        geometry = ref.geometry
        own = (np.zeros(shape, bool) if geometry is None or geometry.is_empty else
               features.geometry_mask([geometry], out_shape=shape, transform=transform,
                                      invert=True))
        if not own.any():
            reason = OFF_GRID
        elif not (own & compartment_pixels).any():
            reason = OFF_COMPARTMENTS
        elif not (own & compartment_pixels & ~excluded).any():
            reason = UNDER_HISTORY
        else:
            winners = np.unique(reference_row[own & compartment_pixels & ~excluded])
            others = ", ".join(str(reference_id(refs.loc[int(w)].get("reference_id"),
                                                refs.loc[int(w), "_row"]))
                               for w in winners[np.isfinite(winners)])
            reason = UNDER_EARLIER.format(others=others)
        entries.append((ref, reason))
    entries.sort(key=lambda entry: entry[0]["_row"])
    return [{"reference": reference_id(ref.get("reference_id"), ref["_row"]),
             "date": _day(ref["_days"]), "reason": reason} for ref, reason in entries]
