"""Areas: the area of interest (one polygon file, checked once), zone files put in the
raster's CRS, and hexagon grids over compartments.

The names below are this folder's public face for the doors (cli/, gui/, processing/, engine/);
the rest is private. A name loads its module when first used, so QGIS can read the light
modules without importing the heavy ones. Modules inside core/ import from modules, not faces.
"""

from importlib import import_module

_FACE = {
    "Aoi": "aoi",
    "AoiError": "aoi",
    "load_aoi": "aoi",
    "HEX_ID_FIELD": "names",
    "h3_grid": "hexagons",
    "hexagon_grid": "hexagons",
    "refuse_too_many_cells": "hexagons",
    "ZoneError": "zones",
    "prepare_zones": "zones",
}
__all__ = sorted(_FACE)


def __getattr__(name: str):
    if name in _FACE:
        return getattr(import_module(f"{__name__}.{_FACE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
