"""Issue 29, "cache": Sentinel Hub responses are kept beside the user's outputs, keyed by the
request's content (URL + body), and every door reads the same cache, so a rerun of the same
request into the same output folder sends no billable request, whichever door ran first. The
loopback fixture counts the billable requests (Process and Statistical POSTs)."""

import json
from pathlib import Path

import pytest

from tests.sentinel_hub_helpers import monthly_sample, server_starter

CLIENT_ID, SECRET = "rc-cache-client", "cache-secret-9d3e-never-stored"


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    return monthly_sample(tmp_path_factory.mktemp("sh-cache"))


@pytest.fixture
def hub(sample, monkeypatch, tmp_path):
    monkeypatch.setenv("RASTER_COLLECT_SH_LEDGER", str(tmp_path / "ledger" / "usage.json"))
    monkeypatch.setenv("SH_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("SH_CLIENT_SECRET", SECRET)
    yield from server_starter(sample, monkeypatch, CLIENT_ID, SECRET)


def assert_no_secrets(folder, server):
    """Neither the client secret nor any token the fixture issued is in the cache."""
    tokens = list(server.tokens)
    assert tokens
    for path in folder.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            assert SECRET.encode() not in content, path
            assert not any(token.encode() in content for token in tokens), path


def test_a_rerun_from_the_job_file_and_from_processing_sends_nothing_billable(
        hub, sample, tmp_path, capsys, raster_collect_provider):
    import processing

    from raster_collect_plugin import cli
    from raster_collect_plugin.core.sentinel_hub import cache_folder
    from raster_collect_plugin.processing.provider import PROVIDER_ID

    server = hub()
    output = tmp_path / "estate outputs"
    hub_options = ["--base-url", server.base_url, "--token-url", server.token_url]
    period = ["--start", "2025-10-01", "--end", "2025-11-30"]
    # 1. the command line
    assert cli.main(["--json", "sentinel-hub", "--gpkg", str(sample.forests_path), *period,
                     *hub_options, "--output", str(output)]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["requests"] == 6 and len(server.billable_requests()) == 6
    cache = cache_folder(output)
    assert cache == output / ".raster-collect-cache" / "sentinel-hub"
    assert len(list(cache.glob("statistics-*.json"))) == 6
    # its dry run knows what is cached
    assert cli.main(["--json", "sentinel-hub", "--gpkg", str(sample.forests_path), *period,
                     *hub_options, "--output", str(output), "--dry-run"]) == 0
    assert json.loads(capsys.readouterr().out)["requests"] == 0
    # 2. a job file naming the same output folder
    spec = {"kind": "sentinel-hub-statistics", "aoi": str(sample.forests_path),
            "id_field": "forest_id", "indices": ["NDVI"], "start": "2025-10-01",
            "end": "2025-11-30", "max_cloud_cover": 100.0, "output_dir": str(output),
            "base_url": server.base_url, "token_url": server.token_url}
    (tmp_path / "job.json").write_text(json.dumps(spec))
    assert cli.main(["--json", "job", str(tmp_path / "job.json")]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["requests"] == 0 and again["rows"] == first["rows"] == 6 * 2
    assert len(server.billable_requests()) == 6
    # 3. the Processing algorithm: its outputs go to a new run sub-folder, the cache is the
    # chosen folder's
    result = processing.run(f"{PROVIDER_ID}:sentinel_hub_statistics", {
        "INPUT": str(sample.forests_path), "ID_FIELD": "forest_id",
        "BASE_URL": server.base_url, "TOKEN_URL": server.token_url,
        "START": "2025-10-01", "END": "2025-11-30", "INDICES": [0],
        "OUTPUT_FOLDER": str(output)})
    assert result["OUTPUT_FOLDER"] != str(output)
    assert len(server.billable_requests()) == 6  # nothing billable sent again
    from qgis.core import QgsVectorLayer

    assert QgsVectorLayer(result["TABLE"], "table", "ogr").featureCount() == 6 * 2
    assert not list((tmp_path / "estate outputs").glob("*/.raster-collect-cache"))
    assert_no_secrets(cache, server)


def test_a_raster_rerun_is_served_from_the_same_cache(hub, sample, tmp_path, capsys):
    from raster_collect_plugin import cli
    from raster_collect_plugin.core.sentinel_hub import cache_folder

    server = hub()
    common = ["--json", "sentinel-hub", "--gpkg", str(sample.forests_path), "--start",
              "2025-10-01", "--end", "2025-10-31", "--base-url", server.base_url,
              "--token-url", server.token_url, "--raster", "--output", str(tmp_path / "out")]
    assert cli.main(common) == 0
    assert json.loads(capsys.readouterr().out)["requests"] == 1
    assert cli.main(common) == 0
    assert json.loads(capsys.readouterr().out)["requests"] == 0
    assert len(server.billable_requests()) == 1
    assert list(cache_folder(tmp_path / "out").rglob("response.tiff"))
    assert_no_secrets(cache_folder(tmp_path / "out"), server)


def test_an_object_store_output_folder_keeps_the_cache_in_a_local_cache_folder(
        tmp_path, monkeypatch, qgis_app, raster_collect_provider, sample):
    """An s3:// output folder cannot hold the cache: the Processing algorithm sends the QGIS
    profile's cache folder, the command line and job files this user's cache folder; no
    local folder named after the URL ("s3:") is made."""
    import processing
    from qgis.core import QgsApplication, QgsProcessingException

    from raster_collect_plugin.core.sentinel_hub import cache_folder
    from raster_collect_plugin.engine import bridge
    from raster_collect_plugin.processing import sentinel_hub_statistics
    from raster_collect_plugin.processing.provider import PROVIDER_ID

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_folder("s3://estate/runs") == tmp_path / "xdg" / "raster-collect" / "sentinel-hub"
    assert cache_folder("s3://estate/runs", local_root=tmp_path / "p") == \
        tmp_path / "p" / "sentinel-hub"
    sent = []

    def run_job(spec, **options):  # the engine run is not the subject: what it is sent is
        sent.append(spec)
        raise bridge.JobFailed("failure", "stopped by the test")

    monkeypatch.setattr(sentinel_hub_statistics.bridge, "run_job", run_job)
    with pytest.raises(QgsProcessingException, match="stopped by the test"):
        processing.run(f"{PROVIDER_ID}:sentinel_hub_statistics", {
            "INPUT": str(sample.forests_path), "ID_FIELD": "forest_id",
            "START": "2025-10-01", "END": "2025-11-30", "INDICES": [0],
            "OUTPUT_FOLDER": "s3://estate/runs"})
    [spec] = sent
    assert spec["output_dir"].startswith("s3://estate/runs/")
    profile = Path(QgsApplication.qgisSettingsDirPath())
    assert Path(spec["cache_dir"]) == profile / "cache" / "raster_collect" / "sentinel-hub"
    assert not Path("s3:").exists()
