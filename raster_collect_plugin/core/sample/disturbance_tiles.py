"""A larger disturbance scenario: the default 8-compartment pattern (3 intact, windthrow x 3,
a clear-fell, a dieback) repeated over any number of compartments, each copy's dates shifted
by a few days, for benchmarks (e.g. 480 compartments x 3 years).

How to call::

    from raster_collect_plugin.core.sample.disturbance_tiles import tiled_spec
    spec = tiled_spec(24, 20)                  # 480 compartments, ScenarioSpec defaults
    spec = tiled_spec(24, 20, start=date(2024, 1, 1))   # other ScenarioSpec fields by keyword
    # then make_scenario(spec) (in memory: ~t * y * x * 4 bytes) or write_scenario(root, spec)
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import numpy as np

from .disturbance_scenario import DEFAULT_EVENTS, ScenarioSpec

PATTERN = 8  # compartments per copy of DEFAULT_EVENTS


def tiled_spec(columns: int, rows: int, *, jitter_days: int = 20, **overrides) -> ScenarioSpec:
    """``columns`` x ``rows`` compartments; compartment n follows compartment n % 8 of the
    default pattern, its events moved by up to +-``jitter_days`` (seeded, reproducible).
    A trailing incomplete copy keeps the events whose compartment exists."""
    spec = replace(ScenarioSpec(), columns=columns, rows=rows, **overrides)
    rng = np.random.default_rng([spec.seed, columns, rows])
    count = columns * rows
    events = []
    for copy in range((count + PATTERN - 1) // PATTERN):
        shift = timedelta(days=int(rng.integers(-jitter_days, jitter_days + 1)))
        for event in DEFAULT_EVENTS:
            index = copy * PATTERN + event.forest_index
            if index < count:
                events.append(replace(event, forest_index=index, start=event.start + shift))
    return replace(spec, events=tuple(events))
