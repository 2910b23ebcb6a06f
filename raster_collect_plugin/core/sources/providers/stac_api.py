"""Any STAC API (pystac-client): search by collection, bbox and datetime.

Every request has a connect/read timeout and every search a bounded total time: a server that
accepts the connection and never answers (or answers page after page, too slowly) ends in a
ProviderError naming the provider, not in a hang. Searches page through every matching item;
more than ``SearchQuery.max_items`` is an explicit error, never a silent cut.
"""

from __future__ import annotations

import time
from typing import Callable, List, Optional
from urllib.parse import urljoin, urlsplit

import pystac
from pystac_client import Client
from pystac_client.errors import ClientTypeError
from pystac_client.exceptions import APIError
from pystac_client.stac_api_io import StacApiIO

from ...compute.interrupts import call_interruptibly
from ...pixels.bands import REFUSED_ASSETS, in_table
from .base import Provider, ProviderError, SearchQuery, passes_cloud_filter, too_many_items_message
from .guarded_io import refuse_unread_assets

QUERY_CONFORMANCE = "https://api.stacspec.org/v1.0.0-rc.2/item-search#query"
PAGE_SIZE = 250
DEFAULT_TIMEOUT = 30.0  # seconds to connect, and between bytes of an answer
DEFAULT_TOTAL_TIMEOUT = 600.0  # seconds for a whole search, every page included


class SearchTimeout(ProviderError):
    """The search did not finish within its total time."""


class BoundedStacApiIO(StacApiIO):
    """StacApiIO whose every request has a timeout and that stops once ``deadline``
    (a ``time.monotonic()`` value) has passed. pystac-client's ``Client.open`` resets the
    timeout of a StacApiIO it is given (``update(timeout=None)``), so the timeout is kept
    here, out of its reach."""

    def __init__(self, *, timeout: float, total: float, **kwargs):
        super().__init__(timeout=timeout, **kwargs)
        self.bound_timeout = float(timeout)
        self.total = float(total)
        self.deadline = time.monotonic() + self.total

    def update(self, *args, timeout=None, **kwargs) -> None:  # keep our timeout
        super().update(*args, timeout=timeout if timeout is not None else self.bound_timeout,
                       **kwargs)

    def request(self, href, method=None, headers=None, parameters=None) -> str:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise SearchTimeout(f"no complete answer within {self.total:g} s")
        self.timeout = (min(self.bound_timeout, remaining), min(self.bound_timeout, remaining))
        return super().request(href, method=method, headers=headers, parameters=parameters)


class NotAnApiUrl(ProviderError):
    """A STAC API address that is not an http(s) URL: bad input, said before any work."""

    exit_kind = "bad_input"


class StacApiProvider(Provider):
    """A STAC API by URL. Cloud cover is filtered on the server when it supports the ``query``
    extension and always again on the client (servers without it would ignore the filter or
    return nothing); a collection the server's filter left empty (radar: no eo:cloud_cover)
    is searched again without it. ``timeout`` bounds each request, ``total_timeout`` a whole
    search."""

    kind = "stac"
    default_name = "Custom STAC"

    def __init__(self, name: str, url: str, *, timeout: float = DEFAULT_TIMEOUT,
                 total_timeout: float = DEFAULT_TOTAL_TIMEOUT, max_retries: int = 3,
                 modifier: Optional[Callable] = None):
        super().__init__(name)
        parts = urlsplit(str(url))
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            # pystac-client read such an address as a local file ('No such file or directory')
            raise NotAnApiUrl(f"{name}: the STAC API address {url!r} is not an http(s) URL: "
                              "give it like https://host/path (a static catalog's file or "
                              "folder goes in --catalog, or a spec's static source)")
        self.url = url
        self.timeout = timeout
        self.total_timeout = total_timeout
        self.max_retries = max_retries
        self.modifier = modifier

    def _client(self) -> Client:
        from urllib3 import Retry

        retry = Retry(total=self.max_retries, backoff_factor=0.5,
                      read=0, status_forcelist=[429, 500, 502, 503, 504], allowed_methods=None,
                      respect_retry_after_header=True)
        stac_io = BoundedStacApiIO(max_retries=retry, timeout=self.timeout,
                                   total=self.total_timeout)
        try:
            return Client.open(self.url, stac_io=stac_io, modifier=self.modifier,
                               timeout=self.timeout)
        except SearchTimeout:
            raise self._timed_out("opening") from None
        except (APIError, OSError) as error:
            if _is_timeout(error):
                raise self._timed_out("opening") from None
            raise ProviderError(f"{self.name}: cannot open the STAC API at {self.url} "
                                f"({_short(error)}); check the URL and your connection") from None
        except (ValueError, ClientTypeError, pystac.STACError) as error:  # HTML, other JSON
            raise self._not_stac("opening", error) from None

    def _not_stac(self, what: str, error: Exception) -> ProviderError:
        """A server that answers, but not as a STAC API does (a login page, other JSON)."""
        return ProviderError(f"{self.name}: {self.url} did not answer as a STAC API while "
                             f"{what} ({_short(error)}); check the URL (the API's root, "
                             "whose answer lists its links)")

    def _timed_out(self, what: str) -> ProviderError:
        return SearchTimeout(
            f"{self.name}: the STAC API at {self.url} did not answer in time while {what} "
            f"(timeout {self.timeout:g} s per request, {self.total_timeout:g} s in all); "
            "try again later or check the URL")

    def list_collections(self) -> List[str]:
        """Collection ids the API offers (for a custom provider's collection picker)."""
        try:
            return call_interruptibly(self._list_collections, timeout=self.total_timeout + 1.0,
                                      what="listing collections")
        except TimeoutError:
            raise self._timed_out("listing collections") from None

    def _list_collections(self) -> List[str]:
        try:
            return sorted(c.id for c in self._client().get_collections())
        except SearchTimeout:
            raise self._timed_out("listing collections") from None
        except (APIError, OSError) as error:
            if _is_timeout(error):
                raise self._timed_out("listing collections") from None
            raise ProviderError(f"{self.name}: cannot list collections ({_short(error)})") from None
        except (ValueError, ClientTypeError, pystac.STACError) as error:
            raise self._not_stac("listing collections", error) from None

    def search(self, query: SearchQuery) -> List[pystac.Item]:
        # The total bound also holds against a server trickling bytes just inside the
        # per-read timeout: the search runs in a helper thread the caller stops waiting for.
        try:
            return call_interruptibly(self._search, query, timeout=self.total_timeout + 1.0,
                                      what="the search")
        except TimeoutError:
            raise self._timed_out("searching") from None

    def _search(self, query: SearchQuery) -> List[pystac.Item]:
        client = self._client()
        cap = query.max_items
        on_server = query.max_cloud_cover is not None and client.conforms_to("QUERY")
        items = self._items(client, query, query.collections, on_server)
        if on_server:  # the server's filter drops every scene without eo:cloud_cover (radar)
            none = [c for c in query.collections if all(i.collection_id != c for i in items)]
            if none:  # those collections again, filtered here only
                items += self._items(client, query, none, False)
        if cap and len(items) > cap:
            raise ProviderError(too_many_items_message(self.name, query))
        items = [item for item in items if (item.assets or REFUSED_ASSETS in item.properties)
                 and passes_cloud_filter(item, query.max_cloud_cover)]  # asset-less stubs
        self._read_collections(client, {item.collection_id for item in items})
        return self.tag([self.sign(item) for item in items])

    def _read_collections(self, client: Client, collections) -> None:
        """Keep the document of each collection found that the band table does not know
        (its ``item_assets`` and ``summaries`` name its bands, as a static catalog's
        collection file does: ``Provider.described``), read from the API's Collections
        endpoint, ``GET /collections/{collectionId}`` (STAC API - Collections; OGC API -
        Features Part 1, section 7.14). An API without that endpoint, or whose answer is
        not a collection, leaves the bands to the scenes."""
        if not (client.conforms_to("COLLECTIONS") or client.conforms_to("FEATURES")):
            return
        for collection in sorted(c for c in collections if c and not in_table(self.kind, c)):
            try:
                found = client.get_collection(collection)
            except SearchTimeout:
                raise self._timed_out("reading the collection " + collection) from None
            except (APIError, OSError, ValueError, ClientTypeError, pystac.STACError):
                continue  # optional: the scenes still say which bands they have
            if isinstance(found, pystac.Collection):
                self.describe(found)

    def _items(self, client: Client, query: SearchQuery, collections, cloud_on_server: bool
               ) -> List[pystac.Item]:
        """Every item of ``collections`` the query matches (at most the cap and one more);
        with ``cloud_on_server``, the cloud limit sent in the query extension."""
        cap = query.max_items
        arguments = dict(collections=list(collections), bbox=list(query.bbox),
                         datetime=query.datetime_range, limit=PAGE_SIZE,
                         max_items=cap + 1 if cap else None)
        if cloud_on_server:
            arguments["query"] = {"eo:cloud_cover": {"lte": query.max_cloud_cover}}
        try:
            found: List[pystac.Item] = []
            seen = set()
            search = client.search(**arguments)
            for page in search.pages():
                for item in page.items:
                    refuse_unread_assets(absolute_asset_hrefs(item, search.url),
                                         f"the STAC API at {self.url}")
                ids = [item.id for item in page.items]
                if ids and seen.issuperset(ids):  # else paged on up to the cap or the bound
                    raise ProviderError(
                        f"{self.name}: the STAC API at {self.url} sent a page of scenes it had "
                        f"already sent (its 'next' link goes round), after {len(seen)} "
                        "scenes; nothing was cut silently: try again later, or tell the "
                        "API's maintainers")
                seen.update(ids)
                found.extend(page.items)
            return found
        except SearchTimeout:
            raise self._timed_out("searching") from None
        except (APIError, OSError) as error:
            if _is_timeout(error):
                raise self._timed_out("searching") from None
            raise ProviderError(f"{self.name}: search failed ({_short(error)})") from None
        except (ValueError, ClientTypeError, pystac.STACError) as error:
            raise self._not_stac("searching", error) from None


def absolute_asset_hrefs(item: pystac.Item, answer_url: str) -> pystac.Item:
    """Make ``item``'s relative asset hrefs absolute URLs, which GDAL would otherwise read as
    local files. STAC allows relative asset hrefs (commons/assets.md); as for any URI
    reference (RFC 3986 section 5.1) they are resolved against the document's own base, the
    item's ``self`` link (commons/links.md: its absolute URL), else the URL it was answered
    from (``answer_url``, the search endpoint)."""
    own = item.get_self_href()
    base = urljoin(answer_url, own) if own else answer_url
    for asset in item.assets.values():
        asset.href = urljoin(base, asset.href)
    return item


def _is_timeout(error: Exception) -> bool:
    text = str(error).lower()
    return "timed out" in text or "timeout" in text


def _short(error: Exception) -> str:
    status = getattr(error, "status_code", None)
    if isinstance(error, APIError) and status:  # its text is the answer's body (an HTML page)
        return f"HTTP {status}"
    text = str(error)
    # requests' connection errors quote urllib3's objects ('<...HTTPConnection object at
    # 0x7f...>: Failed to establish a new co'): say what happened instead
    if "Connection refused" in text or "NewConnectionError" in text:
        if "Name or service not known" in text or "getaddrinfo failed" in text or \
                "nodename nor servname" in text:
            return "unknown host name"
        return "no server answers at that address (connection refused)"
    if "too many 5" in text and "error responses" in text:  # retried 500s, 502s...
        return "the server kept answering with an error (HTTP 5xx)"
    text = text.strip().splitlines()[0] if text.strip() else type(error).__name__
    return text[:200]
