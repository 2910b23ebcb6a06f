"""Imagery providers behind one small interface (see ``base.Provider``).

A name loads its module when first used: a job on a static catalog never imports
pystac-client or planetary-computer."""

from importlib import import_module

_FACE = {
    "Provider": "base",
    "ProviderError": "base",
    "SearchQuery": "base",
    "StacApiProvider": "stac_api",
    "PlanetaryComputerProvider": "planetary_computer",
    "EarthSearchProvider": "earth_search",
    "StaticCatalogProvider": "static_catalog",
    "MaxarOpenDataProvider": "static_catalog",
}
__all__ = sorted(_FACE)


def __getattr__(name: str):
    if name in _FACE:
        return getattr(import_module(f"{__name__}.{_FACE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
