"""Issue 29, item 6: the Sentinel Hub Catalog search sends the cloud limit as a CQL2 filter
(applied by the service, not after fetching), trims items with ``fields`` and stops paging
past ``max_items`` (an error, never a silent cut). Against the loopback deployment in
tests/servers/sentinel_hub.py, whose Filter and Fields extensions follow eu-cdse/documentation
APIs/SentinelHub/Catalog.qmd (tests/servers/catalog_extensions.py)."""

from dataclasses import replace
from datetime import date

import pytest
from sentinelhub.download.sentinelhub_client import SentinelHubDownloadClient

from raster_collect_plugin.core.sample import catalog as sc
from raster_collect_plugin.core.sample import scenes as sd
from raster_collect_plugin.core.sentinel_hub.catalog import FIELDS, CopernicusProvider
from raster_collect_plugin.core.sentinel_hub.client import CopernicusSettings
from raster_collect_plugin.core.sources.providers.base import ProviderError, SearchQuery
from tests.servers.sentinel_hub import SentinelHubServer

CLIENT_ID, SECRET = "rc-catalog-client", "catalog-secret-93e1"
SEARCH = "/api/v1/catalog/1.0.0/search"
AREA = (152.9, -27.0, 153.0, -26.9)


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    spec = sd.small_spec(sensors=(sd.S2_COLLECTION,))
    return sc.make_sample(tmp_path_factory.mktemp("sh-catalog"), spec)


@pytest.fixture
def hub(sample, monkeypatch):
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    SentinelHubDownloadClient.clear_cache()
    server = SentinelHubServer(sample, client_id=CLIENT_ID, client_secret=SECRET).start()
    yield server
    server.stop()
    SentinelHubDownloadClient.clear_cache()


def provider(server, page_size=100):
    return CopernicusProvider(settings=CopernicusSettings(
        base_url=server.base_url, token_url=server.token_url, client_id=CLIENT_ID,
        client_secret=SECRET, retry_sleep_seconds=0.05, catalog_page_size=page_size))


def query(**extra):
    return SearchQuery(AREA, date(2025, 10, 1), date(2025, 12, 31), ["sentinel-2-l2a"], **extra)


def test_6_the_cloud_limit_is_a_cql2_filter_applied_by_the_service(hub, sample):
    scenes = sample.items[sd.S2_COLLECTION]
    covers = sorted(item["properties"]["eo:cloud_cover"] for item in scenes)
    limit = covers[len(covers) // 2]
    expected = sorted(i["id"] for i in scenes if i["properties"]["eo:cloud_cover"] <= limit)
    assert 0 < len(expected) < len(scenes)
    items = provider(hub).search(query(max_cloud_cover=limit))
    assert sorted(i.id for i in items) == expected
    [body] = hub.bodies(SEARCH)
    assert f"eo:cloud_cover <= {limit:g}" in body["filter"]
    assert body["filter-lang"] == "cql2-text"
    assert hub.catalog_features_returned == len(expected)  # not fetched to be dropped


def test_6_fields_trim_the_items_to_what_the_project_reads(hub, sample):
    items = provider(hub).search(query())
    [body] = hub.bodies(SEARCH)
    assert body["fields"] == FIELDS
    full = {i["id"]: i for i in sample.items[sd.S2_COLLECTION]}
    allowed = {"datetime", *(f.split(".", 1)[1] for f in FIELDS["include"])}
    for item in items:
        served = {k for k in item.properties if not k.startswith("raster_collect:")}
        assert served <= allowed, served - allowed
        assert item.properties["eo:cloud_cover"] == \
            full[item.id]["properties"]["eo:cloud_cover"]
    assert any(set(i["properties"]) - allowed for i in full.values())  # something was trimmed


def test_6_paging_stops_past_max_items(hub, sample):
    matching = len(sample.items[sd.S2_COLLECTION])
    with pytest.raises(ProviderError, match="more than 2 scenes match"):
        provider(hub, page_size=1).search(query(max_items=2))
    assert len(hub.requests_to(SEARCH)) == 3 and hub.catalog_features_returned == 3
    items = provider(hub, page_size=100).search(replace(query(), max_items=matching))
    assert len(items) == matching
    assert hub.bodies(SEARCH)[-1]["limit"] == matching + 1
