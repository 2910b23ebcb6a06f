"""Element84 Earth Search v1 (public Sentinel-2 COGs; Landsat is requester-pays)."""

from __future__ import annotations

import os
from typing import Optional

from ...pixels.bands import UnknownCollection, profile_for
from ..endpoints import EARTH_SEARCH_URL
from .base import ProviderError
from .stac_api import StacApiProvider


class EarthSearchProvider(StacApiProvider):
    """Earth Search: ``sentinel-2-c1-l2a`` (preferred), ``sentinel-2-l2a``, ``landsat-c2-l2``."""

    kind = "earth-search"
    default_name = "Earth Search"

    def __init__(self, name: Optional[str] = None, url: str = EARTH_SEARCH_URL, **kwargs):
        super().__init__(name or self.default_name, url, **kwargs)

    def check_readable(self, collection: str) -> None:
        try:
            profile = profile_for(self.kind, collection)
        except UnknownCollection:  # legacy/new collections: their items decide the rules
            return
        if profile.requester_pays and os.environ.get("AWS_REQUEST_PAYER") != "requester":
            raise ProviderError(
                f"{self.name}: {collection} assets are in a requester-pays S3 bucket and cannot "
                "be read anonymously. Use Planetary Computer for Landsat, or set AWS "
                "credentials and AWS_REQUEST_PAYER=requester to pay for the reads.")
