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
from tests.servers.sentinel_hub_batch import SENTINEL_HUB_PRINCIPAL, BatchSentinelHubServer

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
    # the service samples a feature on its own bounds, not snapped to the 10 m grid: means
    # agree within 0.02 NDVI, clear fractions within 0.1
    np.testing.assert_allclose(merged["mean_batch"], merged["mean"], atol=0.02)
    np.testing.assert_allclose(merged["clear_fraction_batch"], merged["clear_fraction"],
                               atol=0.1)
    latest = gpd.read_file(tmp_path / "batch" / "forests_latest.gpkg")
    assert sorted(latest["forest_id"]) == sorted(original["forest_id"])

    # the ledger: the service's costPu beside the estimate
    ledger = json.loads((tmp_path / "ledger.json").read_text())
    [month] = ledger.values()
    batches = month["batches"]
    assert [b["status"] for b in batches] == ["FAILED", "DONE"]
    assert batches[-1]["request_id"] == request_id
    assert batches[-1]["estimated_pu"] == 100.0 and batches[-1]["reported_pu"] == 100.0
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
    assert result["rows"] > 0


def test_batch_statistics_refused_for_other_accounts(sample, bucket, service, tmp_path,
                                                     capsys):
    service.batch_allowed = False
    code, _, err = run_cli([*common(sample, service, tmp_path),
                            "--batch-output", "s3://estate/x/"], capsys)
    assert code == 1 and "needs a Copernicus Service account" in err
