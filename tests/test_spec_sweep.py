"""Job spec values a person writes (README, "How the plugin runs the work"), swept for the
kinds search, composite, zonal, storm and hexagons: each is either honoured as README says,
or one bad-input line naming the key before any work (exit 2), never a traceback after the
work, a value silently not used, or the command line and the spec disagreeing."""

import json
import re
import socket

import pytest

from raster_collect_plugin import cli
from raster_collect_plugin.core.compute.cluster import ClusterError, ComputeSettings
from raster_collect_plugin.core.jobs import JobError, run_job, validate_spec


def _spec(sample, tmp_path, **changes):
    spec = {"kind": "composite", "aoi": str(sample.forests_path),
            "sources": [{"kind": "static", "href": str(sample.catalog_path),
                         "collections": ["sentinel-2-l2a"]}],
            "start": "2025-10-01", "end": "2025-10-31", "indices": ["NDVI"],
            "output_dir": str(tmp_path / "out")}
    spec.update(changes)
    return spec


def _minimal(sample, tmp_path, kind, **changes):
    """A spec of ``kind`` with only the keys it needs (NEEDS), and ``changes``."""
    from raster_collect_plugin.core.jobs.kind_keys import NEEDS

    values = {"aoi": str(sample.forests_path), "start": "2025-10-01", "end": "2025-10-31",
              "sources": _spec(sample, tmp_path)["sources"], "output_dir": str(tmp_path / "out"),
              "raster": str(tmp_path / "raster.tif"), "output": str(tmp_path / "out.gpkg"),
              "event_date": "2025-10-15", "batch_output": "s3://bucket/out", "bucket": "bucket",
              "hrefs": ["http://127.0.0.1:9/a.tif"], "history_start": "2024-01-01",
              "history_end": "2024-12-31", "monitoring_dir": str(tmp_path),
              "references": str(sample.forests_path)}
    return {"kind": kind, **{key: values[key] for key in NEEDS[kind]}, **changes}


def _job(spec, tmp_path, capsys):
    """The job command on ``spec``: exit code and its last line on stderr."""
    path = tmp_path / "job.json"
    path.write_text(json.dumps(spec), encoding="utf-8")
    code = cli.main(["job", str(path)])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, (captured.err.strip().splitlines() or [""])[-1], captured.out


@pytest.mark.parametrize("key, value", [("start", "2025-10-01Tjunk"),
                                        ("end", "2025-10-31 tomorrow"),
                                        ("start", "2025-10-01xyz")])
def test_text_after_a_date_is_refused_not_dropped(small_sample, tmp_path, capsys, key, value):
    """'2025-10-01Tjunk' was read as 2025-10-01 (the first 10 characters)."""
    code, line, _ = _job(_spec(small_sample, tmp_path, **{key: value}), tmp_path, capsys)
    assert code == 2
    assert f"'{key}' must be a date like 2025-11-13" in line and repr(value) in line
    assert not (tmp_path / "out").exists()


def test_a_date_time_is_its_day_in_the_spec_and_on_the_command_line(small_sample, tmp_path,
                                                                      capsys):
    """The command line refused 2025-10-31T00:00:00Z which the spec took: both take its day
    now, and find the same scenes as the plain date."""
    found = {}
    for end in ("2025-10-31", "2025-10-31T00:00:00Z"):
        spec = _minimal(small_sample, tmp_path, "search", end=end)
        found[end] = sorted(row["id"] for row in run_job(spec)["items"])
    assert found["2025-10-31"] and found["2025-10-31"] == found["2025-10-31T00:00:00Z"]
    code = cli.main(["--json", "search", "--gpkg", str(small_sample.forests_path),
                     "--catalog", str(small_sample.catalog_path),
                     "--collections", "sentinel-2-l2a", "--start", "2025-10-01",
                     "--end", "2025-10-31T00:00:00Z"])
    out = capsys.readouterr().out
    assert code == 0
    assert sorted(row["id"] for row in json.loads(out)["items"]) == found["2025-10-31"]
    with pytest.raises(SystemExit) as caught:
        cli.main(["search", "--gpkg", str(small_sample.forests_path), "--start", "2025-10-01Tx"])
    assert caught.value.code == 2
    assert "'2025-10-01Tx' is not a date like 2025-11-13" in capsys.readouterr().err


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_scheduler_address_without_mode_is_that_scheduler(small_sample, tmp_path):
    """As the command line's --scheduler: the run goes there (it silently ran on threads)."""
    address = f"tcp://127.0.0.1:{_closed_port()}"
    assert ComputeSettings.from_dict({"scheduler_address": address}).mode == "remote"
    with pytest.raises(ClusterError, match="unreachable"):
        run_job(_spec(small_sample, tmp_path, compute={"scheduler_address": address}))
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("mode", ["local", "threads"])
def test_a_scheduler_address_with_another_mode_is_refused(small_sample, tmp_path, capsys,
                                                          mode):
    spec = _spec(small_sample, tmp_path,
                 compute={"mode": mode, "scheduler_address": "tcp://127.0.0.1:8786"})
    code, line, _ = _job(spec, tmp_path, capsys)
    assert code == 2
    assert f"'compute.scheduler_address' is the scheduler of mode remote, not {mode}" in line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("formats, shown", [(["CSV"], "'CSV'"), (["csv", "xlsx"], "'xlsx'"),
                                            ([], "none")])
def test_table_formats_are_checked_before_the_statistics(small_sample, tmp_path, capsys,
                                                         formats, shown):
    """An unknown format was a ValueError traceback (exit 1) once every composite and
    statistic was computed; [] silently wrote every format."""
    spec = _spec(small_sample, tmp_path, kind="zonal", table_formats=formats)
    code, line, _ = _job(spec, tmp_path, capsys)
    assert code == 2
    assert f"'table_formats' has {shown}; choose from gpkg, csv, parquet" in line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("key, value", [("table_formats", ["csv"]), ("period", "year"),
                                        ("start", "2025-10-01"), ("method", "mean")])
def test_storm_refuses_keys_it_would_not_use(small_sample, tmp_path, key, value):
    """A storm writes every table format, has no periods, and its windows around the event
    (not 'start' / 'end') decide its medians: each was silently ignored."""
    spec = _minimal(small_sample, tmp_path, "storm", **{key: value})
    with pytest.raises(JobError, match=f"a storm job .*leave '{key}' out"):
        validate_spec(spec)
    validate_spec({k: v for k, v in spec.items() if k != key})


@pytest.mark.parametrize("kind", ["search", "composite", "zonal", "hexagons"])
def test_empty_ids_name_the_key(small_sample, tmp_path, capsys, kind):
    """It said "select at least one feature", which names nothing a spec has."""
    spec = _minimal(small_sample, tmp_path, kind, ids=[])
    if kind == "hexagons":
        spec.update(output=str(tmp_path / "out" / "cells.gpkg"), h3_resolution=8)
    code, line, _ = _job(spec, tmp_path, capsys)
    assert code == 2
    assert "job spec 'ids' is empty" in line
    assert not (tmp_path / "out").exists()


def test_empty_ids_in_a_validate_job_are_refused_too(tmp_path):
    """README: "ids": [] is refused (leave it out for every polygon); a validate job alone took
    it as every compartment."""
    spec = {"kind": "validate", "monitoring_dir": str(tmp_path), "references":
            str(tmp_path / "references.gpkg"), "aoi": str(tmp_path / "forests.gpkg"), "ids": []}
    with pytest.raises(JobError, match="job spec 'ids' is empty: list the polygons' ids"):
        validate_spec(spec)
    validate_spec({k: v for k, v in spec.items() if k != "ids"})


@pytest.mark.parametrize("period, start, expected", [
    ("quarter", "2025-11-15",
     ["2025-Q4 is composited from 2025-11-15 to 2025-12-31 only (the run's start and end), "
      "not the whole quarter"]),
    ("year", "2025-10-01",
     ["2025 is composited from 2025-10-01 to 2025-12-31 only (the run's start and end), "
      "not the whole year"]),
    ("quarter", "2025-10-01", []),
])
def test_a_period_the_dates_cut_is_named_in_the_notes(small_sample, tmp_path, period, start,
                                                      expected):
    """A quarter or year composited from part of it was labelled as the whole, silently."""
    spec = _spec(small_sample, tmp_path, period=period, start=start, end="2025-12-31")
    result = run_job(spec)
    assert [note for note in result["notes"] if "composited from" in note] == expected
    [collection] = result["collections"]
    assert collection["periods"] == [expected[0].split()[0] if expected else "2025-Q4"]


def test_a_folder_of_another_run_names_the_spec_key_and_processing_words(small_sample,
                                                                         tmp_path, capsys):
    """A spec user was told "use --overwrite", which a spec cannot give."""
    from raster_collect_plugin.processing.messages import for_processing

    assert _job(_spec(small_sample, tmp_path), tmp_path, capsys)[0] == 0
    code, line, _ = _job(_spec(small_sample, tmp_path, kind="zonal"), tmp_path, capsys)
    assert code == 2
    assert "holds results of a composite run, not of a zonal run of every forest at once (a " \
           "job spec, the dock, Processing, or zonal into s3://): the two keep their files " \
           'differently; use --overwrite (job spec "overwrite": true) to replace them' in line
    assert for_processing(line).endswith("choose another output folder, or delete those "
                                         "results and run again")
    assert _job(_spec(small_sample, tmp_path, kind="zonal", overwrite=True), tmp_path,
                capsys)[0] == 0
    assert (tmp_path / "out" / "zonal_forests.csv").exists()


@pytest.mark.parametrize("kind", ["search", "hexagons"])
def test_an_id_not_in_the_file_is_named_with_the_ids_there(small_sample, tmp_path, capsys,
                                                           kind):
    """It named the missing id only: a typo and a wrong id field looked the same."""
    import geopandas as gpd

    there = sorted(gpd.read_file(small_sample.forests_path)["forest_id"].astype(int))
    spec = _minimal(small_sample, tmp_path, kind, ids=[there[0], "99999"])
    if kind == "hexagons":
        spec.update(output=str(tmp_path / "out" / "cells.gpkg"), h3_resolution=8)
    code, line, _ = _job(spec, tmp_path, capsys)
    assert code == 2
    assert line.endswith(f"no polygons with forest_id in ['99999']; the file's forest_id "
                         f"values are {', '.join(map(str, there))}: choose among them")
    assert not (tmp_path / "out").exists()


def test_no_indices_but_a_custom_one_gives_the_command_lines_files_and_values(
        small_sample, tmp_path, capsys):
    """'"indices": []' with a custom index silently added NDVI and EVI; ``--indices ""``
    with ``--expression`` computes the expression alone. Same request, same files, same
    pixels (the spec's unnamed source is named as the command line names a --catalog)."""
    import numpy as np
    import rasterio

    spec = _spec(small_sample, tmp_path, indices=[],
                 custom_indices={"GNDVI": "(nir-green)/(nir+green)"},
                 sources=[{"kind": "static", "href": str(small_sample.catalog_path),
                           "collections": ["sentinel-2-l2a"]}])
    assert _job(spec, tmp_path, capsys)[0] == 0
    assert cli.main(["composite", "--gpkg", str(small_sample.forests_path), "--catalog",
                     str(small_sample.catalog_path), "--collections", "sentinel-2-l2a",
                     "--start", "2025-10-01", "--end", "2025-10-31", "--indices", "",
                     "--expression", "GNDVI=(nir-green)/(nir+green)",
                     "--output", str(tmp_path / "cli"),
                     "--quiet"]) == 0
    rasters = sorted(p.name for p in (tmp_path / "out").glob("*.tif"))
    assert rasters == ["static-catalog_sentinel-2-l2a_GNDVI_monthly_median.tif",
                       "static-catalog_sentinel-2-l2a_clear_count.tif"]
    assert sorted(p.name for p in (tmp_path / "cli").glob("*.tif")) == rasters
    for name in rasters:
        with rasterio.open(tmp_path / "out" / name) as a, \
                rasterio.open(tmp_path / "cli" / name) as b:
            assert np.array_equal(a.read(), b.read(), equal_nan=True)
    spec = _spec(small_sample, tmp_path / "none", indices=[])
    code, line, _ = _job(spec, tmp_path, capsys)
    assert code == 2 and line.endswith("choose at least one index (e.g. NDVI)")


def test_search_footprints_never_replace_the_polygon_file(small_sample, tmp_path, capsys):
    """A search 'output' naming the 'aoi' replaced the forests with scene footprints; one
    not ending in .gpkg was a GeoPackage under another name."""
    import shutil

    import pyogrio

    forests = tmp_path / "forests.gpkg"
    shutil.copy(small_sample.forests_path, forests)
    before = forests.read_bytes()
    spec = _minimal(small_sample, tmp_path, "search", aoi=str(forests), output=str(forests))
    code, line, _ = _job(spec, tmp_path, capsys)
    assert code == 2
    assert line.endswith("is the polygon file ('aoi'): it would be replaced by the "
                         "footprints; choose another file")
    assert forests.read_bytes() == before
    code, line, _ = _job(dict(spec, output=str(tmp_path / "fp.shp")), tmp_path, capsys)
    assert code == 2 and "must be a GeoPackage file ending in .gpkg" in line
    assert not (tmp_path / "fp.shp").exists()
    assert _job(dict(spec, output=str(tmp_path / "fp.gpkg")), tmp_path, capsys)[0] == 0
    assert pyogrio.list_layers(tmp_path / "fp.gpkg")[0][0] == "footprints"


def test_search_footprints_replace_an_existing_file_only_when_asked(small_sample, tmp_path,
                                                                    capsys):
    """A search job's footprints silently replaced an existing GeoPackage (a hexagons job's
    'output' is refused the same way): refused unless "overwrite": true."""
    import geopandas as gpd
    import pyogrio
    import shapely

    existing = tmp_path / "fp.gpkg"
    gpd.GeoDataFrame({"note": ["my layer"]}, geometry=[shapely.box(0, 0, 1, 1)],
                     crs="EPSG:28356").to_file(existing, layer="mine")
    before = existing.read_bytes()
    spec = _minimal(small_sample, tmp_path, "search", output=str(existing))
    code, line, _ = _job(spec, tmp_path, capsys)
    assert code == 2
    assert "exists (its layers would be replaced by the footprints)" in line
    assert existing.read_bytes() == before
    assert _job(dict(spec, overwrite=True), tmp_path, capsys)[0] == 0
    assert [layer for layer, _ in pyogrio.list_layers(existing)] == ["footprints"]


@pytest.mark.parametrize("events", [False, True])
def test_a_search_job_whose_source_fails_exits_1_as_the_command_line(small_sample, tmp_path,
                                                                    capsys, events):
    """A search job with a failed source exited 0 (`raster-collect search` exits 1): the list
    is not complete. The other sources' scenes are still written; with --events the result
    stays the last event (the plugin shows it)."""
    down = f"http://127.0.0.1:{_closed_port()}"
    footprints = tmp_path / "footprints.gpkg"
    spec = _minimal(small_sample, tmp_path, "search", output=str(footprints),
                    sources=[*_spec(small_sample, tmp_path)["sources"],
                             {"kind": "stac", "url": down, "name": "Down",
                              "collections": ["sentinel-2-l2a"]}])
    path = tmp_path / "job.json"
    path.write_text(json.dumps(spec), encoding="utf-8")
    code = cli.main(["job", str(path), *(["--events"] if events else [])])
    captured = capsys.readouterr()
    assert code == 1
    errors = [line for line in captured.err.splitlines() if line.startswith("raster-collect:")]
    assert len(errors) == 1 and "Down: cannot open the STAC API" in errors[0], captured.err
    import geopandas as gpd

    found = gpd.read_file(footprints)
    assert len(found) > 0 and set(found["provider"]) == {"Static catalog"}
    if events:
        last = json.loads(captured.out.strip().splitlines()[-1])
        assert last["event"] == "result" and "Down" in last["result"]["errors"]


@pytest.mark.parametrize("kind, key, value", [
    ("search", "compute", {"mode": "local", "workers": 2}),
    ("search", "memory_budget", "4GB"),
    ("hexagons", "compute", {"mode": "threads"}),
    ("sample", "memory_budget", "2GB"),
    ("validate", "compute", {"mode": "remote", "scheduler_address": "tcp://127.0.0.1:8786"}),
    ("sentinel-hub-statistics", "memory_budget", "4GB"),
    ("hexagons", "settle_days", 3),
    ("search", "thresholds", {"severe": -0.2}),
    ("composite", "min_fraction", 0.1),
    ("zonal", "small", True),
    # one of each group of USED_BY: every key a kind would silently not use
    ("sample", "aoi", "forests.gpkg"),
    ("hexagons", "output_dir", "out"),
    ("storm", "end", "2025-10-31"),
    ("monitor", "start", "2024-01-01"),
    ("hexagons", "sources", [{"kind": "static", "href": "catalog.json"}]),
    ("search", "mask_classes", ["cloud"]),
    ("search", "resolution", 10),
    ("monitor", "indices", ["NDVI"]),
    ("search", "item_ids", ["S2A_1"]),
    ("composite", "min_clear_fraction", 0.8),
    ("composite", "coverage", "centre"),
    ("storm", "clip", False),
    ("composite", "hexagon_area_m2", 50_000),
    ("sentinel-hub-byoc", "bands", "1"),
    ("storm", "request_budget", 100),
    ("zonal", "base_url", "http://127.0.0.1:9"),
    ("sentinel-hub-batch-processing", "interval", "P1W"),
    ("sentinel-hub-batch-processing", "cache_dir", "cache"),
    ("sentinel-hub-byoc", "batch_output", "s3://bucket/out"),
    ("sentinel-hub-batch-processing", "batch_features", "s3://bucket/forests.gpkg"),
    ("sentinel-hub-statistics", "tiling_grid", 1),
    ("sentinel-hub-statistics", "collection_id", "abc"),
    ("sign", "raster", "raster.tif"),
])
def test_a_kind_refuses_a_key_it_would_not_use(small_sample, tmp_path, capsys, kind, key,
                                               value):
    """Kinds that run no dask graph took 'compute' / 'memory_budget' (and other kinds' keys)
    and silently did not use them: one line naming the key and the kinds using it, exit 2."""
    from raster_collect_plugin.core.jobs.kind_keys import USED_BY

    spec = _minimal(small_sample, tmp_path, kind, **{key: value})
    code, line, _ = _job(spec, tmp_path, capsys)
    assert code == 2
    kinds = ", ".join(USED_BY[key][0])
    assert f"a {kind} job" in line and f"leave '{key}' out (it is for {kinds} jobs)" in line
    assert kind not in USED_BY[key][0]
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.gpkg").exists()
    validate_spec({k: v for k, v in spec.items() if k != key})  # the spec without it runs


_BATCH = {"batch_output": "s3://bucket/out"}


@pytest.mark.parametrize("kind, key, value, refused_with, used_with, expected", [
    ("sentinel-hub-statistics", "s3_region", "waw3-1", {}, _BATCH,
     "without 'batch_output' uses no batch API"),
    ("sentinel-hub-statistics", "poll_seconds", 5, {}, _BATCH,
     "without 'batch_output' uses no batch API"),
    ("sentinel-hub-statistics", "cache_dir", "cache", _BATCH, {},
     "with 'batch_output' (the Batch Statistical API) keeps no local cache"),
    ("storm", "pu_budget", 500, {"sentinel_hub_radar": False}, {"sentinel_hub_radar": True},
     "without 'sentinel_hub_radar' sends no requests to Sentinel Hub"),
])
def test_a_key_of_another_mode_of_the_kind_is_refused(small_sample, tmp_path, kind, key,
                                                      value, refused_with, used_with,
                                                      expected):
    """A Statistical API job took the batch keys (and a batch one 'cache_dir'), a storm
    without radar the Sentinel Hub addresses and budget, and silently did not use them."""
    with pytest.raises(JobError, match=f"a {kind} job {re.escape(expected)}: leave '{key}' "
                                       "out"):
        validate_spec(_minimal(small_sample, tmp_path, kind, **refused_with, **{key: value}))
    validate_spec(_minimal(small_sample, tmp_path, kind, **used_with, **{key: value}))


def test_compute_and_memory_budget_are_for_the_kinds_that_run_dask():
    """One table (kind_keys.USED_BY) from DASK_KINDS, which Processing reads too."""
    from raster_collect_plugin.core.compute.options import DASK_KINDS
    from raster_collect_plugin.core.jobs.kind_keys import USED_BY

    assert DASK_KINDS == ("composite", "zonal", "storm", "monitor")
    assert USED_BY["compute"][0] == USED_BY["memory_budget"][0] == DASK_KINDS


def test_a_zonal_rerun_with_fewer_table_formats_removes_the_earlier_tables(small_sample,
                                                                          tmp_path, capsys):
    """The same zonal job rerun with table_formats ["csv"] after ["gpkg", "csv", "parquet"]
    left zonal_forests.gpkg / .parquet (the first run's numbers, out of the manifest) beside
    the fresh CSV; they go, and the run's notes say so."""
    spec = _spec(small_sample, tmp_path, kind="zonal", table_formats=["gpkg", "csv", "parquet"])
    output = tmp_path / "out"
    run_job(spec)
    assert (output / "zonal_forests.gpkg").is_file()
    assert (output / "zonal_forests.parquet").is_file()
    code, _, out = _job(dict(spec, table_formats=["csv"]), tmp_path, capsys)
    assert code == 0
    assert sorted(p.name for p in output.glob("zonal_forests*")) == \
        ["zonal_forests.csv", "zonal_forests_metadata.json"]
    assert "removed the earlier run's zonal_forests.gpkg, zonal_forests.parquet" in out
    manifest = json.loads((output / "manifest.json").read_text())
    assert "zonal_forests.csv" in manifest["files"]
    assert all((output / name).is_file() for name in manifest["files"])


def test_a_byoc_job_reads_back_with_polygons_and_both_dates_only(small_sample, tmp_path,
                                                                 capsys):
    """A BYOC job reads statistics back only with 'aoi', 'start' and 'end' together: dates
    without polygons, or polygons without both dates, were silently not used (no read-back,
    exit 0). Refused in the spec and on the command line, before anything is sent."""
    base = _minimal(small_sample, tmp_path, "sentinel-hub-byoc")
    forests, october = str(small_sample.forests_path), {"start": "2025-10-01", "end": "2025-10-31"}
    with pytest.raises(JobError, match="a sentinel-hub-byoc job without 'aoi' reads no "
                                       "statistics back: leave 'start' out"):
        validate_spec(dict(base, **october))
    with pytest.raises(JobError, match="between 'start' and 'end': give both dates, or leave "
                                       "'aoi' out"):
        validate_spec(dict(base, aoi=forests, start="2025-10-01"))
    validate_spec(dict(base, aoi=forests, **october))
    validate_spec(base)  # registering only
    command = ["sentinel-hub-byoc", base["raster"], "--bucket", "bucket", "--dry-run"]
    assert cli.main(command + ["--start", "2025-10-01", "--forest", "281"]) == 2
    assert capsys.readouterr().err.strip() == (
        "raster-collect: error: --forest and --start read the collection back as statistics: "
        "give the polygons (--gpkg) too, or drop them")
    assert cli.main(command + ["--gpkg", forests, "--end", "2025-10-31"]) == 2
    assert "reading the collection back (--gpkg) needs --start and --end" in \
        capsys.readouterr().err


@pytest.mark.parametrize("kind", ["search", "hexagons"])
def test_an_object_store_output_geopackage_is_refused(small_sample, tmp_path, capsys,
                                                      monkeypatch, kind):
    """A search's footprints or a hexagons job's grid 'output' of s3://bucket/x.gpkg was
    written into a local folder literally named 's3:' (exit 0); the command line's
    `hexagons --output s3://...` alike."""

    monkeypatch.chdir(tmp_path)
    extra = {"hexagon_area_m2": 10_000} if kind == "hexagons" else {}
    spec = _minimal(small_sample, tmp_path, kind, output="s3://bucket/grid.gpkg", **extra)
    code, line, _ = _job(spec, tmp_path, capsys)
    assert code == 2
    assert line.endswith("'output' s3://bucket/grid.gpkg is an object-store URL: the "
                         f"{'footprints' if kind == 'search' else 'hexagons'} are one local "
                         "GeoPackage; give a local file, e.g. "
                         f"{'footprints' if kind == 'search' else 'hexagons'}.gpkg, and copy "
                         "it to the store afterwards")
    assert cli.main(["--quiet", "hexagons", "--gpkg", str(small_sample.forests_path),
                     "--area-ha", "1", "--output", "s3://bucket/grid.gpkg"]) == 2
    assert "--output s3://bucket/grid.gpkg is an object-store URL" in capsys.readouterr().err
    assert not (tmp_path / "s3:").exists()


def test_a_zonal_raster_job_refuses_an_object_store_folder(small_sample, tmp_path, capsys,
                                                            monkeypatch):
    """A zonal-raster job's 'output_dir' of s3://bucket/x wrote its tables into a local
    folder literally named 's3:' (exit 0); `zonal --raster` already refused it."""
    monkeypatch.chdir(tmp_path)
    message = ("zonal --raster writes to a local folder: give a local --output (job spec "
               "'output_dir'); s3:// outputs are for imagery runs")
    spec = _minimal(small_sample, tmp_path, "zonal-raster", output_dir="s3://bucket/stats")
    code, line, _ = _job(spec, tmp_path, capsys)
    assert code == 2 and line == f"raster-collect: error: {message}"
    assert cli.main(["--quiet", "zonal", "--gpkg", str(small_sample.forests_path), "--raster",
                     str(tmp_path / "raster.tif"), "--output", "s3://bucket/stats"]) == 2
    assert capsys.readouterr().err.strip() == f"raster-collect: error: {message}"
    assert not (tmp_path / "s3:").exists()


def test_the_sample_refuses_an_object_store_folder(tmp_path, capsys, monkeypatch):
    """`sample --output s3://...` (a sample job's output_dir) ended in a FileNotFoundError
    traceback, exit 1."""
    monkeypatch.chdir(tmp_path)
    message = ("raster-collect: error: the sample is written to a local folder: choose a "
               "local --output (job spec 'output_dir'), not an object-store URL")
    code, line, _ = _job({"kind": "sample", "output_dir": "s3://bucket/sample", "small": True},
                         tmp_path, capsys)
    assert code == 2 and line == message
    assert cli.main(["--quiet", "sample", "--small", "--output", "s3://bucket/sample"]) == 2
    assert capsys.readouterr().err.strip() == message
    assert not (tmp_path / "s3:").exists()
