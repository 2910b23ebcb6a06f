"""An object store that stops answering mid-run: the user reads one line naming the storage
problem and the fix (exit 1), and the cleanup's own failure never hides it."""

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from botocore.exceptions import EndpointConnectionError

from raster_collect_plugin.core.jobs.errors import classify
from raster_collect_plugin.core.runs import storage
from tests.servers.scale_out import S3_CREDENTIALS, start_listening

MOTO = Path(sys.executable).parent / "moto_server"


class DeadStore:
    def rm(self, path, recursive=False):
        raise EndpointConnectionError(endpoint_url=f"http://127.0.0.1:9/{path}")


def test_cleanup_of_a_dead_store_is_a_warning_not_an_error(monkeypatch, caplog):
    monkeypatch.setattr(storage, "filesystem", lambda location: (DeadStore(), "bucket/x"))
    with caplog.at_level(logging.WARNING, logger=storage.__name__):
        storage.remove_tree("s3://bucket/x/.raster-collect-partial-1")  # does not raise
    [record] = caplog.records
    message = record.getMessage()
    assert "\n" not in message
    assert message.startswith("raster-collect: warning: could not remove the scratch prefix "
                              "s3://bucket/x/.raster-collect-partial-1 (Could not connect")


class CPLE_AppDefinedError(Exception):  # noqa: N801 - the name rasterio gives it
    pass


@pytest.mark.parametrize("cause,first", [
    (EndpointConnectionError(endpoint_url="http://127.0.0.1:9/bucket/key"),
     "Could not connect to the endpoint URL: \"http://127.0.0.1:9/bucket/key\""),
    (CPLE_AppDefinedError("/vsis3/bucket/a.tif: Couldn't connect to server"),
     "/vsis3/bucket/a.tif: Couldn't connect to server")])
def test_a_dead_endpoint_anywhere_in_the_chain_is_one_storage_line(cause, first):
    try:
        try:
            raise cause
        except Exception as error:
            raise RuntimeError("writing the chunk failed") from error
    except RuntimeError as wrapped:
        kind, message = classify(wrapped)
    assert kind == "failure"
    assert message.startswith(f"object storage stopped answering ({first})")
    assert message.endswith("check that the endpoint (AWS_ENDPOINT_URL) is up and reachable, "
                            "then rerun")


@pytest.mark.skipif(not MOTO.exists(), reason="needs moto_server")
def test_store_killed_mid_run_is_one_line_and_exit_1(small_sample, tmp_path):
    server, port = start_listening(lambda port: [str(MOTO), "-H", "127.0.0.1", "-p", str(port)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    child = None
    try:
        env = dict(os.environ, **S3_CREDENTIALS, AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}",
                   AWS_MAX_ATTEMPTS="1")  # fail at once, no retries to wait for
        import boto3

        boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], aws_access_key_id="testing",
                     aws_secret_access_key="testing", region_name="us-east-1"
                     ).create_bucket(Bucket="raster-collect")
        spec = tmp_path / "job.json"
        spec.write_text(json.dumps({
            "kind": "composite", "aoi": str(small_sample.forests_path),
            "sources": [{"kind": "static", "href": str(small_sample.catalog_path),
                         "collections": ["sentinel-2-l2a"]}],
            "start": "2025-10-01", "end": "2025-12-31", "indices": ["NDVI", "EVI"],
            "output_dir": "s3://raster-collect/run"}))
        child = subprocess.Popen([sys.executable, "-m", "raster_collect_plugin", "job",
                                  str(spec), "--events"], env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, cwd=tmp_path)
        events = []
        for line in child.stdout:
            events.append(json.loads(line))
            if events[-1].get("message", "").endswith("periods"):  # scenes found, none written
                server.kill()
                server.wait(30)
        err = child.stderr.read()
        child.wait(300)
    finally:
        server.kill()
        server.wait(30)
        if child is not None and child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 1, err
    assert "Traceback" not in err, err
    errors = [line for line in err.splitlines() if line.startswith("raster-collect: error:")]
    assert len(errors) == 1 and "object storage stopped answering" in errors[0], err
    assert "AWS_ENDPOINT_URL" in errors[0]
    warnings = [line for line in err.splitlines() if line not in errors]
    assert all(line.startswith(("raster-collect: warning: could not remove the scratch prefix",
                                "raster-collect: warning: could not remove the lock "
                                "s3://raster-collect/run/.raster-collect.lock"))
               for line in warnings), err
    assert any("delete it once the store answers" in line and ".raster-collect.lock" in line
               for line in warnings), err  # the prefix's lock, named for the next run
    assert events[-1]["event"] == "error" and events[-1]["kind"] == "failure"
    assert events[-1]["message"] == errors[0].removeprefix("raster-collect: error: ")
