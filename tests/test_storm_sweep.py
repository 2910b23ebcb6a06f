"""What a sceptical forestry analyst tries with `storm`, `validate` and `hexagons` (and their
job kinds): reruns, an event with no scene after it, odd polygons, cell sizes, wrong types in
a spec, a report folder that is a file, compartments outside the monitored grid."""

import json
import re
from datetime import date

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from rasterio.transform import from_origin

from raster_collect_plugin import cli
from raster_collect_plugin.core.jobs import JobError, validate_spec
from raster_collect_plugin.core.storm import DamageThresholds


def storm_args(sample, output, *extra, event="2025-11-13"):
    return ["storm", "--gpkg", str(sample.forests_path), "--catalog",
            str(sample.catalog_path), "--collections", "sentinel-2-l2a", "--max-cloud", "100",
            "--event-date", event, "--output", str(output), *extra]


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


# ------------------------------------------------------------------------------------------
# storm


def test_a_storm_rerun_is_judged_by_what_it_composites(small_sample, tmp_path, capsys):
    """storm has no --start/--end (its windows come from the event: given, they are refused),
    so their default (a year before today) must not make tomorrow's identical rerun 'another
    run'; and the cloud buffer counted is the one used: an explicit 40 m is the default, 0 m
    is another run."""
    output = tmp_path / "storm"
    assert cli.main(["--quiet"] + storm_args(small_sample, output)) == 0
    dated = storm_args(small_sample, output, "--start", "2020-01-01", "--end", "2020-06-30")
    assert cli.main(["--quiet"] + dated) == 2
    assert one_error_line(capsys) == (
        "raster-collect: error: storm composites the medians of --before-days and --after-days "
        "around --event-date: drop --start and --end")
    rerun = storm_args(small_sample, output, "--cloud-buffer", "40")
    assert cli.main(["--quiet"] + rerun) == 0, capsys.readouterr().err
    capsys.readouterr()
    assert cli.main(["--quiet"] + storm_args(small_sample, output, "--cloud-buffer", "0")) == 2
    assert "different --cloud-buffer (the folder's run: 40, this run: 0)" in \
        one_error_line(capsys)
    metadata = json.loads((output / "storm_metadata.json").read_text())
    assert metadata["cloud_mask"]["buffer_m"] == 40.0  # the refused run changed nothing
    # a bad input (no scene after the event) with --overwrite: refused before the old
    # results' manifest is dropped, so nothing is lost
    refused = storm_args(small_sample, output, "--overwrite", event="2025-12-28")
    assert cli.main(["--quiet"] + refused) == 2
    line = one_error_line(capsys)
    assert "no scene after the event" in line and "check --event-date and --after-days (a " \
        "spec's 'event_date' and 'after_days')" in line
    manifest = json.loads((output / "manifest.json").read_text())
    assert "storm_damage_ranking.csv" in json.dumps(manifest["files"])
    assert manifest["run"]["parameters"]["event_date"] == "2025-11-13"


def test_storm_help_offers_no_option_it_refuses(capsys):
    """storm --help listed --start, --end, --period and --method, which storm then refuses
    (its windows come from --event-date): they are left out of its help and usage, and
    still refused when typed."""
    with pytest.raises(SystemExit):
        cli.main(["storm", "--help"])
    shown = capsys.readouterr().out
    assert "--event-date" in shown and "--before-days" in shown and "--max-cloud" in shown
    for option in ("--start", "--end", "--period", "--method"):
        assert option not in shown.replace("--start-from", ""), option
    assert cli.main(["storm", "--gpkg", "f.gpkg", "--catalog", "c.json", "--event-date",
                     "2025-11-13", "--method", "mean"]) == 2
    assert one_error_line(capsys).endswith("around --event-date: drop --method")


def test_storm_prints_the_columns_readme_lists_once(small_sample, tmp_path, capsys):
    """README: "The command line prints these columns" (loss_vh_db, dNDVI / dVH_dB, stocking,
    pre_event_ndvi among them); the ranking was also printed again as one long line of
    dictionaries after the table."""
    assert cli.main(storm_args(small_sample, tmp_path / "storm", "--top", "2")) == 0
    printed = capsys.readouterr().out
    header = printed.splitlines()[0]
    for column in ("VH loss dB", "dNDVI", "dVH dB", "stocking", "pre-event NDVI"):
        assert column in header, header
    assert " severe " in printed.splitlines()[1] and "stocked" in printed.splitlines()[1]
    assert "ranking:" not in printed and "damaged: [" in printed
    # --top -1 printed every row but the last
    assert cli.main(storm_args(small_sample, tmp_path / "storm", "--top", "-1")) == 2
    assert "--top is the number of ranked rows to print" in one_error_line(capsys)


def test_storm_overwrite_keeps_the_users_own_files_in_the_folder(small_sample, tmp_path,
                                                                  capsys):
    """`storm --output .` beside the user's polygons and a log the shell appends to (written
    during the run): the run published every file written since it began, so its manifest
    listed the log, and the next run's --overwrite deleted it as an old result."""
    output = tmp_path / "work"
    output.mkdir()
    forests = output / "forests.gpkg"
    forests.write_bytes(small_sample.forests_path.read_bytes())
    log = output / "storm.log"
    log.write_text("started\n")  # modified as the run begins, as a redirected log is
    args = storm_args(small_sample, output)
    args[args.index("--gpkg") + 1] = str(forests)
    assert cli.main(["--quiet"] + args) == 0
    listed = json.loads((output / "manifest.json").read_text())["files"]
    assert "storm.log" not in listed and "forests.gpkg" not in listed
    assert "storm_damage_ranking.csv" in listed
    assert cli.main(["--quiet"] + args + ["--moderate-fraction", "0.2", "--overwrite"]) == 0
    assert log.read_text() == "started\n" and forests.exists()
    assert (output / "storm_damage_ranking.csv").exists()


@pytest.mark.parametrize("event, missing", [("2025-12-28", "after"), ("2025-10-02", "before")])
def test_an_event_with_no_scene_after_or_before_it_is_one_line(small_sample, tmp_path, capsys,
                                                               event, missing):
    """The sample's scenes end on 2025-12-27 and start on 2025-10-03: a storm on 2025-12-28 has
    nothing after it. Exit 2 naming the window, before any pixel is read, not every stand
    'unknown' with exit 0."""
    output = tmp_path / "storm"
    assert cli.main(["--quiet"] + storm_args(small_sample, output, event=event)) == 2
    err = one_error_line(capsys)
    assert f"no scene {missing} the event" in err, err
    assert not output.exists()


@pytest.mark.parametrize("option", ["--after-days", "--before-days"])
def test_storm_windows_too_long_are_one_bad_input_line(small_sample, tmp_path, capsys, option):
    """--after-days 10000000 ended in an OverflowError traceback (exit 1); the job spec's
    limit (3650 days) now holds at the command line too."""
    output = tmp_path / "storm"
    assert cli.main(["--quiet"] + storm_args(small_sample, output, option, "10000000")) == 2
    assert "windows are at most 3650 days (--before-days / --after-days)" in \
        one_error_line(capsys)
    assert not output.exists()


def test_storm_and_hexagons_say_which_polygons_they_skipped_or_repaired(small_sample,
                                                                        tmp_path, capsys):
    forests = gpd.read_file(small_sample.forests_path)
    x0, y0, x1, y1 = forests.geometry.iloc[0].bounds
    bow_tie = shapely.Polygon([(x0, y0), (x1, y1), (x1, y0), (x0, y1), (x0, y0)])
    odd = gpd.GeoDataFrame({"forest_id": ["12/3", "empty", "ok"]},
                           geometry=[bow_tie, shapely.Polygon(), forests.geometry.iloc[1]],
                           crs=forests.crs)
    gpkg = tmp_path / "odd.gpkg"
    odd.to_file(gpkg)
    expected = ["repaired invalid geometry of forest_id=12/3",
                "skipped forest_id=empty: empty geometry"]
    args = storm_args(small_sample, tmp_path / "storm")
    args[args.index("--gpkg") + 1] = str(gpkg)
    assert cli.main(["--json"] + args) == 0, capsys.readouterr().err
    summary = json.loads(capsys.readouterr().out)
    assert [n for n in summary["notes"] if "geometry" in n] == expected
    assert sorted(r["forest_id"] for r in summary["ranking"]) == ["12/3", "ok"]
    assert cli.main(["--json", "hexagons", "--gpkg", str(gpkg), "--area-ha", "10",
                     "--output", str(tmp_path / "cells.gpkg")]) == 0
    assert json.loads(capsys.readouterr().out)["notes"] == expected


def test_damage_thresholds_of_the_wrong_type_are_refused_by_name(small_sample, tmp_path,
                                                                 capsys):
    """`"moderate_fraction": true` was taken as 1.0 and "abc" said only what float() says."""
    for value in (True, "abc", [0.15]):
        with pytest.raises(ValueError, match=re.escape(f"moderate_fraction must be a number, "
                                                       f"not {value!r}")):
            DamageThresholds.from_mapping({"moderate_fraction": value})
    for value in (0.15, "0.15"):  # a number written as text is still one (test_storm.py)
        assert DamageThresholds.from_mapping({"moderate_fraction": value}).moderate_fraction \
            == 0.15
    spec = tmp_path / "storm.json"
    spec.write_text(json.dumps({
        "kind": "storm", "aoi": str(small_sample.forests_path), "event_date": "2025-11-13",
        "sources": [{"kind": "static", "href": str(small_sample.catalog_path)}],
        "output_dir": str(tmp_path / "out"), "thresholds": {"severe_fraction": True}}))
    assert cli.main(["--quiet", "job", str(spec)]) == 2
    assert "severe_fraction must be a number, not True" in one_error_line(capsys)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("option, value, named", [
    ("--changed-ndvi", "inf", "changed_ndvi must be a finite number, not inf"),
    ("--heavy-vh-db", "nan", "heavy_vh_db must be a finite number, not nan"),
    ("--min-stocked-ndvi", "nan", "min_stocked_ndvi must be a finite number, not nan"),
    ("--min-stocked-ndvi", "5", "min_stocked_ndvi is an NDVI from -1 to below 1")])
def test_damage_thresholds_that_are_no_ndvi_or_not_finite_are_refused(
        small_sample, tmp_path, capsys, option, value, named):
    """`--changed-ndvi inf` marked no pixel damaged (every stand 'none', exit 0), a NaN
    `--min-stocked-ndvi` counted every pixel stocked and 5 none: all three ran to the end."""
    output = tmp_path / "storm"
    assert cli.main(["--quiet"] + storm_args(small_sample, output, option, value)) == 2
    assert named in one_error_line(capsys)
    spec = tmp_path / "storm.json"
    spec.write_text(json.dumps({
        "kind": "storm", "aoi": str(small_sample.forests_path), "event_date": "2025-11-13",
        "sources": [{"kind": "static", "href": str(small_sample.catalog_path)}],
        "output_dir": str(output), "thresholds": {option[2:].replace("-", "_"): value}}))
    assert cli.main(["--quiet", "job", str(spec)]) == 2
    assert named in one_error_line(capsys)
    assert not output.exists()


@pytest.mark.parametrize("key, value", [("h3_resolution", 9), ("hexagon_edge_m", 100.0)])
def test_a_storm_spec_with_hexagons_it_cannot_make_is_refused(key, value):
    """storm makes hexagons of an area only; h3_resolution / hexagon_edge_m were ignored and
    the run gave no hexagon tables without a word."""
    spec = {"kind": "storm", "aoi": "forests.gpkg", "event_date": "2025-11-13",
            "output_dir": "out", key: value}
    with pytest.raises(JobError, match=f"storm job makes hexagons of an area.*'{key}'"):
        validate_spec(spec)
    validate_spec(dict(spec, **{key: None}, hexagon_area_m2=10_000))


# ------------------------------------------------------------------------------------------
# hexagons


@pytest.mark.parametrize("sizes, named", [
    (["--area-ha", "5", "--edge-m", "100"], "--area-ha and --edge-m"),
    (["--area-ha", "5", "--h3", "9"], "--area-ha and --h3")])
def test_hexagons_with_two_cell_sizes_is_one_bad_input_line(small_sample, tmp_path, capsys,
                                                            sizes, named):
    """Two sizes: one was silently ignored (the edge won over the area, H3 over both)."""
    output = tmp_path / "cells.gpkg"
    assert cli.main(["--quiet", "hexagons", "--gpkg", str(small_sample.forests_path), *sizes,
                     "--output", str(output)]) == 2
    assert f"give one cell size, not {named}" in one_error_line(capsys)
    assert not output.exists()
    with pytest.raises(JobError, match="give one hexagon size"):
        validate_spec({"kind": "hexagons", "aoi": "f.gpkg", "output": "h.gpkg",
                       "hexagon_area_m2": 50_000, "h3_resolution": 9})


@pytest.mark.parametrize("name", ["cells.csv", "cells.shp"])
def test_hexagons_output_that_is_not_a_geopackage(small_sample, tmp_path, capsys, name):
    """A GeoPackage was written under any name (cells.csv held a GeoPackage)."""
    output = tmp_path / name
    assert cli.main(["--quiet", "hexagons", "--gpkg", str(small_sample.forests_path),
                     "--area-ha", "5", "--output", str(output)]) == 2
    assert "must be a GeoPackage file ending in .gpkg" in one_error_line(capsys)
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"kind": "hexagons", "aoi": str(small_sample.forests_path),
                                "output": str(output), "hexagon_area_m2": 50_000}))
    assert cli.main(["--quiet", "job", str(spec)]) == 2
    assert "must be a GeoPackage file ending in .gpkg" in one_error_line(capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spec.json"]


def test_hexagons_never_replace_the_polygon_file(small_sample, tmp_path, capsys):
    """`hexagons --gpkg forests.gpkg --output forests.gpkg` replaced the user's forests by the
    hexagons (exit 0, the forests layer gone)."""
    forests = tmp_path / "forests.gpkg"
    forests.write_bytes(small_sample.forests_path.read_bytes())
    before = forests.read_bytes()
    assert cli.main(["--quiet", "hexagons", "--gpkg", str(forests), "--area-ha", "5",
                     "--output", str(tmp_path / "." / "forests.gpkg")]) == 2
    assert "is the polygon file (--gpkg): it would be replaced" in one_error_line(capsys)
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"kind": "hexagons", "aoi": str(forests),
                                "output": str(forests), "hexagon_area_m2": 50_000}))
    assert cli.main(["--quiet", "job", str(spec)]) == 2
    assert "is the polygon file ('aoi')" in one_error_line(capsys)
    assert forests.read_bytes() == before


def test_hexagons_of_web_mercator_forests_have_the_area_asked_for(small_sample, tmp_path,
                                                                  capsys):
    """Forests saved in Web Mercator (EPSG:3857, a web map's export): "10 ha" cells were 10 ha
    of Mercator map, 7.9 ha on the ground at the sample's 27° S (2.5 ha at 60° N). The grid is
    laid in the forests' UTM zone and written in their CRS."""
    forests = gpd.read_file(small_sample.forests_path)
    mercator = tmp_path / "mercator.gpkg"
    forests.to_crs("EPSG:3857").to_file(mercator)
    for source, name in ((mercator, "m.gpkg"), (small_sample.forests_path, "mga.gpkg")):
        assert cli.main(["--quiet", "hexagons", "--gpkg", str(source), "--area-ha", "10",
                         "--no-clip", "--output", str(tmp_path / name)]) == 0
        cells = gpd.read_file(tmp_path / name)
        assert cells.crs == gpd.read_file(source).crs
        true_ha = cells.to_crs(forests.crs).area / 10_000  # MGA zone 56: true areas
        assert true_ha.between(9.95, 10.05).all(), true_ha.describe()


def test_json_and_quiet_also_after_the_command(small_sample, tmp_path, capsys):
    """`raster-collect hexagons ... --json` was a usage error (exit 2, "unrecognized
    arguments"): the options work on either side of the command."""
    base = ["hexagons", "--gpkg", str(small_sample.forests_path), "--area-ha", "20",
            "--output", str(tmp_path / "cells.gpkg"), "--overwrite"]  # the same file thrice
    assert cli.main(base + ["--json"]) == 0
    assert json.loads(capsys.readouterr().out)["cells"] > 0
    assert cli.main(base + ["--quiet"]) == 0
    assert capsys.readouterr().out == ""
    assert cli.main(base) == 0
    assert "cells: " in capsys.readouterr().out


# ------------------------------------------------------------------------------------------
# validate, on a small monitoring folder written here (the rasters `monitor` writes)

CRS, LEFT, TOP, CELL = "EPSG:32632", 500_000.0, 5_000_000.0, 10.0


@pytest.fixture
def monitoring(tmp_path):
    """A 20 x 20 monitoring grid: the west half confirmed on 2025-03-20; two compartments
    (west, east) and a reference polygon of the west half dated 2025-03-14."""
    folder = tmp_path / "monitoring"
    folder.mkdir()
    status = np.zeros((20, 20), "uint8")
    status[:, :10] = 2
    confirmation = np.where(status == 2, 20250320, 0).astype("int32")
    first = np.where(status == 2, 20250316, 0).astype("int32")
    profile = dict(driver="GTiff", height=20, width=20, count=1, crs=CRS,
                   transform=from_origin(LEFT, TOP, CELL, CELL))
    for name, values in (("status", status), ("first_anomaly", first),
                         ("confirmation", confirmation)):
        with rasterio.open(folder / f"monitoring_{name}.tif", "w", dtype=values.dtype,
                           **profile) as target:
            target.write(values, 1)
    west = shapely.box(LEFT, TOP - 200, LEFT + 100, TOP)
    east = shapely.box(LEFT + 100, TOP - 200, LEFT + 200, TOP)
    gpd.GeoDataFrame({"forest_id": [1, 2]}, geometry=[west, east], crs=CRS).to_file(
        folder / "monitoring_compartments.gpkg")
    references = tmp_path / "references.gpkg"
    gpd.GeoDataFrame({"date": [date(2025, 3, 14).isoformat()]}, geometry=[west],
                     crs=CRS).to_file(references, layer="refs")
    return folder, references


def validate_args(monitoring, *extra):
    folder, references = monitoring
    return ["--quiet", "validate", "--monitoring", str(folder), "--references",
            str(references), *extra]


def test_validate_report_folder_that_is_a_file(monitoring, tmp_path, capsys):
    """--output naming a file: a FileExistsError traceback and exit 1 after the work; now
    one line, exit 2, nothing written."""
    target = tmp_path / "report.md"
    target.write_text("mine")
    for output in (target, target / "sub"):
        assert cli.main(validate_args(monitoring, "--output", str(output))) == 2
        assert "is a file; choose a folder (--output)" in one_error_line(capsys)
    assert target.read_text() == "mine" and not (monitoring[0] / "validation").exists()
    assert cli.main(validate_args(monitoring)) == 0  # the folder itself is fine
    scores = json.loads((monitoring[0] / "validation" / "validation.json").read_text())
    assert scores["compartment"]["tp"] == 1 and scores["compartment"]["tn"] == 1


def test_validate_names_its_own_layer_option(monitoring, capsys):
    assert cli.main(validate_args(monitoring, "--references-layer", "nope")) == 2
    err = one_error_line(capsys)
    assert "choose one with --references-layer" in err and "['refs']" in err, err


def test_validate_compartments_outside_the_monitored_grid(monitoring, tmp_path, capsys):
    """Compartments of another area: every one was a 0-pixel true negative, exit 0."""
    elsewhere = tmp_path / "elsewhere.gpkg"
    gpd.GeoDataFrame({"forest_id": [7]}, geometry=[shapely.box(600_000, 5_100_000, 600_500,
                                                               5_100_500)],
                     crs=CRS).to_file(elsewhere)
    assert cli.main(validate_args(monitoring, "--compartments", str(elsewhere))) == 2
    assert "none of the compartments overlaps the monitoring outputs' grid" in \
        one_error_line(capsys)
    assert not (monitoring[0] / "validation").exists()


@pytest.mark.parametrize("written, read", [(20250314, "2025-03-14"), ("01/03/2025", None)])
def test_validate_reference_dates_as_numbers_or_day_first(monitoring, tmp_path, capsys,
                                                          written, read):
    """A whole-number date field (20250314, as the monitoring rasters write dates) was read as
    nanoseconds since 1970: every reference 'before the monitoring' and left out, exit 0.
    01/03/2025 (1 March) was read as 3 January. YYYYMMDD is read; day-first text is named."""
    references = tmp_path / "numbers.gpkg"
    west = gpd.read_file(monitoring[1]).geometry
    gpd.GeoDataFrame({"date": [written]}, geometry=west, crs=CRS).to_file(references)
    folder = monitoring[0]
    args = ["--quiet", "validate", "--monitoring", str(folder), "--references",
            str(references)]
    if read is None:
        assert cli.main(args) == 2
        line = one_error_line(capsys)
        assert "(a date like 2025-03-14, year first) in feature(s) [1]" in line
        # the fix for a day-first date, not only "fill them in" (README: it reads two ways)
        assert "fill them in, year first (day-first text such as 01/03/2025 reads two " \
               "ways)" in line
        return
    assert cli.main(args) == 0
    events = (folder / "validation" / "validation_events.csv").read_text()
    assert read in events
    scores = json.loads((folder / "validation" / "validation.json").read_text())
    assert scores["compartment"]["tp"] == 1 and scores["pixel"]["fn"] == 0


def test_validate_reference_without_a_polygon_is_named(monitoring, tmp_path, capsys):
    """An empty reference geometry (or a point) was burnt as nothing: its disturbance was
    scored as false positives, exit 0."""
    references = tmp_path / "empty.gpkg"
    west = gpd.read_file(monitoring[1]).geometry.iloc[0]
    gpd.GeoDataFrame({"date": ["2025-03-14", "2025-03-14"]},
                     geometry=[west, shapely.Polygon()], crs=CRS).to_file(references)
    assert cli.main(["--quiet", "validate", "--monitoring", str(monitoring[0]),
                     "--references", str(references)]) == 2
    assert "have no polygon (an empty geometry, a point or a line) in feature(s) [2]" in \
        one_error_line(capsys)
    assert not (monitoring[0] / "validation").exists()


def test_validate_compartments_that_do_not_exist(monitoring, tmp_path, capsys):
    """--compartments (spec 'aoi') naming a missing file silently fell back to the folder's
    own compartments, exit 0."""
    missing = tmp_path / "missing.gpkg"
    assert cli.main(validate_args(monitoring, "--compartments", str(missing))) == 2
    assert f"the compartments {missing} do not exist" in one_error_line(capsys)
    assert not (monitoring[0] / "validation").exists()


def test_validate_json_is_valid_json_when_a_score_has_nothing_to_score(monitoring, tmp_path,
                                                                       capsys):
    """A reference on the monitored grid but off the compartments scored leaves precision,
    recall and delays without pixels: the --json output printed NaN there (jq and strict
    parsers refuse it); validation.json already said null. Both say null now. (A reference
    off the grid altogether is refused: tests/test_validate_nothing_to_score.py.)"""
    east = tmp_path / "east.gpkg"
    gpd.read_file(monitoring[0] / "monitoring_compartments.gpkg").iloc[[1]].to_file(east)
    assert cli.main(["--json", "validate", "--monitoring", str(monitoring[0]), "--references",
                     str(monitoring[1]), "--compartments", str(east)]) == 0

    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")

    printed = json.loads(capsys.readouterr().out, parse_constant=refuse)
    assert printed["pixel"]["recall"] is None and printed["pixel"]["precision"] is None
    assert printed["pixel"]["evaluated"] == 200 and printed["pixel"]["fp"] == 0
    assert printed["delay"]["confirmation"]["days"]["mean"] is None
    assert printed["pixel"] == json.loads(
        (monitoring[0] / "validation" / "validation.json").read_text())["pixel"]
