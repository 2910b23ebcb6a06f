"""Which day a scene belongs to: UTC days everywhere (README *Command line*), and the tiles
odc-stac fuses into one time step named by the scenes they really hold."""

from __future__ import annotations

import json
import shutil

import geopandas as gpd
import pytest
from odc.geo.geobox import GeoBox

from raster_collect_plugin import cli
from raster_collect_plugin.core.pixels.load import LoadSpec, load_scenes
from raster_collect_plugin.core.sources.providers.base import SearchQuery
from raster_collect_plugin.core.sources.providers.static_catalog import StaticCatalogProvider


def _retimed_copy(sample, root, times):
    """The sample's catalog with its first Sentinel-2 items given other times (``times``:
    one ISO UTC time per item, in item order); returns their ids."""
    shutil.copytree(sample.catalog_path.parent, root)
    paths = sorted((root / "sentinel-2-l2a").glob("*/*.json"))
    ids = []
    for path, when in zip(paths, times):
        item = json.loads(path.read_text())
        item["properties"]["datetime"] = when
        path.write_text(json.dumps(item))
        ids.append(item["id"])
    assert len(ids) == len(times)
    return ids


def test_fused_tiles_are_named_by_odc_stac_s_own_days(small_sample, tmp_path):
    """odc-stac fuses the scenes of one solar day (UTC + whole hours of the grid's centre
    longitude: + 10 h over Queensland) into a time step; the run named each step's scenes
    by its own rule (each scene's longitude, to the second: + 10 h 12 min), so scenes near
    local midnight were fused in one place and reported, and given their DN rule, in
    another. Now the names follow odc-stac's grouping."""
    a, b, c = _retimed_copy(small_sample, tmp_path / "catalog", [
        "2025-10-10T13:50:00Z", "2025-10-10T14:05:00Z", "2025-10-11T13:55:00Z"])
    forests = gpd.read_file(small_sample.forests_path)
    bbox = tuple(forests.to_crs("EPSG:4326").total_bounds)
    provider = StaticCatalogProvider("catalog", str(tmp_path / "catalog"))
    items = provider.search(SearchQuery(bbox, *_days("2025-10-10", "2025-10-11"),
                                        ["sentinel-2-l2a"]))
    assert sorted(item.id for item in items) == sorted([a, b, c])
    utm = forests.to_crs("EPSG:32756")
    geobox = GeoBox.from_bbox(tuple(utm.total_bounds), "EPSG:32756", resolution=20)
    loaded = load_scenes(items, LoadSpec(provider.profile("sentinel-2-l2a", items[0]),
                                         ("nir", "red"), geobox))
    # 13:50 UTC is 23:50 on the 10th (+10 h); 14:05 and 13:55 the next day are the 11th
    assert loaded.scene_ids == [[a], [b, c]]
    first = {item.id: item.datetime.replace(tzinfo=None) for item in items}
    assert [str(t)[:19] for t in loaded.valid.time.values] == \
        [first[ids[0]].isoformat() for ids in loaded.scene_ids]


def _days(*texts):
    from datetime import date

    return [date.fromisoformat(text) for text in texts]


def test_one_date_given_takes_the_other_from_it(small_sample, capsys):
    """`--end 2025-10-31` alone was refused with "the period ends (2025-10-31) before it
    starts (a year before today): swap the dates", a date the user never gave; `--start`
    alone after today said the same. Now `--end` alone searches the year before it, and a
    future `--start` alone names the default --end it passed (exit 2)."""
    from datetime import date, timedelta

    base = ["--json", "search", "--gpkg", str(small_sample.forests_path), "--catalog",
            str(small_sample.catalog_path)]
    assert cli.main([*base, "--end", "2025-10-31"]) == 0
    days = [row["datetime"][:10] for row in json.loads(capsys.readouterr().out)["items"]]
    assert days and max(days) <= "2025-10-31"  # the sample starts on 1 October 2025
    assert cli.main([*base, "--start", "2025-10-01", "--end", "2025-10-31"]) == 0
    assert len(json.loads(capsys.readouterr().out)["items"]) == len(days)
    before = date.today()
    future = before + timedelta(days=30)
    assert cli.main([*base, "--start", future.isoformat()]) == 2
    message = json.loads(capsys.readouterr().out)["error"]["message"]
    assert message in {  # the day the command read: a run across midnight sees either
        f"--start {future} is after today ({today}, the default --end): give an --end after "
        "it, or an earlier --start" for today in (before, date.today())}


def test_a_time_written_with_an_offset_is_listed_on_its_utc_day(small_sample, tmp_path,
                                                                capsys):
    """An item dated `2025-11-01T09:30:00+10:00` (AEST, which RFC 3339 allows) is 23:30 UTC
    on 31 October: `--start/--end 2025-10-31` found it, and listed it as 2025-11-01 with
    its +10:00 time. Now its time is given in UTC, its day the day it was searched by."""
    (item,) = _retimed_copy(small_sample, tmp_path / "catalog", ["2025-11-01T09:30:00+10:00"])
    base = ["--json", "search", "--gpkg", str(small_sample.forests_path), "--catalog",
            str(tmp_path / "catalog"), "--collections", "sentinel-2-l2a"]
    assert cli.main([*base, "--start", "2025-10-31", "--end", "2025-10-31"]) == 0
    rows = json.loads(capsys.readouterr().out)["items"]
    assert [(row["id"], row["datetime"]) for row in rows] == [
        (item, "2025-10-31T23:30:00+00:00")]
    assert cli.main([*base, "--start", "2025-11-01", "--end", "2025-11-01"]) == 0
    assert json.loads(capsys.readouterr().out)["items"] == []


def test_dates_outside_the_archives_are_refused_in_every_door(small_sample, tmp_path,
                                                              capsys):
    """`--end 0001-06-01`, `storm --event-date 9999-12-30` (a typo, a script's 'all') ended
    in a traceback ('date value out of range'), and `composite --start 1900-01-01` worked
    through 2,400 empty months; now a date outside 1970-2100 is bad input, one line, exit 2,
    in the command line and a job spec alike."""
    expected = ("is not a date like 2025-11-13 (or a date-time like 2025-11-13T00:00:00Z) "
                "from 1970 to 2100")
    for command in (["search", "--end", "0001-06-01"],
                    ["storm", "--event-date", "9999-12-30", "--output", str(tmp_path / "s")],
                    ["composite", "--start", "1900-01-01", "--output", str(tmp_path / "c")]):
        with pytest.raises(SystemExit) as exited:
            cli.main([*command, "--gpkg", str(small_sample.forests_path), "--catalog",
                      str(small_sample.catalog_path)])
        assert exited.value.code == 2
        assert capsys.readouterr().err.strip().splitlines()[-1].endswith(
            f"'{command[2]}' {expected}")
    spec = tmp_path / "job.json"
    spec.write_text(json.dumps({
        "kind": "search", "aoi": str(small_sample.forests_path), "start": "1900-01-01",
        "end": "2025-10-31", "sources": [{"kind": "static",
                                          "href": str(small_sample.catalog_path)}]}))
    assert cli.main(["job", str(spec), "--events"]) == 2
    event = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert event["message"] == (f"job spec 'start' must be {expected[7:]}, not '1900-01-01'")
    assert cli.main([ "--json", "search", "--gpkg", str(small_sample.forests_path),
                     "--catalog", str(small_sample.catalog_path), "--start", "1970-01-01",
                     "--end", "2100-12-31"]) == 0  # the bounds themselves are fine
    assert json.loads(capsys.readouterr().out)["scenes"] > 0
