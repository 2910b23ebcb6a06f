"""Command-line scenarios a user tries: empty periods, reruns, odd layers and ids."""

import json

import geopandas as gpd
import pandas as pd
import pytest

from raster_collect_plugin import cli


def zonal_args(sample, output, *extra, start="2025-10-01", end="2025-11-30"):
    return ["zonal", "--gpkg", str(sample.forests_path), "--catalog", str(sample.catalog_path),
            "--collections", "sentinel-2-l2a", "--start", start, "--end", end,
            "--indices", "NDVI", "--output", str(output), *extra]


def test_zonal_over_a_period_without_scenes_is_one_bad_input_line(small_sample, tmp_path,
                                                                  capsys):
    """No scene at all in the period: exit 2 with one line naming the dates (as `composite`),
    not one failure per forest, and no output folder left behind."""
    output = tmp_path / "out"
    code = cli.main(["--quiet"] + zonal_args(small_sample, output, start="2030-01-01",
                                              end="2030-02-28"))
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "no sentinel-2-l2a scenes for this area between 2030-01-01 and 2030-02-28" in err
    assert not output.exists()


@pytest.mark.parametrize("collection, hint", [
    ("sentinel-2-l2", "did you mean sentinel-2-l2a"),
    ("spot-6", "it has landsat-c2-l2, sentinel-1-rtc, sentinel-2-l2a")])
def test_a_collection_the_catalog_does_not_have_is_named(small_sample, tmp_path, capsys,
                                                        collection, hint):
    """A typo in --collections is said as such, with what the catalog has; it read as "no
    sentinel-2-l2 scenes for this area between ...", sending the user to the dates."""
    output = tmp_path / "out"
    args = zonal_args(small_sample, output)
    args[args.index("sentinel-2-l2a")] = collection
    code = cli.main(["--quiet"] + args)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert f"has no collection {collection!r}: {hint}" in err
    assert "scenes for this area" not in err
    assert not output.exists()


@pytest.mark.parametrize("command", [
    ["search", "--start", "2025-10-01", "--end", "2025-11-30"],
    ["monitor", "--history-start", "2025-01-01", "--history-end", "2025-10-31"]])
def test_search_and_monitor_refuse_a_collection_the_catalog_does_not_have(
        small_sample, tmp_path, capsys, command):
    """Beside a collection that has scenes, a misspelt one was silently left out: search
    listed the others (exit 0), a monitoring followed Landsat alone and kept the typo in its
    folder's fingerprint."""
    output = tmp_path / "out"
    args = [*command, "--gpkg", str(small_sample.forests_path), "--catalog",
            str(small_sample.catalog_path), "--collections", "landsat-c2-l2,sentinel-2-l2"]
    code = cli.main(["--quiet", *args, *(["--output", str(output)] if command[0] == "monitor"
                                         else [])])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert "has no collection 'sentinel-2-l2': did you mean sentinel-2-l2a" in err
    assert not output.exists()


@pytest.mark.parametrize("command", ["composite", "zonal"])
def test_overwrite_with_scenes_that_give_no_index_keeps_the_results(small_sample, tmp_path,
                                                                    capsys, command):
    """Radar scenes asked for NDVI: nothing to compute, said before the folder is touched. An
    --overwrite run dropped the manifest of the results it was to replace first, so the
    earlier results were no longer trusted (nor kept by a rerun)."""
    output = tmp_path / "out"
    first = zonal_args(small_sample, output, start="2025-10-01", end="2025-10-31")
    first[0] = command
    assert cli.main(["--quiet"] + first) == 0, capsys.readouterr().err
    manifest = (output / "manifest.json").read_bytes()
    radar = list(first)
    radar[radar.index("sentinel-2-l2a")] = "sentinel-1-rtc"
    code = cli.main(["--quiet"] + radar + ["--overwrite"])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert "nothing to compute: sentinel-1-rtc has no nir or red band" in err
    assert len(err.splitlines()) == 1
    assert (output / "manifest.json").read_bytes() == manifest


@pytest.mark.parametrize("command", ["zonal", "storm"])
def test_a_polygon_without_an_id_is_one_bad_input_line(small_sample, tmp_path, capsys,
                                                       command):
    """A compartment whose id field is empty: zonal ended in a GEOSException traceback (the
    forest "nan" selected nothing), storm ranked a stand "None". A chosen forest still runs."""
    import geopandas as gpd

    forests = gpd.read_file(small_sample.forests_path).head(3)
    forests["forest_id"] = forests["forest_id"].astype(object)
    forests.loc[1, "forest_id"] = None
    gpkg = tmp_path / "stands.gpkg"
    forests.to_file(gpkg)
    output = tmp_path / "out"
    args = zonal_args(small_sample, output)
    args[args.index("--gpkg") + 1] = str(gpkg)
    if command == "storm":
        args = ["storm", "--gpkg", str(gpkg), "--catalog", str(small_sample.catalog_path),
                "--event-date", "2025-11-13", "--output", str(output)]
    code = cli.main(["--quiet"] + args)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert err.endswith("1 polygon(s) have no forest_id (feature(s) 2, in file order): give "
                        "each an id, or choose another id field")
    assert not output.exists()
    if command == "zonal":
        chosen = args + ["--forest", str(forests.loc[0, "forest_id"])]
        assert cli.main(["--quiet"] + chosen) == 0, capsys.readouterr().err


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16"])
def test_job_spec_is_read_as_json_whatever_the_editor(small_sample, tmp_path, capsys,
                                                      encoding):
    """A spec saved by Notepad (UTF-8 with a BOM) or PowerShell 5 (UTF-16) is the same spec,
    non-ASCII names included (and it is read as JSON bytes, never in the locale's code page)."""
    output = tmp_path / "Förster_ü" / "hexagons.gpkg"
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"kind": "hexagons", "aoi": str(small_sample.forests_path),
                                "output": str(output), "hexagon_area_m2": 100_000},
                               ensure_ascii=False), encoding=encoding)
    assert cli.main(["--json", "job", str(spec)]) == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out)["cells"] > 0
    assert output.exists()


def test_zonal_forest_ids_a_file_name_cannot_hold(small_sample, tmp_path, capsys):
    """Compartment ids such as "12/3" (compartment/sub-compartment) get a folder each, and a
    rerun finds them complete."""
    import geopandas as gpd

    forests = gpd.read_file(small_sample.forests_path).head(3)
    forests["forest_id"] = ["12/3", "12_3", "A:1"]
    gpkg = tmp_path / "stands.gpkg"
    forests.to_file(gpkg)
    output = tmp_path / "out"
    args = ["--json", "zonal", "--gpkg", str(gpkg), "--catalog", str(small_sample.catalog_path),
            "--collections", "sentinel-2-l2a", "--start", "2025-10-01", "--end", "2025-10-31",
            "--indices", "NDVI", "--output", str(output)]
    assert cli.main(args) == 0, capsys.readouterr().err
    summary = json.loads(capsys.readouterr().out)
    assert sorted(summary["computed"]) == ["12/3", "12_3", "A:1"] and not summary["failed"]
    folders = sorted(p.name for p in output.glob("forest_*"))
    assert len(folders) == 3 and "forest_12_3" in folders
    assert all("/" not in name and ":" not in name for name in folders)
    table = pd.read_csv(output / "zonal_forests_all.csv")
    assert sorted(set(table["forest_id"])) == ["12/3", "12_3", "A:1"]
    assert cli.main(args) == 0
    assert sorted(json.loads(capsys.readouterr().out)["skipped_complete"]) == \
        ["12/3", "12_3", "A:1"]


def test_the_default_layer_is_the_first_polygon_layer(small_sample, tmp_path, capsys,
                                                     recwarn):
    """A GeoPackage whose first layer is a road network: the forests' polygon layer is used
    (no --layer needed, no warning about several layers), ids read from it."""
    import geopandas as gpd
    import shapely

    forests = gpd.read_file(small_sample.forests_path).head(2)
    gpkg = tmp_path / "estate.gpkg"
    x, y = forests.geometry.iloc[0].centroid.coords[0]
    gpd.GeoDataFrame({"name": ["road"]}, geometry=[shapely.LineString([(x, y), (x + 50, y)])],
                     crs=forests.crs).to_file(gpkg, layer="roads")
    forests.to_file(gpkg, layer="compartments")
    args = ["--json", "zonal", "--gpkg", str(gpkg), "--catalog", str(small_sample.catalog_path),
            "--collections", "sentinel-2-l2a", "--start", "2025-10-01", "--end", "2025-10-31",
            "--indices", "NDVI", "--output", str(tmp_path / "out")]
    assert cli.main(args) == 0, capsys.readouterr().err
    assert sorted(json.loads(capsys.readouterr().out)["computed"]) == \
        sorted(forests["forest_id"])
    assert not [w for w in recwarn if "More than one layer" in str(w.message)]


@pytest.mark.parametrize("command, flag, value", [
    ("hexagons", "--area-ha", "-1"), ("hexagons", "--edge-m", "-5"), ("hexagons", "--h3", "99"),
    ("zonal", "--hex-area-ha", "0"), ("zonal", "--h3", "16"), ("storm", "--hex-area-ha", "nan"),
])
def test_a_wrong_cell_size_is_one_bad_input_line(small_sample, tmp_path, capsys, command, flag,
                                                 value):
    """A negative hexagon area or edge, or an H3 resolution outside 0-15: exit 2 with one line
    naming the option, before any work (not a traceback, nor an empty grid)."""
    args = {"hexagons": ["--output", str(tmp_path / "cells.gpkg")],
            "zonal": ["--catalog", str(small_sample.catalog_path), "--output",
                      str(tmp_path / "out")],
            "storm": ["--catalog", str(small_sample.catalog_path), "--event-date", "2025-11-13",
                      "--output", str(tmp_path / "out")]}[command]
    code = cli.main(["--quiet", command, "--gpkg", str(small_sample.forests_path), *args,
                     flag, value])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and err.startswith(f"raster-collect: error: {flag} must")
    assert not list(tmp_path.iterdir())


def test_zonal_whose_only_source_fails_says_it_once(small_sample, tmp_path, capsys):
    """Every source failed (a catalog that cannot be read): one line with the source's error,
    exit 1 as `composite`, and no output folder."""
    output = tmp_path / "out"
    broken = tmp_path / "broken" / "catalog.json"
    broken.parent.mkdir()
    broken.write_text("{not json")
    args = zonal_args(small_sample, output)
    args[args.index("--catalog") + 1] = str(broken)
    code = cli.main(["--quiet"] + args)
    err = capsys.readouterr().err.strip()
    assert code == 1, err
    assert len(err.splitlines()) == 1 and "cannot read the catalog" in err
    assert not output.exists()


@pytest.mark.parametrize("door", ["composite", "job"])
def test_scenes_that_cannot_be_read_are_a_failure_not_bad_input(small_sample, tmp_path, capsys,
                                                                door):
    """Every collection found scenes but none could be read (a red band missing on the
    server): "nothing to compute" exited 2, bad input, while an unreachable source exits 1.
    A read failure is a failure: exit 1, the file named, no output folder."""
    import shutil

    catalog = tmp_path / "catalog"
    shutil.copytree(small_sample.catalog_path.parent, catalog)
    missing = sorted((catalog / "sentinel-2-l2a").glob("*/B04.tif"))
    assert missing
    for band in missing:
        band.unlink()
    output = tmp_path / "out"
    args = zonal_args(small_sample, output)
    args[0] = "composite"
    args[args.index("--catalog") + 1] = str(catalog / "catalog.json")
    if door == "job":
        spec = tmp_path / "spec.json"
        spec.write_text(json.dumps({
            "kind": "composite", "aoi": str(small_sample.forests_path),
            "sources": [{"kind": "static", "href": str(catalog / "catalog.json"),
                         "collections": ["sentinel-2-l2a"]}],
            "start": "2025-10-01", "end": "2025-11-30", "indices": ["NDVI"],
            "output_dir": str(output)}))
        args = ["job", str(spec)]
    code = cli.main(["--quiet"] + args)
    err = capsys.readouterr().err.strip()
    assert code == 1, err
    assert len(err.splitlines()) == 1 and "reading scenes failed" in err and "B04.tif" in err
    assert not output.exists()


@pytest.mark.parametrize("command", [
    ["zonal", "--start", "2025-10-01", "--end", "2025-10-31", "--indices", "NDVI"],
    ["search", "--start", "2025-10-01", "--end", "2025-10-31"],
    ["monitor", "--history-start", "2024-01-01", "--history-end", "2024-12-31"],
], ids=lambda c: c[0])
def test_a_catalog_path_that_does_not_exist_is_bad_input(small_sample, tmp_path, capsys,
                                                         command):
    """A mistyped local catalog path: exit 2, one line naming the path, before any work (the
    monitoring run said only "no optical scenes can give NDVI", hiding the cause)."""
    missing = tmp_path / "missing" / "catalog.json"
    output = ["--output", str(tmp_path / "out")] if command[0] != "search" else []
    code = cli.main(["--quiet", *command, "--gpkg", str(small_sample.forests_path),
                     "--catalog", str(missing), "--collections", "sentinel-2-l2a", *output])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and f"the STAC catalog {missing} does not exist" in err
    assert not (tmp_path / "out").exists()


def test_a_job_spec_whose_catalog_does_not_exist_is_bad_input(small_sample, tmp_path, capsys):
    missing = tmp_path / "missing" / "catalog.json"
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({
        "kind": "composite", "aoi": str(small_sample.forests_path),
        "sources": [{"kind": "static", "href": str(missing),
                     "collections": ["sentinel-2-l2a"]}],
        "start": "2025-10-01", "end": "2025-10-31", "indices": ["NDVI"],
        "output_dir": str(tmp_path / "out")}))
    assert cli.main(["--quiet", "job", str(spec)]) == 2
    assert f"the STAC catalog {missing} does not exist" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_file_url_catalog_is_checked_as_its_path(small_sample, tmp_path, capsys):
    """``--catalog file:///missing/catalog.json`` failed after the run started (exit 1, "cannot
    read the catalog"); a ``file://`` URL of the catalog's folder was not taken as that
    catalog. Both are now the path's: bad input up front, and the folder's catalog.json."""
    missing = (tmp_path / "missing" / "catalog.json").as_uri()
    code = cli.main(["--quiet", "search", "--gpkg", str(small_sample.forests_path),
                     "--catalog", missing, "--start", "2025-10-01", "--end", "2025-10-31"])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert err == (f"raster-collect: error: Static catalog: the STAC catalog {missing} does not "
                   "exist; check the path to its catalog.json")
    folder = small_sample.catalog_path.parent.as_uri()
    code = cli.main(["--json", "search", "--gpkg", str(small_sample.forests_path),
                     "--catalog", folder, "--collections", "sentinel-2-l2a",
                     "--start", "2025-01-01", "--end", "2025-12-31"])
    found = json.loads(capsys.readouterr().out)
    assert code == 0 and found["scenes"] > 0 and found["errors"] == {}


def test_search_that_finds_nothing_says_so(small_sample, capsys):
    """A search with no scene (dates without any) prints why, not nothing (a mistyped
    collection is refused: test_search_and_monitor_refuse_a_collection...)."""
    args = ["search", "--gpkg", str(small_sample.forests_path), "--catalog",
            str(small_sample.catalog_path), "--collections", "sentinel-2-l2a",
            "--start", "2030-10-01", "--end", "2030-10-31"]
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert out.startswith("0 scenes found (sentinel-2-l2a, 2030-10-01 to 2030-10-31, at most "
                          "80% cloud): check the dates, the collection names")
    assert cli.main(["--json"] + args) == 0
    assert json.loads(capsys.readouterr().out)["scenes"] == 0


def test_forest_ids_in_a_decimal_id_field(small_sample, tmp_path, capsys):
    """Ids stored as decimals (a shapefile or spreadsheet's Real field: 281.0) are chosen with
    --forest 281 as with 281.0; a text id is still compared as written."""
    import geopandas as gpd

    forests = gpd.read_file(small_sample.forests_path)
    forests["forest_id"] = forests["forest_id"].astype(float)
    gpkg = tmp_path / "real_ids.gpkg"
    forests.to_file(gpkg)
    first, second = sorted(forests["forest_id"])[:2]
    args = ["--json", "zonal", "--gpkg", str(gpkg), "--catalog", str(small_sample.catalog_path),
            "--collections", "sentinel-2-l2a", "--start", "2025-10-01", "--end", "2025-10-31",
            "--indices", "NDVI", "--forest", f"{int(first)},{second}",
            "--output", str(tmp_path / "out")]
    assert cli.main(args) == 0, capsys.readouterr().err
    assert sorted(json.loads(capsys.readouterr().out)["computed"]) == [first, second]
    args[args.index("--forest") + 1] = f"{int(first)}.5"
    assert cli.main(args) == 2
    assert f"no polygons with forest_id in ['{int(first)}.5']" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["zonal", "composite"])
def test_an_output_that_is_a_file_is_one_bad_input_line(small_sample, tmp_path, capsys,
                                                         command):
    """--output naming an existing file (or a path below one): exit 2 saying so, no
    traceback; the file is untouched."""
    existing = tmp_path / "results.csv"
    existing.write_text("keep me")
    for output in (existing, existing / "run"):
        args = zonal_args(small_sample, output)
        args[0] = command
        assert cli.main(["--quiet"] + args) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "Traceback" not in err, err
        assert "is a file; choose another --output" in err
    assert existing.read_text() == "keep me"


def test_hexagons_output_that_is_a_folder_is_one_bad_input_line(small_sample, tmp_path,
                                                                 capsys):
    """`hexagons --output outputs/` (a folder, as for zonal): exit 2 naming a file to give,
    before any work, not a traceback after it."""
    folder = tmp_path / "outputs"
    folder.mkdir()
    args = ["--quiet", "hexagons", "--gpkg", str(small_sample.forests_path), "--area-ha", "1",
            "--output", str(folder)]
    assert cli.main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "is a folder: give the file to write" in err, err
    assert not list(folder.iterdir()) and sorted(p.name for p in tmp_path.iterdir()) == \
        ["outputs"]


def test_zonal_with_hexagons_combines_the_hexagon_tables(small_sample, tmp_path, capsys):
    """With --hex-area-ha the run's hexagons are combined like its forests
    (zonal_hexagons_all.*), listed in the summary and the manifest."""
    output = tmp_path / "out"
    assert cli.main(["--json"] + zonal_args(small_sample, output, "--hex-area-ha", "20",
                                            end="2025-10-31")) == 0
    combined = json.loads(capsys.readouterr().out)["combined_tables"]
    assert combined["hexagons_csv"] == str(output / "zonal_hexagons_all.csv")
    assert combined["hexagons_latest"] == str(output / "hexagons_latest.gpkg")
    hexagons = pd.read_csv(output / "zonal_hexagons_all.csv")
    per_forest = pd.concat(pd.read_csv(p) for p in output.glob("forest_*/zonal_hexagons.csv"))
    assert len(hexagons) == len(per_forest) > 0
    assert set(hexagons["forest_id"]) == set(pd.read_csv(output / "zonal_forests_all.csv")
                                             ["forest_id"])
    manifest = json.loads((output / "manifest.json").read_text())
    assert {"zonal_hexagons_all.csv", "zonal_hexagons_all.parquet", "zonal_hexagons_all.gpkg",
            "hexagons_latest.gpkg", "forests_latest.gpkg"} <= set(manifest["files"])


@pytest.mark.parametrize("option, value, message", [
    ("--crs", "EPSG:4326", "--crs EPSG:4326 is geographic (degrees)"),
    ("--max-cloud", "150", "a percentage from 0 to 100 (--max-cloud), not 150"),
    ("--max-cloud", "-1", "a percentage from 0 to 100 (--max-cloud), not -1"),
])
@pytest.mark.parametrize("command", ["zonal", "composite"])
def test_geographic_crs_and_cloud_limit_outside_0_100_are_refused(small_sample, tmp_path, capsys,
                                                                  command, option, value,
                                                                  message):
    """--crs EPSG:4326 made 10-degree pixels (one NaN cell per forest, exit 0) and a cloud
    limit outside 0-100 was taken as given: both are one exit-2 line before any work."""
    args = zonal_args(small_sample, tmp_path / "out", option, value)
    args[0] = command
    assert cli.main(["--quiet"] + args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
    assert not (tmp_path / "out").exists()


def test_hexagons_job_whose_output_is_a_folder(small_sample, tmp_path, capsys):
    """A hexagons job spec whose 'output' is a folder: exit 2 naming a file, no traceback."""
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"kind": "hexagons", "aoi": str(small_sample.forests_path),
                                "output": str(tmp_path), "hexagon_area_m2": 100_000}))
    assert cli.main(["--quiet", "job", str(spec)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "is a folder: give the file to write" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spec.json"]


@pytest.mark.parametrize("door", ["command", "job"])
def test_hexagons_never_replace_an_existing_file_unless_asked(small_sample, tmp_path, capsys,
                                                              door):
    """An existing --output (job spec 'output') was replaced without being asked: now one line
    with the advice every other output gives (exit 2, the file as it was), and replaced with
    --overwrite (job spec "overwrite": true), as the other commands' outputs."""
    output = tmp_path / "cells.gpkg"

    def hexagons(area_ha, *overwrite):
        if door == "command":
            return cli.main(["--quiet", "hexagons", "--gpkg", str(small_sample.forests_path),
                             "--area-ha", str(area_ha), "--output", str(output), *overwrite])
        spec = tmp_path / "spec.json"
        spec.write_text(json.dumps({"kind": "hexagons", "aoi": str(small_sample.forests_path),
                                    "hexagon_area_m2": area_ha * 10_000,
                                    "output": str(output), "overwrite": bool(overwrite)}))
        return cli.main(["--quiet", "job", str(spec)])

    assert hexagons(1) == 0
    first = output.read_bytes()
    assert hexagons(5) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"{output} exists (its layers would be replaced by "\
        'the hexagons): use --overwrite (job spec "overwrite": true) to replace them' in err, err
    assert output.read_bytes() == first
    assert hexagons(5, "--overwrite") == 0
    assert gpd.read_file(output).area.max().round(-1) == 50_000  # the new 5 ha grid


def test_zonal_says_which_polygons_it_skipped_or_repaired(small_sample, tmp_path, capsys):
    """An empty geometry is skipped and a self-intersecting one repaired: the command's
    summary says so (it said nothing before), as composite's notes do."""
    import geopandas as gpd
    import shapely

    forests = gpd.read_file(small_sample.forests_path).head(2)
    x0, y0, x1, y1 = forests.geometry.iloc[0].bounds
    bow_tie = shapely.Polygon([(x0, y0), (x1, y1), (x1, y0), (x0, y1), (x0, y0)])
    forests = gpd.GeoDataFrame({"forest_id": [1, 2]}, geometry=[bow_tie, shapely.Polygon()],
                               crs=forests.crs)
    gpkg = tmp_path / "odd.gpkg"
    forests.to_file(gpkg)
    args = zonal_args(small_sample, tmp_path / "out", end="2025-10-31")
    args[args.index("--gpkg") + 1] = str(gpkg)
    assert cli.main(["--json"] + args) == 0, capsys.readouterr().err
    summary = json.loads(capsys.readouterr().out)
    assert summary["computed"] == [1]
    assert summary["notes"] == ["repaired invalid geometry of forest_id=1",
                                "skipped forest_id=2: empty geometry"]


def test_polygons_with_heights_give_the_statistics_of_their_footprints(small_sample, tmp_path,
                                                                     capsys):
    """Compartments surveyed with heights (Polygon Z, from a GPS or a drone) stopped zonal
    with a traceback from the footprint's reprojection; they are their 2-D footprints."""
    import numpy as np
    import shapely

    forests = gpd.read_file(small_sample.forests_path).head(2)
    with_heights = forests.set_geometry(shapely.force_3d(forests.geometry.values, 41.5))
    assert with_heights.has_z.all()
    tables = {}
    for name, frame in (("flat", forests), ("heights", with_heights)):
        gpkg = tmp_path / f"{name}.gpkg"
        frame.to_file(gpkg)
        args = zonal_args(small_sample, tmp_path / name, end="2025-10-31")
        args[args.index("--gpkg") + 1] = str(gpkg)
        assert cli.main(["--quiet"] + args) == 0, capsys.readouterr().err
        tables[name] = pd.read_csv(tmp_path / name / "zonal_forests_all.csv")
    assert len(tables["heights"]) == len(tables["flat"]) > 0
    np.testing.assert_array_equal(tables["heights"]["mean"], tables["flat"]["mean"])
    latest = gpd.read_file(tmp_path / "heights" / "forests_latest.gpkg")
    assert not latest.has_z.any()


@pytest.mark.parametrize("given", ["table.csv", "layer"])
def test_a_table_without_geometries_is_one_bad_input_line(small_sample, tmp_path, capsys, given):
    """A CSV of compartment ids, or a GeoPackage's attribute-only layer, stopped every command
    with "'DataFrame' object has no attribute 'geometry'"."""
    import pyogrio

    if given == "table.csv":
        path, extra = tmp_path / "table.csv", []
        pd.DataFrame({"forest_id": [281, 282]}).to_csv(path, index=False)
    else:
        path, extra = tmp_path / "two.gpkg", ["--layer", "notes"]
        gpd.read_file(small_sample.forests_path).to_file(path, layer="forests")
        pyogrio.write_dataframe(pd.DataFrame({"note": ["thinned 2024"]}), path, layer="notes")
    args = zonal_args(small_sample, tmp_path / "out", *extra)
    args[args.index("--gpkg") + 1] = str(path)
    assert cli.main(["--quiet"] + args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert "has no geometries (a table, not polygons): give the compartment polygons" in err
    if extra:
        assert "its layers are ['forests', 'notes']: choose the polygon layer with --layer" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("door", ["composite", "zonal", "job", "sentinel-hub"])
def test_an_index_given_twice_is_one_bad_input_line(small_sample, tmp_path, capsys,
                                                   monkeypatch, door):
    """NDVI,ndvi computed NDVI twice into one file, listed it twice in the metadata and
    doubled its share of the memory estimate; now refused before any work, in every door."""
    output = tmp_path / "out"
    if door == "job":
        spec = tmp_path / "spec.json"
        spec.write_text(json.dumps({
            "kind": "composite", "aoi": str(small_sample.forests_path), "start": "2025-10-01",
            "end": "2025-10-31", "indices": ["NDVI", "EVI", "ndvi"], "output_dir": str(output),
            "sources": [{"kind": "static", "href": str(small_sample.catalog_path)}]}))
        args = ["job", str(spec)]
    elif door == "sentinel-hub":  # refused before any request (nothing listens there)
        monkeypatch.setenv("SH_CLIENT_ID", "id")
        monkeypatch.setenv("SH_CLIENT_SECRET", "secret")
        args = ["sentinel-hub", "--gpkg", str(small_sample.forests_path), "--start",
                "2025-10-01", "--end", "2025-10-31", "--indices", "NDVI,EVI,ndvi", "--output",
                str(output), "--base-url", "http://127.0.0.1:9", "--token-url",
                "http://127.0.0.1:9/token"]
    else:
        args = zonal_args(small_sample, output)
        args[0] = door
        args[args.index("--indices") + 1] = "NDVI,EVI,ndvi"
    assert cli.main(["--quiet"] + args) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("index NDVI is given more than once: list each index once"), err
    assert not output.exists()


def test_zonal_of_a_file_that_is_not_a_raster(small_sample, tmp_path, capsys):
    """`zonal --raster` given the polygon file (or any non-raster), and a zonal-raster job
    with a missing raster: one exit-2 line each (were tracebacks, 'unexpected ZoneError')."""
    base = ["--quiet", "zonal", "--gpkg", str(small_sample.forests_path), "--output",
            str(tmp_path / "out")]
    assert cli.main(base + ["--raster", str(small_sample.forests_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "as a raster" in err and "not a vector file" in err
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"kind": "zonal-raster", "aoi": str(small_sample.forests_path),
                                "raster": str(tmp_path / "missing.tif"),
                                "output_dir": str(tmp_path / "out")}))
    assert cli.main(["--quiet", "job", str(spec)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"raster-collect: error: the raster {tmp_path / 'missing.tif'} does not " \
                  "exist: check the path"


def test_resuming_with_start_from_keeps_the_earlier_forests(small_sample, tmp_path, capsys):
    """README: `--start-from 16` resumes a run. The forests before it, complete in the folder,
    stay in the combined table, the combined latest-values layer and the manifest (the dock
    trusts only what the manifest lists)."""
    output = tmp_path / "out"
    assert cli.main(["--quiet"] + zonal_args(small_sample, output, end="2025-10-31")) == 0
    forests = sorted(pd.read_csv(output / "zonal_forests_all.csv")["forest_id"].unique())
    assert cli.main(["--json"] + zonal_args(small_sample, output, "--start-from", "5",
                                            end="2025-10-31")) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["computed"] == [] and summary["skipped_complete"] == forests[4:]
    assert sorted(pd.read_csv(output / "zonal_forests_all.csv")["forest_id"].unique()) == \
        forests
    import geopandas as gpd

    assert sorted(gpd.read_file(output / "forests_latest.gpkg")["forest_id"]) == forests
    listed = json.loads((output / "manifest.json").read_text())["files"]
    assert {f"forest_{i}/complete.json" for i in forests} | {"forests_latest.gpkg"} <= \
        set(listed)


def test_storm_windows_too_short_are_one_bad_input_line(small_sample, tmp_path, capsys):
    """storm --before-days 0 (or a spec's before_days 1): exit 2 naming the options, not a
    ValueError traceback; the spec's schema states the same minimum (2 days before)."""
    base = ["--quiet", "storm", "--gpkg", str(small_sample.forests_path), "--catalog",
            str(small_sample.catalog_path), "--event-date", "2025-11-13",
            "--output", str(tmp_path / "out")]
    assert cli.main(base + ["--before-days", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("raster-collect: error: the before window needs at least two days and the "
                   "after window one (--before-days / --after-days), not 0 / 45")
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"kind": "storm", "aoi": str(small_sample.forests_path),
                                "sources": [{"kind": "static",
                                             "href": str(small_sample.catalog_path)}],
                                "event_date": "2025-11-13", "before_days": 1,
                                "output_dir": str(tmp_path / "out")}))
    assert cli.main(["--quiet", "job", str(spec)]) == 2
    assert "'before_days' must be a whole number of days (2-3650), not 1" in \
        capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("option", [["--hex-area-ha", "1"], ["--h3", "9"]])
def test_zonal_of_a_raster_with_hexagons_is_refused(small_sample, tmp_path, capsys, option):
    """Hexagons were silently skipped with --raster: now one exit-2 line with the way out."""
    raster = tmp_path / "index.tif"
    raster.write_bytes(b"")  # never read: refused before
    code = cli.main(["--quiet", "zonal", "--gpkg", str(small_sample.forests_path), "--raster",
                     str(raster), "--output", str(tmp_path / "out"), *option])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "makes no hexagons" in err, err
    assert not (tmp_path / "out").exists()


def test_a_zonal_raster_job_with_hexagons_is_refused(small_sample, tmp_path, capsys):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"kind": "zonal-raster", "aoi": str(small_sample.forests_path),
                                "raster": str(tmp_path / "index.tif"),
                                "output_dir": str(tmp_path / "out"),
                                "hexagon_area_m2": 10_000}))
    assert cli.main(["--quiet", "job", str(spec)]) == 2
    assert "a zonal-raster job makes no hexagons ('hexagon_area_m2')" in capsys.readouterr().err


def test_spec_paths_starting_with_a_tilde_are_in_the_home_folder(small_sample, tmp_path,
                                                                 capsys, monkeypatch):
    """No shell reads a JSON spec: '~/forests.gpkg' was looked for in a folder named '~'.
    The forests, a static catalog and the output all given from the home folder."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "sample").symlink_to(small_sample.root, target_is_directory=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    spec = tmp_path / "hexagons.json"
    spec.write_text(json.dumps({"kind": "hexagons", "aoi": "~/sample/forests.gpkg",
                                "output": "~/cells/hexagons.gpkg", "hexagon_area_m2": 100_000}))
    assert cli.main(["--json", "job", str(spec)]) == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out)["cells"] > 0
    assert (home / "cells" / "hexagons.gpkg").exists() and not (tmp_path / "~").exists()
    search = tmp_path / "search.json"
    search.write_text(json.dumps({
        "kind": "search", "aoi": "~/sample/forests.gpkg", "start": "2025-10-01",
        "end": "2025-11-30", "sources": [{"kind": "static", "href": "~/sample/catalog.json",
                                          "collections": ["sentinel-2-l2a"]}]}))
    assert cli.main(["--json", "job", str(search)]) == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out)["scenes"]


@pytest.mark.parametrize("key, value", [
    ("output_dir", "C:\\forest\\out"), ("aoi", "D:/forests/compartments.gpkg"),
    ("output_dir", "\\\\server\\share\\runs")])
def test_a_windows_path_in_a_spec_run_here_is_one_bad_input_line(small_sample, tmp_path,
                                                                 capsys, monkeypatch, key,
                                                                 value):
    """A spec written on a Windows machine and run on Linux: its output folder was made
    literally as 'C:\\forest\\out' in the working folder, its forests 'not found'."""
    monkeypatch.chdir(tmp_path)
    spec = {"kind": "composite", "aoi": str(small_sample.forests_path),
            "sources": [{"kind": "static", "href": str(small_sample.catalog_path)}],
            "start": "2025-10-01", "end": "2025-10-31", "output_dir": str(tmp_path / "out")}
    spec[key] = value
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    code = cli.main(["--quiet", "job", str(path)])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1
    assert f"job spec '{key}' is a Windows path ({value}), which this" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spec.json"]


def test_no_cloud_class_means_no_cloud_class_in_every_door(small_sample, tmp_path, capsys):
    """The dock's unticked mask boxes reach the job as 'mask_classes': [] and were run with
    the default mask (its metadata saying so); `--mask ""` too. Now both mask no cloud class:
    only no-data, so more clear observations than the default mask on the cloudy sample."""
    import rasterio

    from raster_collect_plugin.cli.common import mask_classes_from
    from raster_collect_plugin.core.jobs.run import composite_request
    from raster_collect_plugin.core.pixels import DEFAULT_MASK_CLASSES

    assert mask_classes_from(None) == DEFAULT_MASK_CLASSES
    assert mask_classes_from("none") == mask_classes_from(" ") == frozenset()
    assert mask_classes_from("cloud_high, snow") == {"cloud_high", "snow"}
    base = {"aoi": str(small_sample.forests_path), "start": "2025-10-01", "end": "2025-10-31",
            "sources": [{"kind": "static", "href": str(small_sample.catalog_path)}],
            "output_dir": str(tmp_path / "unused")}
    assert composite_request(base).mask_classes == DEFAULT_MASK_CLASSES
    assert composite_request(dict(base, mask_classes=[])).mask_classes == frozenset()

    clear = {}
    for name, mask in (("default", []), ("none", ["--mask", "none"])):
        output = tmp_path / name
        args = zonal_args(small_sample, output, *mask, start="2025-10-01", end="2025-10-31")
        args[0] = "composite"
        assert cli.main(["--quiet"] + args) == 0, capsys.readouterr().err
        metadata = json.loads(next(output.rglob("*sentinel-2-l2a_metadata.json")).read_text())
        with rasterio.open(next(output.rglob("*sentinel-2-l2a_clear_count.tif"))) as raster:
            clear[name] = int(raster.read(1).sum())
        assert metadata["cloud_mask"]["classes"] == (
            [] if name == "none" else sorted(DEFAULT_MASK_CLASSES))
    assert clear["none"] > clear["default"] > 0


@pytest.mark.parametrize("args, expected", [
    (["--area-ha", "0.0001"], "hexagons of 0.0001 ha (edge 0.62 m) over these forests would be"
                              " about"),
    (["--h3", "15"], "H3 resolution 15 over these forests would be about")])
def test_a_cell_size_that_makes_millions_of_cells_is_refused(small_sample, tmp_path, capsys,
                                                              args, expected):
    """A hexagon area typed in the wrong unit (m² as ha): minutes of work and a huge file,
    with no word; now one line naming a size that fits, and nothing written."""
    output = tmp_path / "cells.gpkg"
    code = cli.main(["--quiet", "hexagons", "--gpkg", str(small_sample.forests_path),
                     "--output", str(output), *args])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and expected in err
    assert "more than 1,000,000: choose" in err
    assert not output.exists()
    fits = err.split("choose ")[1]
    if "--h3" in args:  # the resolution it names fits
        from raster_collect_plugin.core.areas.aoi import load_aoi
        from raster_collect_plugin.core.areas.hexagons import _refuse_too_many_h3_cells

        _refuse_too_many_h3_cells(load_aoi(small_sample.forests_path).frame,
                                  int(fits.split()[1]))


@pytest.mark.parametrize("command", ["composite", "zonal"])
def test_pixels_larger_than_every_forest_are_refused(small_sample, tmp_path, capsys, command):
    """--resolution 5000 over forests of about 80 ha: each forest got the value of the one
    pixel it shared with its neighbours, or NaN, with exit 0. Now one line naming the sizes;
    a coarse pixel that still fits in a forest (500 m: 25 ha) is the user's choice."""
    output = tmp_path / "out"
    args = zonal_args(small_sample, output, "--resolution", "5000", start="2025-10-01",
                      end="2025-10-31")
    args[0] = command
    code = cli.main(["--quiet"] + args)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1
    forests = gpd.read_file(small_sample.forests_path)
    largest_ha = forests.area.max() / 10_000  # EPSG:28356, true metres here
    assert f"a 5000 m pixel covers 2,500 ha, more than the largest forest ({largest_ha:.3g} ha)" \
        in err
    assert "such as 100 m" in err
    assert not output.exists()
    args[args.index("5000")] = "500"
    assert cli.main(["--quiet"] + args) == 0, capsys.readouterr().err


def test_zonal_names_a_collection_that_gave_nothing_as_a_job_does(small_sample, tmp_path,
                                                                   capsys):
    """A radar collection asked for an optical index (the catalog's default collections hold
    Sentinel-1): the forests are computed from the others and the summary's ``errors`` say why
    Sentinel-1 gave nothing, as a zonal job's result does (the command said nothing)."""
    import geopandas as gpd

    gpkg = tmp_path / "one.gpkg"
    gpd.read_file(small_sample.forests_path).head(1).to_file(gpkg)
    assert cli.main(["--json", "zonal", "--gpkg", str(gpkg), "--catalog",
                     str(small_sample.catalog_path), "--collections",
                     "sentinel-2-l2a,sentinel-1-rtc", "--start", "2025-10-01", "--end",
                     "2025-10-31", "--indices", "NDVI", "--output", str(tmp_path / "out")]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert len(summary["computed"]) == 1 and not summary["failed"]
    [(source, reason)] = summary["errors"].items()
    assert "sentinel-1-rtc" in source and "sentinel-1-rtc has no nir or red band" in reason


@pytest.mark.parametrize("forest", ["", " , "])
def test_an_empty_forest_selection_is_refused(small_sample, tmp_path, capsys, forest):
    """``--forest "$IDS"`` with the variable unset ran every forest of the estate, where a
    job spec's ``"ids": []`` is refused; now one line, exit 2, nothing made."""
    output = tmp_path / "out"
    with pytest.raises(SystemExit) as exited:
        cli.main(["--quiet"] + zonal_args(small_sample, output, "--forest", forest))
    assert exited.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err == ("raster-collect zonal: error: argument --forest: is empty: give forest ids "
                   "(e.g. 283,284), or '*' (the default) for every forest")
    assert not output.exists()
