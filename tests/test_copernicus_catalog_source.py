"""Issue 29: the Sentinel Hub Catalog API as a search source like the STAC providers, from a
job spec, the *Search imagery* Processing algorithm and the dock; every page budgeted
(Overview/ProcessingUnit.qmd, "Data querying") and written to the usage ledger. Against the
loopback deployment tests/servers/sentinel_hub.py."""

from __future__ import annotations

import json
from datetime import date

import pytest
from qgis.core import QgsProject
from qgis.PyQt.QtCore import Qt
from sentinelhub.download.sentinelhub_client import SentinelHubDownloadClient

from raster_collect_plugin import settings
from raster_collect_plugin.core.sentinel_hub.catalog import CopernicusProvider, catalog_pu
from raster_collect_plugin.core.sentinel_hub.client import CopernicusSettings
from raster_collect_plugin.core.sentinel_hub.rules import QuotaBudget
from raster_collect_plugin.core.sources.providers.base import ProviderError, SearchQuery
from tests.sentinel_hub_helpers import basic_auth_config
from tests.servers.sentinel_hub import SentinelHubServer
from tests.test_dock import SOURCES, dock, forests, tick_source, wait_for_job  # noqa: F401

CLIENT_ID, SECRET = "rc-catalog-source", "catalog-source-secret-5b7f"
SEARCH = "/api/v1/catalog/1.0.0/search"
AREA = (152.9, -27.0, 153.0, -26.9)
LIMIT = 60.0


@pytest.fixture
def hub(small_sample, monkeypatch, tmp_path):
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    monkeypatch.setenv("RASTER_COLLECT_SH_LEDGER", str(tmp_path / "ledger.json"))
    SentinelHubDownloadClient.clear_cache()
    server = SentinelHubServer(small_sample, client_id=CLIENT_ID, client_secret=SECRET).start()
    yield server
    server.stop()
    SentinelHubDownloadClient.clear_cache()


def expected_ids(sample, limit=LIMIT):
    return sorted(i["id"] for i in sample.items["sentinel-2-l2a"]
                  if i["properties"]["eo:cloud_cover"] <= limit
                  and "2025-10-01" <= i["properties"]["datetime"][:10] <= "2025-12-31")


def auth_config() -> str:
    return basic_auth_config("cdse-catalog-test", CLIENT_ID, SECRET)


def test_every_catalog_page_is_budgeted_and_ledgered(hub, small_sample, tmp_path):
    ledger = tmp_path / "own-ledger.json"
    provider = CopernicusProvider(settings=CopernicusSettings(
        base_url=hub.base_url, token_url=hub.token_url, client_id=CLIENT_ID,
        client_secret=SECRET, catalog_page_size=2), budget=QuotaBudget(ledger=ledger))
    query = SearchQuery(AREA, date(2025, 10, 1), date(2025, 12, 31), ["sentinel-2-l2a"],
                        max_cloud_cover=LIMIT)
    items = provider.search(query)
    assert sorted(i.id for i in items) == expected_ids(small_sample)
    pages = len(hub.requests_to(SEARCH))
    assert pages == provider.requests >= 2
    month = json.loads(ledger.read_text()).popitem()[1]
    # 3 months of a ~110 km² box: the 0.01 area minimum x 3 months per page
    assert catalog_pu(AREA, query.start, query.end) == pytest.approx(0.03)
    assert month == {"requests": pages, "pu": pytest.approx(0.03 * pages)}

    spent = CopernicusProvider(settings=provider.settings, budget=QuotaBudget(
        pu_per_month=0.02, ledger=tmp_path / "empty.json"))
    with pytest.raises(ProviderError, match="nothing was sent"):
        spent.search(query)
    assert len(hub.requests_to(SEARCH)) == pages


def test_search_job_with_the_copernicus_source_and_no_composites_from_it(
        hub, small_sample, tmp_path, monkeypatch):
    from raster_collect_plugin.core.jobs import JobError, run_job

    monkeypatch.setenv("SH_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("SH_CLIENT_SECRET", SECRET)
    spec = {"kind": "search", "aoi": str(small_sample.forests_path),
            "sources": [{"kind": "copernicus", "url": hub.base_url,
                         "token_url": hub.token_url}],
            "start": "2025-10-01", "end": "2025-12-31", "max_cloud_cover": LIMIT,
            "output": str(tmp_path / "footprints.gpkg"), "output_dir": str(tmp_path)}
    result = run_job(spec)
    assert sorted(row["id"] for row in result["items"]) == expected_ids(small_sample)
    assert json.loads((tmp_path / "ledger.json").read_text()).popitem()[1]["requests"] == \
        len(hub.requests_to(SEARCH))
    with pytest.raises(JobError, match="search"):
        run_job(dict(spec, kind="composite", output_dir=str(tmp_path / "c")))
    sent = len(hub.requests_to(SEARCH))  # the source's monthly budget (the options page's)
    broke = dict(spec, sources=[dict(spec["sources"][0], pu_budget=0.01)], overwrite=True)
    assert "nothing was sent" in " ".join(run_job(broke)["errors"].values())
    assert len(hub.requests_to(SEARCH)) == sent


def test_search_imagery_algorithm_finds_copernicus_scenes(hub, small_sample, tmp_path,
                                                          raster_collect_provider):
    import processing
    from qgis.core import QgsVectorLayer

    from raster_collect_plugin.processing.common import SOURCE_KINDS
    from raster_collect_plugin.processing.provider import PROVIDER_ID

    result = processing.run(f"{PROVIDER_ID}:search_imagery", {
        "INPUT": str(small_sample.forests_path), "ID_FIELD": "forest_id",
        "SOURCES": [SOURCE_KINDS.index("copernicus")], "SH_AUTH": auth_config(),
        "SH_URL": hub.base_url, "SH_OAUTH_URL": hub.token_url,
        "START": "2025-10-01", "END": "2025-12-31", "MAX_CLOUD": LIMIT,
        "OUTPUT": str(tmp_path / "footprints.gpkg"), "ITEMS": str(tmp_path / "items.csv")})
    layer = QgsVectorLayer(result["OUTPUT"], "footprints", "ogr")
    assert sorted(f["id"] for f in layer.getFeatures()) == expected_ids(small_sample)
    assert {f["provider"] for f in layer.getFeatures()} == {"Copernicus Data Space"}
    body = hub.bodies(SEARCH)[0]
    assert f"eo:cloud_cover <= {LIMIT:g}" in body["filter"] and "fields" in body
    assert json.loads((tmp_path / "ledger.json").read_text()).popitem()[1]["requests"] == \
        len(hub.requests_to(SEARCH))
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


def test_dock_searches_the_copernicus_data_space(dock, hub, small_sample):  # noqa: F811
    names = ("copernicus/base_url", "copernicus/oauth_url", "copernicus/auth_config_id")
    before = {name: settings.value(name) for name in names}
    settings.set_value("copernicus/base_url", hub.base_url)
    settings.set_value("copernicus/oauth_url", hub.token_url)
    settings.set_value("copernicus/auth_config_id", auth_config())
    try:
        catalog_row = [k for k, _, _ in SOURCES].index("catalog")
        dock.source_list.item(catalog_row).setCheckState(Qt.CheckState.Unchecked)
        tick_source(dock, "cdse-s2")
        dock.max_cloud.setValue(LIMIT)
        dock.start_search()
        assert wait_for_job(dock) == "search", dock.last_error
    finally:
        for name, value in before.items():
            settings.set_value(name, value)
    ids = sorted(dock.results_table.item(r, 4).text()
                 for r in range(dock.results_table.rowCount()))
    assert ids == expected_ids(small_sample) and len(hub.requests_to(SEARCH)) >= 1
    footprints = QgsProject.instance().mapLayersByName("scene footprints")[0]
    assert sorted(f["id"] for f in footprints.getFeatures()) == ids
