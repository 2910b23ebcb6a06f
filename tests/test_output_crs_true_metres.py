"""--crs EPSG:3857 (Web Mercator, a spec's "crs"): its metres are not metres on the ground
away from the equator, so 10 m pixels were 8.9 m over Queensland (6.7 m at 48° N) and a
monitor's hectares 1.26 (2.26) times too many, with exit 0. Refused in every door as a CRS in
feet is, before any work, naming the forests' UTM zone; a UTM zone is still taken."""

import json

import pytest

from raster_collect_plugin import cli

MESSAGE = ("EPSG:3857 does not measure true metres over the forests (as Web Mercator, "
           "stretched away from the equator); --resolution and the areas (ha) are metres on "
           "the ground: give a CRS such as their UTM zone EPSG:32756")


def _args(sample, tmp_path, door, crs):
    forests, catalog = str(sample.forests_path), str(sample.catalog_path)
    if door == "storm":
        return ["storm", "--gpkg", forests, "--catalog", catalog, "--collections",
                "sentinel-2-l2a", "--event-date", "2025-11-13", "--crs", crs,
                "--output", str(tmp_path / "out")]
    if door == "monitor":
        return ["monitor", "--gpkg", forests, "--catalog", catalog, "--history-start",
                "2025-10-01", "--history-end", "2025-11-15", "--end", "2025-12-31",
                "--crs", crs, "--output", str(tmp_path / "out")]
    spec = {"kind": "composite", "aoi": forests, "crs": crs,
            "sources": [{"kind": "static", "href": catalog, "collections": ["sentinel-2-l2a"]}],
            "start": "2025-10-01", "end": "2025-10-31", "output_dir": str(tmp_path / "out")}
    (tmp_path / "job.json").write_text(json.dumps(spec))
    return ["job", str(tmp_path / "job.json")]


@pytest.mark.parametrize("door", ["storm", "composite job", "monitor"])
def test_web_mercator_as_the_output_crs_is_refused(small_sample, tmp_path, capsys, door):
    assert cli.main(["--quiet"] + _args(small_sample, tmp_path, door, "EPSG:3857")) == 2
    err = capsys.readouterr().err
    assert MESSAGE in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_a_utm_zone_is_still_taken(small_sample, tmp_path, capsys):
    assert cli.main(["--json"] + _args(small_sample, tmp_path, "composite job",
                                       "EPSG:32756")) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["errors"] == {} and result["collections"]
