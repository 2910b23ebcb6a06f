"""Static STAC catalogs (no search API): crawl catalog.json and filter on the client.

Used for the embedded sample and for Maxar Open Data (one collection per disaster event).
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, List, Optional
from urllib.parse import urlsplit
from urllib.request import url2pathname

import pystac
from shapely.geometry import box, shape

from ...pixels.bands import MAXAR_OPEN_DATA, CollectionProfile
from ..endpoints import MAXAR_OPEN_DATA_CATALOG
from .base import Provider, ProviderError, SearchQuery, passes_cloud_filter, too_many_items_message
from .guarded_io import CatalogEscape, GuardedStacIO, refuse_unread_assets

MAXAR_LICENCE = "CC-BY-NC-4.0"
ROOT_FILES = ("catalog.json", "collection.json")  # what a folder given as --catalog holds


def catalog_in_folder(folder: Path) -> Optional[Path]:
    """The catalog.json (else collection.json) in ``folder``, the file read when the folder is
    given as a catalog; None when ``folder`` is not a folder or holds neither."""
    if not folder.is_dir():
        return None
    return next((folder / name for name in ROOT_FILES if (folder / name).is_file()), None)


class CatalogNotFound(ProviderError):
    """A catalog given as a local path that does not exist: bad input, said before any work."""

    exit_kind = "bad_input"


class StaticCatalogProvider(Provider):
    """Crawls a static catalog (or one collection's collection.json); ``collections`` in a
    query match collection ids. A local ``catalog_href`` must exist (``CatalogNotFound``; a
    folder holding a catalog.json or collection.json is that catalog); a URL's problems show
    when it is read."""

    kind = "static"
    default_name = "Static catalog"

    def __init__(self, name: str, catalog_href: str, *, licence: Optional[str] = None,
                 timeout: float = 30.0, total_timeout: float = 1800.0):
        super().__init__(name)
        self.catalog_href = str(catalog_href)
        scheme = urlsplit(self.catalog_href).scheme.lower()
        if scheme not in ("", "file", "http", "https") and len(scheme) > 1:
            # it failed as 'Not supported URL scheme s3' after the run had started (exit 1)
            bucket = " (a bucket's objects have one)" if scheme in ("s3", "gs", "az") else ""
            raise CatalogNotFound(f"{name}: the STAC catalog {self.catalog_href} has the "
                                  f"scheme {scheme}://, which a static catalog is not read "
                                  f"from: give its https:// URL{bucket} or the path of a copy "
                                  "on this computer")
        local = Path(self.catalog_href).expanduser() if "://" not in self.catalog_href else \
            Path(url2pathname(urlsplit(self.catalog_href).path)) if scheme == "file" else None
        root = None if local is None else catalog_in_folder(local)
        if root is not None:
            self.catalog_href = str(root)  # the catalog's (or collection's) folder was given
        elif local is not None and not local.is_file():
            what = ("is a folder without a catalog.json or collection.json" if local.is_dir()
                    else "does not exist")
            raise CatalogNotFound(f"{name}: the STAC catalog {self.catalog_href} {what}; "
                                  "check the path to its catalog.json")
        self.licence = licence
        self.timeout = timeout  # per HTTP read
        self.total_timeout = total_timeout  # a whole crawl
        self._io: Optional[GuardedStacIO] = None

    def _collections(self, catalog: pystac.Catalog, wanted: Iterable[str]):
        """The catalog's collections (``wanted`` ones, or all): its children that are STAC
        Collections or hold items, also below sub-catalogs (a region's or a year's catalog);
        a collection's own sub-collections are part of it. A root catalog holding items
        itself (a catalog of scenes, no collections) is a collection of those, by its id.

        A child link that cannot be read (a collection's file missing) fails the crawl only
        when it may be one asked for: without ``wanted``, or when a ``wanted`` id was not
        found (the error names the file); another collection's missing file is not read."""
        wanted = set(wanted)
        if isinstance(catalog, pystac.Collection):  # a collection.json was given
            if not wanted or catalog.id in wanted:
                yield catalog
            return
        if catalog.get_links(pystac.RelType.ITEM) and (not wanted or catalog.id in wanted):
            yield catalog  # its own items only (_search): its children are crawled below
        unreadable: List[Exception] = []
        found = {catalog.id} if catalog.get_links(pystac.RelType.ITEM) else set()
        for collection in self._below(catalog, wanted, unreadable):
            found.add(collection.id)
            yield collection
        if unreadable and (not wanted or not wanted <= found):
            # the file of a collection asked for, by its path, when one names it
            lost = wanted - found
            raise next((error for error in unreadable
                        if any(name in str(error) for name in lost)), unreadable[0])

    def _below(self, catalog: pystac.Catalog, wanted: set, unreadable: List[Exception]):
        """``_collections`` below ``catalog``, each child link read on its own: one that
        cannot be read is added to ``unreadable`` and the others are still crawled."""
        for link in catalog.get_child_links():
            try:
                link.resolve_stac_object(root=catalog.get_root())
            except Exception as error:  # noqa: BLE001 - judged by _collections
                if _escape_in(error) is not None:
                    raise
                unreadable.append(error)
                continue
            child = link.target
            if not isinstance(child, pystac.Catalog):
                continue
            if isinstance(child, pystac.Collection) or child.get_links(pystac.RelType.ITEM):
                if not wanted or child.id in wanted:
                    yield child
            if not isinstance(child, pystac.Collection):
                yield from self._below(child, wanted, unreadable)

    def list_collections(self) -> List[str]:
        """Ids of the catalog's collections (see ``_collections``)."""
        try:
            return sorted({child.id for child in self._collections(self._open(), ())})
        except ProviderError:
            raise
        except Exception as error:  # pystac wraps what a link's read raised
            raise self._link_error(error) from None

    def _link_error(self, error: Exception) -> ProviderError:
        """The one-line error for a link of the catalog that leaves its folder, or that
        cannot be read (a moved or missing collection or item: pystac's STACError, an HTTP
        404...), instead of a traceback or a bare 'STACError'."""
        escape = _escape_in(error)
        if escape is not None:
            return self._escape(escape)
        if not isinstance(error, (pystac.STACError, OSError, ValueError)):
            raise error  # not a link's read: a bug, with its traceback
        text = str(error).strip().splitlines()[0] if str(error).strip() else \
            type(error).__name__
        return ProviderError(f"{self.name}: a link in the catalog {self.catalog_href} cannot "
                             f"be read ({text[:500]}); check that the catalog's files are all "
                             "there (or rebuild it)")

    def _open(self) -> pystac.Catalog:
        self._io = GuardedStacIO(self.catalog_href, timeout=self.timeout)
        try:
            root = pystac.read_file(self.catalog_href, stac_io=self._io)
        except CatalogEscape as error:
            raise self._escape(error) from None
        except Exception as error:  # pystac raises many kinds for unreadable catalogs
            raise ProviderError(f"{self.name}: cannot read the catalog {self.catalog_href} "
                                f"({error}); check the path or URL") from None
        if not isinstance(root, pystac.Catalog):  # (a Collection is a Catalog)
            raise ProviderError(f"{self.name}: {self.catalog_href} is a STAC "
                                f"{type(root).__name__}, not a catalog or collection: give "
                                "the catalog.json (or collection.json) that links to it")
        root.set_root(root)  # crawled from here: its own "root" link may lie above its folder
        return root

    def _escape(self, error: CatalogEscape) -> ProviderError:
        return ProviderError(f"{self.name}: refused: {error}; a catalog may only use files "
                             "inside its own folder")

    def search(self, query: SearchQuery) -> List[pystac.Item]:
        from ...compute.interrupts import call_interruptibly

        try:
            return call_interruptibly(self._search, query, timeout=self.total_timeout,
                                      what=f"crawling {self.catalog_href}")
        except TimeoutError as error:
            raise ProviderError(f"{self.name}: {error}; try again later or narrow the "
                                "collections") from None
        except ProviderError:
            raise
        except Exception as error:  # pystac wraps what a link's read raised
            raise self._link_error(error) from None

    def _search(self, query: SearchQuery) -> List[pystac.Item]:
        catalog = self._open()
        area = box(*query.bbox)
        start = datetime.combine(query.start, datetime.min.time(), tzinfo=timezone.utc)
        end = datetime.combine(query.end, datetime.max.time(), tzinfo=timezone.utc)
        found = []
        for collection in self._collections(catalog, query.collections):
            if isinstance(collection, pystac.Collection):
                self.describe(collection)
            for item in collection.get_items(recursive=collection is not catalog or
                                             isinstance(catalog, pystac.Collection)):
                when = item.datetime or item.common_metadata.start_datetime
                if when is None or not (start <= when <= end):
                    continue
                if item.geometry is None or not shape(item.geometry).intersects(area):
                    continue
                if not item.assets or not passes_cloud_filter(item, query.max_cloud_cover):
                    continue  # an asset-less stub (as the STAC API provider skips) or cloudy
                # the collection it was found in (what was asked for and is reported): an
                # item's own "collection" naming another (or none) was dropped silently
                item.collection_id = collection.id
                item.make_asset_hrefs_absolute()
                if self._io.remote:  # a scene with a local asset is skipped, not the crawl
                    refuse_unread_assets(item, f"the remote catalog {self.catalog_href}")
                found.append(item)
                if len(found) > query.max_items:
                    raise ProviderError(too_many_items_message(self.name, query))
        return self.tag(found)


def _escape_in(error: BaseException) -> Optional[CatalogEscape]:
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, CatalogEscape):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


class MaxarOpenDataProvider(StaticCatalogProvider):
    """WorldView imagery from the Maxar Open Data program; licence CC BY-NC 4.0."""

    kind = "maxar"
    default_name = "Maxar Open Data"

    def __init__(self, name: Optional[str] = None,
                 catalog_href: str = MAXAR_OPEN_DATA_CATALOG):
        super().__init__(name or self.default_name, catalog_href, licence=MAXAR_LICENCE)

    def profile(self, collection: str, items=None) -> CollectionProfile:
        """Every event collection holds WorldView acquisitions."""
        return MAXAR_OPEN_DATA

    def events(self) -> List[str]:
        """The disaster events (collection ids) the catalog offers."""
        return self.list_collections()
