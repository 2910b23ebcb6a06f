"""The Sentinel Hub batch APIs end to end through the command line, against the loopback
deployment (tests/servers/sentinel_hub_batch.py, written from the CDSE documentation) and a
real S3 API (moto_server on loopback) standing in for the user's CDSE bucket."""

import json
import sys
from pathlib import Path

import boto3
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from sentinelhub.download.sentinelhub_client import SentinelHubDownloadClient

from tests.sentinel_hub_helpers import monthly_sample
from tests.servers.scale_out import moto_s3
from tests.servers.sentinel_hub_batch import SENTINEL_HUB_PRINCIPAL
from tests.servers.sentinel_hub_batch_v2 import BatchSentinelHubServer

CLIENT_ID, SECRET = "rc-batch-client", "s3cr3t-batch-never-written-91c2"
MOTO = Path(sys.executable).parent / "moto_server"
pytestmark = pytest.mark.skipif(not MOTO.exists(), reason="needs moto_server")


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    return monthly_sample(tmp_path_factory.mktemp("batch-sample"))


@pytest.fixture
def bucket(monkeypatch):
    with moto_s3(bucket="estate") as env:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        yield env


@pytest.fixture
def service(sample, bucket, monkeypatch, tmp_path):
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    monkeypatch.setenv("SH_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("SH_CLIENT_SECRET", SECRET)
    monkeypatch.setenv("RASTER_COLLECT_SH_LEDGER", str(tmp_path / "ledger.json"))
    SentinelHubDownloadClient.clear_cache()
    server = BatchSentinelHubServer(sample, client_id=CLIENT_ID, client_secret=SECRET,
                                    s3_endpoint=bucket["AWS_ENDPOINT_URL"]).start()
    yield server
    server.stop()
    SentinelHubDownloadClient.clear_cache()


def s3(env):
    return boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def grant_sentinel_hub(env, bucket="estate"):
    """What BatchStatistical.qmd "Bucket settings" asks the user to do (its
    cdse_set_bucket_policy.py), so no keys need to be sent."""
    s3(env).put_bucket_policy(Bucket=bucket, Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Sid": "Sentinel Hub permissions", "Effect": "Allow",
            "Principal": {"AWS": SENTINEL_HUB_PRINCIPAL}, "Action": ["s3:*"],
            "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]}]}))


def common(sample, server, tmp_path):
    return ["sentinel-hub", "--gpkg", str(sample.forests_path), "--start", "2025-10-01",
            "--end", "2025-11-30", "--base-url", server.base_url, "--token-url",
            server.token_url, "--usage-ledger", str(tmp_path / "ledger.json"),
            "--poll-seconds", "0.01"]


def run_cli(argv, capsys):
    from raster_collect_plugin import cli

    code = cli.main(["--json", *argv])
    captured = capsys.readouterr()
    return code, (json.loads(captured.out) if captured.out.strip() else None), captured.err


def test_batch_statistics_end_to_end_match_the_statistical_api(
        sample, bucket, service, tmp_path, capsys):
    args = [*common(sample, service, tmp_path), "--max-cloud", "80",
            "--batch-output", "s3://estate/batch/"]
    # the estimate first: nothing written to the bucket, nothing sent
    code, dry, _ = run_cli([*args, "--dry-run"], capsys)
    assert code == 0 and dry["dry_run"] and dry["estimated_processing_units"] == 100.0
    request = dry["request"]
    assert request["input"]["features"]["s3"] == {"url": "s3://estate/batch/forests.gpkg",
                                                   "region": "waw3-1"}
    assert request["output"]["s3"] == {"url": "s3://estate/batch/", "region": "waw3-1"}
    assert request["input"]["data"][0]["dataFilter"]["maxCloudCoverage"] == 80
    assert "iamRoleARN" not in json.dumps(request)
    assert dry["bucket_policy"]["Statement"][0]["Principal"]["AWS"] == SENTINEL_HUB_PRINCIPAL
    assert not service.requests_to("/api/v1/statistics/batch")
    assert "Contents" not in s3(bucket).list_objects_v2(Bucket="estate")

    # no keys and no bucket policy: the service cannot read the features; said so
    code, failed, err = run_cli(args, capsys)
    assert code == 1 and failed["status"] == "FAILED"
    assert "bucket policy must grant Sentinel Hub access" in err
    assert not service.billable_requests()

    grant_sentinel_hub(bucket)
    code, result, err = run_cli([*args, "--output", str(tmp_path / "batch")], capsys)
    assert code == 0, err
    assert result["status"] == "DONE" and result["crs"] == "EPSG:32756"
    request_id = result["batch_request_id"]
    calls = [(e["method"], e["path"].rsplit("/", 1)[-1]) for e in service.log
             if request_id in e["path"]]
    assert calls.index(("POST", "analyse")) < calls.index(("POST", "start"))
    # the features as the service read them: reprojected from MGA 56 (not supported) to UTM,
    # the forest ids as text identifiers
    original = gpd.read_file(sample.forests_path)
    assert original.crs.to_epsg() == 28356
    body = s3(bucket).get_object(Bucket="estate", Key="batch/forests.gpkg")["Body"].read()
    (tmp_path / "read.gpkg").write_bytes(body)
    features = gpd.read_file(tmp_path / "read.gpkg")
    assert features.crs.to_epsg() == 32756
    assert sorted(features["identifier"]) == sorted(str(i) for i in original["forest_id"])
    keys = [o["Key"] for o in s3(bucket).list_objects_v2(Bucket="estate",
                                                         Prefix=f"batch/{request_id}/")["Contents"]]
    assert len(keys) == len(original)

    # the same table and layer as the Statistical API path (one request per forest)
    code, single, _ = run_cli([*common(sample, service, tmp_path), "--max-cloud", "80",
                               "--output", str(tmp_path / "single")], capsys)
    assert code == 0
    batch = pd.read_parquet(tmp_path / "batch" / "zonal_forests.parquet")
    one = pd.read_parquet(tmp_path / "single" / "zonal_forests.parquet")
    assert list(batch.columns) == list(one.columns)
    assert batch["forest_id"].dtype == one["forest_id"].dtype
    assert len(batch) == len(one) == len(original) * 2  # two months
    merged = one.merge(batch, on=["forest_id", "period", "index"], suffixes=("", "_batch"))
    assert len(merged) == len(one)
    # the service samples a feature on its own bounds, not snapped to the 10 m grid: measured
    # differences at most 0.011 (mean), 0.0007 (median), 0.007 (clear fraction)
    np.testing.assert_allclose(merged["mean_batch"], merged["mean"], atol=0.015)
    np.testing.assert_allclose(merged["median_batch"], merged["median"], atol=0.002)
    np.testing.assert_allclose(merged["clear_fraction_batch"], merged["clear_fraction"],
                               atol=0.01)
    latest = gpd.read_file(tmp_path / "batch" / "forests_latest.gpkg")
    assert sorted(latest["forest_id"]) == sorted(original["forest_id"])

    # the ledger: the service's costPu beside the estimate
    ledger = json.loads((tmp_path / "ledger.json").read_text())
    [month] = ledger.values()
    batches = month["batches"]
    assert [b["status"] for b in batches.values()] == ["FAILED", "DONE"]
    assert list(batches)[-1] == request_id
    assert batches[request_id]["estimated_pu"] == 100.0
    assert batches[request_id]["cost_pu"] == 100.0
    assert result["cost_pu"] == 100.0
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


def test_batch_statistics_keys_are_sent_only_when_asked(sample, bucket, service, tmp_path,
                                                        capsys):
    args = [*common(sample, service, tmp_path), "--batch-output", "s3://estate/keys/",
            "--output", str(tmp_path / "out")]
    code, result, err = run_cli([*args, "--s3-send-keys"], capsys)
    assert code == 0, err
    sent = service.bodies("/api/v1/statistics/batch")[-1]
    assert sent["input"]["features"]["s3"]["accessKey"] == "testing"
    code, dry, _ = run_cli([*args, "--s3-send-keys", "--dry-run"], capsys)
    assert dry["request"]["output"]["s3"]["secretAccessKey"] == "***"
    # no region: the deployment's own is assumed (openapi S3BucketInfoTemplated.region)
    code, dry, _ = run_cli([*args, "--s3-region", "", "--dry-run"], capsys)
    assert dry["request"]["output"]["s3"] == {"url": "s3://estate/keys/"}
    assert result["rows"] > 0


def test_batch_statistics_refused_for_other_accounts(sample, bucket, service, tmp_path,
                                                     capsys):
    service.batch_allowed = False
    code, _, err = run_cli([*common(sample, service, tmp_path),
                            "--batch-output", "s3://estate/x/"], capsys)
    assert code == 1 and "needs a Copernicus Service account" in err


def test_batch_processing_estimate_first_then_cogs_on_s3_reduced_per_forest(
        sample, bucket, service, tmp_path, capsys):
    args = [*common(sample, service, tmp_path), "--end", "2025-10-31", "batch-processing",
            "--tiling-grid", "1", "--batch-output", "s3://estate/tiles",
            "--output", str(tmp_path / "bp")]
    code, dry, err = run_cli([*args, "--dry-run"], capsys)
    assert code == 0, err
    # the area spans two 10 km cells of the UTM 10 km grid: 2 x 1000 x 1000 px, FLOAT32,
    # B04 B08 SCL (3 bands), x 1/3 for large tiles = 5.09 PU, so the 100 PU minimum
    assert dry["tiles"] == 2 and dry["tile_px"] == [1000, 1000]
    assert dry["estimated_processing_units"] == 100.0
    assert "Copernicus Service account" in dry["account"]
    request = dry["request"]
    assert request["input"] == {"type": "tiling-grid", "id": 1, "resolution": 10.0}
    assert request["output"]["delivery"]["s3"] == {"url": "s3://estate/tiles",
                                                    "region": "waw3-1"}
    assert request["output"]["cogOutput"] is True
    assert request["processRequest"]["input"]["data"][0]["type"] == "sentinel-2-l2a"
    assert not [e for e in service.log if e["path"].startswith("/api/v2/")]
    # a grid that does not offer the resolution is refused with the choices
    code, _, err = run_cli([*args, "--tiling-grid", "2", "--dry-run"], capsys)
    assert code != 0 and "offers 30, 60, 120, 240, 360 m" in err
    # the estimate is checked against the budget before anything is sent
    code, _, err = run_cli([*args, "--pu-budget", "50"], capsys)
    assert code == 1 and "exceeds what is left" in err
    assert not [e for e in service.log if e["path"].startswith("/api/v2/")]

    grant_sentinel_hub(bucket)
    code, result, err = run_cli(args, capsys)
    assert code == 0, err
    request_id = result["batch_request_id"]
    assert result["status"] == "DONE" and result["tiles"] == 2
    calls = [(e["method"], e["path"].rsplit("/", 1)[-1]) for e in service.log
             if request_id in e["path"]]
    assert calls.index(("POST", "analyse")) < calls.index(("POST", "start"))
    keys = sorted(o["Key"] for o in s3(bucket).list_objects_v2(
        Bucket="estate", Prefix="tiles/")["Contents"])
    assert f"tiles/featureManifest-{request_id}.gpkg" in keys
    assert len([k for k in keys if k.endswith("/default.tif")]) == 2
    assert result["cost_pu"] == 100.0 and result["estimated_processing_units"] == 100.0
    ledger = json.loads((tmp_path / "ledger.json").read_text())
    [month] = ledger.values()
    assert month["batches"][request_id] == {"api": "batch-processing", "status": "DONE",
                                            "estimated_pu": 100.0, "counted_pu": 100.0,
                                            "cost_pu": 100.0}

    import rasterio

    # the mosaic equals the Process API's raster of the same period where both have pixels
    code, single, _ = run_cli([*common(sample, service, tmp_path), "--end", "2025-10-31",
                               "--raster", "--output", str(tmp_path / "process")], capsys)
    assert code == 0
    with rasterio.open(result["rasters"]["NDVI"]) as mosaic, \
            rasterio.open(single["raster"]) as process:
        assert mosaic.crs.to_epsg() == process.crs.to_epsg() == 32756
        assert mosaic.res == (10.0, 10.0) and mosaic.tags()["index"] == "NDVI"
        window = mosaic.window(*process.bounds)
        ours = mosaic.read(1, window=window)
        theirs = process.read(1)
    assert ours.shape == theirs.shape
    both = np.isfinite(ours) & np.isfinite(theirs)
    assert both.sum() > 0.5 * theirs.size
    np.testing.assert_allclose(ours[both], theirs[both], rtol=1e-6)
    assert (np.isnan(ours) == np.isnan(theirs)).all()
    # the project's zonal statistics on the mosaic: per forest like the Statistical API's
    zonal = pd.read_parquet(result["zonal"]["NDVI"]["forests_parquet"])
    code, stats, _ = run_cli([*common(sample, service, tmp_path), "--end", "2025-10-31",
                              "--output", str(tmp_path / "stats")], capsys)
    remote = pd.read_parquet(tmp_path / "stats" / "zonal_forests.parquet")
    both = zonal.merge(remote, on="forest_id", suffixes=("", "_stat"))
    assert len(both) == len(gpd.read_file(sample.forests_path))
    np.testing.assert_allclose(both["mean"], both["mean_stat"], atol=0.01)  # measured 0.006
    assert (both["mean"] > 0.3).all()


def test_batch_processing_stops_after_the_analysis_when_the_service_tiles_cost_too_much(
        sample, bucket, service, tmp_path):
    from datetime import date

    from raster_collect_plugin.core.sentinel_hub.batch_processing import (
        batch_processing_payload,
    )
    from raster_collect_plugin.core.sentinel_hub.batch_tiles import run_batch_processing
    from raster_collect_plugin.core.sentinel_hub.client import CopernicusSettings
    from raster_collect_plugin.core.sources.providers.base import ProviderError

    grant_sentinel_hub(bucket)
    settings = CopernicusSettings(base_url=service.base_url, token_url=service.token_url)
    payload = batch_processing_payload(
        gpd.read_file(sample.forests_path), indices=["NDVI"], start=date(2025, 10, 1),
        end=date(2025, 10, 31), settings=settings, output_s3_url="s3://estate/costly")
    seen = []

    def check(pu):
        seen.append(pu)
        return "more than you allowed"

    with pytest.raises(ProviderError, match=r"stopped after its analysis \(2 tiles, about "
                                            r"100.0 PU\): more than you allowed"):
        run_batch_processing(payload, settings, input_bands=["B04", "B08", "SCL"],
                             start=date(2025, 10, 1), end=date(2025, 10, 31), check=check,
                             poll_seconds=0.01)
    assert seen == [100.0]
    [task] = service.batches.values()
    assert task["status"] == "STOPPED"
    keys = [o["Key"] for o in s3(bucket).list_objects_v2(Bucket="estate")["Contents"]]
    assert keys == [f"costly/featureManifest-{task['id']}.gpkg"]  # nothing processed


def test_batch_processing_cost_rules():
    from datetime import date

    from raster_collect_plugin.core.sentinel_hub.batch_processing import (
        samples_per_pixel,
        tiles_pu,
    )

    bands = ["B04", "B08", "SCL", "dataMask"]
    one = 1000 * 1000 / 512 ** 2 * 3 / 3 * 2 / 3  # FLOAT32 x2, large tile x 1/3
    assert tiles_pu([(1000, 1000)] * 50, input_bands=bands, samples=1) == \
        pytest.approx(50 * one)
    assert tiles_pu([(1000, 1000)] * 2, input_bands=bands, samples=1) == 100.0  # minimum
    small = 60 * 60 / 512 ** 2 * 2  # 3,600 px, under 10,000: no 1/3
    assert tiles_pu([(60, 60)] * 20000, input_bands=bands, samples=1) == \
        pytest.approx(20000 * small)
    assert tiles_pu([(50, 50)] * 20000, input_bands=bands, samples=1) == \
        pytest.approx(20000 * 0.01 * 2)  # the 0.01 area-factor minimum
    assert samples_per_pixel("mosaicking: Mosaicking.ORBIT", date(2021, 1, 1),
                             date(2021, 1, 31)) == 11  # Batch.qmd: one every three days
    assert samples_per_pixel("//VERSION=3", date(2021, 1, 1), date(2021, 1, 31)) == 1


def test_batch_processing_grids(sample):
    from raster_collect_plugin.core.sentinel_hub.batch_processing import (
        check_grid,
        grid_epsg,
        planned_tiles,
    )
    from raster_collect_plugin.core.sources.providers.base import ProviderError

    forests = gpd.read_file(sample.forests_path)
    assert grid_epsg(forests, 1) == 32756 and grid_epsg(forests, 7) == 3035
    assert len(planned_tiles(forests, 1, 10.0)) == 2
    assert len(planned_tiles(forests, 2, 60.0)) == 1
    with pytest.raises(ProviderError, match="is in degrees"):
        check_grid(3, 0.0001)
    with pytest.raises(ProviderError, match="does not exist"):
        check_grid(5, 10.0)


def test_cancelling_a_batch_statistical_run_stops_the_request_on_the_service(
        sample, bucket, service, tmp_path):
    from raster_collect_plugin.core.jobs import run_job

    grant_sentinel_hub(bucket)
    spec = {"kind": "sentinel-hub-statistics", "aoi": str(sample.forests_path),
            "start": "2025-10-01", "end": "2025-10-31", "output_dir": str(tmp_path / "out"),
            "base_url": service.base_url, "token_url": service.token_url,
            "usage_ledger": str(tmp_path / "ledger.json"), "batch_output": "s3://estate/c/",
            "poll_seconds": 0.01}
    result = run_job(spec, cancel=lambda: True)
    [task] = service.batches.values()
    assert task["status"] == "STOPPED" and task["userAction"] == "STOP"
    assert result["status"] == "STOPPED" and "stopped on the service" in result["errors"]["batch"]
    # stopped during its analysis: nothing charged, nothing counted
    [month] = json.loads((tmp_path / "ledger.json").read_text()).values()
    [batch] = month["batches"].values()
    assert month["pu"] == 0 and batch["status"] == "STOPPED" and batch["counted_pu"] == 0


def test_no_region_reaches_the_real_request_as_the_dry_run_shows(sample, bucket, service,
                                                                    tmp_path, capsys):
    grant_sentinel_hub(bucket)
    args = [*common(sample, service, tmp_path), "--batch-output", "s3://estate/noregion/",
            "--output", str(tmp_path / "out"), "--s3-region", ""]
    code, dry, _ = run_cli([*args, "--dry-run"], capsys)
    assert code == 0 and "region" not in dry["request"]["output"]["s3"]
    code, result, err = run_cli(args, capsys)
    assert code == 0, err
    sent = service.bodies("/api/v1/statistics/batch")[-1]  # was waw3-1: '' dropped as null
    assert "region" not in sent["output"]["s3"] and "region" not in sent["input"]["features"]["s3"]
    from raster_collect_plugin.core.jobs import validate_spec

    validate_spec({"kind": "sentinel-hub-statistics", "aoi": "a.gpkg", "start": "2025-10-01",
                   "end": "2025-10-31", "output_dir": "o", "batch_output": "s3://e/x/",
                   "s3_region": ""})  # a spec says it the same way


def test_missing_credentials_write_nothing_to_the_bucket(sample, bucket, service, tmp_path,
                                                         capsys, monkeypatch):
    monkeypatch.delenv("SH_CLIENT_SECRET")
    code, out, _ = run_cli([*common(sample, service, tmp_path), "--batch-output",
                            "s3://estate/nocreds/", "--output", str(tmp_path / "out")], capsys)
    assert code == 2 and "no OAuth credentials" in out["error"]["message"]
    # the forests were written to the bucket before the credentials were looked for
    assert s3(bucket).list_objects_v2(Bucket="estate").get("KeyCount") == 0
    assert service.bodies("/api/v1/statistics/batch") == []
