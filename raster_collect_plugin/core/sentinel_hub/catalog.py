"""Searching Sentinel-2 L2A through the Sentinel Hub Catalog API, as a provider like the
STAC ones."""

from __future__ import annotations

from typing import List, Optional

import pystac

from ..sources.providers.base import (
    Provider,
    ProviderError,
    SearchQuery,
    passes_cloud_filter,
    too_many_items_message,
)
from . import rules as rules
from .client import COLLECTION, PROVIDER_NAME, CopernicusSettings, _reason


class CopernicusProvider(Provider):
    """Catalog search on CDSE (items carry no COG assets: use the Statistical backend)."""

    kind = "copernicus"

    def __init__(self, name: str = PROVIDER_NAME, settings: Optional[CopernicusSettings] = None):
        super().__init__(name)
        self.settings = settings or CopernicusSettings()

    def search(self, query: SearchQuery) -> List[pystac.Item]:
        """Items of the query, the cloud limit applied by the service (CQL2 ``filter`` on
        ``eo:cloud_cover``), trimmed to the fields the project reads (``fields``); paging
        stops past ``query.max_items``, which is an error, never a silent cut."""
        from itertools import islice

        from sentinelhub import CRS, BBox, SentinelHubCatalog
        from sentinelhub.exceptions import DownloadFailedException

        config = self.settings.sh_config()
        catalog = SentinelHubCatalog(config=config)
        collection = self.settings.data_collection()
        cap = query.max_items
        try:
            results = list(islice(catalog.search(
                collection, bbox=BBox(query.bbox, crs=CRS.WGS84),
                time=(query.start.isoformat(), query.end.isoformat()),
                filter=cloud_filter(query.max_cloud_cover), fields=FIELDS,
                limit=min(self.settings.catalog_page_size, cap + 1) if cap else
                self.settings.catalog_page_size), cap + 1 if cap else None))
        except DownloadFailedException as error:
            raise ProviderError(f"{self.name}: catalog search failed ({_reason(error)})") \
                from None
        if cap and len(results) > cap:
            raise ProviderError(too_many_items_message(self.name, query))
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


# Catalog.qmd, "Fields": ``include`` is merged with the default set (id, type, geometry, bbox,
# links, assets, properties.datetime); the properties the project reads are added
FIELDS = {"include": ["properties.eo:cloud_cover", "properties.proj:epsg",
                      "properties.platform", "properties.constellation"]}


def cloud_filter(max_cloud_cover: Optional[float]) -> Optional[str]:
    """The scene cloud limit as a CQL2 text filter (Catalog.qmd, "Filter"; ``eo:cloud_cover``
    is a filter property of Sentinel-2 L2A, Data/S2L2A.qmd)."""
    return None if max_cloud_cover is None else f"eo:cloud_cover <= {float(max_cloud_cover):g}"
