"""Outputs: files written atomically (COGs, JSON sidecars), statistics tables, how each index
is displayed (ramps, classes), and report charts.

The names below are this folder's public face for the doors (cli/, gui/, processing/, engine/);
the rest is private. A name loads its module when first used, so QGIS can read the light
modules without importing the heavy ones. Modules inside core/ import from modules, not faces.
"""

from importlib import import_module

_FACE = {
    "atomic_path": "files",
    "write_cog": "files",
    "write_json": "files",
    "write_geopackage_layer": "tables",
    "write_table": "tables",
    "write_zone_outputs": "tables",
    "DISPLAY": "display",
    "before_after_change": "display",
    "CHANGE_COLOURS": "display",
    "change_classes": "display",
    "classes": "display",
    "index_display": "display",
    "period_end": "display",
    "period_placement": "display",
    "period_start": "display",
}
__all__ = sorted(_FACE)


def __getattr__(name: str):
    if name in _FACE:
        return getattr(import_module(f"{__name__}.{_FACE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
