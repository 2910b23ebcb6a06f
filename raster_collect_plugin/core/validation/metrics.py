"""The arithmetic of validation on plain numpy arrays: dates as days, per-pixel outcomes,
precision / recall / F1, and delays in days and in clear observations.

How to call::

    from raster_collect_plugin.core.validation.metrics import (
        as_days, outcomes, scores, clear_observations_between, summary)
    days = as_days(confirmation)               # datetime64 (NaT) or int days since 1970 (<= 0)
    o = outcomes(truth_days, detected, detect_days, inside)   # boolean masks tp, fp, fn, tn
    scores(o.tp.sum(), o.fp.sum(), o.fn.sum())   # {"precision", "recall", "f1", ...}

A pixel is a true positive when it lies in a reference polygon and is detected on or after the
reference date; a detection *before* that date is a false positive and leaves the event missed
(a false negative). Undefined ratios (no detections, no references) are NaN.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional

import numpy as np

EPOCH = np.datetime64("1970-01-01", "D")


def as_days(values) -> np.ndarray:
    """Days since 1970-01-01 as float (NaN = none) from datetime64 (NaT = none), integer days
    (0 or less = none, the monitoring state's convention) or float days (NaN = none)."""
    array = np.asarray(values)
    if np.issubdtype(array.dtype, np.datetime64):
        days = (array.astype("datetime64[D]") - EPOCH).astype("float64")
        days[np.isnat(array)] = np.nan
        return days
    if np.issubdtype(array.dtype, np.integer):
        days = array.astype("float64")
        days[array <= 0] = np.nan
        return days
    return array.astype("float64")


@dataclass
class Outcomes:
    """Boolean masks of the evaluated pixels' outcomes."""

    tp: np.ndarray
    fp: np.ndarray
    fn: np.ndarray
    tn: np.ndarray
    early: np.ndarray  # detected before the reference date (counted in fp and fn)


def outcomes(truth_days: np.ndarray, detected: np.ndarray, detect_days: np.ndarray,
             inside: np.ndarray) -> Outcomes:
    """Per-pixel outcomes of the pixels ``inside`` the evaluated area."""
    truth = inside & np.isfinite(truth_days)
    detected = inside & detected
    with np.errstate(invalid="ignore"):
        early = truth & detected & np.isfinite(detect_days) & (detect_days < truth_days)
    tp = truth & detected & ~early
    return Outcomes(tp=tp, fp=detected & ~tp, fn=truth & ~tp, tn=inside & ~truth & ~detected,
                    early=early)


def scores(tp: int, fp: int, fn: int, tn: Optional[int] = None) -> Dict[str, float]:
    """Precision, recall and F1 (NaN when undefined) with the counts."""
    tp, fp, fn = int(tp), int(fp), int(fn)
    result = {"precision": tp / (tp + fp) if tp + fp else float("nan"),
              "recall": tp / (tp + fn) if tp + fn else float("nan"),
              "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan"),
              "tp": tp, "fp": fp, "fn": fn}
    if tn is not None:
        result["tn"] = int(tn)
    return result


@dataclass
class ClearRecord:
    """When each pixel was seen clear: ``days`` (scenes,) days since 1970 and ``clear``
    indexable by scene positions into (k, y, x) booleans (an array, or a monitoring folder's
    packed record). Events on or before ``complete_after`` (a day) have no count."""

    days: np.ndarray
    clear: object
    complete_after: float = -np.inf  # the day after which it holds every scene

def clear_record(observations) -> Optional[ClearRecord]:
    """A ClearRecord of a (time, y, x) series (NaN = not clear; or clear booleans), kept
    lazy (dask: read one observation day at a time); a ClearRecord as it is; None as None."""
    if observations is None or isinstance(observations, ClearRecord):
        return observations
    clear = observations if observations.dtype == bool else np.isfinite(observations)
    return ClearRecord(as_days(np.asarray(observations["time"].values, "datetime64[ns]")),
                       clear)


def clear_observations_between(observation_days: np.ndarray, clear: np.ndarray,
                               start_days: np.ndarray, end_days: np.ndarray) -> np.ndarray:
    """Per pixel, on how many days in [start, end] (whole days) it was observed clear: 1 =
    detected on the first clear observation on or after the event. Dates are days, so two
    clear scenes of one day (Landsat and Sentinel-2) count once. ``clear``: (time, y, x)
    booleans; NaN where start or end is NaN. One day at a time (memory: a few (y, x) arrays)."""
    count = np.zeros(start_days.shape, "float64")
    days = np.floor(np.asarray(observation_days, "float64"))
    with np.errstate(invalid="ignore"):
        for day in np.unique(days[np.isfinite(days)]):
            seen = np.asarray(clear[np.flatnonzero(days == day)]).any(axis=0)
            count += seen & (day >= start_days) & (day <= end_days)
    count[~(np.isfinite(start_days) & np.isfinite(end_days))] = np.nan
    return count


def summary(values: np.ndarray) -> Dict[str, float]:
    """Mean and median of the finite values, and how many there were."""
    finite = np.asarray(values, "float64")
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return {"mean": float("nan"), "median": float("nan"), "n": 0}
    return {"mean": float(finite.mean()), "median": float(np.median(finite)),
            "n": int(finite.size)}
