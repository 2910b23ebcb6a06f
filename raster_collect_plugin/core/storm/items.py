"""A storm's scenes given as STAC items (``--before-item`` / ``--after-item``, a spec's
``before_items`` / ``after_items``, Processing's *Before/After scenes*) instead of a search:
read, checked to lie in their window, and reported as a search's answer."""

from __future__ import annotations

import json
from datetime import date
from typing import Sequence, Tuple


class ItemError(ValueError):
    """A given STAC item cannot be read: bad input, said in one line by every door."""

    exit_kind = "bad_input"


def _why_unreadable(error: Exception) -> str:
    """What is wrong with an item path or URL, and what to give instead."""
    from pystac.errors import STACTypeError

    if isinstance(error, IsADirectoryError):
        return "it is a folder: give the item's .json inside it"
    if isinstance(error, FileNotFoundError):
        return "no such file: check the path"
    if isinstance(error, (UnicodeDecodeError, json.JSONDecodeError)):
        return "not a JSON file (an image?): give the scene's STAC item .json"
    if isinstance(error, STACTypeError):
        return "not a STAC item (a catalog or collection?): give one scene's item .json"
    return f"{error}: check the path or URL"


def items_from_urls(urls: Sequence[str], label: str = ""):
    """STAC items by URL or path, signed when they live on Planetary Computer; ``label``
    (before / after) names the option in the error."""
    import planetary_computer
    import pystac

    from ..sources.providers.guarded_io import TimeoutStacIO

    option = f" (--{label}-item, a spec's '{label}_items')" if label else ""
    items = []
    for url in urls:
        try:
            item = pystac.Item.from_file(url, stac_io=TimeoutStacIO())  # bounded reads
        except Exception as error:  # pystac raises many kinds for unreadable items
            raise ItemError(f"cannot read the STAC item {url}: {_why_unreadable(error)}"
                            f"{option}") from None
        item.make_asset_hrefs_absolute()
        items.append(planetary_computer.sign(item))  # no-op for hrefs outside Azure storage
    return items


def _check_item_dates(items, urls: Sequence[str], label: str, first: date, last: date) -> None:
    """Each given before (after) item is dated inside the before (after) window: else it was
    silently used as a scene of the other window, or of none."""
    for item, url in zip(items, urls):
        when = item.datetime
        if when is not None and not first <= when.date() <= last:
            other = "after" if label == "before" else "before"
            raise ItemError(f"the {label} item {url} is dated {when.date()}, outside the "
                            f"{label} window ({first} to {last}): give it as --{other}-item "
                            f"(a spec's '{other}_items') if it is, or check --event-date and "
                            f"--{label}-days (a spec's 'event_date' and '{label}_days')")


def items_report(request, windows: Sequence[Tuple[str, date, date]]):
    """The before/after item URLs of a ``StormRequest`` read as a search report, each checked
    to lie in its window, and the sources that read them (a request's ``sources`` in place of
    a search's)."""
    from ..composites.requests import Source
    from ..sources.providers.planetary_computer import PlanetaryComputerProvider
    from ..sources.providers.static_catalog import StaticCatalogProvider
    from ..sources.search import SearchReport

    report, providers = SearchReport(), {}
    before = items_from_urls(request.before_items, "before")
    after = items_from_urls(request.after_items, "after")
    _check_item_dates(before, request.before_items, "before", windows[0][1], windows[-2][2])
    _check_item_dates(after, request.after_items, "after", windows[-1][1], windows[-1][2])
    for item in before + after:
        href = item.get_self_href() or ""
        provider = (PlanetaryComputerProvider() if "planetarycomputer" in href
                    else StaticCatalogProvider("STAC items", href or "items"))
        providers[provider.name] = provider
        item.properties["raster_collect:provider"] = provider.name
        report.items.setdefault((provider.name, item.collection_id), []).append(item)
    return report, [Source(provider, ()) for provider in providers.values()]
