"""Which sample a catalog belongs to, and the disturbance sample as a job makes it.

The storm sample (``catalog.make_sample``) has three months of scenes: too few for disturbance
monitoring, which fits a model on at least 10 clear observations of a stable history. The
disturbance sample is the scenario (``disturbance_catalog.write_scenario``): three years of
Sentinel-2 and Landsat with a stable history 2023-2024 and events in 2025. Light: the doors read
``sample_of_catalog`` without loading the simulation.
"""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path
from typing import Dict, List, Optional

from .manifests import DISTURBANCE, STORM, sample_in

SCENARIOS = (STORM, DISTURBANCE)
# the disturbance sample's folder under the output folder, as the dock and Processing make it
DISTURBANCE_FOLDER = "raster-collect-disturbance-sample"
COMPARTMENTS_LAYER = "compartments"
OPTICAL = ("sentinel-2-l2a", "landsat-c2-l2")  # the collections an index is monitored from
DISTURBANCE_ADVICE = ("use the disturbance sample instead (Disturbance monitoring → Try it on "
                      "sample data…: 3 years of Sentinel-2 and Landsat)")


def sample_of_catalog(href: str) -> Optional[str]:
    """``"storm"`` or ``"disturbance"`` when ``href`` is a sample's local catalog.json, else
    None (a user's own catalog, or a URL)."""
    if not href or "://" in href:
        return None
    return sample_in(Path(os.path.expanduser(href)).parent)


def storm_sample_too_short(href: str, history_start: date, history_end: date) -> Optional[str]:
    """Why monitoring the storm sample at ``href`` with this stable history cannot succeed,
    else None: fewer optical scenes in the history than a pixel needs clear observations, or
    no scene after the history. Read from the items' own files, so the doors say it before a
    run that would fail after its search. The small sample (3 months) is always too short;
    the 12-month one can be monitored with a history of its first months."""
    from ..monitoring.state import DEFAULT_MIN_HISTORY_OBS

    if sample_of_catalog(href) != STORM:
        return None
    days = sorted(_item_days(Path(os.path.expanduser(href)).parent))
    if not days:
        return None
    held = sum(history_start <= day <= history_end for day in days)
    span = f"its scenes run from {days[0]} to {days[-1]}"
    if held < DEFAULT_MIN_HISTORY_OBS:
        return (f"the storm sample has {held} Sentinel-2 and Landsat scene(s) between "
                f"{history_start} and {history_end} ({span}), and monitoring needs at least "
                f"{DEFAULT_MIN_HISTORY_OBS} clear observations per pixel in the stable "
                f"history: choose a history within its scenes, or {DISTURBANCE_ADVICE}")
    if days[-1] <= history_end:
        return (f"the storm sample has no scene after the stable history ({span}; the history "
                f"ends {history_end}): end the history earlier, or {DISTURBANCE_ADVICE}")
    return None


def _item_days(root: Path) -> List[date]:
    """The day of each optical item of a sample catalog (``<collection>/<id>/<id>.json``)."""
    days = []
    for collection in OPTICAL:
        for item in (root / collection).glob("*/*.json"):
            try:
                stamp = json.loads(item.read_text())["properties"]["datetime"]
                days.append(date.fromisoformat(str(stamp)[:10]))
            except (OSError, ValueError, KeyError, TypeError):
                continue
    return days


def make_disturbance_sample(root) -> Dict[str, str]:
    """Write (or reuse) the disturbance scenario under ``root``; what a door needs to monitor
    it: the compartments, the catalog and the dates of its stable history."""
    from .disturbance_catalog import write_scenario
    from .disturbance_scenario import stable_history

    files = write_scenario(root)
    start, end = stable_history(files.spec)
    return {"scenario": DISTURBANCE, "forests": str(files.compartments),
            "layer": COMPARTMENTS_LAYER, "catalog": str(files.catalog),
            "references": str(files.references), "history_start": start.isoformat(),
            "history_end": end.isoformat(), "last_scene_day": files.spec.end.isoformat()}
