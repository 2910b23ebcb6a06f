"""``raster-collect monitor`` has an option for every key of a job spec's ``monitoring``
(README, *Disturbance monitoring*): ``trend``, ``min_history_obs``, ``screen_sigma`` and
``outlier_sigma`` had none, so a forester on the command line could not tune them. An option
gives the folder the same key would (parameters recorded, state, status), a later ``watch``
keeps it, a ``monitor`` without it is refused rather than mixed in, and a bad value is refused
in the spec's words naming the option. ``--alerts-since``'s help, refusals and README say what
the spec's ``alerts_since`` says, in the same words (its refusal named the spec's key on the
command line, advised "a day from the history's end" where the history's start is accepted,
and no door said the default of a first run: the history's end)."""

import json
from dataclasses import fields
from datetime import date
from pathlib import Path

import numpy as np
import pytest
import rasterio

from raster_collect_plugin import cli
from raster_collect_plugin.cli.monitoring import option
from raster_collect_plugin.core.monitoring import ALERTS_SINCE_DEFAULT, MonitorParams
from raster_collect_plugin.core.sample.disturbance_catalog import write_scenario
from raster_collect_plugin.core.sample.disturbance_scenario import Event, ScenarioSpec

SPEC = ScenarioSpec(start=date(2024, 1, 1), end=date(2025, 4, 30), columns=2, rows=1,
                    events=(Event(1, "windthrow", date(2025, 3, 14)),))
TUNED = {"trend": True, "min_history_obs": 12, "screen_sigma": 4.0, "outlier_sigma": 8.0}
OPTIONS = ("--trend", "--min-history-obs", "12", "--screen-sigma", "4", "--outlier-sigma", "8")


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    return write_scenario(tmp_path_factory.mktemp("scenario"), SPEC)


def _monitor(scenario, folder, end, *options) -> int:
    return cli.main(["--quiet", "monitor", "--gpkg", str(scenario.compartments), "--catalog",
                     str(scenario.catalog), "--history-start", "2024-01-01", "--history-end",
                     "2024-12-31", "--end", end, "--output", str(folder), *options])


def _recorded(folder) -> tuple:
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    state = json.loads((folder / "monitoring_state.json").read_text(encoding="utf-8"))
    with rasterio.open(folder / "monitoring_status.tif") as dataset:
        status = dataset.read(1)
    return manifest["run"]["parameters"], state["params"], status


def test_every_monitoring_key_has_an_option():
    parser = cli.build_parser("monitor")
    given = {text for action in parser._subparsers._group_actions[0].choices["monitor"]._actions
             for text in action.option_strings}
    keys = [f.name for f in fields(MonitorParams) if not f.name.startswith("history_")]
    assert len(keys) == 14
    # before the fix: --trend, --screen-sigma, --outlier-sigma, --min-history-obs missing
    assert [option(key) for key in keys if option(key) not in given] == []


def test_an_option_gives_the_folder_its_key_gives(scenario, tmp_path):
    assert _monitor(scenario, tmp_path / "cli", "2025-02-28", *OPTIONS) == 0
    spec = {"kind": "monitor", "aoi": str(scenario.compartments),
            "sources": [{"kind": "static", "href": str(scenario.catalog)}],
            "history_start": "2024-01-01", "history_end": "2024-12-31", "end": "2025-02-28",
            "output_dir": str(tmp_path / "spec"), "monitoring": TUNED}
    (tmp_path / "job.json").write_text(json.dumps(spec), encoding="utf-8")
    assert cli.main(["--quiet", "job", str(tmp_path / "job.json")]) == 0
    parameters, params, status = _recorded(tmp_path / "cli")
    assert parameters == _recorded(tmp_path / "spec")[0]
    assert params == _recorded(tmp_path / "spec")[1]
    np.testing.assert_array_equal(status, _recorded(tmp_path / "spec")[2])
    assert {key: params[key] for key in TUNED} == TUNED
    changes = json.loads((tmp_path / "cli" / "monitoring_changes.json").read_text("utf-8"))
    assert changes["alerts_since"] == "2024-12-31"  # the default of a first run
    saved = json.loads((tmp_path / "cli" / "monitoring_job.json").read_text(encoding="utf-8"))
    assert saved["monitoring"] == TUNED
    # watch continues with the folder's settings; a monitor without them is refused (exit 2)
    assert cli.main(["--quiet", "watch", "--output", str(tmp_path / "cli"), "--end",
                     "2025-04-30"]) == 0
    assert _recorded(tmp_path / "cli")[1] == params
    assert _monitor(scenario, tmp_path / "cli", "2025-04-30") == 2
    assert _recorded(tmp_path / "cli")[1] == params


@pytest.mark.parametrize("options, key, words", [
    (("--screen-sigma", "0"), "screen_sigma", "must be more than 0, not 0"),
    (("--outlier-sigma", "-1"), "outlier_sigma", "must be 0 or more, not -1"),
    (("--min-history-obs", "6", "--trend"), "min_history_obs",
     "must be at least 7 clear observations for this model (6 coefficients: intercept, trend, "
     "4 harmonic terms; and one more to measure σ), not 6"),
])
def test_a_bad_value_is_refused_in_the_spec_s_words(tmp_path, capsys, options, key, words):
    common = ["--gpkg", str(tmp_path / "forests.gpkg"), "--catalog",
              str(tmp_path / "catalog.json"), "--history-start", "2023-01-01",
              "--history-end", "2024-12-31"]
    assert cli.main(["monitor", *common, "--output", str(tmp_path / "out"), *options]) == 2
    name = options[0]
    assert capsys.readouterr().err.splitlines() == [f"raster-collect: error: {name} {words}"]
    monitoring = {key: float(options[1]) if "sigma" in key else int(options[1])}
    if "--trend" in options:
        monitoring["trend"] = True
    spec = {"kind": "monitor", "aoi": str(tmp_path / "forests.gpkg"),
            "sources": [{"kind": "static", "href": str(tmp_path / "catalog.json")}],
            "history_start": "2023-01-01", "history_end": "2024-12-31",
            "output_dir": str(tmp_path / "out"), "monitoring": monitoring}
    (tmp_path / "job.json").write_text(json.dumps(spec), encoding="utf-8")
    assert cli.main(["job", str(tmp_path / "job.json")]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"raster-collect: error: job spec monitoring {key!r} {words}"]
    assert not (tmp_path / "out").exists()


README = Path(__file__).resolve().parents[1] / "README.md"
RANGE = "a day from the history's start to the end"


@pytest.mark.parametrize("since, end, where", [
    ("2023-12-31", "2025-06-30", "before the history (2024-01-01 .. 2024-12-31)"),
    ("2025-07-01", "2025-06-30", "after the end (2025-06-30)"),
])
def test_alerts_since_is_refused_in_the_spec_s_words(tmp_path, capsys, since, end, where):
    common = ["--gpkg", str(tmp_path / "forests.gpkg"), "--catalog",
              str(tmp_path / "catalog.json"), "--history-start", "2024-01-01",
              "--history-end", "2024-12-31", "--end", end, "--alerts-since", since]
    assert cli.main(["monitor", *common, "--output", str(tmp_path / "out")]) == 2
    words = (f"({since}) is {where}: give {RANGE}, or leave it out (default: "
             "the previous run's last scene; on a first run the history's end)")
    # before the fix: 'alerts_since' named on the command line, "from the history's end"
    assert capsys.readouterr().err.splitlines() == [
        f"raster-collect: error: --alerts-since {words}"]
    spec = {"kind": "monitor", "aoi": str(tmp_path / "forests.gpkg"),
            "sources": [{"kind": "static", "href": str(tmp_path / "catalog.json")}],
            "history_start": "2024-01-01", "history_end": "2024-12-31", "end": end,
            "alerts_since": since, "output_dir": str(tmp_path / "out")}
    (tmp_path / "job.json").write_text(json.dumps(spec), encoding="utf-8")
    assert cli.main(["job", str(tmp_path / "job.json")]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"raster-collect: error: 'alerts_since' {words}"]
    assert not (tmp_path / "out").exists()


def test_alerts_since_help_and_readme_say_the_same():
    parser = cli.build_parser("monitor")._subparsers._group_actions[0].choices["monitor"]
    [action] = [a for a in parser._actions if "--alerts-since" in a.option_strings]
    assert RANGE in action.help and f"(default: {ALERTS_SINCE_DEFAULT};" in action.help
    [row] = [line for line in README.read_text(encoding="utf-8").splitlines()
             if line.startswith("| `monitoring_alerts.gpkg`")]
    assert RANGE in row and f"default: {ALERTS_SINCE_DEFAULT};" in row
