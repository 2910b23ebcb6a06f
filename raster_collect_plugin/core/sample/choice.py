"""Which sample a catalog belongs to, and the disturbance sample as a job makes it.

The storm sample (``catalog.make_sample``) has three months of scenes: too few for disturbance
monitoring, which fits a model on at least 10 clear observations of a stable history. The
disturbance sample is the scenario (``disturbance_catalog.write_scenario``): three years of
Sentinel-2 and Landsat with a stable history 2023-2024 and events in 2025. Light: the doors read
``sample_of_catalog`` without loading the simulation.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, Optional

STORM, DISTURBANCE = "storm", "disturbance"
SCENARIOS = (STORM, DISTURBANCE)
# the manifest each sample writes beside its catalog.json
_MANIFESTS = {STORM: "sample.json", DISTURBANCE: "scenario.json"}
COMPARTMENTS_LAYER = "compartments"
MONITORING_ADVICE = ("the storm sample's scenes cover October to December 2025 only, and "
                     "monitoring needs at least 10 clear observations per pixel in the stable "
                     "history: use the disturbance sample instead (Disturbance monitoring → "
                     "Try it on sample data…: 3 years of Sentinel-2 and Landsat)")


def sample_of_catalog(href: str) -> Optional[str]:
    """``"storm"`` or ``"disturbance"`` when ``href`` is a sample's local catalog.json, else
    None (a user's own catalog, or a URL)."""
    if not href or "://" in href:
        return None
    folder = Path(os.path.expanduser(href)).parent
    return next((kind for kind, name in _MANIFESTS.items() if (folder / name).is_file()), None)


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
