"""Results protection: fingerprints of what determines a result, the folder lock, publishing
with a manifest written last, no mixing of runs, roll-back on cancel, clean-up after kills."""

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest

from raster_collect_plugin import cli
from raster_collect_plugin.core.composites.requests import Cancelled
from raster_collect_plugin.core.jobs import run as jobs
from raster_collect_plugin.core.runs.folder import (
    JOURNAL_NAME,
    LOCK_NAME,
    ResultsConflict,
    RunFolder,
    fingerprint,
)
from raster_collect_plugin.core.runs.manifest import published_files, read_manifest


def zonal_args(sample, output, *extra, gpkg=None):
    return ["--quiet", "zonal", "--gpkg", str(gpkg or sample.forests_path),
            "--catalog", str(sample.catalog_path), "--collections", "sentinel-2-l2a",
            "--start", "2025-10-01", "--end", "2025-11-30", "--indices", "NDVI",
            "--output", str(output), *extra]


def composite_args(sample, output, *extra):
    return ["--quiet", "composite", "--gpkg", str(sample.forests_path),
            "--catalog", str(sample.catalog_path), "--collections", "sentinel-2-l2a",
            "--start", "2025-10-01", "--end", "2025-10-31", *extra, "--output", str(output)]


def visible(folder: Path) -> list:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


def test_rerun_with_other_parameters_stops_unless_overwrite(small_sample, tmp_path, capsys):
    output = tmp_path / "out"
    assert cli.main(zonal_args(small_sample, output)) == 0
    before = (output / "zonal_forests_all.csv").read_bytes()
    assert len(pd.read_csv(output / "zonal_forests_all.csv")) == 6 * 2
    listed = set(published_files(str(output)))
    assert {"zonal_forests_all.csv", "zonal_forests_all.parquet",
            "zonal_forests_all.gpkg", "forest_281/complete.json"} <= listed
    capsys.readouterr()
    # another run, another month range and one forest only: refused, nothing touched
    other = zonal_args(small_sample, output, "--forest", "283", "--min-clear", "0.9")
    assert cli.main(other) == 2
    # in the command line's words: the forest selection, the option with both values
    assert "holds results of another run (different forests (--forest, or the polygons in " \
        "--gpkg), --min-clear (the folder's run: 0.5, this run: 0.9)" in error_line(capsys)
    assert (output / "zonal_forests_all.csv").read_bytes() == before
    assert set(published_files(str(output))) == listed
    # --overwrite replaces them: the old run's forests go, the table is the new run's
    assert cli.main(other + ["--overwrite"]) == 0
    table = pd.read_csv(output / "zonal_forests_all.csv")
    assert set(table["forest_id"]) == {283} and len(table) == 2
    assert sorted(p.name for p in output.glob("forest_*")) == ["forest_283"]
    assert read_manifest(str(output))["run"]["parameters"]["min_clear_fraction"] == 0.9


def test_moved_forest_is_not_reused_as_complete(small_sample, tmp_path, capsys):
    output = tmp_path / "out"
    forests = gpd.read_file(small_sample.forests_path)
    moved_path = tmp_path / "forests.gpkg"
    forests.to_file(moved_path)
    assert cli.main(zonal_args(small_sample, output, gpkg=moved_path)) == 0
    capsys.readouterr()
    # same file name, same ids, same command line: forest 284 moved 200 m east
    forests.loc[forests["forest_id"] == 284, "geometry"] = \
        forests.loc[forests["forest_id"] == 284].translate(xoff=200).geometry
    forests.to_file(moved_path)
    assert cli.main(zonal_args(small_sample, output, gpkg=moved_path)) == 2
    assert "different forests (--forest, or the polygons in --gpkg)" in error_line(capsys)
    capsys.readouterr()
    assert cli.main(["--json"] + zonal_args(small_sample, output, "--overwrite",
                                           gpkg=moved_path)[1:]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["computed"] == [284] and len(summary["skipped_complete"]) == 5


def test_second_run_into_a_locked_folder_stops(small_sample, tmp_path, capsys):
    output = tmp_path / "out"
    record = fingerprint("composite", {"x": 1})
    with RunFolder(output, record):
        assert cli.main(composite_args(small_sample, output)) == 2
        assert "another raster-collect run is writing to" in error_line(capsys)
    assert cli.main(composite_args(small_sample, output)) == 0  # free again


def test_second_composite_run_does_not_mix_files(small_sample, tmp_path, capsys):
    output = tmp_path / "out"
    assert cli.main(composite_args(small_sample, output, "--indices", "NDVI")) == 0
    first = visible(output)
    assert any("NDVI" in name for name in first)
    capsys.readouterr()
    assert cli.main(composite_args(small_sample, output, "--indices", "EVI")) == 2
    assert "different --indices (the folder's run: NDVI, this run: EVI)" in error_line(capsys)
    assert visible(output) == first
    assert cli.main(composite_args(small_sample, output, "--indices", "EVI",
                                   "--overwrite")) == 0
    names = visible(output)
    assert not any("NDVI" in name for name in names) and any("EVI" in name for name in names)
    assert sorted(published_files(str(output))) == [n for n in names if n != "manifest.json"]
    # the same run again into its own folder is fine (a rerun, not a mix)
    assert cli.main(composite_args(small_sample, output, "--indices", "EVI")) == 0


def test_a_run_of_another_kind_is_named_as_such(small_sample, tmp_path, capsys):
    """A zonal run into a composite's folder: the message says whose results are there, not
    the twenty parameters that differ between the two kinds."""
    output = tmp_path / "out"
    assert cli.main(composite_args(small_sample, output, "--indices", "NDVI")) == 0
    capsys.readouterr()
    assert cli.main(zonal_args(small_sample, output)) == 2
    line = error_line(capsys)
    assert "holds results of a composite run, not of a zonal run one forest at a time " \
        "(raster-collect zonal into a folder): the two keep their files differently; use " \
        "--overwrite" in line, line


def test_cancel_after_composites_leaves_no_outputs(small_sample, tmp_path):
    output = tmp_path / "out"
    spec = {"kind": "zonal", "aoi": str(small_sample.forests_path),
            "sources": [{"kind": "static", "href": str(small_sample.catalog_path),
                         "collections": ["sentinel-2-l2a"]}],
            "start": "2025-10-01", "end": "2025-10-31", "indices": ["NDVI"],
            "output_dir": str(output)}
    seen = []

    def progress(fraction, message):
        seen.append(message)

    def cancel():  # the user presses Cancel once the composites are written
        return any("zonal statistics" in m for m in seen)

    with pytest.raises(Cancelled):
        jobs.run_job(spec, progress=progress, cancel=cancel)
    assert any("zonal statistics" in m for m in seen)
    # the finished composites were rolled back too, and the folder this run made is gone
    assert not output.exists()


def test_partial_folders_of_a_killed_run_are_cleaned(small_sample, tmp_path):
    output = tmp_path / "out"
    command = [sys.executable, "-m", "raster_collect_plugin",
               *composite_args(small_sample, output, "--indices", "NDVI,EVI,NDMI")]
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             cwd=tmp_path)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            if output.exists() and any(p.name.startswith(".raster-collect-partial-")
                                       for p in output.iterdir()):
                break
            time.sleep(0.05)
        else:
            pytest.fail("the run never started writing")
    finally:
        child.send_signal(signal.SIGKILL)  # a hard kill: no clean-up of its own
        child.wait(timeout=30)
    assert (output / JOURNAL_NAME).exists()
    assert any(p.name.startswith(".raster-collect-partial-") for p in output.iterdir())
    assert cli.main(composite_args(small_sample, output, "--indices", "NDVI")) == 0
    leftovers = [p.name for p in output.iterdir() if p.name.startswith(".")
                 and p.name != LOCK_NAME]
    assert leftovers == []
    assert sorted(published_files(str(output))) == [n for n in visible(output)
                                                    if n != "manifest.json"]


def test_result_folders_have_normal_permissions(small_sample, tmp_path):
    previous = os.umask(0o022)
    try:
        output = tmp_path / "new" / "out"
        assert cli.main(zonal_args(small_sample, output, "--forest", "281")) == 0
    finally:
        os.umask(previous)
    for folder in (output, output / "forest_281"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o755, folder


def test_storm_runs_are_not_mixed(small_sample, tmp_path, capsys):
    output = tmp_path / "storm"

    def storm(event, *extra):
        return cli.main(["--quiet", "storm", "--gpkg", str(small_sample.forests_path),
                         "--catalog", str(small_sample.catalog_path), "--event-date", event,
                         "--output", str(output), *extra])

    assert storm("2025-11-13") == 0
    listed = set(published_files(str(output)))
    assert {"storm_damage_ranking.csv", "storm_damage.gpkg"} <= listed
    assert any(name.endswith("_change.tif") for name in listed)
    capsys.readouterr()
    assert storm("2025-11-20") == 2
    assert "different --event-date (the folder's run: 2025-11-13, this run: 2025-11-20)" in \
        error_line(capsys)
    assert set(published_files(str(output))) == listed
    assert storm("2025-11-20", "--overwrite") == 0
    assert read_manifest(str(output))["run"]["parameters"]["event_date"] == "2025-11-20"


def test_dock_trusts_only_what_the_manifest_lists(small_sample, tmp_path):
    from raster_collect_plugin.gui.trusted_results import trusted

    output = tmp_path / "out"
    spec = {"kind": "zonal", "aoi": str(small_sample.forests_path),
            "sources": [{"kind": "static", "href": str(small_sample.catalog_path),
                         "collections": ["sentinel-2-l2a"]}],
            "start": "2025-10-01", "end": "2025-10-31", "indices": ["NDVI"],
            "output_dir": str(output)}
    result = json.loads(json.dumps(jobs.run_job(spec)))
    assert trusted(result) == result  # a published run: everything is trusted
    table = Path(result["files"]["forests_csv"])
    table.write_text(table.read_text() + "1,2,3\n")  # touched after publishing
    (output / "manifest.json").rename(output / "manifest.old")
    assert trusted(result)["files"] == {} and trusted(result)["collections"] == []
    (output / "manifest.old").rename(output / "manifest.json")
    assert "forests_csv" not in trusted(result)["files"]
    assert len(trusted(result)["files"]) == len(result["files"]) - 1


def test_rerun_with_the_catalog_given_relative_resumes(small_sample, tmp_path, capsys,
                                                       monkeypatch):
    """The same catalog, given absolute once and relative from its folder later, is the same
    source: the rerun skips the complete forests instead of refusing the folder."""
    output = tmp_path / "out"
    assert cli.main(zonal_args(small_sample, output)) == 0
    capsys.readouterr()
    catalog = Path(small_sample.catalog_path).absolute()
    monkeypatch.chdir(catalog.parent)
    args = zonal_args(small_sample, output)
    args[args.index("--catalog") + 1] = catalog.name
    assert cli.main(["--json"] + args[1:]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["computed"] == [] and len(summary["skipped_complete"]) == 6


def test_a_run_publishing_what_it_wrote_leaves_out_an_earlier_run_finished_just_before(
        tmp_path):
    """publish_written takes the files written since a second before the run began (coarse
    file times): a file an earlier run wrote within that second, which this run did not
    rewrite, was listed as this run's (the monitor's and storm's manifests)."""
    record = fingerprint("monitor", {"index": "NDVI"})
    with RunFolder(tmp_path, record, rewrites=True, tracks_writes=True) as first:
        started = time.time()
        for name in ("compartments.csv", "compartments.parquet"):
            (tmp_path / name).write_text("first run")
        first.publish_written(started)
    with RunFolder(tmp_path, record, rewrites=True, tracks_writes=True) as second:
        started = time.time()
        (tmp_path / "compartments.csv").write_text("second run")
        (tmp_path / "sub").mkdir()
        (tmp_path / "sub" / "new.csv").write_text("second run")
        manifest = second.publish_written(started)
    assert sorted(manifest["files"]) == ["compartments.csv", "sub/new.csv"]
    assert published_files(str(tmp_path)) == ["compartments.csv", "sub/new.csv"]


def test_a_conflict_names_what_changed_inside_a_group_of_parameters(tmp_path):
    # before the fix: "different monitoring" for a changed --threshold (or history start)
    monitoring = {"threshold": 3.0, "confirm": 3, "history_start": "2024-01-01"}
    with RunFolder(tmp_path, fingerprint("monitor", {"monitoring": monitoring})) as folder:
        (tmp_path / "a.txt").write_text("a")
        folder.publish(["a.txt"])
    other = fingerprint("monitor", {"monitoring": dict(monitoring, threshold=2.5)})
    changed = r"different monitoring\.threshold \(the folder's run: 3, this run: 2\.5\)\)"
    with pytest.raises(ResultsConflict, match=changed) as raised:
        with RunFolder(tmp_path, other):
            pass
    assert "--overwrite" in str(raised.value) and (tmp_path / "a.txt").exists()
