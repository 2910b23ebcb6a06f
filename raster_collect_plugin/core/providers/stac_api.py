"""Any STAC API (pystac-client): search by collection, bbox and datetime."""

from __future__ import annotations

from typing import Callable, List, Optional

import pystac
from pystac_client import Client
from pystac_client.exceptions import APIError

from .base import Provider, ProviderError, SearchQuery, passes_cloud_filter

QUERY_CONFORMANCE = "https://api.stacspec.org/v1.0.0-rc.2/item-search#query"


class StacApiProvider(Provider):
    """A STAC API by URL. Cloud cover is filtered on the server when it supports the ``query``
    extension and always again on the client (servers without it would ignore the filter or
    return nothing)."""

    kind = "stac"

    def __init__(self, name: str, url: str, *, timeout: float = 30.0, max_retries: int = 3,
                 modifier: Optional[Callable] = None):
        super().__init__(name)
        self.url = url
        self.timeout = timeout
        self.max_retries = max_retries
        self.modifier = modifier

    def _client(self) -> Client:
        from pystac_client.stac_api_io import StacApiIO
        from urllib3 import Retry

        retry = Retry(total=self.max_retries, backoff_factor=0.5,
                      status_forcelist=[429, 500, 502, 503, 504], allowed_methods=None,
                      respect_retry_after_header=True)
        stac_io = StacApiIO(max_retries=retry, timeout=self.timeout)
        try:
            return Client.open(self.url, stac_io=stac_io, modifier=self.modifier)
        except (APIError, OSError) as error:
            raise ProviderError(f"{self.name}: cannot open the STAC API at {self.url} "
                                f"({_short(error)}); check the URL and your connection") from None

    def list_collections(self) -> List[str]:
        """Collection ids the API offers (for a custom provider's collection picker)."""
        try:
            return sorted(c.id for c in self._client().get_collections())
        except (APIError, OSError) as error:
            raise ProviderError(f"{self.name}: cannot list collections ({_short(error)})") from None

    def search(self, query: SearchQuery) -> List[pystac.Item]:
        client = self._client()
        arguments = dict(collections=list(query.collections), bbox=list(query.bbox),
                         datetime=query.datetime_range, max_items=query.limit)
        if query.max_cloud_cover is not None and client.conforms_to("QUERY"):
            arguments["query"] = {"eo:cloud_cover": {"lte": query.max_cloud_cover}}
        try:
            items = list(client.search(**arguments).items())
        except (APIError, OSError) as error:
            raise ProviderError(f"{self.name}: search failed ({_short(error)})") from None
        items = [item for item in items if item.assets and
                 passes_cloud_filter(item, query.max_cloud_cover)]  # skip asset-less stubs
        return self.tag([self.sign(item) for item in items])


def _short(error: Exception) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return text[:200]
