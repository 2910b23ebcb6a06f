"""Pixels: loading scenes onto one grid (odc-stac), band rules per collection, cloud masks and
their buffer, and the spectral indices (formulas stated once).

The names below are this folder's public face for the doors (cli/, gui/, processing/, engine/);
the rest is private. A name loads its module when first used, so QGIS can read the light
modules without importing the heavy ones. Modules inside core/ import from modules, not faces.
"""

from importlib import import_module

_FACE = {
    "DEFAULT_MASK_CLASSES": "masks",
    "MASK_CLASSES": "masks",
    "default_mask_text": "masks",
    "validate_classes": "masks",
    "DEFAULT_STORM_BUFFER_M": "cloud_buffer",
    "INDICES": "indices",
    "check_min_clear_fraction": "clear_fraction",
    "get_index": "indices",
    "sensor_resolution": "bands",
}
__all__ = sorted(_FACE)


def __getattr__(name: str):
    if name in _FACE:
        return getattr(import_module(f"{__name__}.{_FACE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
