"""Storm: damage assessment per compartment from before/after composites: per-pixel evidence
from every sensor, damage classes and thresholds, and one ranking.

The names below are this folder's public face for the doors (cli/, gui/, processing/, engine/);
the rest is private. A name loads its module when first used, so QGIS can read the light
modules without importing the heavy ones. Modules inside core/ import from modules, not faces.
"""

from importlib import import_module

_FACE = {
    "AFTER_DAYS": "classes",
    "BEFORE_DAYS": "classes",
    "CLASS_COLOURS": "classes",
    "CLASS_ORDER": "classes",
    "DAMAGE_CLASSES": "classes",
    "FLAGGED_CLASSES": "classes",
    "MAX_WINDOW_DAYS": "classes",
    "MIN_AFTER_DAYS": "classes",
    "MIN_BEFORE_DAYS": "classes",
    "THRESHOLD_TEXT": "classes",
    "UNKNOWN": "classes",
    "class_legend": "classes",
    "NOT_STOCKED": "classes",
    "DamageThresholds": "classes",
    "StormRequest": "assessment",
    "flagged": "assessment",
    "format_ranking": "assessment",
    "run_storm": "assessment",
}
__all__ = sorted(_FACE)


def __getattr__(name: str):
    if name in _FACE:
        return getattr(import_module(f"{__name__}.{_FACE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
