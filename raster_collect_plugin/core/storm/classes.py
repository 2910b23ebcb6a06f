"""Storm damage classes and thresholds (no heavy imports: the QGIS side reads the defaults).

Extent x severity: the damaged share of a stand sets the class; heavy damage (a high mean loss
on the damaged pixels) over a small share makes it 'moderate' rather than 'light'. See
``DamageThresholds`` for each default's rationale (also in the README).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, List, Mapping, Optional, Tuple

import numpy as np

# The one vocabulary of damage: every door (dock, Processing, command line, report, README)
# names a stand's damage with these words and nothing else; "severe" always means the extent
# class below, never an NDVI change (the before/after change layer says "drop" / "gain").
DAMAGE_CLASSES = ("none", "light", "moderate", "severe")
NOT_STOCKED = "not stocked before event"
UNKNOWN = "unknown"
FLAGGED_CLASSES = ("moderate", "severe")  # what a manager is asked to act on
CLASS_ORDER = ("severe", "moderate", "light", "none", UNKNOWN, NOT_STOCKED)
CLASS_COLOURS = {"severe": "#d73027", "moderate": "#fc8d59", "light": "#fee08b",
                 "none": "#1a9850", UNKNOWN: "#bdbdbd", NOT_STOCKED: "#8c96c6"}
# the before/after windows around the event (days), the same in every door
BEFORE_DAYS = 90
AFTER_DAYS = 45
MAX_WINDOW_DAYS = 3650  # ten years either side (also the job spec's range)
MIN_BEFORE_DAYS, MIN_AFTER_DAYS = 2, 1  # the before window has an early half and a late one
# what each threshold means, for option help, Processing labels and the dock's form
THRESHOLD_TEXT = {
    "changed_ndvi": "NDVI loss that marks a pixel damaged",
    "changed_vh_db": "VH decrease in dB that marks a radar pixel damaged",
    "light_fraction": "damaged share of a stand from which it is 'light'",
    "moderate_fraction": "damaged share from which it is 'moderate' (flagged)",
    "severe_fraction": "damaged share from which it is 'severe'",
    "heavy_ndvi": "mean NDVI loss on damaged pixels that moves the class one step up",
    "heavy_vh_db": "the same for radar-decided stands, in dB",
    "min_stocked_ndvi": "pre-event NDVI below which a pixel was not stocked",
    "max_not_stocked_fraction": "unstocked share above which a stand is 'not stocked before "
                                "event'",
}


@dataclass(frozen=True)
class DamageThresholds:
    """Pixel thresholds, then extent x severity classes (defaults and rationale in README).

    - ``changed_ndvi`` (0.10): NDVI loss that marks an optical pixel as damaged; 3-4x the
      noise of a clear median composite pixel (0.02-0.03), a third or less of the loss when
      pine canopy is thrown or snapped (0.3-0.45).
    - ``changed_vh_db`` (1.5 dB): VH decrease that marks a radar pixel as damaged after the
      speckle filter; windthrow lowers VH by 2-4 dB.
    - ``light_fraction`` / ``moderate_fraction`` / ``severe_fraction`` (0.05 / 0.10 / 0.50):
      damaged share of the stand at which each class starts. 10 % of a stand down is where a
      salvage inspection is usually warranted and leaves a margin for the area error under the
      15 % a manager must not miss; half the stand down means re-establishing the stand.
    - ``heavy_ndvi`` / ``heavy_vh_db`` (0.30 / 3.0 dB): mean loss on the damaged pixels from
      which damage is heavy (trees down, not defoliated): a 'light' extent of heavy damage is
      'moderate' (flagged). Severe is decided by extent alone, so a flattened stand is severe
      whatever its NDVI drop.
    - ``min_stocked_ndvi`` (0.50): a pixel below this NDVI before the event carries no
      plantation canopy (closed pine canopy 0.7-0.85, bare ground and slash 0.2-0.4).
    - ``max_not_stocked_fraction`` (0.50): a stand whose larger part was unstocked before the
      event is reported as "not stocked before event".
    """

    changed_ndvi: float = 0.10
    changed_vh_db: float = 1.5
    light_fraction: float = 0.05
    moderate_fraction: float = 0.10
    severe_fraction: float = 0.50
    heavy_ndvi: float = 0.30
    heavy_vh_db: float = 3.0
    min_stocked_ndvi: float = 0.50
    max_not_stocked_fraction: float = 0.50

    def __post_init__(self):
        for item in fields(self):  # inf / nan silently made no pixel damaged (or stocked)
            if not np.isfinite(getattr(self, item.name)):
                raise ValueError(f"the damage threshold {item.name} must be a finite number, "
                                 f"not {getattr(self, item.name)}")
        if not 0 <= self.light_fraction < self.moderate_fraction < self.severe_fraction <= 1:
            raise ValueError("damage thresholds must increase within 0-1: light_fraction "
                             f"{self.light_fraction} < moderate_fraction "
                             f"{self.moderate_fraction} < severe_fraction "
                             f"{self.severe_fraction}")
        for name in ("changed_ndvi", "changed_vh_db", "heavy_ndvi", "heavy_vh_db"):
            if not getattr(self, name) > 0:
                raise ValueError(f"the damage threshold {name} must be positive")
        if not -1 <= self.min_stocked_ndvi < 1:  # above 1 no stand was ever stocked
            raise ValueError(f"min_stocked_ndvi is an NDVI from -1 to below 1 (default 0.5), "
                             f"not {self.min_stocked_ndvi}")
        if not 0 < self.max_not_stocked_fraction <= 1:
            raise ValueError("max_not_stocked_fraction must be within 0-1")

    @classmethod
    def from_mapping(cls, values: Optional[Mapping[str, Any]]) -> DamageThresholds:
        """From a job spec's ``thresholds``; unknown keys raise naming the valid ones."""
        values = dict(values or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown damage thresholds {unknown}; use {sorted(known)}")
        numbers = {}
        for name, value in values.items():  # true is not 1.0, nor "abc" a float() message
            if value is None:
                continue
            try:
                if isinstance(value, bool):
                    raise TypeError
                numbers[name] = float(value)  # numbers, and numbers written as text
            except (TypeError, ValueError):
                raise ValueError(f"the damage threshold {name} must be a number, not "
                                 f"{value!r}") from None
        return cls(**numbers)

    def classify(self, damaged_fraction: float, severity: float = float("nan"),
                 radar: bool = False) -> str:
        """The class of a stand from its damaged fraction (extent) and the mean loss on its
        damaged pixels (severity: NDVI units, or dB when ``radar``)."""
        if damaged_fraction is None or not np.isfinite(damaged_fraction):
            return UNKNOWN
        edges = (self.light_fraction, self.moderate_fraction, self.severe_fraction)
        level = int(np.searchsorted(edges, damaged_fraction, side="right"))
        heavy = self.heavy_vh_db if radar else self.heavy_ndvi
        if level == 1 and severity is not None and np.isfinite(severity) and severity >= heavy:
            level = 2  # a small area of trees down is worth a visit: moderate
        return DAMAGE_CLASSES[level]


def class_legend(thresholds: Optional[DamageThresholds] = None) -> List[Tuple[str, str, str]]:
    """(class, legend label, colour) in ranking order, the label saying what the class means
    with these thresholds (e.g. 'severe: >= 50 % of the stand damaged')."""
    t = thresholds or DamageThresholds()
    light, moderate, severe = (f"{100 * v:g} %" for v in (t.light_fraction,
                                                          t.moderate_fraction,
                                                          t.severe_fraction))
    meaning = {
        "severe": f"severe: >= {severe} of the stand damaged",
        "moderate": f"moderate: {moderate} - {severe} damaged (or {light} - {moderate} with "
                    f"trees down: mean NDVI loss >= {t.heavy_ndvi:g})",
        "light": f"light: {light} - {moderate} of the stand damaged",
        "none": f"none: < {light} of the stand damaged",
        UNKNOWN: "unknown: too little of the stand seen clear after the event",
        NOT_STOCKED: NOT_STOCKED,
    }
    return [(name, meaning[name], CLASS_COLOURS[name]) for name in CLASS_ORDER]
