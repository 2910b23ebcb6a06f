"""Composites: the main pipeline, search -> load -> mask -> index -> composite -> publish, its
request and result types, its memory sizing and its publishing.

The names below are this folder's public face for the doors (cli/, gui/, processing/, engine/);
the rest is private. A name loads its module when first used, so QGIS can read the light
modules without importing the heavy ones. Modules inside core/ import from modules, not faces.
"""

from importlib import import_module

_FACE = {
    "Cancelled": "requests",
    "CollectionResult": "requests",
    "CompositeRequest": "requests",
    "CompositeResult": "requests",
    "RequestError": "requests",
    "Source": "requests",
    "nothing_found": "pipeline",
    "refuse_nothing_found": "pipeline",
    "is_radar": "pipeline",
    "run_composites": "pipeline",
    "search": "pipeline",
    "validate_request": "pipeline",
    "SizeError": "sizing",
    "parse_size": "sizing",
}
__all__ = sorted(_FACE)


def __getattr__(name: str):
    if name in _FACE:
        return getattr(import_module(f"{__name__}.{_FACE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
