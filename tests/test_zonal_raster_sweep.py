"""Zonal statistics of an existing raster as an analyst feeds it (command line and job spec):
band lists with ranges, repeated bands, a raster beside the polygons, a continuous raster
counted as classes, reruns into the same folder."""

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from affine import Affine
from shapely.geometry import box

from raster_collect_plugin import cli
from raster_collect_plugin.core.jobs.run import run_job

CRS = "EPSG:28356"
TRANSFORM = Affine(10, 0, 500_000, 0, -10, 7_000_100)  # 10 x 10 cells of 10 m


def write_raster(path, data, *, transform=TRANSFORM, nodata=None):
    data = np.asarray(data)
    data = data[np.newaxis] if data.ndim == 2 else data
    with rasterio.open(path, "w", driver="GTiff", count=data.shape[0], height=data.shape[1],
                       width=data.shape[2], dtype=data.dtype, transform=transform, crs=CRS,
                       nodata=nodata) as dataset:
        dataset.write(data)
        for band in range(data.shape[0]):
            dataset.set_band_description(band + 1, f"b{band + 1}")
    return path


@pytest.fixture
def forests(tmp_path):
    path = tmp_path / "forests.gpkg"
    gpd.GeoDataFrame({"forest_id": [10, 20]},
                     geometry=[box(500_000, 7_000_000, 500_050, 7_000_100),
                               box(500_050, 7_000_000, 500_100, 7_000_100)],
                     crs=CRS).to_file(path, driver="GPKG")
    return path


@pytest.fixture
def stack(tmp_path):
    """Five bands; band b holds 100 * b everywhere."""
    data = np.stack([np.full((10, 10), 100 * b, dtype="int16") for b in range(1, 6)])
    return write_raster(tmp_path / "stack.tif", data)


def zonal(capsys, *arguments) -> tuple:
    code = cli.main(["--quiet", "zonal", *map(str, arguments)])
    return code, capsys.readouterr().err


def test_band_ranges_are_read_as_the_job_spec_documents(stack, forests, tmp_path, capsys):
    code, _ = zonal(capsys, "--gpkg", forests, "--raster", stack, "--bands", "2,4-5",
                    "--output", tmp_path / "cli")
    assert code == 0
    table = pd.read_csv(tmp_path / "cli" / "zonal_forests.csv")
    assert list(table[table["forest_id"] == 10]["period"]) == ["b2", "b4", "b5"]
    assert list(table[table["forest_id"] == 10]["mean"]) == [200, 400, 500]
    result = run_job({"kind": "zonal-raster", "aoi": str(forests), "raster": str(stack),
                      "bands": "1-2", "output_dir": str(tmp_path / "job")})
    table = pd.read_parquet(result["files"]["forests_parquet"])
    assert sorted(set(table["mean"])) == [100, 200]


@pytest.mark.parametrize("bands, message", [
    ("1,1-2", "band(s) [1] given more than once"),
    ("4-2", "the band range '4-2' runs backwards"),
    ("0", "band(s) [0] do not exist: the raster has bands 1-5"),
    ("2,x", "bands must be band numbers or ranges"),
])
def test_wrong_band_lists_are_one_line_before_any_output(stack, forests, tmp_path, capsys,
                                                         bands, message):
    code, error = zonal(capsys, "--gpkg", forests, "--raster", stack, "--bands", bands,
                        "--output", tmp_path / "out")
    assert code == 2 and message in error and len(error.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_a_job_spec_band_repeated_is_refused(stack, forests, tmp_path):
    from raster_collect_plugin.core.areas import ZoneError

    with pytest.raises(ZoneError, match=r"band\(s\) \[2\] given more than once"):
        run_job({"kind": "zonal-raster", "aoi": str(forests), "raster": str(stack),
                 "bands": [2, 2], "output_dir": str(tmp_path / "job")})


def test_a_raster_beside_every_polygon_is_refused(forests, tmp_path, capsys):
    far = write_raster(tmp_path / "far.tif", np.ones((10, 10), "uint8"),
                       transform=Affine(10, 0, 0, 0, -10, 0))  # a wrong CRS's coordinates
    code, error = zonal(capsys, "--gpkg", forests, "--raster", far, "--output",
                        tmp_path / "out")
    assert code == 2 and "far.tif does not overlap any polygon" in error
    assert "check the raster's CRS" in error
    assert not (tmp_path / "out").exists()


def test_polygons_off_a_partial_raster_are_named_in_the_notes(forests, tmp_path, capsys):
    half = write_raster(tmp_path / "half.tif", np.full((10, 5), 7, "uint8"))  # columns 0-4
    assert cli.main(["--json", "zonal", "--gpkg", str(forests), "--raster", str(half),
                     "--output", str(tmp_path / "out")]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["notes"] == ["forest_id=20 lies outside the raster: its statistics are "
                               "empty (clear_count 0)"]
    table = pd.read_csv(tmp_path / "out" / "zonal_forests.csv").set_index("forest_id")
    assert table.loc[10, "mean"] == 7 and table.loc[20, "clear_count"] == 0


def test_categorical_refuses_a_continuous_raster_and_keeps_float_classes(forests, tmp_path,
                                                                          capsys):
    values = np.linspace(0, 1, 100, dtype="float32").reshape(10, 10)
    continuous = write_raster(tmp_path / "ndvi.tif", values)
    code, error = zonal(capsys, "--gpkg", forests, "--raster", continuous, "--categorical",
                        "--output", tmp_path / "out")
    assert code == 2 and "--categorical counts classes, but ndvi.tif holds non-integer" in error
    assert not (tmp_path / "out").exists()
    classes = write_raster(tmp_path / "classes.tif", np.where(values < 0.5, 1, 3)
                           .astype("float32"))  # class codes stored as floats still count
    code, _ = zonal(capsys, "--gpkg", forests, "--raster", classes, "--categorical",
                    "--output", tmp_path / "ok")
    assert code == 0
    table = pd.read_csv(tmp_path / "ok" / "zonal_forests_classes.csv")
    assert sorted(set(table["value"])) == [1, 3]


def test_a_rerun_with_another_raster_neither_mixes_nor_leaves_stale_classes(forests, tmp_path,
                                                                            capsys):
    """README "One run per folder": a categorical run's class tables used to stay beside a
    later run's tables of another raster, with nothing saying which run made which file."""
    classes = write_raster(tmp_path / "types.tif", np.full((10, 10), 3, "uint8"))
    heights = write_raster(tmp_path / "heights.tif", np.full((10, 10), 25, "uint8"))
    output = tmp_path / "out"
    assert zonal(capsys, "--gpkg", forests, "--raster", classes, "--categorical",
                 "--output", output)[0] == 0
    manifest = json.loads((output / "manifest.json").read_text())
    assert "zonal_forests_classes.csv" in manifest["files"]
    assert zonal(capsys, "--gpkg", forests, "--raster", classes, "--categorical",
                 "--output", output)[0] == 0  # the same inputs: rerun
    code, error = zonal(capsys, "--gpkg", forests, "--raster", heights, "--output", output)
    assert code == 2 and "holds results of another run" in error and "--overwrite" in error
    assert pd.read_csv(output / "zonal_forests.csv")["mean"].tolist() == [3, 3]  # untouched
    assert zonal(capsys, "--gpkg", forests, "--raster", heights, "--overwrite",
                 "--output", output)[0] == 0
    assert pd.read_csv(output / "zonal_forests.csv")["mean"].tolist() == [25, 25]
    assert not (output / "zonal_forests_classes.csv").exists()
    manifest = json.loads((output / "manifest.json").read_text())
    assert manifest["run"]["kind"] == "zonal-raster"
    assert "zonal_forests_classes.csv" not in manifest["files"]


def test_a_job_spec_rerun_is_refused_unless_overwrite(stack, forests, tmp_path):
    from raster_collect_plugin.core.runs.folder import ResultsConflict

    spec = {"kind": "zonal-raster", "aoi": str(forests), "raster": str(stack), "bands": [1],
            "output_dir": str(tmp_path / "job")}
    run_job(spec)
    with pytest.raises(ResultsConflict, match="different bands"):
        run_job({**spec, "bands": [2]})
    result = run_job({**spec, "bands": [2], "overwrite": True})
    assert set(pd.read_parquet(result["files"]["forests_parquet"])["mean"]) == {200}


def test_a_vrt_with_a_missing_source_is_one_line_not_a_traceback(forests, tmp_path, capsys):
    source = write_raster(tmp_path / "source.tif", np.ones((10, 10), "uint8"))
    with open(tmp_path / "mosaic.vrt", "w") as vrt:
        vrt.write(f"""<VRTDataset rasterXSize="10" rasterYSize="10">
  <SRS>{CRS}</SRS><GeoTransform>500000, 10, 0, 7000100, 0, -10</GeoTransform>
  <VRTRasterBand dataType="Byte" band="1"><SimpleSource>
    <SourceFilename relativeToVRT="1">source.tif</SourceFilename><SourceBand>1</SourceBand>
  </SimpleSource></VRTRasterBand></VRTDataset>""")
    assert zonal(capsys, "--gpkg", forests, "--raster", tmp_path / "mosaic.vrt",
                 "--output", tmp_path / "ok")[0] == 0
    source.unlink()
    code, error = zonal(capsys, "--gpkg", forests, "--raster", tmp_path / "mosaic.vrt",
                        "--output", tmp_path / "out")
    assert code == 2 and "mosaic.vrt refers to file(s) that do not exist" in error
    assert "source.tif" in error and len(error.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("nodata", ["300", "0.5", "-1"])
def test_a_nodata_value_the_raster_cannot_hold_is_refused(forests, tmp_path, capsys, nodata):
    raster = write_raster(tmp_path / "classes.tif", np.full((10, 10), 4, "uint8"))
    code, error = zonal(capsys, "--gpkg", forests, "--raster", raster, "--nodata", nodata,
                        "--output", tmp_path / "out")
    assert code == 2 and f"nodata {nodata} is not a value of classes.tif (uint8" in error
    assert not (tmp_path / "out").exists()


def test_a_vrt_stacking_bands_of_two_types_is_read_without_truncation(forests, tmp_path,
                                                                      capsys):
    """A class map (uint8) and an index (float32) stacked in one VRT: a rasterio traceback
    ("more than one 'dtype' found") before; now each band is read in float32."""
    write_raster(tmp_path / "types.tif", np.full((10, 10), 7, "uint8"))
    write_raster(tmp_path / "ndvi.tif", np.full((10, 10), 0.25, "float32"))
    bands = "".join(f"""<VRTRasterBand dataType="{kind}" band="{n}"><SimpleSource>
    <SourceFilename relativeToVRT="1">{name}</SourceFilename><SourceBand>1</SourceBand>
    </SimpleSource></VRTRasterBand>""" for n, (kind, name) in
                    enumerate((("Byte", "types.tif"), ("Float32", "ndvi.tif")), start=1))
    (tmp_path / "stack.vrt").write_text(f"""<VRTDataset rasterXSize="10" rasterYSize="10">
  <SRS>{CRS}</SRS><GeoTransform>500000, 10, 0, 7000100, 0, -10</GeoTransform>{bands}
</VRTDataset>""")
    code, error = zonal(capsys, "--gpkg", forests, "--raster", tmp_path / "stack.vrt",
                        "--output", tmp_path / "out")
    assert code == 0, error
    table = pd.read_csv(tmp_path / "out" / "zonal_forests.csv")
    assert table[table["forest_id"] == 10]["mean"].tolist() == [7, 0.25]


def test_bands_sharing_a_description_get_their_band_number_in_period(forests, tmp_path,
                                                                     capsys):
    """Three bands all described "NDVI" gave three rows per forest with period "NDVI", told
    apart by row order only."""
    data = np.stack([np.full((10, 10), v, "float32") for v in (0.1, 0.2, 0.3)])
    raster = write_raster(tmp_path / "ndvi.tif", data)
    with rasterio.open(raster, "r+") as dataset:
        for band in (1, 2):
            dataset.set_band_description(band, "NDVI")
        dataset.set_band_description(3, "2025-12")
    assert zonal(capsys, "--gpkg", forests, "--raster", raster, "--output",
                 tmp_path / "out")[0] == 0
    table = pd.read_csv(tmp_path / "out" / "zonal_forests.csv")
    forest = table[table["forest_id"] == 10].set_index("period")["mean"]
    assert forest.to_dict() == pytest.approx({"NDVI (band 1)": 0.1, "NDVI (band 2)": 0.2,
                                              "2025-12": 0.3})


def test_a_declared_scale_is_named_in_the_notes(forests, tmp_path, capsys):
    raster = write_raster(tmp_path / "ndvi_x10000.tif", np.full((10, 10), 2500, "int16"))
    with rasterio.open(raster, "r+") as dataset:
        dataset.scales = (0.0001,)
    assert cli.main(["--json", "zonal", "--gpkg", str(forests), "--raster", str(raster),
                     "--output", str(tmp_path / "out")]) == 0
    notes = json.loads(capsys.readouterr().out)["notes"]
    assert notes == ["band 1 declares scale 0.0001 and offset 0: its statistics are of the "
                     "stored values (value x scale + offset gives the physical value; std x "
                     "scale)"]
    metadata = json.loads((tmp_path / "out" / "zonal_forests_metadata.json").read_text())
    assert metadata["notes"] == notes


@pytest.mark.parametrize("extra, named", [
    (["--start-from", "2"], "--start-from is for imagery runs: drop it"),
    (["--catalog", "catalog.json", "--resolution", "10"],
     "--catalog, --resolution are for imagery runs: drop them"),
])
def test_imagery_options_with_a_raster_are_refused_not_ignored(stack, forests, tmp_path,
                                                               capsys, extra, named):
    code, error = zonal(capsys, "--gpkg", forests, "--raster", stack, *extra, "--output",
                        tmp_path / "out")
    assert code == 2 and named in error
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("extra, named", [
    (["--start", "2025-01-01"], "--start is for imagery runs: drop it"),
    (["--end", "2025-12-31", "--indices", "NDVI"], "--end, --indices are for imagery runs"),
    (["--period", "month", "--method", "median", "--max-cloud", "80"],
     "--period, --method, --max-cloud are for imagery runs: drop them"),
    (["--dask", "local", "--threads-per-worker", "2", "--memory-limit", "2GB"],
     "--dask, --threads-per-worker, --memory-limit are for imagery runs: drop them"),
    (["--memory-budget", "4GB"], "--memory-budget is for imagery runs: drop it"),
])
def test_imagery_options_with_a_default_are_refused_with_a_raster(stack, forests, tmp_path,
                                                                  capsys, extra, named):
    """--start, --indices, --dask... have defaults, so the check above could not see them
    given (even at their default value): they were silently ignored."""
    code, error = zonal(capsys, "--gpkg", forests, "--raster", stack, *extra, "--output",
                        tmp_path / "out")
    assert code == 2 and len(error.splitlines()) == 1 and named in error, error
    assert not (tmp_path / "out").exists()


def test_imagery_commands_keep_their_documented_defaults():
    """The options left out take README's defaults (NDVI,EVI; a year ago to today; month;
    median; 80 % cloud; threads), and a given one is kept."""
    from datetime import date, timedelta

    from raster_collect_plugin.cli import build_parser
    from raster_collect_plugin.cli.common import compute_settings_for, with_source_defaults

    for command in ("search", "composite", "zonal", "storm"):
        extra = ["--event-date", "2025-11-13"] if command == "storm" else []
        before = date.today()
        args = with_source_defaults(build_parser(command).parse_args(
            [command, "--gpkg", "f.gpkg", "--catalog", "c.json", *extra]))
        assert (args.start, args.end) in {  # a run across midnight reads either day
            (today - timedelta(days=365), today) for today in (before, date.today())}, command
        assert (args.indices, args.period, args.method, args.max_cloud) == (
            "NDVI,EVI", "month", "median", 80.0), command
        if command == "search":  # it reads no pixels: no dask options
            continue
        settings = compute_settings_for(args)  # the defaults are ComputeSettings'
        assert (settings.mode, settings.threads_per_worker, settings.memory_limit) == (
            "threads", 2, "2GB")
    args = with_source_defaults(build_parser("zonal").parse_args(
        ["zonal", "--gpkg", "f.gpkg", "--indices", "NBR", "--start", "2025-01-01"]))
    assert (args.indices, args.start) == ("NBR", date(2025, 1, 1))


def test_a_zonal_raster_spec_with_imagery_keys_is_refused(stack, forests, tmp_path):
    from raster_collect_plugin.core.jobs.spec import JobError

    spec = {"kind": "zonal-raster", "aoi": str(forests), "raster": str(stack),
            "output_dir": str(tmp_path / "job")}
    with pytest.raises(JobError, match="'start', 'indices' are for imagery jobs; drop them"):
        run_job({**spec, "start": "2025-01-01", "indices": ["NDVI"]})
    assert not (tmp_path / "job").exists()
    assert run_job({**spec, "max_cloud_cover": None})["rows"] == 10  # null: left out


def test_a_zonal_raster_spec_writes_the_table_formats_asked_for(stack, forests, tmp_path):
    """'table_formats' (as for kind zonal): only those tables, the classes' too, and the
    manifest lists what was written (every format was written before)."""
    result = run_job({"kind": "zonal-raster", "aoi": str(forests), "raster": str(stack),
                      "bands": [1], "categorical": True, "table_formats": ["csv"],
                      "output_dir": str(tmp_path / "job")})
    tables = sorted(p.name for p in (tmp_path / "job").glob("zonal_forests*"))
    assert tables == ["zonal_forests.csv", "zonal_forests_classes.csv",
                      "zonal_forests_metadata.json"]
    assert pd.read_csv(result["files"]["forests_csv"])["mean"].tolist() == [100, 100]
    assert "forests_gpkg" not in result["files"] and "forests_parquet" not in result["files"]
    manifest = json.loads((tmp_path / "job" / "manifest.json").read_text())
    assert {"zonal_forests.csv", "zonal_forests_classes.csv", "forests_latest.gpkg"} <= \
        set(manifest["files"])
    assert not {"zonal_forests.gpkg", "zonal_forests.parquet"} & set(manifest["files"])


@pytest.mark.parametrize("extra, message", [
    ({"table_formats": ["xls"]}, "job spec 'table_formats' has 'xls'; choose from gpkg, csv, "
                                 "parquet"),
    ({"table_formats": []}, "job spec 'table_formats' has none"),
    ({"compute": {"mode": "local", "workers": 2}},
     "a zonal-raster job runs no dask graph and makes no memory estimate (it works in the "
     "job's own process): leave 'compute' out (it is for composite, zonal, storm, monitor "
     "jobs)"),
    ({"memory_budget": "4GB"}, "leave 'memory_budget' out (it is for composite, zonal, storm, "
                               "monitor jobs)"),
])
def test_a_zonal_raster_spec_refuses_what_it_cannot_use(stack, forests, tmp_path, capsys, extra,
                                                        message):
    """Accepted and silently unused before; now one line naming the key, nothing written."""
    spec = tmp_path / "job.json"
    spec.write_text(json.dumps({"kind": "zonal-raster", "aoi": str(forests),
                                "raster": str(stack), "output_dir": str(tmp_path / "job"),
                                **extra}))
    assert cli.main(["--quiet", "job", str(spec)]) == 2
    error = capsys.readouterr().err
    assert len(error.splitlines()) == 1 and message in error, error
    assert not (tmp_path / "job").exists()


def test_the_same_command_after_the_raster_was_made_again_replaces_its_tables(forests, tmp_path,
                                                                               capsys):
    """The composites made again (another day's scenes), then the same zonal command: the same
    request, so its tables are replaced, not refused as "another run"."""
    heights = tmp_path / "heights.tif"
    output = tmp_path / "out"
    write_raster(heights, np.full((10, 10), 25, "uint8"))
    assert zonal(capsys, "--gpkg", forests, "--raster", heights, "--output", output)[0] == 0
    write_raster(heights, np.full((10, 10), 30, "uint8"))
    assert zonal(capsys, "--gpkg", forests, "--raster", heights, "--output", output)[0] == 0
    assert pd.read_csv(output / "zonal_forests.csv")["mean"].tolist() == [30, 30]


def test_a_rerun_with_fewer_table_formats_removes_the_earlier_tables(stack, forests, tmp_path,
                                                                     capsys):
    """A rerun asking ["csv"] after ["csv", "parquet"] left the first run's Parquet tables
    (stale values, out of the manifest) beside the fresh CSV. They go and the summary says so;
    a table file no run published (the user's own GeoPackage) is never touched."""
    output = tmp_path / "job"
    spec = {"kind": "zonal-raster", "aoi": str(forests), "raster": str(stack), "bands": [1],
            "categorical": True, "output_dir": str(output), "table_formats": ["csv", "parquet"]}
    run_job(spec)
    assert (output / "zonal_forests.parquet").is_file()
    assert (output / "zonal_forests_classes.parquet").is_file()
    own = output / "zonal_forests.gpkg"  # the user's: no manifest lists it
    own.write_text("mine")
    write_raster(stack, np.full((10, 10), 7, dtype="int16"))  # the raster made again
    path = tmp_path / "job.json"
    path.write_text(json.dumps(dict(spec, table_formats=["csv"])))
    assert cli.main(["--json", "job", str(path)]) == 0
    summary = json.loads(capsys.readouterr().out)
    tables = sorted(p.name for p in output.glob("zonal_forests*"))
    assert tables == ["zonal_forests.csv", "zonal_forests.gpkg", "zonal_forests_classes.csv",
                      "zonal_forests_metadata.json"]
    assert pd.read_csv(output / "zonal_forests.csv")["mean"].tolist() == [7, 7]
    assert own.read_text() == "mine"
    assert ("removed the earlier run's zonal_forests.parquet, zonal_forests_classes.parquet: "
            "a format no longer asked for ('table_formats')") in " ".join(summary["notes"])
    manifest = json.loads((output / "manifest.json").read_text())
    assert "zonal_forests.gpkg" not in manifest["files"]
    assert all((output / name).is_file() for name in manifest["files"])
