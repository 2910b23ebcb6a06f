"""Malformed job specs: one bad-input line, an error event for QGIS, exit 2, no traceback."""

import json
import subprocess
import sys

import pytest

from raster_collect_plugin import cli


def good_spec(sample, tmp_path):
    return {"kind": "composite", "aoi": str(sample.forests_path),
            "sources": [{"kind": "static", "href": str(sample.catalog_path),
                         "collections": ["sentinel-2-l2a"]}],
            "start": "2025-10-01", "end": "2025-10-31", "indices": ["NDVI"],
            "output_dir": str(tmp_path / "out")}


MALFORMED = [
    (lambda s: [s], "must be a JSON object, not list"),
    (lambda s: dict(s, kind="mosaic"), "job 'kind' must be one of"),
    (lambda s: {k: v for k, v in s.items() if k != "aoi"}, "needs 'aoi'"),
    (lambda s: dict(s, start="yesterday"), "'start' must be a date like 2025-11-13"),
    (lambda s: dict(s, start="2025-12-01"), "is before 'start'"),
    (lambda s: dict(s, resolution="ten"), "'resolution' must be a positive number"),
    (lambda s: dict(s, resolution=-10), "'resolution' must be a positive number"),
    (lambda s: dict(s, max_cloud_cover=250), "'max_cloud_cover' must be a number from 0"),
    (lambda s: dict(s, indices="NDVI"), "'indices' must be a list of index names"),
    (lambda s: dict(s, sources={"kind": "static"}), "'sources' must be a list"),
    (lambda s: dict(s, sources=["catalog.json"]), "sources[0] must be an object"),
    (lambda s: dict(s, sources=[{"kind": "ftp"}]), "sources[0].kind must be one of"),
    (lambda s: dict(s, sources=[{"kind": "static", "collections": "s2"}]),
     "sources[0].collections must be a list"),
    (lambda s: dict(s, custom_indices={"X": 5}), "'custom_indices' must be an object"),
    (lambda s: dict(s, custom_indices={"X": "9**9**9"}), "exponent '9**9' is not allowed"),
    (lambda s: dict(s, kind="zonal", min_clear_fraction="half"), "'min_clear_fraction'"),
    (lambda s: dict(s, kind="zonal", h3_resolution=99), "'h3_resolution' must be an integer"),
    (lambda s: dict(s, period="fortnight"), "'period' must be month, quarter or year"),
    (lambda s: dict(s, overwrite="yes"), "'overwrite' must be true or false"),
    (lambda s: dict(s, kind="storm"), "needs 'event_date'"),
    (lambda s: dict(s, mask_classes=["fog"]), "unknown cloud-mask classes ['fog']"),
    (lambda s: dict(s, compute={"workers": "many"}),
     "'compute.workers' must be a whole number of worker processes (1 or more), not 'many'"),
    (lambda s: dict(s, compute={"mode": "local", "nworkers": 2}),
     "'compute' has an unknown key 'nworkers'; allowed keys: mode, scheduler_address, workers"),
    (lambda s: dict(s, compute={"mode": "remote"}), "remote compute needs 'scheduler_address'"),
    (lambda s: dict(s, compute="local"), "'compute' must be an object"),
    (lambda s: dict(s, compute={"mode": "threads", "workers": 3}),
     "'compute.workers' sizes a local cluster, which mode threads does not start"),
    (lambda s: dict(s, compute={"scheduler_address": "tcp://10.0.0.5:8786",
                                "memory_limit": "4GB"}),
     "'compute.memory_limit' sizes a local cluster, which mode remote does not start"),
    (lambda s: dict(s, compute={"mode": "local", "connect_timeout": 5}),
     "'compute.connect_timeout' is how long to wait for the scheduler, which mode local does "
     "not use: leave 'connect_timeout' out (it is for mode remote)"),
    (lambda s: dict(s, compute={"no_worker_grace": 30}),
     "'compute.no_worker_grace' is how long a cluster may have no workers, which mode threads"),
    (lambda s: dict(s, compute={"mode": "local", "memory_limit": "0GB"}),
     "'compute.memory_limit' must be a size such as 2GB, not '0GB'"),
    (lambda s: dict(s, compute={"threads_per_worker": 4}),
     "'compute.threads_per_worker' sizes a local cluster, which mode threads does not"),
    (lambda s: dict(s, foo=1), "job spec has unknown key 'foo'; allowed keys: after_days,"),
    (lambda s: dict(s, evalscript="return [B04]"), "unknown key 'evalscript'"),
    (lambda s: dict(s, sources=[dict(s["sources"][0], headers={})]),
     "sources[0] has unknown key 'headers'; allowed keys: kind, collections, href, url, name"),
    (lambda s: dict(s, client_secret="abc"), "key 'client_secret' looks like a secret"),
]

SECRETS = [{"client_secret": "abc"}, {"SH_CLIENT_SECRET": "abc"}, {"access_token": "abc"},
           {"password": "abc"}, {"api_key": "abc"}, {"compute": {"token": "abc"}},
           {"sources": [{"kind": "stac", "url": "https://stac.invalid", "Authorization": "x"}]}]


@pytest.mark.parametrize("change,message", MALFORMED)
def test_malformed_spec_is_one_error_event(small_sample, tmp_path, capsys, change, message):
    path = tmp_path / "job.json"
    path.write_text(json.dumps(change(good_spec(small_sample, tmp_path))))
    assert cli.main(["job", str(path), "--events"]) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    events = [json.loads(line) for line in captured.out.splitlines() if line.startswith("{")]
    assert events[-1]["event"] == "error" and events[-1]["kind"] == "bad_input"
    assert message in events[-1]["message"]
    assert len(captured.err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_unreadable_spec_file(tmp_path, capsys):
    path = tmp_path / "job.json"
    path.write_text("{not json")
    assert cli.main(["job", str(path), "--events"]) == 2
    out = capsys.readouterr().out
    assert json.loads(out.splitlines()[-1])["kind"] == "bad_input"


@pytest.mark.parametrize("secret", SECRETS)
def test_secrets_are_always_refused_with_where_they_go(small_sample, tmp_path, secret):
    from raster_collect_plugin.core.jobs.run import JobError
    from raster_collect_plugin.core.jobs.spec import validate_spec

    with pytest.raises(JobError) as caught:
        validate_spec(dict(good_spec(small_sample, tmp_path), **secret))
    message = str(caught.value)
    assert "looks like a secret and is refused" in message
    assert "QGIS authentication database" in message and "environment variables" in message
    assert "README" in message
    assert "abc" not in message  # the secret itself is never echoed


def test_token_url_is_an_address_not_a_secret(small_sample, tmp_path):
    from raster_collect_plugin.core.jobs.run import JobError
    from raster_collect_plugin.core.jobs.spec import validate_spec

    spec = {k: v for k, v in good_spec(small_sample, tmp_path).items() if k != "sources"}
    spec.update(kind="sentinel-hub-statistics",
                token_url="https://identity.dataspace.copernicus.eu/token")
    assert validate_spec(spec) is spec
    with pytest.raises(JobError, match="no credentials or query"):
        validate_spec(dict(spec, token_url="https://id.invalid/token?client_secret=abc"))


@pytest.mark.parametrize("change,message", [
    (lambda s: dict(s, compute={"workers": "many"}), "'compute.workers' must be a whole number"),
    (lambda s: dict(s, client_secret="abc", foo=1), "key 'client_secret' looks like a secret"),
    (lambda s: dict(s, foo=1), "job spec has unknown key 'foo'; allowed keys:"),
])
def test_the_job_command_refuses_before_any_work(small_sample, tmp_path, change, message):
    """Through the command line in its own process: exit 2, one line on stderr, an error
    event, no traceback, no output folder."""
    path = tmp_path / "job.json"
    path.write_text(json.dumps(change(good_spec(small_sample, tmp_path))))
    result = subprocess.run([sys.executable, "-m", "raster_collect_plugin", "job", str(path),
                             "--events"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [f"raster-collect: error: {line}" for line in
                                                  [json.loads(result.stdout.splitlines()[-1])
                                                   ["message"]]]
    event = json.loads(result.stdout.splitlines()[-1])
    assert event["event"] == "error" and event["kind"] == "bad_input"
    assert message in event["message"]
    assert not (tmp_path / "out").exists()


def test_compute_settings_from_a_dict_use_the_same_check():
    from raster_collect_plugin.core.compute.cluster import ComputeSettings
    from raster_collect_plugin.core.compute.options import ComputeOptionsError
    from raster_collect_plugin.core.jobs.errors import classify

    with pytest.raises(ComputeOptionsError, match="'compute.workers' must be a whole") as caught:
        ComputeSettings.from_dict({"mode": "local", "workers": "many"})
    assert classify(caught.value)[0] == "bad_input"
    with pytest.raises(ComputeOptionsError, match="unknown key 'cores'"):
        ComputeSettings.from_dict({"cores": 4})
    settings = ComputeSettings.from_dict({"mode": "local", "workers": 2, "no_worker_grace": 5})
    assert (settings.mode, settings.workers, settings.no_worker_grace) == ("local", 2, 5)
    assert ComputeSettings.from_dict(None) == ComputeSettings()
