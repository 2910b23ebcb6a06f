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


RADAR_FIX = ("check the dates and that the forests lie under the scenes: raster-collect search "
             "lists the scenes there are")
STORM_FIX = ("check --event-date, --before-days and --after-days (a job spec's event_date, "
             "before_days and after_days), --max-cloud (max_cloud_cover) and that the forests "
             "lie under the scenes: raster-collect search --start 2020-03-03 --end 2020-07-16 "
             "lists the scenes there are")


def test_a_storm_whose_windows_hold_no_scene_says_what_to_change(small_sample, tmp_path,
                                                                capsys):
    """storm ended "nothing to compute: ... no scenes ..." with no fix: now it names the
    options that place its windows and the search that lists the scenes there."""
    common = ["--gpkg", str(small_sample.forests_path), "--catalog",
              str(small_sample.catalog_path), "--collections", "sentinel-2-l2a"]
    assert cli.main(["storm", *common, "--event-date", "2020-06-01",
                     "--output", str(tmp_path / "storm")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("raster-collect: error: nothing to compute: Static catalog: no "
                   "sentinel-2-l2a scenes for this area between 2020-03-03 and 2020-07-16 "
                   f"with at most 80.0% cloud: {STORM_FIX}")
    assert not (tmp_path / "storm").exists()
    spec = tmp_path / "storm.json"
    spec.write_text(json.dumps({
        "kind": "storm", "aoi": str(small_sample.forests_path), "event_date": "2020-06-01",
        "sources": [{"kind": "static", "href": str(small_sample.catalog_path),
                     "collections": ["sentinel-2-l2a"]}],
        "output_dir": str(tmp_path / "job")}))
    assert cli.main(["job", str(spec)]) == 2
    assert capsys.readouterr().err.strip().endswith(f": {STORM_FIX}")


def test_radar_collections_name_no_cloud_limit(small_sample, tmp_path, capsys):
    """"no sentinel-1-rtc scenes ... with at most 80.0% cloud" named a limit radar scenes
    (no cloud cover) are not held to: radar lines leave it out, optical ones keep it."""
    common = ["--gpkg", str(small_sample.forests_path), "--catalog",
              str(small_sample.catalog_path), "--collections", "sentinel-1-rtc"]
    assert cli.main(["zonal", *common, "--start", "2020-01-01", "--end", "2020-03-01",
                     "--output", str(tmp_path / "zonal")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("raster-collect: error: nothing to compute: Static catalog: no "
                   "sentinel-1-rtc scenes for this area between 2020-01-01 and 2020-03-01: "
                   f"{RADAR_FIX}")  # no --max-cloud: radar scenes have no cloud limit
    assert cli.main(["composite", *common, "--start", "2020-01-01", "--end", "2020-03-01",
                     "--indices", "VV", "--output", str(tmp_path / "composite")]) == 2
    assert capsys.readouterr().err.strip().endswith(
        "between 2020-01-01 and 2020-03-01: " + RADAR_FIX)
    assert not (tmp_path / "composite").exists()
    assert cli.main(["storm", *common, "--event-date", "2020-06-01",
                     "--output", str(tmp_path / "storm")]) == 2
    err = capsys.readouterr().err.strip()
    assert "cloud" not in err and "between 2020-03-03 and 2020-07-16: check --event-date" in err
    assert cli.main(["search", *common, "--start", "2020-01-01", "--end", "2020-03-01"]) == 0
    assert capsys.readouterr().out.strip() == (
        "0 scenes found (sentinel-1-rtc, 2020-01-01 to 2020-03-01): check the dates and the "
        "collection names")
