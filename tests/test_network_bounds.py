"""Every network call is bounded: stalled and slow loopback servers end in a clear error within
the bound; searches page through everything or stop with an explicit error."""

import time
from datetime import date

import pytest

from raster_collect_plugin.core.sources.providers import (
    EarthSearchProvider,
    PlanetaryComputerProvider,
    StacApiProvider,
)
from raster_collect_plugin.core.sources.providers.base import ProviderError, SearchQuery
from raster_collect_plugin.core.sources.search import search_all
from tests.servers.faulty_http import SlowStacApi, StallingServer

QUERY = SearchQuery(bbox=(152.9, -26.9, 153.0, -26.8), start=date(2025, 10, 1),
                    end=date(2025, 10, 31), collections=["slow"])


@pytest.fixture
def stalling():
    server = StallingServer().start()
    yield server
    server.stop()


@pytest.mark.parametrize("provider_class", [StacApiProvider, PlanetaryComputerProvider,
                                            EarthSearchProvider])
def test_api_that_never_answers_fails_within_the_bound(stalling, provider_class):
    if provider_class is StacApiProvider:
        provider = provider_class("Hung", stalling.url, timeout=1, total_timeout=5,
                                  max_retries=0)
    else:
        provider = provider_class(url=stalling.url, timeout=1, total_timeout=5, max_retries=0)
    started = time.monotonic()
    with pytest.raises(ProviderError, match="did not answer in time"):
        provider.search(QUERY)
    assert time.monotonic() - started < 10
    assert stalling.accepted  # the connection was accepted, then nothing came back


def test_slow_pages_stop_at_the_total_bound():
    server = SlowStacApi(5000, delay=0.4, page=100).start()
    try:
        provider = StacApiProvider("Slow", server.url, timeout=5, total_timeout=2)
        started = time.monotonic()
        report = search_all([(provider, ["slow"])], query=QUERY)
        elapsed = time.monotonic() - started
    finally:
        server.stop()
    assert "did not answer in time" in report.errors["Slow"]
    assert 1.5 < elapsed < 6
    assert 3 <= server.requests <= 8  # it paged, then stopped at the bound


def test_search_pages_past_two_thousand_items():
    server = SlowStacApi(2600, page=250).start()
    try:
        items = StacApiProvider("Paged", server.url).search(QUERY)
    finally:
        server.stop()
    assert len(items) == 2600  # no silent cap at 2,000
    assert len({i.id for i in items}) == 2600


def test_more_items_than_allowed_is_an_explicit_error():
    server = SlowStacApi(700, page=100).start()
    try:
        provider = StacApiProvider("Paged", server.url)
        query = SearchQuery(QUERY.bbox, QUERY.start, QUERY.end, ["slow"], max_items=500)
        report = search_all([(provider, ["slow"])], query=query)
    finally:
        server.stop()
    assert "more than 500 scenes match" in report.errors["Paged"]
    assert "split the period or the area" in report.errors["Paged"]
    assert report.items == {}


def test_real_stac_api_pages_past_two_thousand(stac_api):
    features = [dict(f, collection="paged") for f in
                (__import__("tests.servers.faulty_http", fromlist=["_item"])._item(n)
                 for n in range(2100))]
    server = stac_api({"paged": {"type": "FeatureCollection", "features": features}})
    query = SearchQuery(QUERY.bbox, QUERY.start, QUERY.end, ["paged"])
    items = StacApiProvider("rustac", server.url).search(query)
    assert len(items) == 2100


def test_stalled_sas_token_service_fails_within_the_bound(stalling, monkeypatch):
    import pystac
    from planetary_computer import sas
    from planetary_computer.settings import Settings

    monkeypatch.setenv("PC_SDK_SAS_URL", f"{stalling.url}/api/sas/v1/token")
    Settings.get.cache_clear()
    sas.TOKEN_CACHE.clear()
    try:
        item = pystac.Item("x", None, None, __import__("datetime").datetime(2025, 10, 1), {})
        item.add_asset("red", pystac.Asset(
            "https://pcsampleaccount.blob.core.windows.net/sentinel2-l2/x.tif"))
        provider = PlanetaryComputerProvider(url=stalling.url, timeout=1)
        started = time.monotonic()
        with pytest.raises(ProviderError, match="SAS token service did not finish within 1 s"):
            provider.sign(item)
        assert time.monotonic() - started < 5
    finally:
        Settings.get.cache_clear()
        sas.TOKEN_CACHE.clear()


def test_stalled_static_catalog_and_item_urls_fail_within_the_bound(stalling, monkeypatch):
    from raster_collect_plugin.core.sources.providers import StaticCatalogProvider, guarded_io
    from raster_collect_plugin.core.storm.assessment import items_from_urls

    monkeypatch.setattr(guarded_io, "DEFAULT_TIMEOUT", 1.0)

    started = time.monotonic()
    provider = StaticCatalogProvider("Hung catalog", f"{stalling.url}/catalog.json", timeout=1)
    with pytest.raises(ProviderError, match="Hung catalog: cannot read the catalog"):
        provider.search(QUERY)
    with pytest.raises(ValueError, match="cannot read the STAC item"):
        items_from_urls([f"{stalling.url}/item.json"])
    assert time.monotonic() - started < 15


def test_trickling_server_is_bounded_in_total():
    from tests.servers.faulty_http import TricklingServer

    server = TricklingServer(interval=0.3).start()
    try:
        provider = StacApiProvider("Trickle", server.url, timeout=1, total_timeout=2,
                                   max_retries=0)
        started = time.monotonic()
        with pytest.raises(ProviderError, match="did not answer in time"):
            provider.search(QUERY)
        assert time.monotonic() - started < 6  # every read came within the 1 s read timeout
    finally:
        server.stop()


def test_local_catalog_given_by_a_relative_path_is_read(small_sample, monkeypatch):
    """The root guard compares absolute paths: a catalog named relative to the working folder
    (as `make demo` does) is inside its own folder, not an escape."""
    import os

    from raster_collect_plugin.core.sources.providers import StaticCatalogProvider

    monkeypatch.chdir(small_sample.root.parent)
    relative = os.path.relpath(small_sample.catalog_path)
    assert not os.path.isabs(relative)
    provider = StaticCatalogProvider("Sample", relative)
    assert "sentinel-2-l2a" in provider.list_collections()
