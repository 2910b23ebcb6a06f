"""sentinel-hub-byoc's bad input (README: Copernicus APIs, Command line exit codes): one line,
exit 2, before anything is uploaded, from the command line and a job spec; and nothing is
uploaded (nor the bucket policy changed) when the credentials or the budget would stop the
registration."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from affine import Affine

from raster_collect_plugin.core.outputs.files import write_cog
from tests.servers.scale_out import moto_s3

BUCKET = "byoc-inputs"
MOTO = Path(sys.executable).parent / "moto_server"


@pytest.fixture(autouse=True)
def no_credentials(monkeypatch, tmp_path):
    for name in ("SH_CLIENT_ID", "SH_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RASTER_COLLECT_SH_LEDGER", str(tmp_path / "ledger.json"))


def cog(folder: Path, crs="EPSG:32756") -> Path:
    return write_cog(folder / "cog.tif", np.ones((1, 300, 300), "float32"),
                     transform=Affine(10, 0, 500_000, 0, -10, 7_000_000), crs=crs)


def run(argv, capsys, events=False):
    from raster_collect_plugin import cli

    code = cli.main(argv if events else ["--json", *argv])
    out = capsys.readouterr().out.strip().splitlines()
    return code, json.loads(out[-1] if events else "\n".join(out))


def byoc_spec(tmp_path, **keys):
    spec = tmp_path / "byoc.json"
    spec.write_text(json.dumps({"kind": "sentinel-hub-byoc", "bucket": BUCKET, **keys}))
    return str(spec)


@pytest.mark.parametrize("bucket", ["My_Bucket", f"s3://{BUCKET}", f"{BUCKET}/folder", "ab"])
def test_a_bucket_that_is_not_a_bucket_name_is_refused(tmp_path, capsys, bucket):
    raster = cog(tmp_path)
    code, out = run(["sentinel-hub-byoc", str(raster), "--bucket", bucket, "--dry-run"], capsys)
    assert code == 2 and "no s3:// and no folder" in out["error"]["message"]  # was accepted
    code, event = run(["job", byoc_spec(tmp_path, raster=str(raster), bucket=bucket),
                       "--events"], capsys, events=True)
    assert code == 2 and event["kind"] == "bad_input"


def test_unreadable_rasters_and_refused_crs_are_bad_input(tmp_path, capsys):
    (tmp_path / "text.tif").write_text("not a raster")
    cases = {str(tmp_path / "text.tif"): "not a raster this tool can read",  # a traceback
             str(tmp_path / "missing.tif"): "not a raster this tool can read",  # a traceback
             str(cog(tmp_path, crs="EPSG:28356")): "reproject it"}  # was exit 1
    for raster, expected in cases.items():
        code, out = run(["sentinel-hub-byoc", raster, "--bucket", BUCKET, "--dry-run"], capsys)
        assert code == 2 and expected in out["error"]["message"], out
        code, event = run(["job", byoc_spec(tmp_path, raster=raster), "--events"], capsys,
                          events=True)
        assert code == 2 and event["kind"] == "bad_input" and expected in event["message"]


def test_read_back_dates_the_wrong_way_round_are_refused(tmp_path, capsys):
    raster = cog(tmp_path)
    (tmp_path / "forests.gpkg").write_text("")  # never read: the dates are refused first
    code, out = run(["sentinel-hub-byoc", str(raster), "--bucket", BUCKET, "--gpkg",
                     str(tmp_path / "forests.gpkg"), "--start", "2025-10-01", "--end",
                     "2025-09-01", "--dry-run"], capsys)
    assert code == 2 and "swap the dates" in out["error"]["message"]  # was accepted


@pytest.mark.skipif(not MOTO.exists(), reason="needs moto_server")
def test_nothing_is_uploaded_without_credentials_or_budget(tmp_path, capsys, monkeypatch):
    import boto3
    import s3fs

    raster = cog(tmp_path)
    with moto_s3(BUCKET) as env:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        s3fs.S3FileSystem.clear_instance_cache()
        client = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                              aws_access_key_id="testing", aws_secret_access_key="testing")
        argv = ["sentinel-hub-byoc", str(raster), "--bucket", BUCKET, "--grant-read",
                "--base-url", "http://127.0.0.1:9", "--token-url", "http://127.0.0.1:9/t"]
        code, out = run(argv, capsys)
        assert code == 2 and "no OAuth credentials" in out["error"]["message"]
        monkeypatch.setenv("SH_CLIENT_ID", "id")
        monkeypatch.setenv("SH_CLIENT_SECRET", "s3cr3t-byoc-inputs")
        monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the loopback speaks http
        code, out = run([*argv, "--pu-budget", "1"], capsys)  # a collection + a tile: 2 PU
        assert code == 1 and "exceeds what is left" in out["error"]["message"]
        # the job spec's request_budget had no option: the free tier's 10,000 always
        code, out = run([*argv, "--request-budget", "1"], capsys)
        assert code == 1 and "exceeds what is left" in out["error"]["message"]
        # the COG was uploaded and the policy changed before either was checked
        assert client.list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0
        with pytest.raises(client.exceptions.ClientError):
            client.get_bucket_policy(Bucket=BUCKET)


def test_grant_read_without_the_right_to_change_the_policy(tmp_path, capsys, monkeypatch):
    """An object store refusing this account the bucket policy (HTTP 403 AccessDenied, as S3
    answers): one line saying so and what to do, exit 2, and no COG uploaded."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import s3fs

    seen = []

    class Denied(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _deny(self):
            seen.append((self.command, self.path))
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = (b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>AccessDenied</Code>"
                    b"<Message>Access Denied</Message></Error>")
            self.send_response(403)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _deny  # noqa: N815

    server = ThreadingHTTPServer(("127.0.0.1", 0), Denied)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{server.server_port}")
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        monkeypatch.setenv("SH_CLIENT_ID", "id")
        monkeypatch.setenv("SH_CLIENT_SECRET", "s3cr3t-byoc-inputs")
        s3fs.S3FileSystem.clear_instance_cache()
        code, out = run(["sentinel-hub-byoc", str(cog(tmp_path)), "--bucket", BUCKET,
                         "--grant-read", "--base-url", "http://127.0.0.1:9"], capsys)
    finally:
        server.shutdown()
    message = out["error"]["message"]
    assert code == 2 and f"may not read or change the policy of bucket {BUCKET}" in message
    assert "--output" not in message  # was "choose a folder you can write to (--output)"
    assert not [path for method, path in seen if method == "PUT" and ".tif" in path]


def test_every_band_is_registered_whatever_its_description(tmp_path):
    import rasterio

    from raster_collect_plugin.core.sentinel_hub import byoc

    data = np.ones((4, 300, 300), "float32")
    path = write_cog(tmp_path / "four.tif", data, crs="EPSG:32756",
                     transform=Affine(10, 0, 500_000, 0, -10, 7_000_000),
                     band_descriptions=["NDVI", "NDVI", "", "2x"])
    with rasterio.open(path) as dataset:
        assert dataset.count == 4
    plan = byoc.plan_cog(path, tmp_path / "tiles")
    # the second NDVI replaced the first: three bands registered of four
    assert {name: spec["bandIndex"] for name, spec in plan.bands.items()} == {
        "NDVI": 1, "NDVI_2": 2, "B3": 3, "b_2x": 4}


@pytest.mark.parametrize("option, value", [("--pu-budget", "-1"), ("--pu-budget", "nan"),
                                           ("--request-budget", "-1"), ("--poll-seconds", "0")])
def test_byoc_numbers_are_named_as_typed(tmp_path, capsys, option, value):
    code, out = run(["sentinel-hub-byoc", str(cog(tmp_path)), "--bucket", BUCKET, option, value,
                     "--dry-run"], capsys)
    assert code == 2 and out["error"]["message"].startswith(f"{option} must be")  # 'pu_budget'
