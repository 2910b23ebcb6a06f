"""Search several providers at once; one provider failing never stops the others."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import pystac

from .providers.base import Provider, ProviderError, SearchQuery

# the fields of a scene's row (search's list, --json, a search job's items and footprints)
SCENE_FIELDS = ("provider", "collection", "datetime", "cloud_cover", "id")


@dataclass
class SearchReport:
    """Items found per (provider, collection) and the errors of providers that failed."""

    items: Dict[Tuple[str, str], List[pystac.Item]] = field(default_factory=dict)
    errors: Dict[str, str] = field(default_factory=dict)

    @property
    def all_items(self) -> List[pystac.Item]:
        return [item for items in self.items.values() for item in items]

    def keep_over(self, area) -> None:
        """Drop the scenes whose footprint misses ``area`` (a shapely geometry, WGS84):
        searches ask for the area's bounding box, and a scene over the gap between two
        forests, or whose footprint misses the forest its bounding box covers, shows none
        of it. Scenes without a footprint are kept."""
        from shapely import prepared
        from shapely.geometry import shape

        over = prepared.prep(area)

        def shows_area(item: pystac.Item) -> bool:
            try:
                return item.geometry is None or over.intersects(shape(item.geometry))
            except Exception:  # noqa: BLE001 - a footprint shapely cannot read: keep it
                return True

        for key, items in self.items.items():
            self.items[key] = [item for item in items if shows_area(item)]

    def rows(self) -> List[dict]:
        """One row per scene: provider, collection, date, cloud cover, id."""
        rows = []
        for (provider, collection), items in sorted(self.items.items()):
            for item in sorted(items, key=lambda i: (i.datetime, i.id)):
                rows.append({"provider": provider, "collection": collection,
                             "datetime": item.datetime.isoformat(),
                             "cloud_cover": item.properties.get("eo:cloud_cover"),
                             "id": item.id})
        return rows


def search_all(providers: Sequence[Tuple[Provider, Sequence[str]]], *, query: SearchQuery,
               max_workers: int = 4) -> SearchReport:
    """Run each provider's search in a thread with its own collections; collect per-provider
    errors instead of raising, so the others still complete."""
    report = SearchReport()

    def run(provider: Provider, collections: Sequence[str]):
        sub_query = SearchQuery(query.bbox, query.start, query.end, list(collections),
                                query.max_cloud_cover, query.max_items)
        return provider.search(sub_query)

    with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(providers)))) as pool:
        futures = {pool.submit(run, p, c): (p, c) for p, c in providers}
        for future, (provider, collections) in futures.items():
            try:
                items = future.result()
            except ProviderError as error:
                report.errors[provider.name] = str(error)
                continue
            except Exception as error:  # a provider bug must not hide the others' results
                report.errors[provider.name] = f"{provider.name}: {type(error).__name__}: {error}"
                continue
            for collection in collections:
                once: Dict[str, pystac.Item] = {}  # each scene once (pages, linked twice)
                for item in items:
                    if item.collection_id == collection:
                        once.setdefault(item.id, item)
                report.items[(provider.name, collection)] = list(once.values())
    return report


class UnknownCollection(ValueError):
    """A collection asked for that the source does not have (bad input, exit 2)."""

    exit_kind = "bad_input"


def not_a_collection_of(provider: Provider, collection: str) -> Optional[str]:
    """The message when ``provider`` has no collection of that id (a typo in --collections
    otherwise reads as "no scenes for this area"), else None (also when it cannot tell).
    Asked only of collections that found no scene."""
    import difflib

    try:
        known = provider.list_collections()
    except Exception:  # noqa: BLE001 - no list, or the search's own error says what failed
        return None
    if not known or collection in known:
        return None
    close = difflib.get_close_matches(collection, known, n=3, cutoff=0.6)
    if close:
        return (f"{provider.name} has no collection {collection!r}: did you mean "
                f"{' or '.join(close)}? (check --collections or the spec's sources)")
    more = f" and {len(known) - 8} more" if len(known) > 8 else ""
    return (f"{provider.name} has no collection {collection!r}: it has "
            f"{', '.join(sorted(known)[:8])}{more} (check --collections or the spec's sources)")


def refuse_unknown_collections(report: SearchReport, providers: Sequence[Provider]) -> None:
    """Raise UnknownCollection for a collection asked for that found no scene because its
    source has no such collection (every door: search, composites, zonal, monitoring)."""
    by_name = {provider.name: provider for provider in providers}
    for (name, collection), items in sorted(report.items.items()):
        unknown = None if items or name not in by_name else \
            not_a_collection_of(by_name[name], collection)
        if unknown:
            raise UnknownCollection(unknown)
