"""A rerun refused because its output folder holds another run's results named internal
parameter keys: "different max_cloud_cover" to a user who typed --max-cloud, "different
geometry" when only the forest selection changed, and "a zonal run, not zonal-forests" for a
`zonal` command line into a folder a zonal job spec wrote. Now each door's own words (the
command line's options, a job spec's keys) with both values, and why the two zonal runs do
not mix and what to do."""

from __future__ import annotations

import json

from raster_collect_plugin import cli

ADVICE = 'use --overwrite (job spec "overwrite": true) to replace them, or choose another --output'


def _composite(sample, output, *extra):
    return ["--quiet", "composite", "--gpkg", str(sample.forests_path), "--catalog",
            str(sample.catalog_path), "--collections", "sentinel-2-l2a", "--indices", "NDVI",
            "--start", "2025-10-01", "--end", "2025-10-31", "--output", str(output), *extra]


def _spec(sample, output, **keys) -> dict:
    return {"kind": "zonal", "aoi": str(sample.forests_path), "indices": ["NDVI"],
            "sources": [{"kind": "static", "href": str(sample.catalog_path),
                         "collections": ["sentinel-2-l2a"]}],
            "start": "2025-10-01", "end": "2025-10-31", "output_dir": str(output), **keys}


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_the_command_line_names_its_options_and_both_values(small_sample, tmp_path, capsys):
    output = tmp_path / "out"
    assert cli.main(_composite(small_sample, output)) == 0
    assert cli.main(_composite(small_sample, output, "--max-cloud", "30")) == 2
    assert _error(capsys) == (
        f"raster-collect: error: {output} holds results of another run (different --max-cloud "
        f"(the folder's run: 80, this run: 30), scenes): {ADVICE}")
    assert cli.main(_composite(small_sample, output, "--forest", "281,282")) == 2
    assert _error(capsys) == (
        f"raster-collect: error: {output} holds results of another run (different forests "
        f"(--forest, or the polygons in --gpkg)): {ADVICE}")


def test_a_job_spec_names_its_keys(small_sample, tmp_path, capsys):
    output = tmp_path / "job"
    spec = tmp_path / "zonal.json"
    spec.write_text(json.dumps(_spec(small_sample, output)))
    assert cli.main(["--quiet", "job", str(spec)]) == 0
    spec.write_text(json.dumps(_spec(small_sample, output, max_cloud_cover=30, ids=[281])))
    assert cli.main(["--quiet", "job", str(spec)]) == 2
    assert _error(capsys) == (
        f"raster-collect: error: {output} holds results of another run (different forests "
        "(the selection, or their polygons), max_cloud_cover (the folder's run: 80, this "
        f"run: 30), scenes): {ADVICE}")


def test_zonal_command_line_into_a_zonal_job_folder_says_why_and_what_to_do(
        small_sample, tmp_path, capsys):
    output = tmp_path / "zonal"
    spec = tmp_path / "zonal.json"
    spec.write_text(json.dumps(_spec(small_sample, output)))
    assert cli.main(["--quiet", "job", str(spec)]) == 0
    before = (output / "manifest.json").read_bytes()
    zonal = _composite(small_sample, output)
    zonal[1] = "zonal"
    assert cli.main(zonal) == 2
    assert _error(capsys) == (
        f"raster-collect: error: {output} holds results of a zonal run of every forest at "
        "once (a job spec, the dock, Processing, or zonal into s3://), not of a zonal run one "
        "forest at a time (raster-collect zonal into a folder): the two keep their files "
        f"differently; to add to them, rerun with the door that wrote them, or {ADVICE}")
    assert (output / "manifest.json").read_bytes() == before  # nothing lost
