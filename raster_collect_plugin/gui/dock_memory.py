"""The dock tells the project what its last run used, so Processing's dialogs start from it
(``raster_collect_plugin/last_run.py``)."""

from __future__ import annotations

from typing import Dict

from ..last_run import DATE, remember


def remember_dock_run(dock, spec: Dict) -> None:
    """After a finished search, compute or storm run (main thread)."""
    if spec.get("kind") not in ("search", "zonal", "storm"):
        return
    layer = dock.layer_combo.currentLayer()
    remember(spec, layer_id=layer.id() if layer is not None else "",
             start=dock.start_date.date().toString(DATE),
             end=dock.end_date.date().toString(DATE),
             event=dock.storm_event_date.date().toString(DATE),
             indices=dock.chosen_indices())
