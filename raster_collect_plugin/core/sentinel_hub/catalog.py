"""Searching Sentinel-2 L2A through the Sentinel Hub Catalog API, as a provider like the
STAC ones."""

from __future__ import annotations

from datetime import timedelta
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

    def __init__(self, name: str = PROVIDER_NAME, settings: Optional[CopernicusSettings] = None,
                 budget: Optional[rules.QuotaBudget] = None):
        super().__init__(name)
        self.settings = settings or CopernicusSettings()
        self.budget = budget
        self.requests = 0  # pages fetched by the last search

    def profile(self, collection: str, item: Optional[pystac.Item] = None):
        """None to read: Catalog items carry no band assets (search only), which the scene
        description treats as an unknown profile (KeyError)."""
        raise KeyError(f"{self.name}: Catalog items carry no imagery assets (search only)")

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
        page = min(self.settings.catalog_page_size, cap + 1) if cap else \
            self.settings.catalog_page_size
        cost = catalog_pu(query.bbox, query.start, query.end)
        if self.budget is not None:  # at least one page; each page is a request
            reason = self.budget.check(pu=cost, requests=1)
            if reason:
                raise ProviderError(f"{self.name}: {reason}")
        pages = 0
        try:
            search = catalog.search(
                collection, bbox=BBox(query.bbox, crs=CRS.WGS84),
                time=(query.start.isoformat(), query.end.isoformat()),
                filter=cloud_filter(query.max_cloud_cover), fields=FIELDS, limit=page)
            fetch = search._fetch_features  # one call = one page request (sentinelhub 3.x)

            def counted():
                nonlocal pages
                features = fetch()
                pages += 1
                return features

            search._fetch_features = counted
            results = list(islice(search, cap + 1 if cap else None))
        except DownloadFailedException as error:
            raise ProviderError(f"{self.name}: catalog search failed ({_reason(error)})") \
                from None
        finally:
            self.requests = pages
            if self.budget is not None and pages:  # charged only for 2XX answers
                self.budget.record(pu=cost * pages, requests=pages)
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


def catalog_pu(bbox, start, end) -> float:
    """One Catalog request (Overview/ProcessingUnit.qmd, "Data querying"): area / 1,000,000
    km² (at least 0.01) x months (ceiling), between 0.01 and 1 PU."""
    from pyproj import Geod

    west, south, east, north = bbox
    area_km2 = abs(Geod(ellps="WGS84").polygon_area_perimeter(
        [west, east, east, west], [south, south, north, north])[0]) / 1e6
    stop = end + timedelta(days=1)  # the end day is included
    months = (stop.year - start.year) * 12 + stop.month - start.month + (stop.day > start.day)
    months = max(1, months)
    return min(1.0, max(0.01, max(0.01, area_km2 / 1e6) * months))


# Catalog.qmd, "Fields": ``include`` is merged with the default set (id, type, geometry, bbox,
# links, assets, properties.datetime); the properties the project reads are added
FIELDS = {"include": ["properties.eo:cloud_cover", "properties.proj:epsg",
                      "properties.platform", "properties.constellation"]}


def cloud_filter(max_cloud_cover: Optional[float]) -> Optional[str]:
    """The scene cloud limit as a CQL2 text filter (Catalog.qmd, "Filter"; ``eo:cloud_cover``
    is a filter property of Sentinel-2 L2A, Data/S2L2A.qmd)."""
    return None if max_cloud_cover is None else f"eo:cloud_cover <= {float(max_cloud_cover):g}"
