"""Validation: monitoring outputs (per-pixel status and first-anomaly / confirmation dates)
against reference polygons of disturbance (date + extent): per-pixel and per-compartment
precision, recall, F1 and detection delay (days and clear observations), as tables and a short
report (fordead's CalVal is the model).

The names below are this folder's public face for the doors (cli/, gui/, processing/, engine/);
the rest is private. A name loads its module when first used, so QGIS can read the light
modules without importing the heavy ones. Modules inside core/ import from modules, not faces.
"""

from importlib import import_module

_FACE = {
    "validate": "assessment",
    "validation_report": "assessment",
    "write_validation": "assessment",
    "read_layers": "files",
    "validate_files": "files",
}
__all__ = sorted(_FACE)


def __getattr__(name: str):
    if name in _FACE:
        return getattr(import_module(f"{__name__}.{_FACE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
