"""``zonal --start-from N``: the forests before N are in the combined tables only when they
have results of this run's inputs; those that have none are named in the notes (after an
--overwrite their old folders are removed, and they went missing without a word)."""

from __future__ import annotations

import json

import pandas as pd

from raster_collect_plugin import cli


def _zonal(sample, output, *extra):
    return ["--json", "zonal", "--gpkg", str(sample.forests_path), "--forest", "281,282",
            "--catalog", str(sample.catalog_path), "--collections", "sentinel-2-l2a",
            "--start", "2025-10-01", "--end", "2025-10-31", "--output", str(output), *extra]


def test_forests_left_out_by_start_from_are_named(small_sample, tmp_path, capsys):
    output = tmp_path / "zonal"
    assert cli.main(_zonal(small_sample, output)) == 0
    assert json.loads(capsys.readouterr().out)["notes"] == []
    assert cli.main(_zonal(small_sample, output, "--indices", "NDVI", "--overwrite",
                           "--start-from", "2")) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["computed"] == [282]
    assert summary["notes"] == [
        "not in the combined tables: forest(s) 281 before --start-from 2 have no results of "
        "this run's inputs; rerun without --start-from to compute them"]
    table = pd.read_csv(output / "zonal_forests_all.csv")
    assert set(table["forest_id"]) == {282}
    assert cli.main(_zonal(small_sample, output, "--indices", "NDVI")) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["computed"], summary["skipped_complete"], summary["notes"]) == (
        [281], [282], [])
    assert set(pd.read_csv(output / "zonal_forests_all.csv")["forest_id"]) == {281, 282}
