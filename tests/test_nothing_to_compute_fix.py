""""nothing to compute" over dates (or a cloud limit) that match no scene named the problem
but not the fix (`search` says "check the dates ..."); now the line ends with it, in every
door."""

from __future__ import annotations

import json

from raster_collect_plugin import cli

FIX = ("check the dates, --max-cloud (a job spec's max_cloud_cover) and that the forests lie "
       "under the scenes: raster-collect search lists the scenes there are")


def test_no_scene_in_the_dates_says_what_to_change(small_sample, tmp_path, capsys):
    common = ["--gpkg", str(small_sample.forests_path), "--catalog",
              str(small_sample.catalog_path), "--collections", "sentinel-2-l2a",
              "--start", "2024-03-01", "--end", "2024-03-31"]
    for command in ("zonal", "composite"):
        assert cli.main([command, *common, "--output", str(tmp_path / command)]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1
        assert err.startswith("raster-collect: error: nothing to compute: Static catalog: no "
                              "sentinel-2-l2a scenes for this area between 2024-03-01 and "
                              "2024-03-31 with at most 80.0% cloud"), err
        assert err.endswith(f": {FIX}"), err
    spec = tmp_path / "zonal.json"
    spec.write_text(json.dumps({
        "kind": "zonal", "aoi": str(small_sample.forests_path),
        "sources": [{"kind": "static", "href": str(small_sample.catalog_path)}],
        "start": "2024-03-01", "end": "2024-03-31", "output_dir": str(tmp_path / "job")}))
    assert cli.main(["job", str(spec)]) == 2
    assert capsys.readouterr().err.strip().endswith(f": {FIX}")
