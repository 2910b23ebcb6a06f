"""Runs: bookkeeping shared by every pipeline: the locked output folder and its fingerprint,
the publish manifest, where outputs live (local or object store), and run folder defaults.

The names below are this folder's public face for the doors (cli/, gui/, processing/, engine/);
the rest is private. A name loads its module when first used, so QGIS can read the light
modules without importing the heavy ones. Modules inside core/ import from modules, not faces.
"""

from importlib import import_module

_FACE = {
    "DEFAULT_HUB_INDICES": "defaults",
    "DEFAULT_INDICES": "defaults",
    "DEFAULT_MAX_CLOUD_COVER": "defaults",
    "DEFAULT_MONITOR_INDEX": "defaults",
    "DEFAULT_MONITOR_MAX_CLOUD_COVER": "defaults",
    "missing_folders": "defaults",
    "remove_empty_run_folder": "defaults",
    "remove_made_folders": "defaults",
    "run_name": "defaults",
    "RunFolder": "folder",
    "REPLACE_ADVICE": "defaults",
    "fingerprint": "folder",
    "geometry_hash": "folder",
    "normal_permissions": "folder",
    "relative_files": "folder",
    "request_parameters": "folder",
    "gdal_path": "storage",
    "is_remote": "storage",
    "join": "storage",
    "MANIFEST_NAME": "manifest",
    "published_files": "manifest",
}
__all__ = sorted(_FACE)


def __getattr__(name: str):
    if name in _FACE:
        return getattr(import_module(f"{__name__}.{_FACE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
