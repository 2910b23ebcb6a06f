"""Copernicus Data Space (Sentinel Hub) through the real sentinelhub-py client against a
loopback deployment that follows the CDSE documentation and executes the evalscript the
project sends (node): catalog paging, statistics in the common schema, agreement with the
local engine, caching, quota exhaustion, token refresh, secrets kept out. The numbered
items of issue 19 are tested in tests/test_copernicus_contract.py."""

import json
from dataclasses import replace
from datetime import date

import geopandas as gpd
import numpy as np
import pytest

from raster_collect_plugin.core.sample import scenes as sd
from raster_collect_plugin.core.sentinel_hub.catalog import CopernicusProvider
from raster_collect_plugin.core.sentinel_hub.client import is_rate_limited
from raster_collect_plugin.core.sentinel_hub.evalscripts import output_ids, statistics_evalscript
from raster_collect_plugin.core.sentinel_hub.statistical import statistics_table
from raster_collect_plugin.core.sentinel_hub.units import estimate_processing_units
from raster_collect_plugin.core.sources.providers.base import ProviderError, SearchQuery
from tests.sentinel_hub_helpers import basic_auth_config, monthly_sample, server_starter
from tests.sentinel_hub_helpers import settings_for as shared_settings

CLIENT_ID, SECRET = "rc-test-client", "s3cr3t-never-in-outputs-6f1d"


@pytest.fixture(scope="module")
def one_scene_sample(tmp_path_factory):
    return monthly_sample(tmp_path_factory.mktemp("sh-sample"))


@pytest.fixture
def hub(one_scene_sample, monkeypatch, tmp_path):
    monkeypatch.setenv("RASTER_COLLECT_SH_LEDGER", str(tmp_path / "ledger" / "usage.json"))
    yield from server_starter(one_scene_sample, monkeypatch, CLIENT_ID, SECRET)


def settings_for(server, **extra):
    return shared_settings(server, CLIENT_ID, SECRET, **extra)


def forests(sample):
    return gpd.read_file(sample.forests_path)


def test_evalscript_is_generated_from_the_index_registry():
    script = statistics_evalscript(["NDVI", "EVI"])
    assert output_ids(script) == ["NDVI", "EVI"]
    assert "var NDVI_value = ((nir - red) / ((nir + red) + 1e-10));" in script
    assert "var G = 2.5, C1 = 6.0, C2 = 7.5, L = 1.0;" in script
    assert "const INVALID_SCL = [0, 1, 3, 8, 9, 10];" in script
    # harmonised input: no baseline lookup (scenes is empty under SIMPLE mosaicking)
    assert "return dn / 10000;" in script and "processingBaseline" not in script
    assert '{id: "dataMask", bands: ["NDVI", "EVI", "polygon_pixels"]}' in script
    with pytest.raises(ValueError, match="VHVV cannot be computed"):
        statistics_evalscript(["VHVV"])


def test_processing_unit_estimate_follows_the_documented_formula():
    assert estimate_processing_units(width_px=512, height_px=512, bands=3, dates=1) == 1.0
    assert estimate_processing_units(width_px=1024, height_px=512, bands=4, dates=6,
                                     float32_output=True) == pytest.approx(2 * 4 / 3 * 6 * 2)
    assert estimate_processing_units(width_px=10, height_px=10, bands=1, dates=1) == 0.01


def test_catalog_search_returns_items(hub, one_scene_sample):
    server = hub()
    provider = CopernicusProvider(settings=settings_for(server, catalog_page_size=1))
    items = provider.search(SearchQuery((152.9, -27.0, 153.0, -26.9), date(2025, 10, 1),
                                        date(2025, 11, 30), ["sentinel-2-l2a"]))
    assert sorted(i.id for i in items) == sorted(
        i["id"] for i in one_scene_sample.items[sd.S2_COLLECTION]
        if i["properties"]["datetime"] < "2025-12")
    assert items[0].properties["raster_collect:provider"] == "Copernicus Data Space"
    # paged through context.next: 1 a page -> two requests, the second carrying "next"
    first, second = server.bodies("/api/v1/catalog/1.0.0/search")
    assert first["datetime"] == "2025-10-01T00:00:00Z/2025-11-30T23:59:59Z"
    assert first["limit"] == 1 and "next" not in first and second["next"] == 1
    with pytest.raises(ProviderError, match="catalog search failed"):
        CopernicusProvider(settings=settings_for(server, catalog_page_size=101)).search(
            SearchQuery((152.9, -27.0, 153.0, -26.9), date(2025, 10, 1), date(2025, 11, 30),
                        ["sentinel-2-l2a"]))


def test_statistics_match_the_local_engine(hub, one_scene_sample, tmp_path):
    from raster_collect_plugin.core.composites.requests import CompositeRequest, Source
    from raster_collect_plugin.core.sources.providers import StaticCatalogProvider
    from raster_collect_plugin.core.zonal.pipeline import ZonalRequest, run_zonal

    server = hub()
    zones = forests(one_scene_sample)
    outcome = statistics_table(zones, id_field="forest_id", indices=["NDVI", "EVI"],
                               start=date(2025, 10, 1), end=date(2025, 12, 31),
                               settings=settings_for(server), cache_dir=tmp_path / "cache")
    assert outcome.stopped is None and outcome.requests == len(zones)
    assert outcome.estimated_pu > 0
    body = server.bodies("/api/v1/statistics")[0]
    assert body["aggregation"]["aggregationInterval"] == {"of": "P1M",
                                                          "lastIntervalBehavior": "SHORTEN"}
    assert body["aggregation"]["timeRange"] == {"from": "2025-10-01T00:00:00Z",
                                                "to": "2026-01-01T00:00:00Z"}
    assert body["aggregation"]["resx"] == 10.0
    assert body["input"]["bounds"]["properties"]["crs"].endswith("EPSG/0/32756")
    assert body["input"]["data"][0]["processing"] == {"harmonizeValues": True}
    assert outcome.crs_epsg == 32756

    # like with like: the request's bbox is snapped to the 10 m grid the scenes use, so the
    # service's sample matrix is the local stack's grid and a pixel is the polygon's when its
    # centre is inside: the local engine runs with coverage="centre" on the same polygons
    # (both reproject MGA 56 to UTM 56S with the same pyproj transform)
    local = run_zonal(ZonalRequest(CompositeRequest(
        aoi=one_scene_sample.forests_path,
        sources=[Source(StaticCatalogProvider("local", str(one_scene_sample.catalog_path)),
                        (sd.S2_COLLECTION,))],
        start=date(2025, 10, 1), end=date(2025, 12, 31), output_dir=tmp_path / "local",
        indices=("NDVI", "EVI"), max_cloud_cover=None), coverage="centre")).forest_table
    remote = outcome.table
    assert list(remote.columns) == list(local.drop(columns=[]).columns)
    key = ["forest_id", "period", "index"]
    merged = local.merge(remote, on=key, suffixes=("_local", "_remote"))
    assert len(merged) == len(local) == 6 * 3 * 2
    assert (merged["usable_local"] == merged["usable_remote"]).all()
    assert not merged.loc[merged["period"] == "2025-12", "usable_remote"].any()  # overcast
    usable = merged[merged["usable_local"]]
    assert len(usable) >= 6
    for column in ("mean", "min", "max", "std", "sum", "pixel_count", "clear_count",
                   "clear_fraction"):
        assert (abs(usable[f"{column}_local"] - usable[f"{column}_remote"])
                <= 1e-5 * abs(usable[f"{column}_remote"]) + 1e-6).all(), column
    # every row, usable or not: the same pixels counted and the same clear ones
    for column in ("pixel_count", "clear_count"):
        assert (merged[f"{column}_local"] == merged[f"{column}_remote"]).all(), column


def test_cached_responses_cost_no_quota(hub, one_scene_sample, tmp_path):
    server = hub()
    arguments = dict(id_field="forest_id", indices=["NDVI"], start=date(2025, 10, 1),
                     end=date(2025, 10, 31), settings=settings_for(server),
                     cache_dir=tmp_path / "cache")
    first = statistics_table(forests(one_scene_sample), **arguments)
    calls = len(server.requests_to("/api/v1/statistics"))
    second = statistics_table(forests(one_scene_sample), **arguments)
    assert len(server.requests_to("/api/v1/statistics")) == calls == 6
    assert first.table.equals(second.table)


def test_quota_exhaustion_stops_with_completed_work_kept(hub, one_scene_sample, tmp_path):
    server = hub(rate_limit_after=2, retry_after_ms=20)
    outcome = statistics_table(forests(one_scene_sample), id_field="forest_id",
                               indices=["NDVI"], start=date(2025, 10, 1),
                               end=date(2025, 10, 31), settings=settings_for(server),
                               cache_dir=tmp_path / "cache")
    assert "quota or rate limit exhausted" in outcome.stopped and "2 of 6" in outcome.stopped
    assert server.log[-1]["path"] == "/api/v1/statistics"
    assert sorted(outcome.table["forest_id"].unique()) == [281, 282]
    assert len(server.requests_to("/api/v1/statistics")) == 2 + 3  # bounded retries


def test_revoked_token_is_renewed(hub, one_scene_sample):
    server = hub()
    zones = forests(one_scene_sample).iloc[:2]
    first = statistics_table(zones.iloc[:1], id_field="forest_id", indices=["NDVI"],
                             start=date(2025, 10, 1), end=date(2025, 10, 31),
                             settings=settings_for(server))
    # the server now refuses the client's cached token with 401 (revoked after the first
    # run, not 0.3 s after it was issued: a loaded machine sent the first run's request later
    # and it was refused too, a third token)
    server.revoke_tokens()
    second = statistics_table(zones.iloc[1:], id_field="forest_id", indices=["NDVI"],
                              start=date(2025, 10, 1), end=date(2025, 10, 31),
                              settings=settings_for(server))
    assert len(first.table) == len(second.table) == 1
    assert len(server.requests_to("/oauth/token")) == 2


def test_missing_credentials_and_secrets_kept_out(hub, one_scene_sample, tmp_path,
                                                  monkeypatch, caplog):
    monkeypatch.delenv("SH_CLIENT_ID", raising=False)
    monkeypatch.delenv("SH_CLIENT_SECRET", raising=False)
    server = hub()
    with pytest.raises(ProviderError, match="authentication database"):
        statistics_table(forests(one_scene_sample), id_field="forest_id", indices=["NDVI"],
                         start=date(2025, 10, 1), end=date(2025, 10, 31),
                         settings=replace(settings_for(server), client_secret=None))
    caplog.set_level("DEBUG")
    outcome = statistics_table(forests(one_scene_sample), id_field="forest_id",
                               indices=["NDVI"], start=date(2025, 10, 1),
                               end=date(2025, 10, 31), settings=settings_for(server),
                               cache_dir=tmp_path / "cache")
    outcome.table.to_csv(tmp_path / "table.csv")
    assert SECRET not in repr(settings_for(server))
    assert SECRET not in caplog.text
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


def test_process_api_index_raster_and_tiling(hub, one_scene_sample, tmp_path):
    import numpy as np
    import rasterio
    from shapely.geometry import box

    from raster_collect_plugin.core.composites.pipeline import run_composites
    from raster_collect_plugin.core.composites.requests import CompositeRequest, Source
    from raster_collect_plugin.core.sentinel_hub.process import process_index_raster
    from raster_collect_plugin.core.sources.providers import StaticCatalogProvider

    server = hub()
    area = box(493_900, 7_019_300, 495_300, 7_020_200)  # 140 x 90 pixels
    arguments = dict(crs_epsg=32756, indices=["NDVI", "EVI"], start=date(2025, 10, 1),
                     end=date(2025, 10, 31), settings=settings_for(server))
    whole = process_index_raster(area, destination=tmp_path / "whole.tif", **arguments)
    tiled = process_index_raster(area, destination=tmp_path / "tiled.tif", max_tile_px=50,
                                 **arguments)
    assert whole.tiles == 1 and tiled.tiles == 3 * 2
    # B02, B04, B08, SCL (dataMask free) = 4/3, FLOAT32 TIFF x2, x 7 data samples (ORBIT:
    # October's 31 days at one acquisition every 5 days); each small tile pays the 0.01 area
    # minimum, so tiling small areas costs more
    assert whole.estimated_pu == pytest.approx(140 * 90 / 512**2 * 4 / 3 * 2 * 7)
    assert tiled.estimated_pu == pytest.approx(6 * 0.01 * 4 / 3 * 2 * 7)
    bodies = server.requests_to("/api/v1/process")
    assert '"width": 140' in bodies[0]["body"] and '"height": 90' in bodies[0]["body"]
    assert "EPSG/0/32756" in bodies[0]["body"] and '"from": "2025-10-01T00:00:00Z"' in \
        bodies[0]["body"]
    with rasterio.open(whole.path) as a, rasterio.open(tiled.path) as b:
        np.testing.assert_array_equal(a.read(), b.read())
        assert a.descriptions == ("NDVI", "EVI", "clear_count") and a.res == (10, 10)
        remote, transform = a.read(1), a.transform
    # the same month computed locally from the same scene gives the same pixels
    local = run_composites(CompositeRequest(
        aoi=gpd.GeoDataFrame({"forest_id": [1]}, geometry=[area], crs="EPSG:32756"),
        sources=[Source(StaticCatalogProvider("local", str(one_scene_sample.catalog_path)),
                        (sd.S2_COLLECTION,))],
        start=date(2025, 10, 1), end=date(2025, 10, 31), output_dir=tmp_path / "local",
        max_cloud_cover=None))
    with rasterio.open(local.collections[0].index_paths["NDVI"]) as dataset:
        ours = dataset.read(1)
        col = int(round((transform.c - dataset.transform.c) / 10))
        row = int(round((dataset.transform.f - transform.f) / 10))
    window = ours[row:row + remote.shape[0], col:col + remote.shape[1]]
    assert np.isnan(window).sum() == np.isnan(remote).sum() > 0  # the same clouds masked
    np.testing.assert_allclose(window, remote, rtol=1e-5, atol=1e-6)


def test_command_line_statistics_and_raster(hub, one_scene_sample, tmp_path, monkeypatch,
                                           capsys):
    from raster_collect_plugin import cli

    server = hub()
    monkeypatch.setenv("SH_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("SH_CLIENT_SECRET", SECRET)
    common = ["sentinel-hub", "--gpkg", str(one_scene_sample.forests_path), "--start",
              "2025-10-01", "--end", "2025-10-31", "--base-url", server.base_url,
              "--token-url", server.token_url, "--usage-ledger", str(tmp_path / "usage.json")]
    assert cli.main(["--json", *common, "--output", str(tmp_path / "out")]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["rows"] == 6 and result["requests"] == 6
    assert (tmp_path / "out" / "zonal_forests.parquet").exists()
    assert cli.main(["--json", *common, "--indices", "NDVI,EVI", "--raster", "--output",
                     str(tmp_path / "raster")]) == 0
    raster = json.loads(capsys.readouterr().out)
    assert raster["tiles"] == 1 and raster["estimated_processing_units"] > 0
    import rasterio

    with rasterio.open(raster["raster"]) as dataset:
        assert dataset.descriptions == ("NDVI", "EVI", "clear_count")
        assert dataset.crs.to_epsg() == 32756
        assert 0.6 < float(np.nanmedian(dataset.read(1))) < 0.85
    # Batch Statistical end to end (bucket, analysis, results): tests/test_copernicus_batch.py
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


def test_processing_algorithm_reads_credentials_from_the_qgis_auth_database(
        hub, one_scene_sample, tmp_path, raster_collect_provider):
    import processing
    from qgis.core import QgsVectorLayer

    from raster_collect_plugin.processing.provider import PROVIDER_ID

    auth = basic_auth_config("cdse-test", CLIENT_ID, SECRET)
    server = hub()
    result = processing.run(f"{PROVIDER_ID}:sentinel_hub_statistics", {
        "INPUT": str(one_scene_sample.forests_path), "ID_FIELD": "forest_id",
        "AUTH": auth, "BASE_URL": server.base_url, "TOKEN_URL": server.token_url,
        "START": "2025-10-01", "END": "2025-11-30", "INDICES": [0, 1],
        "OUTPUT_FOLDER": str(tmp_path / "out")})
    table = QgsVectorLayer(result["TABLE"], "table", "ogr")
    assert table.featureCount() == 6 * 2 * 2
    assert {f["provider"] for f in table.getFeatures()} == {"Copernicus Data Space"}
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


def test_command_line_stops_when_the_estimate_exceeds_the_monthly_budget(
        hub, one_scene_sample, tmp_path, monkeypatch, capsys):
    from raster_collect_plugin import cli

    server = hub()
    monkeypatch.setenv("SH_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("SH_CLIENT_SECRET", SECRET)
    common = ["sentinel-hub", "--gpkg", str(one_scene_sample.forests_path), "--start",
              "2025-10-01", "--end", "2025-12-31", "--base-url", server.base_url,
              "--token-url", server.token_url, "--usage-ledger", str(tmp_path / "usage.json"),
              "--output", str(tmp_path / "out")]
    assert cli.main(["--json", *common, "--pu-budget", "0.1", "--dry-run"]) == 0
    dry = json.loads(capsys.readouterr().out)
    assert dry["requests"] == 6 and dry["crs"] == "EPSG:32756"
    assert "would stop: the estimate" in dry["notes"][-1]
    assert "left this month: 0.10 PU, 10000 requests" in dry["notes"]
    assert cli.main([*common, "--pu-budget", "0.1"]) == 1
    error = capsys.readouterr().err
    assert "exceeds what is left of this month's budget (0.10 PU" in error
    assert "nothing was sent" in error and not server.requests_to("/api/v1/statistics")
    assert not (tmp_path / "out" / "zonal_forests.parquet").exists()
    assert cli.main(["--json", *common, "--pu-budget", "6"]) == 0  # about 3.9 PU
    result = json.loads(capsys.readouterr().out)
    assert result["rows"] == 6 * 3 and result["crs"] == "EPSG:32756"
    spent = json.loads((tmp_path / "usage.json").read_text())
    [month] = spent.values()
    assert month == {"pu": pytest.approx(result["estimated_processing_units"]), "requests": 6}
    # what is left (6 - spent) no longer covers a fresh run of the same size (the cache lives
    # beside each output folder: "other" has none)
    assert cli.main([*common, "--pu-budget", "6", "--output", str(tmp_path / "other")]) == 1
    assert "exceeds what is left" in capsys.readouterr().err


def test_a_bad_request_whose_url_holds_429_is_not_taken_for_a_rate_limit():
    """A 400 from a server on port 42913 is a failed request (reported per forest), not a
    rate limit that stops the run: the status code decides, not digits in the message."""
    import requests
    from sentinelhub.exceptions import DownloadFailedException

    def failure(status: int) -> DownloadFailedException:
        url = "http://127.0.0.1:42913/api/v1/statistics"
        response = requests.Response()
        response.status_code = status
        error = requests.HTTPError(f"{status} Client Error for url: {url}", response=response)
        return DownloadFailedException(f"Failed to download from:\n{url}\nwith HTTPError:\n"
                                       f"{error}", request_exception=error)

    assert not is_rate_limited(failure(400))
    assert is_rate_limited(failure(429))
    assert is_rate_limited(DownloadFailedException("429 Too Many Requests"))


def test_a_statistics_job_with_failed_forests_exits_as_the_command_does(
        hub, one_scene_sample, tmp_path, monkeypatch, capsys):
    """Forests the service refuses (a request over its pixel limit) are named in the summary,
    and the run exits 1, from the command line and from a job spec alike (a job exited 0)."""
    from raster_collect_plugin import cli
    from tests.servers import sentinel_hub as fixture

    server = hub()
    monkeypatch.setenv("SH_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("SH_CLIENT_SECRET", SECRET)
    monkeypatch.setattr(fixture, "MAX_SIDE_PX", 4)  # every forest's request too large
    assert cli.main(["--json", "sentinel-hub", "--gpkg", str(one_scene_sample.forests_path),
                     "--start", "2025-10-01", "--end", "2025-10-31", "--base-url",
                     server.base_url, "--token-url", server.token_url, "--usage-ledger",
                     str(tmp_path / "usage.json"), "--output", str(tmp_path / "cli")]) == 1
    from_cli = json.loads(capsys.readouterr().out)["errors"]
    spec = tmp_path / "job.json"
    spec.write_text(json.dumps({
        "kind": "sentinel-hub-statistics", "aoi": str(one_scene_sample.forests_path),
        "start": "2025-10-01", "end": "2025-10-31", "base_url": server.base_url,
        "token_url": server.token_url, "usage_ledger": str(tmp_path / "usage.json"),
        "output_dir": str(tmp_path / "job")}))
    assert cli.main(["--json", "job", str(spec)]) == 1
    from_job = json.loads(capsys.readouterr().out)["errors"]
    assert from_job.keys() == from_cli.keys() and from_job
    assert all("exceeds 4 x 4 pixels" in reason for reason in from_job.values())
