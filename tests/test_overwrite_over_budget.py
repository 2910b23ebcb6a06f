"""A run over the memory budget is bad input: refused (exit 2) before ``--overwrite`` drops the
folder's manifest, so the results it was to replace stay listed and usable."""

from __future__ import annotations

import json

import pytest

from raster_collect_plugin import cli
from raster_collect_plugin.core.jobs import run_job


def _arguments(sample, command, output, *extra):
    return [command, "--gpkg", str(sample.forests_path), "--forest", "281,282", "--catalog",
            str(sample.catalog_path), "--collections", "sentinel-2-l2a", "--start",
            "2025-10-01", "--end", "2025-11-30", "--output", str(output), *extra]


@pytest.mark.parametrize("command", ["composite", "zonal"])
def test_overwrite_over_the_budget_keeps_the_old_results(small_sample, tmp_path, capsys,
                                                         command):
    output = tmp_path / command
    assert cli.main(["--quiet", *_arguments(small_sample, command, output)]) == 0
    manifest = json.loads((output / "manifest.json").read_text())
    assert cli.main(["--quiet", *_arguments(small_sample, command, output, "--indices", "NDVI",
                                            "--memory-budget", "1MB", "--overwrite")]) == 2
    assert "too large for the memory budget of 1.0 MB" in capsys.readouterr().err
    assert json.loads((output / "manifest.json").read_text()) == manifest
    assert all((output / name).is_file() for name in manifest["files"])
    # nothing was lost: the same command as the first run resumes, computing nothing
    if command == "zonal":
        assert cli.main(["--json", *_arguments(small_sample, command, output)]) == 0
        summary = json.loads(capsys.readouterr().out)
        assert (summary["computed"], summary["skipped_complete"]) == ([], [281, 282])


def test_storm_overwrite_over_the_budget_keeps_the_old_results(small_sample, tmp_path,
                                                                capsys):
    output = tmp_path / "storm"
    arguments = ["storm", "--gpkg", str(small_sample.forests_path), "--catalog",
                 str(small_sample.catalog_path), "--collections", "sentinel-2-l2a",
                 "--event-date", "2025-11-13", "--output", str(output)]
    assert cli.main(["--quiet", *arguments]) == 0
    manifest = (output / "manifest.json").read_text()
    assert cli.main(["--quiet", *arguments, "--min-clear-fraction", "0.6", "--memory-budget",
                     "1MB", "--overwrite"]) == 2
    assert "too large for the memory budget of 1.0 MB" in capsys.readouterr().err
    assert (output / "manifest.json").read_text() == manifest


def test_a_zonal_job_over_the_budget_keeps_the_old_results(small_sample, tmp_path):
    from raster_collect_plugin.core.composites.sizing import SizeError

    spec = {"kind": "zonal", "aoi": str(small_sample.forests_path), "ids": [281],
            "sources": [{"kind": "static", "href": str(small_sample.catalog_path),
                         "collections": ["sentinel-2-l2a"]}],
            "start": "2025-10-01", "end": "2025-10-31", "output_dir": str(tmp_path / "job")}
    run_job(spec)
    manifest = (tmp_path / "job" / "manifest.json").read_text()
    with pytest.raises(SizeError, match="too large for the memory budget"):
        run_job(dict(spec, indices=["NDVI"], memory_budget="1MB", overwrite=True))
    assert (tmp_path / "job" / "manifest.json").read_text() == manifest
