"""Late scenes: scenes published after a newer scene was processed. The monitoring state is
sequential in time, so such a scene cannot be added to it; a run names them instead of
dropping them silently. The state keeps the ids of the scenes processed over the last
``LATE_WINDOW_DAYS`` before its last scene; a run searches that window again and reports the
scenes of the monitored collections that are not among them; the state keeps them, so every
later run names them too until the folder is rebuilt (``monitor --overwrite``).

Landsat Collection 2 Level-2 is typically published days after acquisition, Sentinel-2 L2A
within about a day: ``settle_days`` (scenes wait until they are that old) avoids them."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Dict, Iterable, List, Mapping, Optional

import numpy as np

from .state import MonitorState

LATE_WINDOW_DAYS = 60  # how far before the last processed scene late scenes are looked for


def window(state: MonitorState) -> Optional[tuple]:
    """The (first, last) day searched again for late scenes; None when the state cannot say
    (no scene processed yet)."""
    if state.last_time is None:
        return None
    last = np.datetime64(state.last_time, "D").astype(object)
    return last - timedelta(days=LATE_WINDOW_DAYS), last


def record_processed(state: MonitorState, series, after: Optional[np.datetime64],
                     adopted: Optional[Mapping[str, str]] = None) -> None:
    """Add the scenes of ``series`` in (``after``, the state's last time] to the state's
    record (``after`` None: a run from scratch, every scene up to the last one is in the fit or
    monitored), keeping the window's. A folder made before scenes were recorded starts from
    ``adopted`` (the scenes found in the window: taken as processed, there is no telling)."""
    record = state.processed_scenes
    if after is None:
        record = {}
    elif record is None:
        if adopted is None:
            return  # still unknown: a later run adopts the window's scenes
        record = dict(adopted)
    else:
        record = dict(record)
    if "scene_id" in series.coords and state.last_time is not None:
        times = np.asarray(series["time"].values, dtype="datetime64[ns]")
        done = times <= state.last_time
        if after is not None:
            done &= times > after
        for ids, when in zip(np.asarray(series["scene_id"].values)[done], times[done]):
            for item in str(ids).split("+"):
                record[item] = str(when)[:19]
    first, _ = window(state) or (None, None)
    if first is not None:
        record = {k: v for k, v in record.items() if v[:10] >= first.isoformat()}
    state.processed_scenes = dict(sorted(record.items()))


def late_scenes(state: MonitorState, found: Iterable[Mapping]) -> List[Dict]:
    """The scenes of ``found`` ({"id", "collection", "sensor", "time"}, the window's search)
    that are not later than the state's last one and were not processed, with those earlier
    runs found (the folder misses them until it is rebuilt): sorted by date,
    {"id", "date", "collection", "sensor"}."""
    known = state.processed_scenes or {}
    last = str(np.datetime64(state.last_time, "s"))
    late = {s["id"]: s for s in state.late_scenes}  # found by earlier runs: still missing
    for scene in found:
        if str(scene["time"])[:19] <= last and scene["id"] not in known:
            late[scene["id"]] = {"id": scene["id"], "date": str(scene["time"])[:10],
                                 "collection": scene["collection"], "sensor": scene["sensor"]}
    return sorted(late.values(), key=lambda scene: (scene["date"], scene["id"]))


def late_warning(late: List[Dict]) -> str:
    """One line: how many late scenes, of which sensors, and the ways out."""
    sensors = ", ".join(sorted({s["sensor"] for s in late}))
    return (f"warning: {len(late)} {sensors} scene(s) acquired {late[0]['date']} .. "
            f"{late[-1]['date']} were published after newer scenes had been processed and "
            "are not in the monitoring: rebuild the folder with 'raster-collect monitor ... "
            "--overwrite' to use them, and give --settle-days (days above the providers' "
            "publication lag, e.g. 10) so that later runs wait for such scenes")


def settle_cutoff(end: date, settle_days: int) -> date:
    """The last acquisition day a run with ``settle_days`` processes (the first day of the
    calendar when the period reaches back beyond it: every scene waits)."""
    days = int(settle_days)
    return date.min if days >= (end - date.min).days else end - timedelta(days=days)
