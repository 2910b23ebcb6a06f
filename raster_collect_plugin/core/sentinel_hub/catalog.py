"""Searching Sentinel-2 L2A through the Sentinel Hub Catalog API, as a provider like the
STAC ones."""

from __future__ import annotations

from typing import List, Optional

import pystac

from ..sources.providers.base import Provider, ProviderError, SearchQuery, passes_cloud_filter
from . import rules as rules
from .client import COLLECTION, PROVIDER_NAME, CopernicusSettings, _reason


class CopernicusProvider(Provider):
    """Catalog search on CDSE (items carry no COG assets: use the Statistical backend)."""

    kind = "copernicus"

    def __init__(self, name: str = PROVIDER_NAME, settings: Optional[CopernicusSettings] = None):
        super().__init__(name)
        self.settings = settings or CopernicusSettings()

    def search(self, query: SearchQuery) -> List[pystac.Item]:
        from sentinelhub import CRS, BBox, SentinelHubCatalog
        from sentinelhub.exceptions import DownloadFailedException

        config = self.settings.sh_config()
        catalog = SentinelHubCatalog(config=config)
        collection = self.settings.data_collection()
        try:
            results = list(catalog.search(
                collection, bbox=BBox(query.bbox, crs=CRS.WGS84),
                time=(query.start.isoformat(), query.end.isoformat()),
                limit=self.settings.catalog_page_size))
        except DownloadFailedException as error:
            raise ProviderError(f"{self.name}: catalog search failed ({_reason(error)})") \
                from None
        items = []
        for feature in results:
            feature.setdefault("stac_version", "1.0.0")
            feature.setdefault("links", [])
            feature.setdefault("assets", {})
            item = pystac.Item.from_dict(feature, preserve_dict=False)
            item.collection_id = COLLECTION
            if passes_cloud_filter(item, query.max_cloud_cover):
                items.append(item)
        return self.tag(items)
