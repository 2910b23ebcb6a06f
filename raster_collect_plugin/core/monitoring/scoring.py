"""Monitoring outputs scored against reference polygons with ``core.validation`` (the same
report a user runs on their own field data): the layers it reads, from a state or a folder."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Dict

import numpy as np

from .state import MonitorState

LAYERS = ("status", "first_anomaly", "confirmation")


def state_layers(state: MonitorState) -> Dict[str, np.ndarray]:
    """status, first_anomaly and confirmation (days since 1970, 0 none) on the (y, x) grid."""
    return {name: state.arrays[name].reshape(state.shape) for name in LAYERS}


def score_state(state: MonitorState, references, compartments, *, observations=None,
                id_field: str = "forest_id", **options) -> Dict[str, object]:
    """``validation.assessment.validate`` of a monitoring state (its grid from the state);
    references dated before the history's end or after its last scene are left out."""
    from affine import Affine

    from ..validation.assessment import validate

    # the history holds its last day: the monitoring starts the day after
    options.setdefault("monitoring_start", state.params.history_end + timedelta(days=1))
    if state.last_time is not None:  # references after the last scene: not seen yet
        options.setdefault("monitoring_end", np.datetime64(state.last_time, "D").astype(object))
    return validate(state_layers(state), references, compartments, id_field=id_field,
                    observations=observations, transform=Affine(*state.grid["transform"][:6]),
                    crs=state.grid["crs"], **options)


def score_folder(folder: Path, references, compartments, **options) -> Dict[str, object]:
    """The same for a monitoring folder (its saved state; the delays in clear observations
    from its clear-days record, as ``validate`` counts them)."""
    from .clear_days import read_clear_days

    state = MonitorState.load(Path(folder))
    if state is None:
        raise FileNotFoundError(f"{folder} holds no monitoring state")
    if options.get("observations") is None:
        options["observations"] = read_clear_days(Path(folder), state.shape)
    return score_state(state, references, compartments, **options)
