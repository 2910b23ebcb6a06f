"""Jobs: the one entry every door uses. A job spec (JSON) is checked against its schema,
dispatched to its pipeline inside a protected run folder, and any error is turned into one
line a user can act on.

The names below are this folder's public face for the doors (cli/, gui/, processing/, engine/);
the rest is private. A name loads its module when first used, so QGIS can read the light
modules without importing the heavy ones. Modules inside core/ import from modules, not faces.
"""

from importlib import import_module

_FACE = {
    "run_job": "run",
    "JobError": "spec",
    "validate_spec": "spec",
    "day_of": "spec",
    "DATE_EXPECTED": "spec",
    "classify": "errors",
    "report_for_area": "protected",
    "no_scene_notes": "protected",
    "run_composites_protected": "protected",
    "run_storm_protected": "protected",
    "run_zonal_protected": "protected",
    "zonal_parameters": "protected",
    "batch_statistics_plan": "hub_batch",
    "batch_processing_plan": "hub_batch",
}
__all__ = sorted(_FACE)


def __getattr__(name: str):
    if name in _FACE:
        return getattr(import_module(f"{__name__}.{_FACE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
