"""Sources: where scenes come from. STAC providers (Planetary Computer, Earth Search, any
STAC API, static catalogs), searching several at once, signing hrefs, service addresses.

The names below are this folder's public face for the doors (cli/, gui/, processing/, engine/);
the rest is private. A name loads its module when first used, so QGIS can read the light
modules without importing the heavy ones. Modules inside core/ import from modules, not faces.
"""

from importlib import import_module

_FACE = {
    "CDSE_BASE_URL": "endpoints",
    "CDSE_TOKEN_URL": "endpoints",
    "PLANETARY_COMPUTER_URL": "endpoints",
    "EarthSearchProvider": "providers",
    "MaxarOpenDataProvider": "providers",
    "PlanetaryComputerProvider": "providers",
    "StacApiProvider": "providers",
    "StaticCatalogProvider": "providers",
    "SearchReport": "search",
    "search_all": "search",
    "sign_hrefs": "signing",
}
__all__ = sorted(_FACE)


def __getattr__(name: str):
    if name in _FACE:
        return getattr(import_module(f"{__name__}.{_FACE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
