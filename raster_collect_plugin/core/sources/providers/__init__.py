"""Imagery providers behind one small interface (see ``base.Provider``)."""

from .base import Provider, ProviderError, SearchQuery
from .earth_search import EarthSearchProvider
from .planetary_computer import PlanetaryComputerProvider
from .stac_api import StacApiProvider
from .static_catalog import MaxarOpenDataProvider, StaticCatalogProvider

__all__ = ["Provider", "ProviderError", "SearchQuery", "StacApiProvider",
           "PlanetaryComputerProvider", "EarthSearchProvider", "StaticCatalogProvider",
           "MaxarOpenDataProvider"]
