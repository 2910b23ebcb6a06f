"""The raster-collect command line end to end on the small synthetic sample."""

import json
import subprocess
import sys

import geopandas as gpd
import h3
import pandas as pd
import pytest

from raster_collect_plugin import cli
from raster_collect_plugin.core.zonal import pipeline as workflow


def zonal_args(sample, output, *extra):
    return ["--quiet", "zonal", "--gpkg", str(sample.forests_path),
            "--catalog", str(sample.catalog_path), "--collections", "sentinel-2-l2a",
            "--start", "2025-10-01", "--end", "2025-12-31", "--indices", "NDVI",
            "--output", str(output), *extra]


def combined(output):
    table = pd.read_csv(output / "zonal_forests_all.csv")
    return table.sort_values(["forest_id", "period"]).reset_index(drop=True)


def test_zonal_all_forests_then_rerun_skips_complete(small_sample, tmp_path, capsys):
    output = tmp_path / "out"
    assert cli.main(zonal_args(small_sample, output)) == 0
    folders = sorted(p.name for p in output.glob("forest_*"))
    assert folders == [f"forest_{i}" for i in range(281, 287)]
    assert all((output / f / "complete.json").exists() for f in folders)
    table = combined(output)
    assert len(table) == 6 * 3 and set(table["period"]) == {"2025-10", "2025-11", "2025-12"}
    assert table["clear_fraction"].between(0, 1).all()
    # a damaged compartment loses NDVI after the storm (December vs October)
    damaged = small_sample.damaged_ids[0]
    rows = table[table["forest_id"] == damaged].set_index("period")["median"]
    assert rows["2025-12"] < rows["2025-10"] - 0.2
    capsys.readouterr()
    assert cli.main(["--json"] + zonal_args(small_sample, output)[1:]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["computed"] == [] and len(summary["skipped_complete"]) == 6


def test_resume_after_crash_matches_uninterrupted_run(small_sample, tmp_path, monkeypatch):
    reference_output = tmp_path / "uninterrupted"
    assert cli.main(zonal_args(small_sample, reference_output)) == 0

    real_run = workflow.run_zonal
    calls = {"n": 0}

    def crash_on_third_forest(request, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # the machine dies half-way through forest 283
        return real_run(request, **kwargs)

    output = tmp_path / "resumed"
    monkeypatch.setattr(workflow, "run_zonal", crash_on_third_forest)
    assert cli.main(zonal_args(small_sample, output)) == 1
    assert sorted(p.name for p in output.iterdir() if p.name.startswith(("forest", ".forest"))) \
        == ["forest_281", "forest_282"]  # nothing half-written is left to be trusted
    monkeypatch.setattr(workflow, "run_zonal", real_run)
    assert cli.main(["--json"] + zonal_args(small_sample, output)[1:]) == 0
    pd.testing.assert_frame_equal(combined(output), combined(reference_output))


def test_seed_spellings_single_forest_and_start_from(small_sample, tmp_path):
    output = tmp_path / "out"
    args = ["--quiet", "zonal", "--gpkg_path", str(small_sample.forests_path), "--forest", "283",
            "--catalog", str(small_sample.catalog_path), "--collections", "sentinel-2-l2a",
            "--start", "2025-12-01", "--end", "2025-12-31", "--output", str(output)]
    assert cli.main(args) == 0
    assert [p.name for p in output.glob("forest_*")] == ["forest_283"]
    resumed = tmp_path / "resumed"
    args = zonal_args(small_sample, resumed, "--start_from", "5")
    assert cli.main(args) == 0
    assert sorted(p.name for p in resumed.glob("forest_*")) == ["forest_285", "forest_286"]


@pytest.mark.parametrize("extra,message", [
    (["--start", "2025-12-01", "--end", "2025-01-01"], "swap the dates"),
    (["--id-field", "compartment"], "no field 'compartment'"),
    (["--start-from", "99"], "--start-from must be between 1 and 6"),
    (["--indices", "NDVI", "--expression", "BAD=nir.__class__"], "not allowed"),
])
def test_bad_input_exits_2_with_one_line(small_sample, tmp_path, capsys, extra, message):
    assert cli.main(zonal_args(small_sample, tmp_path / "out", *extra)) == 2
    error = capsys.readouterr().err.strip()
    assert message in error and len(error.splitlines()) == 1
    assert not list((tmp_path / "out").glob("forest_*")) if (tmp_path / "out").exists() else True


def test_hexagons_and_search_commands(small_sample, tmp_path, capsys):
    output = tmp_path / "hex.gpkg"
    assert cli.main(["--quiet", "hexagons", "--gpkg", str(small_sample.forests_path),
                     "--area-ha", "1", "--no-clip", "--output", str(output)]) == 0
    cells = gpd.read_file(output)
    assert cells.area.round(3).eq(10_000).all()
    assert set(cells["forest_id"]) == set(range(281, 287))
    h3_output = tmp_path / "h3.gpkg"
    assert cli.main(["--quiet", "hexagons", "--gpkg", str(small_sample.forests_path),
                     "--h3", "9", "--output", str(h3_output)]) == 0
    assert all(h3.is_valid_cell(c) for c in gpd.read_file(h3_output)["hex_id"])
    capsys.readouterr()
    assert cli.main(["--json", "search", "--gpkg", str(small_sample.forests_path),
                     "--catalog", str(small_sample.catalog_path), "--start", "2025-11-01",
                     "--end", "2025-11-30", "--max-cloud", "100"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["scenes"] == len([i for items in small_sample.items.values() for i in items
                                   if i["properties"]["datetime"].startswith("2025-11")])
    # a search job spec prints the same table, not the scenes' dictionaries (45 kB of repr)
    spec = tmp_path / "search.json"
    spec.write_text(json.dumps({
        "kind": "search", "aoi": str(small_sample.forests_path), "start": "2025-10-01",
        "end": "2025-12-31", "sources": [{"kind": "static",
                                          "href": str(small_sample.catalog_path)}]}))
    assert cli.main(["search", "--gpkg", str(small_sample.forests_path), "--catalog",
                     str(small_sample.catalog_path), "--start", "2025-10-01", "--end",
                     "2025-12-31"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert cli.main(["job", str(spec)]) == 0
    printed = capsys.readouterr().out.splitlines()
    # (the same scenes; the provider column names the source: 'Static catalog' in both)
    assert len(table) > 10 and [line[21:] for line in printed[:len(table)]] == \
        [line[21:] for line in table]
    assert f"items: {len(table)} (--json lists them)" in printed
    assert "{'" not in "\n".join(printed)


def test_python_dash_m_entry_point(small_sample, tmp_path):
    result = subprocess.run([sys.executable, "-m", "raster_collect_plugin", "--json", "hexagons",
                             "--gpkg", str(small_sample.forests_path), "--edge-m", "60",
                             "--output", str(tmp_path / "h.gpkg")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["cells"] > 100


def test_json_stays_one_document_when_the_command_fails(small_sample, tmp_path, capsys):
    """With ``--json`` a failed command prints a JSON error object (kind, message, exit code)
    on stdout, beside the usual line on stderr: a script parsing stdout gets the reason
    instead of an empty string. Also for an argparse usage error."""
    args = ["zonal", "--gpkg", str(small_sample.forests_path), "--catalog",
            str(small_sample.catalog_path), "--forest", "999", "--output", str(tmp_path / "o")]
    assert cli.main(["--json", *args]) == 2
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["exit_code"] == 2 and report["error"]["kind"] == "bad_input"
    assert "999" in report["error"]["message"] and "999" in captured.err
    assert not (tmp_path / "o").exists()
    with pytest.raises(SystemExit) as usage:
        cli.main(["zonal", "--gpkg", str(small_sample.forests_path), "--no-such-option",
                  "--json"])
    assert usage.value.code == 2
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["error"]["kind"] == "bad_input" and report["exit_code"] == 2
    assert "--no-such-option" in report["error"]["message"]
    assert "--no-such-option" in captured.err and len(captured.err.splitlines()) == 1
    assert cli.main(["zonal", *args[1:]]) == 2  # without --json, stdout stays empty
    assert capsys.readouterr().out == ""


def test_no_progress_bar_redraws_in_a_log_file(small_sample, tmp_path, capsys):
    """stderr captured into a file or a pipe (cron's `watch >> watch.log 2>&1`, a script)
    got the progress bar's carriage-return redraws, and a failure's line glued to them. The
    bar is drawn on a terminal only: stderr holds the lines that matter."""
    output = tmp_path / "out"
    assert cli.main(["composite", "--gpkg", str(small_sample.forests_path), "--catalog",
                     str(small_sample.catalog_path), "--collections", "sentinel-2-l2a",
                     "--start", "2025-10-01", "--end", "2025-10-31", "--indices", "NDVI",
                     "--output", str(output)]) == 0
    captured = capsys.readouterr()
    assert "%|" not in captured.err and "\r" not in captured.err
    assert "outputs" in captured.out and any(output.glob("*NDVI*.tif"))
    (tmp_path / "a-file").write_text("")
    assert cli.main(["composite", "--gpkg", str(small_sample.forests_path), "--catalog",
                     str(small_sample.catalog_path), "--output", str(tmp_path / "a-file")]) == 2
    assert capsys.readouterr().err.startswith("raster-collect: error: the output folder")
