"""README's commands and job specs as it documents them, where a sweep found them differing."""

import json
import re

import pytest

from raster_collect_plugin import cli


def _no_search(*args, **kwargs):
    raise AssertionError("searched: the size check must come before any work")


@pytest.mark.parametrize("size, expected", [
    (["--hex-area-ha", "0.0005"], "hexagons of 0.0005 ha (edge 1.39 m) over these forests"),
    (["--h3", "15"], "H3 resolution 15 over these forests would be about")])
def test_zonal_refuses_a_grid_too_large_over_the_forests(small_sample, tmp_path, capsys,
                                                        monkeypatch, size, expected):
    """README: a size giving more than 1,000,000 cells over the forests is refused in every
    door. ``zonal`` lays its grid one forest at a time, and each forest's grid of these sizes
    fits (about 170,000 cells / 900,000 H3 cells) while the run's does not: it searched and
    computed forest after forest (minutes, gigabytes) instead of one line, exit 2."""
    from raster_collect_plugin.core import composites

    monkeypatch.setattr(composites, "search", _no_search)
    output = tmp_path / "out"
    code = cli.main(["--quiet", "zonal", "--gpkg", str(small_sample.forests_path),
                     "--catalog", str(small_sample.catalog_path), "--collections",
                     "sentinel-2-l2a", "--start", "2025-10-01", "--end", "2025-12-31",
                     "--indices", "NDVI", "--output", str(output), *size])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and expected in err
    assert "more than 1,000,000: choose" in err
    assert not output.exists()


def test_zonal_job_refuses_a_grid_too_large_before_the_search(small_sample, tmp_path, capsys,
                                                             monkeypatch):
    """The job spec's zonal kind laid its grid beside the composites: a grid too large was
    refused only after the search, the folder and the composites (with "overwrite": true,
    after the earlier run's manifest was dropped). Now before the search, naming a size."""
    from raster_collect_plugin.core.composites import pipeline

    monkeypatch.setattr(pipeline, "search", _no_search)
    spec = tmp_path / "zonal.json"
    output = tmp_path / "out"
    spec.write_text(json.dumps({
        "kind": "zonal", "aoi": str(small_sample.forests_path),
        "sources": [{"kind": "static", "href": str(small_sample.catalog_path),
                     "collections": ["sentinel-2-l2a"]}],
        "start": "2025-10-01", "end": "2025-12-31", "indices": ["NDVI"],
        "output_dir": str(output), "hexagon_area_m2": 5, "overwrite": True}))
    code = cli.main(["--quiet", "job", str(spec)])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1
    assert "more than 1,000,000: choose cells of at least" in err
    assert re.search(r"at least [0-9.]+ ha = [0-9,.]+ m² \(edge", err), err  # the spec's unit
    assert not output.exists()


def test_storm_and_monitor_refuse_a_grid_too_large_before_the_search(small_sample, tmp_path,
                                                                    capsys, monkeypatch):
    """``storm`` laid its hexagons after the search and every window's composites, and
    ``monitor`` after fitting and monitoring every scene: the same line came minutes late.
    Now before the search (hexagons of 0.0004 ha: about 1.27 million over the sample)."""
    from raster_collect_plugin.core.composites import pipeline
    from raster_collect_plugin.core.jobs import monitor
    from raster_collect_plugin.core.series import harmonised

    monkeypatch.setattr(pipeline, "search", _no_search)
    monkeypatch.setattr(monitor, "look_back", _no_search)
    monkeypatch.setattr(harmonised, "search_index_series", _no_search)
    common = ["--gpkg", str(small_sample.forests_path), "--catalog",
              str(small_sample.catalog_path), "--hex-area-ha", "0.0004"]
    for name, command in (
            ("storm", ["storm", *common, "--event-date", "2025-11-13"]),
            ("monitor", ["monitor", *common, "--history-start", "2025-10-01",
                         "--history-end", "2025-10-31", "--end", "2025-12-31"])):
        output = tmp_path / name
        code = cli.main(["--quiet", *command, "--output", str(output)])
        err = capsys.readouterr().err.strip()
        assert code == 2, (name, err)
        assert len(err.splitlines()) == 1
        assert "hexagons of 0.0004 ha (edge 1.24 m) over these forests would be about" in err
        assert not output.exists()


def test_storm_refuses_period_as_its_job_spec_does(small_sample, tmp_path, capsys):
    """README: a storm job refuses 'period', which it would not use; ``storm --period
    quarter`` ran with exit 0 and the storm's window composites, the option silently
    dropped. Now the same refusal, before any work."""
    output = tmp_path / "storm"
    code = cli.main(["--quiet", "storm", "--gpkg", str(small_sample.forests_path),
                     "--catalog", str(small_sample.catalog_path), "--event-date", "2025-11-13",
                     "--period", "quarter", "--output", str(output)])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1
    assert "storm has no periods" in err and "drop --period quarter" in err
    assert not output.exists()


def test_monitor_takes_index_or_expression_not_both(small_sample, tmp_path, capsys):
    """README: ``monitor [--index NDVI | --expression NAME=FORMULA]``, one index monitored.
    Both given ran the expression with exit 0, --index silently dropped."""
    output = tmp_path / "monitoring"
    with pytest.raises(SystemExit) as stop:  # argparse's own usage error
        cli.main(["--quiet", "monitor", "--gpkg", str(small_sample.forests_path),
                  "--catalog", str(small_sample.catalog_path), "--history-start", "2025-10-01",
                  "--history-end", "2025-10-31", "--index", "NDVI", "--expression",
                  "X=nir-red", "--output", str(output)])
    assert stop.value.code == 2
    assert "--expression: not allowed with argument --index" in capsys.readouterr().err
    assert not output.exists()


@pytest.mark.parametrize("extra", [[], ["--raster"]])
def test_sentinel_hub_without_credentials_is_bad_input(small_sample, tmp_path, capsys,
                                                       monkeypatch, extra):
    """README: exit 2 is bad input, one line with the fix. Missing SH_CLIENT_ID /
    SH_CLIENT_SECRET said the fix (set them) but exited 1, as a failure of the service."""
    monkeypatch.delenv("SH_CLIENT_ID", raising=False)
    monkeypatch.delenv("SH_CLIENT_SECRET", raising=False)
    output = tmp_path / "hub"
    code = cli.main(["--quiet", "sentinel-hub", "--gpkg", str(small_sample.forests_path),
                     "--start", "2025-10-01", "--end", "2025-12-31", "--output", str(output),
                     "--usage-ledger", str(tmp_path / "ledger.json"), *extra])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1
    assert "no OAuth credentials" in err and "set SH_CLIENT_ID and SH_CLIENT_SECRET" in err
    assert not output.exists()


@pytest.mark.parametrize("extra, planned", [([], "requests"), (["--raster"], "tiles")])
def test_sentinel_hub_dry_run_needs_no_credentials(small_sample, tmp_path, capsys,
                                                   monkeypatch, extra, planned):
    """README: --dry-run (with or without --raster) sends nothing; it shows the requests and
    the estimate. Without credentials it stopped at the missing credentials instead, while
    the batch APIs' dry runs answered; now the estimate, and nothing written."""
    monkeypatch.delenv("SH_CLIENT_ID", raising=False)
    monkeypatch.delenv("SH_CLIENT_SECRET", raising=False)
    output = tmp_path / "hub"
    ledger = tmp_path / "ledger.json"
    code = cli.main(["--json", "sentinel-hub", "--gpkg", str(small_sample.forests_path),
                     "--start", "2025-10-01", "--end", "2025-12-31", "--output", str(output),
                     "--usage-ledger", str(ledger), "--dry-run", *extra])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    summary = json.loads(captured.out)
    assert summary["dry_run"] is True and summary[planned] >= 1
    assert summary["estimated_processing_units"] > 0
    assert not output.exists() and not ledger.exists()


@pytest.mark.parametrize("option", [["--start", "2025-01-01"], ["--end", "2025-12-31"],
                                    ["--method", "mean"]])
def test_storm_refuses_dates_and_method_as_its_job_spec_does(small_sample, tmp_path, capsys,
                                                             option):
    """README: a storm's windows decide what is composited, always as medians; --start, --end
    and --method ran with exit 0, silently not used. Now refused as a spec's keys, before any
    work."""
    output = tmp_path / "storm"
    code = cli.main(["--quiet", "storm", "--gpkg", str(small_sample.forests_path),
                     "--catalog", str(small_sample.catalog_path), "--event-date", "2025-11-13",
                     *option, "--output", str(output)])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert err == ("raster-collect: error: storm composites the medians of --before-days and "
                   f"--after-days around --event-date: drop {option[0]}")
    assert not output.exists()
