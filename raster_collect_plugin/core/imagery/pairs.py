"""Before/after scene pairs for an event: the candidates on each side, the clearest of each, and
the cloud-mask classes and legend their clear fraction is read with."""

from __future__ import annotations

from typing import List, Mapping, Optional, Sequence, Tuple

from ..pixels import masks
from .renderings import SCL_COLOURS


def qa_class(word: int, classes=masks.DEFAULT_MASK_CLASSES) -> str:
    """The display class of a Landsat QA_PIXEL word ('fill' for fill)."""
    if word & (1 << masks.QA_FILL_BIT):
        return "fill"
    if word & (1 << 3):
        return "cloud"
    if word & (1 << 4):
        return "cloud shadow"
    if word & (1 << 2):
        return "cirrus"
    if word & (1 << 1):
        return "dilated cloud"
    if word & (1 << 5):
        return "snow"
    if word & (1 << 7):
        return "water"
    return "clear"


def scl_legend() -> List[Tuple[int, str, str]]:
    """(value, name, colour) of every Sentinel-2 scene class shown."""
    return [(value, masks.SCL_NAMES[value], colour) for value, colour in SCL_COLOURS.items()]


def pair_candidates(scenes: Sequence[Mapping], event_day: str, *, max_cloud_cover: float = 90.0,
                    per_side: int = 6) -> Tuple[List[Mapping], List[Mapping]]:
    """Optical scenes that can show a forest before and after ``event_day`` (ISO date),
    nearest to the event first; the event day itself counts as neither."""
    before, after = [], []
    for scene in scenes:
        if "true-colour" not in scene.get("renderings", []) or not scene.get("mask"):
            continue
        cover = scene.get("cloud_cover")
        if cover is not None and cover > max_cloud_cover:
            continue
        day = str(scene.get("datetime") or "")[:10]
        if day < event_day:
            before.append(scene)
        elif day > event_day:
            after.append(scene)
    before.sort(key=lambda s: str(s["datetime"]), reverse=True)
    after.sort(key=lambda s: str(s["datetime"]))
    return before[:per_side], after[:per_side]


def clearest(candidates: Sequence[Mapping], clear: Mapping[str, float], *,
             good_enough: float = 0.95) -> Optional[Mapping]:
    """The candidate nearest the event whose forest is at least ``good_enough`` clear, else
    the clearest one (None when no candidate sees the forest at all)."""
    for scene in candidates:
        if clear.get(scene["id"], 0.0) >= good_enough:
            return scene
    seen = [s for s in candidates if clear.get(s["id"], 0.0) > 0]
    return max(seen, key=lambda s: clear[s["id"]]) if seen else None


def clear_fraction(mask_kind: str, values, classes=masks.DEFAULT_MASK_CLASSES) -> float:
    """Share of a mask window's pixels that are clear (no data counts as not clear)."""
    import numpy as np

    values = np.asarray(values)
    if values.size == 0:
        return 0.0
    if mask_kind == "scl":
        good = masks.clear_from_scl(values, classes)
    else:
        good = masks.clear_from_qa_pixel(values.astype("uint16"), classes)
    return float(np.count_nonzero(good)) / values.size
