"""The provider interface: search a period and area, hand back STAC items, sign hrefs."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import date, timezone
from typing import Dict, List, Optional, Sequence, Tuple, Union

import pystac

from ...pixels.bands import CollectionProfile, UnknownCollection, profile_for, refused_assets

PROVIDER_PROPERTY = "raster_collect:provider"
DEFAULT_MAX_ITEMS = 100_000


class ProviderError(RuntimeError):
    """A provider could not answer; the message names the provider and what to do."""


@dataclass(frozen=True)
class SearchQuery:
    """What to look for: area (WGS84 bbox), inclusive dates, collections, scene cloud limit."""

    bbox: Tuple[float, float, float, float]
    start: date
    end: date
    collections: Sequence[str]
    max_cloud_cover: Optional[float] = None
    # searches page through every match; more than this is an explicit error, never a cut
    max_items: int = DEFAULT_MAX_ITEMS

    @property
    def datetime_range(self) -> str:
        return f"{self.start.isoformat()}T00:00:00Z/{self.end.isoformat()}T23:59:59Z"


class Provider(ABC):
    """One archive. Subclasses implement ``search``; signing is optional. ``default_name``
    is what every door (command line, job spec, dock, Processing) calls a source of this kind
    that was not given a name: it names its output files and is part of a run's fingerprint,
    so one run through two doors writes the same files and resumes."""

    kind: str = "stac"
    default_name: str = "STAC"
    licence: Optional[str] = None

    def __init__(self, name: str):
        self.name = name
        self._described: Dict[str, dict] = {}  # collection id -> its document, as searched

    @abstractmethod
    def search(self, query: SearchQuery) -> List[pystac.Item]:
        """Items intersecting the query, already signed for reading."""

    def sign(self, item: pystac.Item) -> pystac.Item:
        """Make the item's hrefs readable (default: nothing to do)."""
        return item

    def renew(self, items: List[pystac.Item]) -> List[pystac.Item]:
        """Re-sign items whose access token expired (default: nothing to do)."""
        return list(items)

    def profile(self, collection: str,
                items: Union[None, pystac.Item, Sequence[pystac.Item]] = None
                ) -> CollectionProfile:
        """The band profile of ``collection``: the band table's, else read from what the
        collection says (``described``) and from all its ``items`` (``profile_for``)."""
        if isinstance(items, pystac.Item):
            items = [items]
        try:
            return profile_for(self.kind, collection,
                               [{"assets": {**refused_assets(item), **item.assets},
                                 "properties": item.properties}
                                for item in items or ()], self.described(collection))
        except UnknownCollection as error:  # reported for this collection; others go on
            raise ProviderError(f"{self.name}: {error}") from None

    def described(self, collection: str) -> Optional[dict]:
        """The collection's own document (``item_assets``, ``summaries``: which bands its
        scenes have) as the last search read it (a static catalog's collection file, a STAC
        API's ``/collections/{id}``), else None."""
        return self._described.get(collection)

    def describe(self, collection: pystac.Collection) -> None:
        """Keep ``collection``'s document for ``described`` (every kind of catalog)."""
        self._described[collection.id] = collection.to_dict(include_self_link=False,
                                                            transform_hrefs=False)

    def check_readable(self, collection: str) -> None:
        """Raise ProviderError if this collection's assets cannot be read as configured."""
        return None

    def tag(self, items: List[pystac.Item]) -> List[pystac.Item]:
        """Mark the items as this provider's; an item with a time range and no ``datetime``
        (STAC allows ``null``) is dated by its ``start_datetime``, which every step sorts and
        counts days by, in UTC (a time written with another offset, ``+10:00``, was listed
        on that zone's day while searched and composited on its UTC day)."""
        for item in items:
            item.properties[PROVIDER_PROPERTY] = self.name
            if item.datetime is None and item.common_metadata.start_datetime is not None:
                item.datetime = item.common_metadata.start_datetime
            if item.datetime is not None and item.datetime.utcoffset():
                item.datetime = item.datetime.astimezone(timezone.utc)
        return items


def numbered(name: str, taken: Sequence[str]) -> str:
    """``name``, or when a source already has it, ``name 2``, ``name 3``... (sources are told
    apart by name: the second unnamed static catalog is "Static catalog 2" in every door)."""
    if name not in taken:
        return name
    number = 2
    while f"{name} {number}" in taken:
        number += 1
    return f"{name} {number}"


def passes_cloud_filter(item: pystac.Item, max_cloud_cover: Optional[float]) -> bool:
    """Scene-level cloud filter (items without eo:cloud_cover, e.g. radar, always pass)."""
    if max_cloud_cover is None:
        return True
    cover = item.properties.get("eo:cloud_cover")
    return cover is None or float(cover) <= max_cloud_cover


def too_many_items_message(provider_name: str, query: SearchQuery) -> str:
    """The error for a search matching more scenes than a run may use."""
    return (f"{provider_name}: more than {query.max_items:,} scenes match "
            f"{', '.join(query.collections)} between {query.start} and {query.end}; nothing "
            "was cut silently: split the period or the area into several runs, or lower "
            "the cloud limit")
