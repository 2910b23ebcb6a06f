"""An ``s3://`` output that cannot be written is bad input (exit 2), one line naming the fix,
before any work: a missing bucket (it was created on the fly), a bucket name the store refuses
or no credentials (both ended as "reading scenes failed", exit 1)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from raster_collect_plugin import cli
from tests.servers.scale_out import moto_s3

pytestmark = pytest.mark.skipif(
    not (Path(sys.executable).parent / "moto_server").exists(), reason="needs moto_server")


@pytest.fixture(scope="module")
def store():
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()  # a cached one knows an earlier moto's port
    with moto_s3("raster-collect") as env:
        yield env
    s3fs.S3FileSystem.clear_instance_cache()  # ... and this one's, once it is gone


@pytest.fixture
def aws(store, monkeypatch, tmp_path):
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    for key, value in store.items():
        monkeypatch.setenv(key, value)
    return monkeypatch


def _buckets(store) -> list:
    import boto3

    client = boto3.client("s3", endpoint_url=store["AWS_ENDPOINT_URL"],
                          aws_access_key_id="testing", aws_secret_access_key="testing",
                          region_name="us-east-1")
    return sorted(b["Name"] for b in client.list_buckets()["Buckets"])


def _command(sample, command, output):
    return [command, "--gpkg", str(sample.forests_path), "--forest", "281", "--catalog",
            str(sample.catalog_path), "--collections", "sentinel-2-l2a", "--start",
            "2025-10-01", "--end", "2025-10-31", "--output", output]


@pytest.mark.parametrize("command", ["composite", "zonal"])
@pytest.mark.parametrize("output, message", [
    ("s3://no-such-bucket/run", "the bucket 'no-such-bucket' of s3://no-such-bucket/run does "
                                "not exist (or these credentials cannot see it): create it"),
    ("s3://rc/run", "the bucket 'rc' of s3://rc/run does not exist"),
])
def test_a_missing_bucket_is_bad_input(small_sample, store, aws, capsys, command, output,
                                       message):
    assert cli.main(["--quiet", *_command(small_sample, command, output)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("raster-collect: error: ") and message in err
    assert len(err.splitlines()) == 1
    assert _buckets(store) == ["raster-collect"]  # no bucket made on the fly


def test_no_credentials_is_bad_input_in_every_door(small_sample, store, aws, capsys,
                                                   tmp_path):
    aws.delenv("AWS_ACCESS_KEY_ID")
    aws.delenv("AWS_SECRET_ACCESS_KEY")
    output = "s3://raster-collect/run"
    assert cli.main(["--quiet", *_command(small_sample, "composite", output)]) == 2
    assert "no AWS credentials for s3://raster-collect/run" in capsys.readouterr().err
    spec = tmp_path / "job.json"
    spec.write_text(json.dumps({
        "kind": "zonal", "aoi": str(small_sample.forests_path), "ids": [281],
        "sources": [{"kind": "static", "href": str(small_sample.catalog_path),
                     "collections": ["sentinel-2-l2a"]}],
        "start": "2025-10-01", "end": "2025-10-31", "output_dir": output}))
    assert cli.main(["job", str(spec), "--events"]) == 2
    event = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert event["event"] == "error" and event["kind"] == "bad_input"
    assert event["message"].startswith("no AWS credentials for s3://raster-collect/run")
    assert "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE" in event["message"]


def _objects(store, prefix) -> dict:
    import boto3

    client = boto3.client("s3", endpoint_url=store["AWS_ENDPOINT_URL"],
                          aws_access_key_id="testing", aws_secret_access_key="testing",
                          region_name="us-east-1")
    listed = client.list_objects_v2(Bucket="raster-collect", Prefix=prefix + "/")
    keys = sorted(o["Key"][len(prefix) + 1:] for o in listed.get("Contents", []))
    manifest = json.loads(client.get_object(Bucket="raster-collect", Key=f"{prefix}/manifest.json")
                          ["Body"].read()) if "manifest.json" in keys else None
    return {"keys": keys, "manifest": manifest}


def test_a_prefix_holding_another_run_is_not_mixed(small_sample, store, aws, capsys):
    """As a local folder: other inputs (or another kind of run) into a prefix holding a run's
    results stop with exit 2 unless --overwrite, which removes the old run's files the new one
    does not make; they were silently mixed (the old EVI composites stayed beside)."""
    output = "s3://raster-collect/mixed"
    composite = _command(small_sample, "composite", output)
    assert cli.main(["--quiet", *composite]) == 0
    first = _objects(store, "mixed")
    assert "static-catalog_sentinel-2-l2a_EVI_monthly_median.tif" in first["manifest"]["files"]
    assert cli.main(["--quiet", *composite]) == 0  # the same inputs: no conflict
    for command, what in ((composite + ["--indices", "NDVI"], "another run (different "
                           "--indices (the folder's run: EVI,NDVI, this run: NDVI)):"),
                          (_command(small_sample, "zonal", output), "a composite run, not of a "
                           "zonal run of every forest at once (a job spec, the dock, "
                           "Processing, or zonal into s3://): the two keep their files "
                           "differently;")):
        assert cli.main(["--quiet", *command]) == 2
        assert capsys.readouterr().err.strip() == (
            f"raster-collect: error: {output} holds results of {what} use "
            "--overwrite (job spec \"overwrite\": true) to replace them, or choose another "
            "--output")
        assert _objects(store, "mixed")["keys"] == first["keys"]
    assert cli.main(["--quiet", *composite, "--indices", "NDVI", "--overwrite"]) == 0
    replaced = _objects(store, "mixed")
    assert "static-catalog_sentinel-2-l2a_EVI_monthly_median.tif" not in replaced["keys"]
    assert sorted(replaced["manifest"]["files"]) == [
        key for key in replaced["keys"] if key != "manifest.json"]
    assert replaced["manifest"]["run"]["parameters"]["indices"] == ["NDVI"]


def test_a_storm_refuses_an_object_store_output(small_sample, store, aws, capsys, tmp_path,
                                                 monkeypatch):
    """`storm --output s3://...` made a local folder named 's3:' and ended in a rasterio
    traceback once its composites were on the store (README: s3 is for composite and zonal)."""
    monkeypatch.chdir(tmp_path)
    assert cli.main(["--quiet", "storm", "--gpkg", str(small_sample.forests_path), "--catalog",
                     str(small_sample.catalog_path), "--collections", "sentinel-2-l2a",
                     "--event-date", "2025-11-13", "--output",
                     "s3://raster-collect/storm"]) == 2
    assert capsys.readouterr().err.strip() == (
        "raster-collect: error: a storm assessment writes to a local folder: give a local "
        "--output (job spec 'output_dir'), not an object-store URL; s3:// outputs are for "
        "composite and zonal runs")
    assert list(tmp_path.iterdir()) == []
    assert _objects(store, "storm")["keys"] == []


def _put(store, key: str, body: dict) -> None:
    import boto3

    boto3.client("s3", endpoint_url=store["AWS_ENDPOINT_URL"], aws_access_key_id="testing",
                 aws_secret_access_key="testing", region_name="us-east-1").put_object(
        Bucket="raster-collect", Key=key, Body=json.dumps(body).encode())


def test_a_prefix_another_run_is_writing_to_is_not_shared(small_sample, store, aws, capsys):
    """README: a run "locks its output folder; a second run into it at the same time stops".
    An s3:// prefix had no lock: two runs into it interleaved their files and manifests."""
    import socket

    output = "s3://raster-collect/locked"
    composite = _command(small_sample, "composite", output)
    _put(store, "locked/.raster-collect.lock",
         {"host": "other-machine", "pid": 4242, "started": "2026-12-07T08:00:00+00:00"})
    assert cli.main(["--quiet", *composite]) == 2
    assert capsys.readouterr().err.strip() == (
        f"raster-collect: error: another raster-collect run is writing to {output} (pid 4242 "
        "on other-machine, started 2026-12-07T08:00:00+00:00): wait for it to finish or "
        f"choose another --output; if that run is gone (killed), delete {output}/"
        ".raster-collect.lock")
    assert _objects(store, "locked")["keys"] == [".raster-collect.lock"]  # nothing written
    # a killed run's lock on this machine (its process is gone) is taken over
    _put(store, "locked/.raster-collect.lock",
         {"host": socket.gethostname(), "pid": 2**22 + 17, "started": "2026-12-07T08:00:00"})
    assert cli.main(["--quiet", *composite]) == 0
    done = _objects(store, "locked")
    assert ".raster-collect.lock" not in done["keys"]  # released at the end
    assert sorted(done["manifest"]["files"]) == [k for k in done["keys"] if k != "manifest.json"]
