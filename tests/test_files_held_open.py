"""Reruns while results are on the map: Windows refuses to replace or delete a file QGIS holds
open (simulated by tests.windows_rules.HeldFiles). The run stops naming the file and the way
out, and the previous results stay as they were."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from raster_collect_plugin import cli
from raster_collect_plugin.core.outputs.files import atomic_path
from raster_collect_plugin.core.runs import file_replace
from raster_collect_plugin.core.runs.file_replace import FileHeldOpen, replace_all
from raster_collect_plugin.core.runs.folder import RunFolder, fingerprint
from raster_collect_plugin.core.runs.manifest import MANIFEST_NAME
from tests.windows_rules import HeldFiles

HELD_MESSAGE = "close the layer in QGIS or choose another output folder"


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch):
    monkeypatch.setattr(file_replace, "RETRY_DELAYS", (0.0, 0.0, 0.0))


def digests(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def composite_args(sample, output, *extra):
    return ["--quiet", "composite", "--gpkg", str(sample.forests_path),
            "--catalog", str(sample.catalog_path), "--collections", "sentinel-2-l2a",
            "--start", "2025-10-01", "--end", "2025-10-31", "--indices", "NDVI",
            "--output", str(output), *extra]


def test_a_composite_rerun_stops_on_a_layer_held_open_and_keeps_the_old_results(
        small_sample, tmp_path, monkeypatch, capsys):
    output = tmp_path / "out"
    assert cli.main(composite_args(small_sample, output)) == 0
    before = digests(output)
    held = next(output.glob("*_clear_count.tif"))
    # the index sorts before the count raster: without all-or-none it would be replaced first
    assert sorted(p.name for p in output.glob("*.tif"))[0].endswith("NDVI_monthly_median.tif")
    qgis = HeldFiles(monkeypatch, held)
    capsys.readouterr()
    assert cli.main(composite_args(small_sample, output)) == 2
    error = capsys.readouterr().err
    assert str(held) in error and HELD_MESSAGE in error
    assert digests(output) == before  # every old file and the manifest, byte for byte
    assert not [p for p in output.iterdir() if p.name.startswith(".")]
    qgis.release()
    assert cli.main(composite_args(small_sample, output)) == 0
    assert json.loads((output / MANIFEST_NAME).read_text())["files"]


def test_a_zonal_rerun_with_a_forest_table_held_open_keeps_the_old_forest(
        small_sample, tmp_path, monkeypatch, capsys):
    from tests.test_cli import zonal_args

    output = tmp_path / "out"
    assert cli.main(zonal_args(small_sample, output)) == 0
    before = digests(output)
    forest = sorted(output.glob("forest_*"))[0]
    held = forest / "zonal_forests.csv"
    assert held.is_file()
    HeldFiles(monkeypatch, held)
    capsys.readouterr()
    # other inputs (a cloud threshold): every forest is recomputed and replaced
    assert cli.main(zonal_args(small_sample, output, "--max-cloud", "50", "--overwrite")) == 2
    error = capsys.readouterr().err
    assert f"a file in {forest} is open" in error and HELD_MESSAGE in error
    assert {k: v for k, v in digests(output).items() if k.startswith(forest.name)} == {
        k: v for k, v in before.items() if k.startswith(forest.name)}


def test_a_combined_zonal_table_held_open_is_named(small_sample, tmp_path, monkeypatch,
                                                    capsys):
    from tests.test_cli import zonal_args

    output = tmp_path / "out"
    assert cli.main(zonal_args(small_sample, output)) == 0
    held = output / "zonal_forests_all.csv"
    old = held.read_bytes()
    HeldFiles(monkeypatch, held)
    capsys.readouterr()
    assert cli.main(zonal_args(small_sample, output, "--max-cloud", "50", "--overwrite")) == 2
    assert f"{held} is open in another program" in capsys.readouterr().err
    assert held.read_bytes() == old
    assert (output / "zonal_forests_all.parquet").is_file()  # all tables or none


def test_replace_all_is_all_or_none(tmp_path, monkeypatch):
    staging, output = tmp_path / "staging", tmp_path / "out"
    staging.mkdir()
    output.mkdir()
    for name in ("a.csv", "b.csv"):
        (staging / name).write_text("new")
        (output / name).write_text("old")
    HeldFiles(monkeypatch, output / "b.csv")
    with pytest.raises(FileHeldOpen, match="b.csv is open in another program"):
        replace_all([(staging / n, output / n) for n in ("a.csv", "b.csv")])
    assert [(output / n).read_text() for n in ("a.csv", "b.csv")] == ["old", "old"]
    assert sorted(p.name for p in output.iterdir()) == ["a.csv", "b.csv"]


def test_a_file_held_for_a_moment_is_replaced_after_retries(tmp_path, monkeypatch):
    """An antivirus scan or the indexer holds a new file briefly: retried, not an error."""
    (tmp_path / "new").write_text("new")
    (tmp_path / "out.csv").write_text("old")
    scanner = HeldFiles(monkeypatch, tmp_path / "out.csv", transient=2)
    replace_all([(tmp_path / "new", tmp_path / "out.csv")])
    assert (tmp_path / "out.csv").read_text() == "new" and scanner.refusals == 3


def test_a_single_output_held_open_keeps_its_old_content(tmp_path, monkeypatch):
    destination = tmp_path / "storm_metadata.json"
    destination.write_text("old")
    HeldFiles(monkeypatch, destination)
    with pytest.raises(FileHeldOpen, match="close the layer in QGIS"):
        with atomic_path(destination) as temporary:
            temporary.write_text("new")
    assert destination.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["storm_metadata.json"]


def test_an_old_file_held_open_is_left_out_of_the_new_manifest(tmp_path, monkeypatch):
    """--overwrite removes the old run's files the new one does not make; one held open
    stays (nothing lists it) instead of failing the published run."""
    output = tmp_path / "out"
    with RunFolder(output, fingerprint("composite", {"run": 1})) as folder:
        (output / "old.tif").write_text("old")
        folder.publish(["old.tif"])
    HeldFiles(monkeypatch, output / "old.tif")
    with RunFolder(output, fingerprint("composite", {"run": 2}), overwrite=True) as folder:
        (output / "new.tif").write_text("new")
        manifest = folder.publish(["new.tif"])
    assert sorted(manifest["files"]) == ["new.tif"]
    assert (output / "old.tif").read_text() == "old"


def test_a_job_rerun_with_a_table_on_the_map_is_refused_before_computing(small_sample,
                                                                         tmp_path,
                                                                         monkeypatch):
    """A zonal job publishes its composites, then its tables: a table held open must stop it
    before the composites are replaced, not after."""
    from raster_collect_plugin.core.jobs import run as jobs
    from raster_collect_plugin.core.zonal import pipeline as zonal_pipeline

    output = tmp_path / "out"
    spec = {"kind": "zonal", "aoi": str(small_sample.forests_path),
            "sources": [{"kind": "static", "href": str(small_sample.catalog_path),
                         "collections": ["sentinel-2-l2a"]}],
            "start": "2025-10-01", "end": "2025-10-31", "indices": ["NDVI"],
            "max_cloud_cover": 100, "output_dir": str(output)}
    jobs.run_job(spec)
    before = digests(output)
    held = next(output.glob("zonal_forests*.csv"))
    HeldFiles(monkeypatch, held)
    computed = []
    monkeypatch.setattr(zonal_pipeline, "run_zonal", lambda *a, **k: computed.append(1))
    with pytest.raises(FileHeldOpen, match=HELD_MESSAGE):
        jobs.run_job(spec)
    assert not computed
    assert digests(output) == before
    assert not [p for p in output.iterdir() if ".held-check-" in p.name]
