"""Imagery: scenes as pictures for the viewer: renderings (true colour, false colour, SWIR,
cloud mask, radar), their GDAL VRTs, and before/after pairs. Plain data and arithmetic, read
inside QGIS too.

The names below are this folder's public face for the doors (cli/, gui/, processing/, engine/);
the rest is private. A name loads its module when first used, so QGIS can read the light
modules without importing the heavy ones. Modules inside core/ import from modules, not faces.
"""

from importlib import import_module

_FACE = {
    "BandSource": "renderings",
    "COLOUR_COMPOSITES": "renderings",
    "ImageryError": "renderings",
    "LayerSpec": "renderings",
    "NODATA_OUT": "renderings",
    "QA_CLASSES": "renderings",
    "RADAR_VALID_DB": "renderings",
    "RENDERINGS": "renderings",
    "S2_BOA_OFFSET": "renderings",
    "S2_OFFSET_BASELINE": "renderings",
    "SCL_COLOURS": "renderings",
    "Rendering": "renderings",
    "describe_item": "renderings",
    "expired": "renderings",
    "layer_spec": "renderings",
    "needs_boa_offset": "renderings",
    "strip_query": "renderings",
    "token_expiry": "renderings",
    "Grid": "vrt",
    "clip_grid": "vrt",
    "source_window": "vrt",
    "stac_grid": "vrt",
    "target_grid": "vrt",
    "vrt_xml": "vrt",
    "vsicurl": "vrt",
    "clear_fraction": "pairs",
    "clearest": "pairs",
    "pair_candidates": "pairs",
    "qa_class": "pairs",
    "scl_legend": "pairs",
}
__all__ = sorted(_FACE)


def __getattr__(name: str):
    if name in _FACE:
        return getattr(import_module(f"{__name__}.{_FACE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
