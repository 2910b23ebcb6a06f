"""Held-out scenarios of `search`, `composite` and their job kinds: what a user tries and
README promises (bad input is one line and exit 2 before any search; options after the
command; a search's output piped into `head`)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from raster_collect_plugin import cli
from raster_collect_plugin.core.composites import pipeline as workflow
from tests.test_bad_input_cli import one_line_error

ROOT = Path(__file__).resolve().parent.parent


def search_args(sample, *extra):
    return ["--gpkg", str(sample.forests_path), "--catalog", str(sample.catalog_path),
            "--collections", "sentinel-2-l2a", "--start", "2025-10-01", "--end", "2025-12-31",
            *extra]


def source_args(sample, *extra):
    return search_args(sample, "--indices", "NDVI", *extra)


def search_spec(sample, **keys) -> dict:
    return {"kind": "search", "aoi": str(sample.forests_path),
            "sources": [{"kind": "static", "href": str(sample.catalog_path),
                         "collections": ["sentinel-2-l2a"]}],
            "start": "2025-10-01", "end": "2025-12-31", **keys}


def run_spec(tmp_path, spec: dict, *options: str) -> int:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec), encoding="utf-8")
    return cli.main([*options, "job", str(path)])


@pytest.fixture
def no_search(monkeypatch):
    """Fails the test if a command searches: the options are checked before any work."""
    def refuse(*args, **kwargs):
        raise AssertionError("searched before checking the options")

    monkeypatch.setattr(workflow, "search_all", refuse)


@pytest.mark.parametrize("extra,message", [
    (["--start", "2025-12-01", "--end", "2025-11-01"],
     "the period ends (2025-11-01) before it starts (2025-12-01): swap the dates"),
    (["--max-cloud", "150"], "a percentage from 0 to 100 (--max-cloud), not 150"),
])
def test_search_checks_its_options_like_composite(small_sample, capsys, no_search, extra,
                                                  message):
    """`search` with the end before the start or a cloud limit of 150 % listed nothing and
    exited 0 ("0 scenes found"); it is bad input, as for `composite` (a --mask, which a
    search does not use, is not one of its options: test_bad_input_cli)."""
    assert cli.main(["--quiet", "search", *search_args(small_sample, *extra)]) == 2
    assert message in one_line_error(capsys)


def test_a_search_job_needs_no_output_folder(small_sample, tmp_path, capsys):
    """The search kind writes no composites: without 'output_dir' it stopped with "job spec
    needs 'output_dir'" (README's required keys do not list it)."""
    footprints = tmp_path / "footprints.gpkg"
    assert run_spec(tmp_path, search_spec(small_sample, output=str(footprints)),
                    "--json") == 0, capsys.readouterr().err
    result = json.loads(capsys.readouterr().out)
    assert len(result["items"]) == 5 and result["errors"] == {}
    assert {row["collection"] for row in result["items"]} == {"sentinel-2-l2a"}
    assert footprints.is_file()


def test_a_search_job_whose_output_is_a_folder_is_bad_input(small_sample, tmp_path, capsys,
                                                           no_search):
    """'output' naming a folder ended in a traceback (IsADirectoryError) after the search."""
    folder = tmp_path / "footprints"
    folder.mkdir()
    assert run_spec(tmp_path, search_spec(small_sample, output=str(folder)), "--quiet") == 2
    line = one_line_error(capsys)
    assert f"job spec 'output' {folder} is a folder" in line
    assert str(folder / "footprints.gpkg") in line
    assert list(folder.iterdir()) == [] and list(tmp_path.glob(".*part*")) == []


@pytest.mark.parametrize("name", ["a/b", "../../x", "ratio:1", "tab\tname"])
def test_a_custom_index_name_that_cannot_name_a_file_is_bad_input(small_sample, tmp_path,
                                                                 capsys, no_search, name):
    """The name of a custom index names its COG: 'a/b' failed after the scenes were read
    ("reading scenes failed (Attempt to create new tiff file ...)"), '../../x' tried to
    write above the staging folder. Now one line before any search, in the CLI and job spec."""
    output = tmp_path / "out"
    code = cli.main(["--quiet", "composite", *source_args(small_sample),
                     "--expression", f"{name}=(nir-green)/(nir+green)", "--output",
                     str(output)])
    assert code == 2
    assert f"custom index name {name!r} cannot be a file name" in one_line_error(capsys)
    spec = dict(search_spec(small_sample), kind="composite", output_dir=str(output),
                custom_indices={name: "(nir-green)/(nir+green)"})
    assert run_spec(tmp_path, spec, "--quiet") == 2
    assert "cannot be a file name" in one_line_error(capsys)
    assert not output.exists()


def test_a_custom_index_named_with_a_space_still_works(small_sample, tmp_path, capsys):
    output = tmp_path / "out"
    assert cli.main(["--quiet", "composite", *source_args(small_sample),
                     "--expression", "green ratio=nir/green", "--output", str(output)]) == 0
    assert (output / "static-catalog_sentinel-2-l2a_green ratio_monthly_median.tif").is_file()


@pytest.mark.parametrize("budget", ["0", "0GB"])
def test_a_memory_budget_of_nothing_is_bad_input(small_sample, tmp_path, capsys, no_search,
                                                 budget):
    """--memory-budget 0 searched, then refused the run as "too large for the memory budget
    of 0 B" with advice no resolution could meet; the job spec took "0" as text the same way."""
    output = tmp_path / "out"
    assert cli.main(["--quiet", "composite", *source_args(small_sample), "--memory-budget",
                     budget, "--output", str(output)]) == 2
    assert f"the memory budget {budget!r} is not above 0" in one_line_error(capsys)
    spec = dict(search_spec(small_sample), kind="composite", output_dir=str(output),
                memory_budget=budget)
    assert run_spec(tmp_path, spec, "--quiet") == 2
    assert "is not above 0" in one_line_error(capsys)
    assert not output.exists()


def test_json_and_quiet_also_after_the_command(small_sample, capsys):
    """`raster-collect search ... --json` was a usage error (exit 2): the options were taken
    only before the command."""
    assert cli.main(["search", *search_args(small_sample), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["scenes"] == 5 and len(summary["items"]) == 5
    assert cli.main(["search", *search_args(small_sample), "--quiet"]) == 0
    assert capsys.readouterr().out == ""
    assert cli.main(["search", *search_args(small_sample)]) == 0  # the table by default
    assert len(capsys.readouterr().out.strip().splitlines()) == 5


@pytest.mark.skipif(sys.platform == "win32", reason="pipes' POLLERR is POSIX")
def test_a_search_piped_into_a_reader_that_leaves_ends_without_a_traceback(small_sample):
    """`raster-collect search ... | head -1`: the reader leaves, the next print raised
    BrokenPipeError, printed as an "unexpected" error with a traceback."""
    read, write = os.pipe()
    os.close(read)  # the reader has left before the first line
    try:
        result = subprocess.run(
            [sys.executable, "-m", "raster_collect_plugin", "search",
             *search_args(small_sample)], stdout=write, stderr=subprocess.PIPE, text=True,
            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    finally:
        os.close(write)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr, \
        result.stderr


def test_radar_composites_asked_for_beside_an_optical_index(small_sample, tmp_path, capsys):
    """`--indices NDVI --colour radar` over Sentinel-2 and Sentinel-1: the radar composites
    README promises were dropped with the whole Sentinel-1 collection ("sentinel-1-rtc has no
    nir or red band"), exit 0 and no radar file."""
    output = tmp_path / "out"
    args = ["--json", "composite", *source_args(small_sample, "--colour", "radar"),
            "--output", str(output)]
    args[args.index("sentinel-2-l2a")] = "sentinel-2-l2a,sentinel-1-rtc"
    assert cli.main(args) == 0, capsys.readouterr().err
    summary = json.loads(capsys.readouterr().out)
    assert summary["errors"] == {}
    radar = summary["colour_composites"]["Static catalog/sentinel-1-rtc"]["radar"]
    assert sorted(radar) == ["2025-10", "2025-11", "2025-12"]
    assert all(Path(path).is_file() for path in radar.values())
    metadata = json.loads((output / "static-catalog_sentinel-1-rtc_metadata.json").read_text())
    assert metadata["skipped_indices"] == {"NDVI": "sentinel-1-rtc has no nir or red band"}
    assert (output / "static-catalog_sentinel-2-l2a_NDVI_monthly_median.tif").is_file()
    assert not list(output.glob("static-catalog_sentinel-1-rtc_NDVI*"))


def test_colour_composites_are_in_the_manifest_and_replaced_by_overwrite(small_sample,
                                                                         tmp_path, capsys):
    """The manifest (what the dock and later runs trust) left out the --colour COGs, so an
    --overwrite run with other inputs kept the old run's true-colour files beside its own."""
    output = tmp_path / "out"
    args = ["--quiet", "composite", *source_args(small_sample), "--output", str(output)]
    assert cli.main([*args, "--colour", "true-colour"]) == 0, capsys.readouterr().err
    colour = sorted(p.name for p in output.glob("*_true-colour_*.tif"))
    assert len(colour) == 3
    listed = json.loads((output / "manifest.json").read_text())["files"]
    assert set(colour) <= set(listed)
    args[args.index("NDVI")] = "NBR"
    assert cli.main([*args, "--overwrite"]) == 0, capsys.readouterr().err
    assert not list(output.glob("*_true-colour_*.tif"))
    assert sorted(p.name for p in output.glob("*.tif")) == [
        "static-catalog_sentinel-2-l2a_NBR_monthly_median.tif",
        "static-catalog_sentinel-2-l2a_clear_count.tif"]


@pytest.mark.parametrize("command", [["demo"], ["sample", "--small"]])
def test_demo_or_sample_into_a_file_is_one_bad_input_line(tmp_path, capsys, command):
    """`demo --output notes.txt` (or a folder below a file) ended in a NotADirectoryError
    traceback after the first scenes were written."""
    blocking = tmp_path / "notes.txt"
    blocking.write_text("mine", encoding="utf-8")
    for output in (blocking, blocking / "demo"):
        assert cli.main(["--quiet", *command, "--output", str(output)]) == 2
        line = one_line_error(capsys)
        assert "cannot be made" in line and f"{blocking} is a file" in line
    assert blocking.read_text(encoding="utf-8") == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


@pytest.mark.parametrize("second", ["X=red/nir", "x=red/nir"])
def test_one_custom_index_name_given_twice_is_bad_input(small_sample, tmp_path, capsys,
                                                        no_search, second):
    """`--expression X=nir/red --expression X=red/nir` silently computed only the last one;
    X and x (two files on Linux, one on Windows) are refused the same way, in the job spec too."""
    output = tmp_path / "out"
    assert cli.main(["--quiet", "composite", *source_args(small_sample), "--expression",
                     "X=nir/red", "--expression", second, "--output", str(output)]) == 2
    assert f"--expression names 'X' twice (X=nir/red and {second})" in one_line_error(capsys)
    spec = dict(search_spec(small_sample), kind="composite", output_dir=str(output),
                custom_indices={"X": "nir/red", "x": "red/nir"})
    assert run_spec(tmp_path, spec, "--quiet") == 2
    assert "custom indices named alike but for case (X)" in one_line_error(capsys)
    assert not output.exists()


def test_the_same_custom_index_given_twice_is_one_index(small_sample, tmp_path, capsys):
    output = tmp_path / "out"
    assert cli.main(["--json", "composite", *source_args(small_sample), "--expression",
                     "X=nir/red", "--expression", "X=nir/red", "--output", str(output)]) == 0
    outputs = json.loads(capsys.readouterr().out)["outputs"]["Static catalog/sentinel-2-l2a"]
    assert sorted(outputs) == ["NDVI", "X"]


def test_events_with_json_print_only_json_lines(small_sample, tmp_path, capsys):
    """`job spec.json --events --json`: the result event was followed by the same result as
    pretty-printed JSON, so stdout was no longer one JSON document a line."""
    assert run_spec(tmp_path, search_spec(small_sample), "--json") == 0
    capsys.readouterr()
    spec = tmp_path / "spec.json"
    assert cli.main(["--json", "job", str(spec), "--events"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    events = [json.loads(line) for line in lines]
    assert events[-1]["event"] == "result" and len(events[-1]["result"]["items"]) == 5


def test_a_null_in_a_job_spec_is_the_default(small_sample, tmp_path, capsys):
    """A key set to null passed the spec check and then reached the run as None: "period":
    null was a ValueError traceback, "clip": null silently made unclipped hexagons. Null is
    now the key's default; "max_cloud_cover": null keeps its meaning (no cloud limit)."""
    import geopandas as gpd

    spec = search_spec(small_sample, period=None, method=None, start="2025-11-01",
                       end="2025-11-30")
    assert run_spec(tmp_path, spec, "--json") == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out)["items"]
    spec = dict(spec, sources=[dict(spec["sources"][0], collections=["landsat-c2-l2"])])
    found = {}
    for limit in (80, None):  # Landsat has a 100 % cloudy scene on 27 November
        assert run_spec(tmp_path, dict(spec, max_cloud_cover=limit), "--json") == 0
        found[limit] = len(json.loads(capsys.readouterr().out)["items"])
    assert found[None] == found[80] + 1
    areas = {}
    for clip in ("absent", None):
        hexagons = {"kind": "hexagons", "aoi": str(small_sample.forests_path),
                    "output": str(tmp_path / f"hexagons-{clip}.gpkg"),
                    "hexagon_area_m2": 100_000, **({} if clip == "absent" else {"clip": clip})}
        assert run_spec(tmp_path, hexagons, "--quiet") == 0, capsys.readouterr().err
        areas[clip] = gpd.read_file(hexagons["output"]).area.sum()
    assert areas[None] == pytest.approx(areas["absent"])
    forests = gpd.read_file(small_sample.forests_path).area.sum()
    assert areas[None] == pytest.approx(forests, rel=1e-6)  # clipped to the forests


def test_the_series_search_takes_iso_dates_and_names_a_failed_source(small_sample):
    """`search_index_series(sources, forests, "2025-10-01", "2025-10-31")` reached every
    source as text, each failed on it, and the only message was "no optical scenes can give
    NDVI: none found"; a source that fails is now named in that message, and ISO text is
    a date."""
    import geopandas as gpd

    from raster_collect_plugin.core.composites.requests import Source
    from raster_collect_plugin.core.pixels.errors import LoadError
    from raster_collect_plugin.core.series import search_index_series
    from raster_collect_plugin.core.sources.providers.static_catalog import (
        StaticCatalogProvider,
    )

    frame = gpd.read_file(small_sample.forests_path)
    provider = StaticCatalogProvider("sample", str(small_sample.catalog_path))
    sources = [Source(provider, ("sentinel-2-l2a", "landsat-c2-l2"))]
    series = search_index_series(sources, frame, "2025-10-01", "2025-10-31", resolution=30,
                                 max_cloud_cover=80)
    assert sorted(series["sensor"].values) == ["landsat", "landsat", "sentinel-2",
                                               "sentinel-2"]
    assert json.loads(series.attrs["search_errors"]) == {}
    broken = StaticCatalogProvider("broken", "http://127.0.0.1:9/catalog.json")  # refused
    with pytest.raises(LoadError, match="none found; the search failed for broken: cannot "
                                        "read the catalog"):
        search_index_series([Source(broken, ("sentinel-2-l2a",))], frame,
                            "2025-10-01", "2025-10-31")
    with pytest.raises(ValueError, match="'October' is not a date like 2025-03-01"):
        search_index_series(sources, frame, "October", "2025-10-31")


@pytest.mark.parametrize("extra,message", [
    (["--dask", "local", "--workers", "-1"],
     "--workers must be a whole number of worker processes (1 or more), not -1"),
    (["--threads-per-worker", "0"],
     "--threads-per-worker must be a whole number of threads (1 or more), not 0"),
    (["--dask", "local", "--workers", "1", "--memory-limit", "abc"],
     "--memory-limit must be a size such as 2GB, not abc"),
])
def test_cluster_options_a_cluster_cannot_use_are_bad_input(small_sample, tmp_path, capsys,
                                                           no_search, extra, message):
    """`--dask local --workers -1` started a cluster and then said "the dask workers cannot
    write the output folder", `--memory-limit abc` was dask's traceback; the job spec's
    compute rules are now the command line's."""
    output = tmp_path / "out"
    assert cli.main(["--quiet", "composite", *source_args(small_sample, *extra), "--output",
                     str(output)]) == 2
    assert message in one_line_error(capsys)
    assert not output.exists()


def test_a_job_spec_memory_limit_dask_cannot_read_is_bad_input(small_sample, tmp_path, capsys,
                                                               no_search):
    """"compute": {"memory_limit": "abc"} passed the spec check; the local cluster then ended
    in dask's ValueError traceback ("Could not interpret 'abc' as a byte unit")."""
    spec = search_spec(small_sample, compute={"mode": "local", "workers": 1,
                                              "memory_limit": "abc"})
    assert run_spec(tmp_path, spec, "--quiet") == 2
    assert "job spec 'compute.memory_limit' must be a size such as 2GB, not 'abc'" in \
        one_line_error(capsys)


@pytest.mark.parametrize("kind", ["search", "hexagons"])
def test_a_job_output_below_a_file_is_bad_input(small_sample, tmp_path, capsys, no_search,
                                               kind):
    """'output': "notes.txt/footprints.gpkg" ended in a FileExistsError traceback after the
    work (search and hexagons kinds; the hexagons command already refused it)."""
    blocking = tmp_path / "notes.txt"
    blocking.write_text("mine", encoding="utf-8")
    output = blocking / "out.gpkg"
    spec = (search_spec(small_sample, output=str(output)) if kind == "search" else
            {"kind": "hexagons", "aoi": str(small_sample.forests_path), "output": str(output),
             "hexagon_area_m2": 100_000})
    assert run_spec(tmp_path, spec, "--quiet") == 2
    assert f"job spec 'output' {output} lies below a file" in one_line_error(capsys)
    assert blocking.read_text(encoding="utf-8") == "mine"


def test_a_catalog_given_by_its_folder(small_sample, tmp_path, capsys):
    """`--catalog outputs/demo/sample` (the folder, not its catalog.json) said the catalog
    "does not exist"; a folder holding a catalog.json is that catalog, and a folder without
    one is named as such."""
    args = search_args(small_sample)
    args[args.index(str(small_sample.catalog_path))] = str(small_sample.catalog_path.parent)
    assert cli.main(["--json", "search", *args]) == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out)["scenes"] == 5
    args[args.index(str(small_sample.catalog_path.parent))] = str(tmp_path)
    assert cli.main(["--quiet", "search", *args]) == 2
    assert f"the STAC catalog {tmp_path} is a folder without a catalog.json" in \
        one_line_error(capsys)


@pytest.mark.parametrize("index", ["VV", "vhvv"])
def test_monitoring_a_radar_index_is_bad_input_before_the_search(small_sample, tmp_path,
                                                                  capsys, monkeypatch, index):
    """The monitoring series is optical (Landsat + Sentinel-2): index VV searched, then
    failed with "no optical scenes can give VV" (exit 1); now exit 2 before any search."""
    from raster_collect_plugin.core.series import harmonised

    def refuse(*args, **kwargs):
        raise AssertionError("searched before checking the index")

    spec = {"kind": "monitor", "aoi": str(small_sample.forests_path),
            "sources": [{"kind": "static", "href": str(small_sample.catalog_path)}],
            "history_start": "2025-10-01", "history_end": "2025-11-30", "index": index,
            "output_dir": str(tmp_path / "monitoring")}
    monkeypatch.setattr(harmonised, "search_stacks", refuse)
    assert run_spec(tmp_path, spec, "--quiet") == 2
    line = one_line_error(capsys)
    assert f"the index {index!r} is not an optical index (it is sentinel-1's)" in line
    assert not (tmp_path / "monitoring").exists()


@pytest.mark.parametrize("kind", ["composite", "zonal"])
def test_an_overwrite_run_that_finds_no_scene_keeps_the_results(small_sample, tmp_path,
                                                                capsys, kind):
    """An --overwrite run over a period without scenes stopped with "nothing to compute"
    (exit 2) after dropping the manifest of the results it was to replace: they were no
    longer trusted (the dock shows none). The search's verdict now comes before the folder
    is touched."""
    output = tmp_path / "out"
    spec = dict(search_spec(small_sample), kind=kind, output_dir=str(output),
                indices=["NDVI"], end="2025-10-31")
    assert run_spec(tmp_path, spec, "--quiet") == 0, capsys.readouterr().err
    manifest = (output / "manifest.json").read_bytes()
    files = sorted(p.name for p in output.iterdir())
    empty = dict(spec, start="2024-10-01", end="2024-10-31", overwrite=True)
    assert run_spec(tmp_path, empty, "--quiet") == 2
    line = one_line_error(capsys)
    assert line.startswith("raster-collect: error: nothing to compute: ")
    assert "no sentinel-2-l2a scenes for this area between 2024-10-01 and 2024-10-31" in line
    assert (output / "manifest.json").read_bytes() == manifest
    assert sorted(p.name for p in output.iterdir()) == files


def test_a_colour_composite_no_collection_can_make_is_said(small_sample, tmp_path, capsys):
    """`--colour radar` over Sentinel-2 alone made no radar composite and said nothing."""
    output = tmp_path / "out"
    assert cli.main(["--json", "composite", *source_args(small_sample, "--colour",
                                                         "radar,true-colour"),
                     "--output", str(output)]) == 0, capsys.readouterr().err
    summary = json.loads(capsys.readouterr().out)
    assert list(summary["colour_composites"]["Static catalog/sentinel-2-l2a"]) == ["true-colour"]
    assert "no radar composites: no collection of the run has their bands (Sentinel-1 VV " \
           "and VH)" in summary["notes"]
    assert not [note for note in summary["notes"] if note.startswith("no true-colour")]


def test_the_demo_into_another_runs_folder_is_bad_input(small_sample, tmp_path, capsys):
    """`demo --output` a composite run's folder wrote the demo's files among that run's and
    overwrote its scenes.csv, leaving a manifest that no longer matched the folder."""
    output = tmp_path / "out"
    assert cli.main(["--quiet", "composite", *source_args(small_sample), "--output",
                     str(output)]) == 0
    before = {p.name: p.read_bytes() for p in output.iterdir()}
    assert cli.main(["--quiet", "demo", "--output", str(output)]) == 2
    assert f"{output} holds the results of another run" in one_line_error(capsys)
    assert {p.name: p.read_bytes() for p in output.iterdir()} == before


def test_a_composite_whose_only_source_fails_is_a_failure(small_sample, tmp_path, capsys):
    """Nothing to compute because the STAC API did not answer is not the user's input: exit
    1 (as `search` and `zonal`), not 2; nothing is written."""
    from tests.test_bad_input import closed_port

    port = closed_port()
    output = tmp_path / "out"
    args = source_args(small_sample, "--output", str(output))
    args[args.index("--catalog"):args.index("--catalog") + 2] = [
        "--stac-url", f"http://127.0.0.1:{port}"]
    assert cli.main(["--quiet", "composite", *args]) == 1
    line = one_line_error(capsys)
    assert line.startswith("raster-collect: error: nothing to compute: Custom STAC: cannot "
                           f"open the STAC API at http://127.0.0.1:{port}")
    assert not output.exists()


def test_two_unnamed_static_sources_both_count(small_sample, tmp_path, capsys):
    """Two static sources without a 'name' were both "Static catalog": the second's scenes
    replaced the first's in the search (and their composites one file). The second is now
    "Static catalog 2", as --catalog twice does; a name given twice is
    refused."""
    import shutil

    copy = shutil.copytree(small_sample.catalog_path.parent, tmp_path / "copy")
    spec = search_spec(small_sample)
    spec["sources"].append({"kind": "static", "href": str(copy / "catalog.json"),
                            "collections": ["sentinel-2-l2a"]})
    assert run_spec(tmp_path, spec, "--json") == 0, capsys.readouterr().err
    items = json.loads(capsys.readouterr().out)["items"]
    assert sorted({row["provider"] for row in items}) == ["Static catalog", "Static catalog 2"]
    assert len(items) == 10
    for source in spec["sources"]:
        source["name"] = "mine"
    assert run_spec(tmp_path, spec, "--quiet") == 2
    assert "job spec sources name 'mine' twice" in one_line_error(capsys)
