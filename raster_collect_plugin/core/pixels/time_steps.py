"""Scenes of one solar day that need different digital-number rules (a Planetary Computer
Sentinel-2 tile at processing baseline 05.11 beside one at 03.01, or beside a reprocessed
duplicate) are loaded as separate time steps, each given its own rule, then fused into the
day's one time step the way odc-stac fuses a day: per pixel, the first scene (in time order)
with data wins."""

from __future__ import annotations

from typing import Callable, Dict, Hashable, List, Optional, Sequence, Tuple

import numpy as np
import pystac
import xarray as xr


def split_days(days: Sequence[Sequence[pystac.Item]],
               key: Callable[[pystac.Item], Hashable]) -> Tuple[List[List[pystac.Item]], List[int]]:
    """Each solar day's items split by ``key`` (the scene's DN rule): the time steps to load,
    in time order within each day, and the day each one belongs to."""
    steps: List[List[pystac.Item]] = []
    day_of_step: List[int] = []
    for day, items in enumerate(days):
        by_key: Dict[Hashable, List[pystac.Item]] = {}
        for item in sorted(items, key=lambda i: (i.datetime, i.id)):
            by_key.setdefault(key(item), []).append(item)
        for group in sorted(by_key.values(), key=lambda g: (g[0].datetime, g[0].id)):
            steps.append(group)
            day_of_step.append(day)
    return steps, day_of_step


def fuse_days(day_of_step: Sequence[int], valid: xr.DataArray, clear: xr.DataArray,
              values: Dict[str, xr.DataArray], scene_ids: List[List[str]], rules: List[str],
              offsets: Optional[xr.DataArray]):
    """The time steps of each day fused into one (lazy): a pixel takes the first step with
    data there (its values and clear flag), as odc-stac's fusing of one day's scenes does.
    Returns (valid, clear, values, scene_ids, rules, offsets); the rules of a fused day are
    its steps' distinct rules joined by " | ", its offset the largest one applied."""
    per_day: Dict[int, List[int]] = {}
    for step, day in enumerate(day_of_step):
        per_day.setdefault(day, []).append(step)
    if all(len(steps) == 1 for steps in per_day.values()):
        return valid, clear, values, scene_ids, rules, offsets
    days = [per_day[day] for day in sorted(per_day)]
    time = valid.time.values[[steps[0] for steps in days]]

    def fused(array: xr.DataArray, combine: str) -> xr.DataArray:
        parts = []
        for steps in days:
            out = array.isel(time=steps[0], drop=True)
            have = valid.isel(time=steps[0], drop=True)
            for step in steps[1:]:
                other = array.isel(time=step, drop=True)
                if combine == "first":
                    out = xr.where(have, out, other)
                elif combine == "any":
                    out = out | other
                else:  # "min"
                    out = np.minimum(out, other)
                have = have | valid.isel(time=step, drop=True)
            parts.append(out)
        return xr.concat(parts, dim="time").assign_coords(time=time)

    fused_values = {band: fused(value, "first").astype(value.dtype)
                    for band, value in values.items()}
    fused_clear = fused(clear, "first")
    fused_offsets = fused(offsets, "min") if offsets is not None else None
    fused_valid = fused(valid, "any")
    fused_ids = [[i for step in steps for i in scene_ids[step]] for steps in days]
    fused_rules = [" | ".join(dict.fromkeys(rules[step] for step in steps)) for steps in days]
    return fused_valid, fused_clear, fused_values, fused_ids, fused_rules, fused_offsets
