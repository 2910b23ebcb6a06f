"""Series: one harmonised optical series from Landsat 8/9 and Sentinel-2 (HLS v2.0 bandpass
adjustment to OLI, both sensors on one grid, the sensor recorded per observation).

The names below are this folder's public face for the doors (cli/, gui/, processing/, engine/);
the rest is private. A name loads its module when first used, so QGIS can read the light
modules without importing the heavy ones. Modules inside core/ import from modules, not faces.
"""

from importlib import import_module

_FACE = {
    "adjust": "bandpass",
    "load_index_series": "harmonised",
    "search_index_series": "harmonised",
    "split_by_sensor": "harmonised",
}
__all__ = sorted(_FACE)


def __getattr__(name: str):
    if name in _FACE:
        return getattr(import_module(f"{__name__}.{_FACE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
