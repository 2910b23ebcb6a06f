"""The sentinel-hub doors' bad input (README: Command line, exit codes): one line naming the
option, exit 2, before anything is estimated, written or sent, on every path (statistics,
--raster, the batch APIs, their dry runs) and in a job spec."""

import json

import pytest

from tests.sentinel_hub_helpers import monthly_sample


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    return monthly_sample(tmp_path_factory.mktemp("hub-inputs"))


@pytest.fixture(autouse=True)
def no_credentials(monkeypatch, tmp_path):
    for name in ("SH_CLIENT_ID", "SH_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RASTER_COLLECT_SH_LEDGER", str(tmp_path / "ledger.json"))


def run_cli(argv, capsys):
    from raster_collect_plugin import cli

    code = cli.main(["--json", *argv])
    captured = capsys.readouterr()
    return code, json.loads(captured.out), captured.err


def hub_args(sample, tmp_path, *extra):
    return ["sentinel-hub", "--gpkg", str(sample.forests_path), "--start", "2025-10-01",
            "--end", "2025-11-30", "--output", str(tmp_path / "out"), *extra]


PATHS = {"statistics": (), "raster": ("--raster",),
         "batch": ("--batch-output", "s3://estate/b/"),
         "batch-processing": ("batch-processing", "--batch-output", "s3://estate/t/")}


@pytest.mark.parametrize("path", list(PATHS))
@pytest.mark.parametrize("option, value, expected", [
    ("--pu-budget", "-5", "--pu-budget must be a number of processing units, 0 or more"),
    ("--pu-budget", "nan", "--pu-budget must be"),  # NaN passed every budget check
    ("--request-budget", "-1", "--request-budget must be a whole number of requests"),
    ("--resolution", "0", "--resolution must be a positive number of metres"),
    ("--resolution", "1e9", "at most 10000"),
    ("--max-cloud", "150", "--max-cloud must be a number from 0 to 100"),
    ("--min-clear", "2", "--min-clear must be a number from 0 to 1"),
    ("--max-retry-wait", "-1", "--max-retry-wait must be 0 or more seconds"),
])
def test_bad_numbers_are_refused_on_every_path_dry_run_too(sample, tmp_path, capsys, path,
                                                           option, value, expected):
    for dry in ((), ("--dry-run",)):
        code, out, err = run_cli(hub_args(sample, tmp_path, *PATHS[path], option, value, *dry),
                                 capsys)
        assert code == 2, (dry, err)
        assert out["error"]["kind"] == "bad_input" and expected in out["error"]["message"]
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "out").exists() and not (tmp_path / "ledger.json").exists()


@pytest.mark.parametrize("path", list(PATHS))
def test_end_before_start_is_bad_input_in_the_dry_run(sample, tmp_path, capsys, path):
    argv = hub_args(sample, tmp_path, *PATHS[path], "--dry-run")
    argv[argv.index("--start") + 1] = "2025-12-01"
    code, out, _ = run_cli(argv, capsys)
    assert code == 2 and "swap the dates" in out["error"]["message"]  # was exit 1


@pytest.mark.parametrize("grid, resolution, expected", [
    ("2", "10", "grid 2 (UTM 100km grid) offers 30, 60, 120, 240, 360 m, not 10 m"),
    ("3", "10", "is in degrees"), ("1", "7", "offers 10, 20 m, not 7 m"),
    ("5", "10", "tiling grid 5 does not exist; choose one of [0, 1, 2, 6, 7]")])
def test_a_resolution_the_grid_does_not_offer_is_bad_input(sample, tmp_path, capsys, grid,
                                                           resolution, expected):
    argv = hub_args(sample, tmp_path, *PATHS["batch-processing"], "--tiling-grid", grid,
                    "--resolution", resolution)
    for dry in ((), ("--dry-run",)):  # was exit 1, "failure"
        code, out, _ = run_cli([*argv, *dry], capsys)
        assert code == 2 and expected in out["error"]["message"], out
    spec = tmp_path / "bp.json"
    spec.write_text(json.dumps({
        "kind": "sentinel-hub-batch-processing", "aoi": str(sample.forests_path),
        "start": "2025-10-01", "end": "2025-11-30", "output_dir": str(tmp_path / "out"),
        "batch_output": "s3://estate/t/", "tiling_grid": int(grid),
        "resolution": float(resolution)}))
    from raster_collect_plugin import cli

    assert cli.main(["job", str(spec), "--events"]) == 2
    event = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert event["kind"] == "bad_input" and expected in event["message"]
    assert not (tmp_path / "out").exists()


def test_help_lists_only_the_grids_this_tool_can_use(capsys):
    from raster_collect_plugin import cli

    with pytest.raises(SystemExit):
        cli.main(["sentinel-hub", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "1: UTM 10km grid (10, 20 m)" in text and "7: LAEA 20km grid" in text
    assert "degree" not in text  # grid 3 is always refused: it was listed as a choice


@pytest.mark.parametrize("path, extra, named", [
    ("raster", ("--batch-output", "s3://estate/b/"), "--raster is not used by sentinel-hub "
                                                      "--batch-output"),
    ("batch-processing", ("--raster",), "--raster is not used by sentinel-hub batch-processing"),
    ("batch-processing", ("--batch-features", "s3://estate/f.gpkg"), "--batch-features"),
    ("statistics", ("--tiling-grid", "2"), "--tiling-grid is not used"),
    ("batch", ("--tiling-grid", "0"), "--tiling-grid is not used"),
    ("statistics", ("--s3-region", "x"), "--s3-region is not used"),
    ("statistics", ("--s3-send-keys",), "--s3-send-keys is not used"),
    ("raster", ("--max-cloud", "20", "--min-clear", "0.2", "--poll-seconds", "5"),
     "--max-cloud and --min-clear are not used by sentinel-hub --raster"),
])
def test_an_option_the_api_does_not_use_is_refused(sample, tmp_path, capsys, path, extra,
                                                   named):
    for dry in ((), ("--dry-run",)):  # all were silently not used
        code, out, _ = run_cli(hub_args(sample, tmp_path, *PATHS[path], *extra, *dry), capsys)
        assert code == 2 and named in out["error"]["message"], out


def test_the_options_each_api_uses_are_still_taken(sample, tmp_path, capsys):
    code, out, err = run_cli(hub_args(sample, tmp_path, "--max-cloud", "20", "--min-clear",
                                      "0.3", "--dry-run"), capsys)
    assert code == 0, err
    code, out, err = run_cli(hub_args(sample, tmp_path, *PATHS["batch-processing"],
                                      "--tiling-grid", "0", "--max-cloud", "20", "--s3-region",
                                      "x", "--poll-seconds", "5", "--dry-run"), capsys)
    assert code == 0, err
    assert out["request"]["input"]["id"] == 0
    assert out["request"]["output"]["delivery"]["s3"]["region"] == "x"
    code, out, err = run_cli(hub_args(sample, tmp_path, *PATHS["batch-processing"],
                                      "--dry-run"), capsys)
    assert out["request"]["input"]["id"] == 1  # the default grid
    assert out["request"]["output"]["delivery"]["s3"]["region"] == "waw3-1"


@pytest.mark.parametrize("interval", ["P1X", "P0D", "PT1H", "1M", "P1M2D"])
def test_a_bad_interval_is_refused_before_any_work(sample, tmp_path, capsys, interval):
    from raster_collect_plugin import cli
    from raster_collect_plugin.core.jobs import JobError, validate_spec

    spec = {"kind": "sentinel-hub-statistics", "aoi": str(sample.forests_path),
            "start": "2025-10-01", "end": "2025-11-30", "output_dir": str(tmp_path / "out"),
            "interval": interval}
    # P1X and PT1H were a ValueError traceback once running, P0D an endless loop
    with pytest.raises(JobError, match="'interval' must be an ISO 8601 duration"):
        validate_spec(spec)
    path = tmp_path / "job.json"
    path.write_text(json.dumps(spec))
    for events in (False, True):
        assert cli.main(["job", str(path), *(["--events"] if events else [])]) == 2
        out = capsys.readouterr().out.strip()
        if events:
            assert json.loads(out.splitlines()[-1])["kind"] == "bad_input"
    for good in ("P1M", "P10D", "P2W", "P1Y"):
        validate_spec(dict(spec, interval=good))


def test_a_plain_http_token_url_is_refused_before_the_secret_is_sent(sample, tmp_path, capsys,
                                                                     monkeypatch):
    monkeypatch.delenv("OAUTHLIB_INSECURE_TRANSPORT", raising=False)
    monkeypatch.setenv("SH_CLIENT_ID", "id")
    monkeypatch.setenv("SH_CLIENT_SECRET", "s3cr3t-inputs")
    code, out, err = run_cli(hub_args(sample, tmp_path, "--token-url", "http://127.0.0.1:9/t",
                                      "--base-url", "http://127.0.0.1:9"), capsys)
    # was an InsecureTransportError traceback, exit 1
    assert code == 2 and "is not https://" in out["error"]["message"], err
    assert "Traceback" not in err


@pytest.mark.parametrize("path", ["batch", "batch-processing"])
def test_batch_dry_runs_say_when_the_run_would_stop_on_the_budget(sample, tmp_path, capsys,
                                                                  path):
    code, out, err = run_cli(hub_args(sample, tmp_path, *PATHS[path], "--pu-budget", "99",
                                      "--dry-run"), capsys)
    assert code == 0, err
    estimate = out["estimated_processing_units"]
    assert estimate >= 100  # the batch minimum
    # the dry run said nothing while the run stopped at once
    assert out["notes"][0] == "left this month: 99.00 PU, 10000 requests"
    assert out["notes"][1].startswith(f"would stop: the estimate ({estimate:.2f} PU in 1 "
                                      "requests) exceeds")
    code, out, _ = run_cli(hub_args(sample, tmp_path, *PATHS[path], "--dry-run"), capsys)
    assert not any(note.startswith("would stop") for note in out["notes"])
