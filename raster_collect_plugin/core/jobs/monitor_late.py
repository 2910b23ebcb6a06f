"""A monitor job's look-back for late scenes (``monitoring.late``) and its settle period:
``settle_days`` (job spec, integer >= 0, default 0) processes only the scenes acquired at least
that many days before the run's end, so scenes a provider publishes days after acquisition
(Landsat C2 L2) are there when their turn comes."""

from __future__ import annotations

from datetime import date, timezone
from numbers import Real
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from .spec import JobError


def settle_days(spec: Dict[str, Any]) -> int:
    """The spec's settle period in days (0 when not given)."""
    value = spec.get("settle_days", 0)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, Real) or value != value \
            or int(value) != value or value < 0:
        raise JobError(f"job spec 'settle_days' must be a whole number of days, 0 or more, "
                       f"not {value!r}")
    return int(value)


def look_back(sources, frame, state, options: Dict[str, Any],
              max_cloud_cover: Optional[float]) -> Tuple[List[Dict], Optional[Dict[str, str]]]:
    """(late scenes, adopted): the window before the state's last scene searched again
    (the collections the series is made of: ``options`` of the load give the index). A
    state without a record of its scenes (made before they were recorded) adopts the scenes
    found there (no late scenes can be told this time)."""
    from ..monitoring.late import late_scenes, window
    from ..series.harmonised import loadable, search_stacks

    span = None if state is None else window(state)
    if span is None:
        return [], None
    stacks, _ = search_stacks(sources, frame, span[0], span[1],
                              max_cloud_cover=max_cloud_cover)  # errors: the main search's
    found = [{"id": item.id, "collection": stack.collection, "sensor": stack.profile.sensor,
              "time": _utc(item.datetime)}
             for stack in loadable(stacks, options["index"], options.get("custom_formula"),
                                   options.get("harmonise", True))
             for item in stack.items if item.datetime is not None]
    if state.processed_scenes is None:
        last = str(np.datetime64(state.last_time, "s"))
        return [], {f["id"]: f["time"] for f in found if f["time"] <= last}
    return late_scenes(state, found), None


def keep_settled(series, cutoff: date, state):
    """The series' scenes acquired on or before ``cutoff`` and how many new ones (newer than
    the state's last) wait for a later run."""
    times = np.asarray(series["time"].values, dtype="datetime64[ns]")
    settled = times.astype("datetime64[D]") <= np.datetime64(cutoff)
    new = times > state.last_time if state is not None and state.last_time is not None \
        else np.ones(times.shape, bool)
    waiting = int((~settled & new).sum())
    return (series if settled.all() else series.isel(time=np.flatnonzero(settled))), waiting


def _utc(when) -> str:
    if when.tzinfo is not None:
        when = when.astimezone(timezone.utc).replace(tzinfo=None)
    return when.isoformat(timespec="seconds")[:19]
