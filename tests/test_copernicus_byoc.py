"""BYOC end to end: the project's own composite COG uploaded to S3 (moto on loopback),
registered as a Sentinel Hub collection, ingested (documented tile states), then read back
through the Statistical API; the statistics equal the local zonal statistics of that COG."""

from __future__ import annotations

import json
from datetime import date

import geopandas as gpd
import numpy as np
import pytest

from raster_collect_plugin.core.sample import scenes as sd
from raster_collect_plugin.core.sentinel_hub import byoc
from raster_collect_plugin.core.sentinel_hub.byoc_read import byoc_statistics
from raster_collect_plugin.core.sentinel_hub.rules import QuotaBudget
from raster_collect_plugin.core.sources.providers.base import ProviderError
from tests.sentinel_hub_helpers import monthly_sample, settings_for
from tests.servers.scale_out import moto_s3
from tests.servers.sentinel_hub_byoc import ByocServer

CLIENT_ID, SECRET = "rc-byoc-client", "s3cr3t-byoc-never-in-outputs"
BUCKET = "raster-collect"


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    return monthly_sample(tmp_path_factory.mktemp("byoc-sample"))


@pytest.fixture(scope="module")
def composite(sample, tmp_path_factory):
    """The project's monthly NDVI composite of the sample's forests (two months)."""
    from raster_collect_plugin.core.composites.pipeline import run_composites
    from raster_collect_plugin.core.composites.requests import CompositeRequest, Source
    from raster_collect_plugin.core.sources.providers import StaticCatalogProvider

    forests = gpd.read_file(sample.forests_path)
    result = run_composites(CompositeRequest(
        aoi=forests, sources=[Source(StaticCatalogProvider("local", str(sample.catalog_path)),
                                     (sd.S2_COLLECTION,))],
        start=date(2025, 10, 1), end=date(2025, 11, 30), indices=["NDVI"],
        output_dir=tmp_path_factory.mktemp("byoc-local"), max_cloud_cover=None))
    return result.collections[0].index_paths["NDVI"], forests


@pytest.fixture
def services(sample, monkeypatch, tmp_path):
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    monkeypatch.setenv("RASTER_COLLECT_SH_LEDGER", str(tmp_path / "ledger.json"))
    from sentinelhub.download.sentinelhub_client import SentinelHubDownloadClient

    SentinelHubDownloadClient.clear_cache()
    started = []
    with moto_s3(BUCKET) as env:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        import s3fs

        s3fs.S3FileSystem.clear_instance_cache()  # a cached one knows an earlier moto's port

        def start(**options) -> ByocServer:
            server = ByocServer(sample, client_id=CLIENT_ID, client_secret=SECRET,
                                s3_endpoint=env["AWS_ENDPOINT_URL"], **options).start()
            started.append(server)
            return server

        yield start
        for server in started:
            server.stop()
    SentinelHubDownloadClient.clear_cache()


def test_composite_registered_ingested_and_read_back_as_local_statistics(
        services, composite, tmp_path):
    from raster_collect_plugin.core.zonal.statistics import zonal_statistics_of_file

    path, forests = composite
    server = services()
    settings = settings_for(server, CLIENT_ID, SECRET)
    plan = byoc.plan_cog(path, tmp_path / "tiles")
    assert plan.kind == "composite" and list(plan.bands) == ["NDVI"]
    assert [t.sensing_time.strftime("%Y-%m-%d") for t in plan.tiles] == \
        ["2025-10-01", "2025-11-01"]
    paths = byoc.upload_tiles(plan, bucket=BUCKET, prefix="byoc/ndvi")
    assert paths == {"2025-10": "byoc/ndvi/2025-10/(BAND).tif",
                     "2025-11": "byoc/ndvi/2025-11/(BAND).tif"}
    seen = []
    ledger = tmp_path / "ledger.json"
    budget = QuotaBudget(ledger=ledger)
    outcome = byoc.register_collection(plan, paths, name="ndvi composites", bucket=BUCKET,
                                       settings=settings, poll_seconds=0.01, budget=budget,
                                       progress=lambda f, m: seen.append(m))
    # each non-GET BYOC request costs 1 PU: a collection and two tiles
    assert json.loads(ledger.read_text()).popitem()[1] == {"pu": 3.0, "requests": 3}
    assert outcome.ingested and outcome.failures == {}
    assert outcome.data_type == f"byoc-{outcome.collection_id}"
    created = server.bodies("/api/v1/byoc/collections")[0]
    assert created["s3Bucket"] == BUCKET and created["additionalData"]["bands"]["NDVI"] == {
        "source": "NDVI", "bandIndex": 1, "bitDepth": 32, "sampleFormat": "FLOAT"}
    tile_posts = server.bodies(f"/api/v1/byoc/collections/{outcome.collection_id}/tiles")
    assert tile_posts[0]["coverGeometry"]["crs"]["properties"]["name"] == \
        "urn:ogc:def:crs:EPSG::32756"
    # each tile polled through QUEUED and INGESTING to INGESTED (documented states)
    polls = [e for e in server.log if e["method"] == "GET" and "/tiles/" in e["path"]]
    assert len(polls) == 2 * 3

    remote = byoc_statistics(forests, collection_id=outcome.collection_id, bands=["NDVI"],
                             start=date(2025, 10, 1), end=date(2025, 11, 30),
                             settings=settings, resolution=plan.resolution, epsg=plan.epsg,
                             origin=plan.origin, budget=budget)
    assert remote.errors == {} and remote.requests == len(forests)
    statistics = server.bodies("/api/v1/statistics")
    assert statistics[0]["input"]["data"][0]["type"] == f"byoc-{outcome.collection_id}"
    month = json.loads(ledger.read_text()).popitem()[1]
    assert month["requests"] == 3 + len(forests) and month["pu"] == pytest.approx(
        3 + remote.estimated_pu, abs=1e-6)  # the ledger keeps 6 decimals

    local = zonal_statistics_of_file(path, forests, id_fields=["forest_id"], mode="centre")
    merged = local.merge(remote.table, on=["forest_id", "period"], suffixes=("_local", ""))
    assert len(merged) == len(local) == 2 * len(forests)
    for column in ("clear_count", "pixel_count"):
        np.testing.assert_array_equal(merged[f"{column}_local"], merged[column])
    usable = merged["clear_count"] > 0
    assert usable.sum() >= len(forests)
    for column in ("mean", "min", "max", "std"):  # float32 values, sums in float64
        np.testing.assert_allclose(merged.loc[usable, f"{column}_local"],
                                   merged.loc[usable, column], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(merged.loc[usable, "median_local"],
                               merged.loc[usable, "median"], rtol=1e-5, atol=1e-6)

    # through the Process API: November's tile back as a raster, pixel for pixel the
    # composite's November band
    import rasterio

    from raster_collect_plugin.core.sentinel_hub.byoc_read import byoc_raster

    with rasterio.open(path) as dataset:
        november, bounds = dataset.read(2), dataset.bounds
    raster = byoc_raster(bounds, collection_id=outcome.collection_id, bands=["NDVI"],
                         start=date(2025, 11, 1), end=date(2025, 11, 30), settings=settings,
                         resolution=plan.resolution, epsg=plan.epsg, origin=plan.origin,
                         destination=tmp_path / "november.tif", budget=budget)
    with rasterio.open(raster) as dataset:
        back = dataset.read(1)
        assert dataset.bounds == bounds and dataset.descriptions == ("NDVI",)
    np.testing.assert_array_equal(np.isnan(back), np.isnan(november))
    np.testing.assert_array_equal(back[~np.isnan(back)], november[~np.isnan(november)])


def test_failed_ingestion_names_the_cause_and_other_accounts_get_403(
        services, composite, tmp_path):
    path, _ = composite
    server = services()
    settings = settings_for(server, CLIENT_ID, SECRET)
    plan = byoc.plan_cog(path, tmp_path / "tiles")
    # tiles registered without their files on S3: the documented FAILED state and its cause
    outcome = byoc.register_collection(plan, {t.name: f"missing/{t.name}/(BAND).tif"
                                              for t in plan.tiles}, name="x", bucket=BUCKET,
                                       settings=settings, poll_seconds=0.01)
    assert not outcome.ingested and set(outcome.tiles.values()) == {"FAILED"}
    assert outcome.failures["2025-10"] == "File missing/2025-10/NDVI.tif not found"

    # the bucket's policy does not let Sentinel Hub read it (Byoc.qmd, "Bucket settings")
    locked = services(require_bucket_policy=True)
    paths = byoc.upload_tiles(plan, bucket=BUCKET, prefix="locked")
    outcome = byoc.register_collection(plan, paths, name="x", bucket=BUCKET, poll_seconds=0.01,
                                       settings=settings_for(locked, CLIENT_ID, SECRET))
    assert outcome.failures["2025-10"].startswith("Access Denied")
    assert byoc.grant_sentinel_hub_read(BUCKET) and not byoc.grant_sentinel_hub_read(BUCKET)
    outcome = byoc.register_collection(plan, paths, name="x", bucket=BUCKET, poll_seconds=0.01,
                                       settings=settings_for(locked, CLIENT_ID, SECRET))
    assert outcome.ingested

    refused = services(byoc_allowed=False)
    with pytest.raises(ProviderError, match="Copernicus Service account"):
        byoc.register_collection(plan, {}, name="x", bucket=BUCKET,
                                 settings=settings_for(refused, CLIENT_ID, SECRET))


def test_a_cog_outside_the_byoc_projections_is_refused_before_upload(tmp_path):
    from affine import Affine

    from raster_collect_plugin.core.outputs.files import write_cog

    cog = write_cog(tmp_path / "mga.tif", np.ones((1, 300, 300), "float32"),
                    transform=Affine(10, 0, 500_000, 0, -10, 7_000_000), crs="EPSG:28356")
    with pytest.raises(ProviderError, match="reproject"):
        byoc.plan_cog(cog, tmp_path / "tiles")


def test_command_line_registers_and_reads_back_and_dry_run_sends_nothing(
        services, composite, tmp_path, monkeypatch, capsys):
    import pandas as pd

    from raster_collect_plugin import cli

    path, forests = composite
    server = services(require_bucket_policy=True)
    monkeypatch.setenv("SH_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("SH_CLIENT_SECRET", SECRET)
    aoi = tmp_path / "forests.gpkg"
    forests.to_file(aoi)
    common = [str(path), "--bucket", BUCKET, "--base-url", server.base_url,
              "--token-url", server.token_url, "--poll-seconds", "0.01"]
    assert cli.main(["--json", "sentinel-hub-byoc", *common, "--dry-run"]) == 0
    planned = json.loads(capsys.readouterr().out)
    assert planned["tiles"] == ["2025-10", "2025-11"] and server.log == []
    assert planned["uploads"][0] == \
        f"s3://{BUCKET}/raster-collect/byoc/{path.stem}/2025-10/NDVI.tif"

    assert planned["bucket_policy_statement"]["Principal"] == {
        "AWS": byoc.SENTINEL_HUB_PRINCIPAL}
    assert cli.main(["--json", "sentinel-hub-byoc", *common, "--grant-read", "--gpkg",
                     str(aoi),
                     "--start", "2025-10-01", "--end", "2025-11-30",
                     "--output", str(tmp_path / "out")]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result["tiles"].values()) == {"INGESTED"} and result["errors"] == {}
    table = pd.read_csv(result["files"]["byoc_csv"])
    assert len(table) == result["rows"] == 2 * len(forests)
    assert set(table["collection"]) == {result["data_type"]}
    assert any("bucket policy" in note for note in result["notes"])
