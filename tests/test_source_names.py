"""A source has one name in every door: the command line's --catalog and a job spec's static
source write the same files and fingerprints, so a run resumes through either."""

from __future__ import annotations

import json

from raster_collect_plugin import cli


def _files(folder):
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file())


def test_a_command_line_run_resumes_through_a_job_spec(small_sample, tmp_path, capsys):
    """``--catalog`` named its source 'catalog' (files ``catalog_sentinel-2-l2a_...``) where
    a job spec's unnamed static source is 'Static catalog': the same run through the spec
    into the folder was refused, 'holds results of another run (different sources)' (exit
    2), and would have written other file names. The name is one fact (``default_name``):
    the spec run resumes the command line's folder, writing the same files; a folder written
    under the old name is refused with one line naming --overwrite, its files kept."""
    out = tmp_path / "out"
    common = {"start": "2025-10-01", "end": "2025-10-31", "indices": ["NDVI"]}
    assert cli.main(["--json", "composite", "--gpkg", str(small_sample.forests_path),
                     "--catalog", str(small_sample.catalog_path), "--collections",
                     "sentinel-2-l2a", "--start", common["start"], "--end", common["end"],
                     "--indices", "NDVI", "--output", str(out)]) == 0
    by_cli = json.loads(capsys.readouterr().out)
    written = _files(out)
    assert list(by_cli["outputs"]) == ["Static catalog/sentinel-2-l2a"]
    assert "static-catalog_sentinel-2-l2a_NDVI_monthly_median.tif" in written
    spec = tmp_path / "composite.json"
    source = {"kind": "static", "href": str(small_sample.catalog_path),
              "collections": ["sentinel-2-l2a"]}
    spec.write_text(json.dumps({"kind": "composite", "aoi": str(small_sample.forests_path),
                                "sources": [source], "output_dir": str(out), **common}))
    assert cli.main(["--json", "job", str(spec)]) == 0
    [by_spec] = json.loads(capsys.readouterr().out)["collections"]
    assert by_spec["provider"] == "Static catalog" and _files(out) == written
    assert by_spec["indices"]["NDVI"] == by_cli["outputs"]["Static catalog/sentinel-2-l2a"][
        "NDVI"]

    old = tmp_path / "old"  # as an older command line wrote it: the source named 'catalog'
    spec.write_text(json.dumps({"kind": "composite", "aoi": str(small_sample.forests_path),
                                "sources": [source | {"name": "catalog"}],
                                "output_dir": str(old), **common}))
    assert cli.main(["job", str(spec)]) == 0
    capsys.readouterr()
    before = {name: (old / name).read_bytes() for name in _files(old)}
    assert "catalog_sentinel-2-l2a_NDVI_monthly_median.tif" in before
    args = ["composite", "--gpkg", str(small_sample.forests_path), "--catalog",
            str(small_sample.catalog_path), "--collections", "sentinel-2-l2a", "--start",
            common["start"], "--end", common["end"], "--indices", "NDVI", "--output", str(old)]
    assert cli.main(args) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "--overwrite" in lines[0], lines
    assert "source names ('catalog' is now 'Static catalog')" in lines[0], lines
    assert {name: (old / name).read_bytes() for name in _files(old)} == before
    assert cli.main([*args, "--overwrite"]) == 0
    assert "static-catalog_sentinel-2-l2a_NDVI_monthly_median.tif" in _files(old)
    assert "catalog_sentinel-2-l2a_NDVI_monthly_median.tif" not in _files(old)


def test_a_custom_index_run_resumes_through_a_job_spec(small_sample, tmp_path, capsys):
    """``--expression GNDVI=...`` recorded the custom index among the run's 'indices' where
    the job spec's 'custom_indices' did not: the same run through the spec into the command
    line's folder was refused, 'holds results of another run (different indices)'. Now one
    fingerprint: the spec run resumes the folder, writing the same files."""
    out = tmp_path / "out"
    formula = "(nir-green)/(nir+green)"
    assert cli.main(["--quiet", "composite", "--gpkg", str(small_sample.forests_path),
                     "--catalog", str(small_sample.catalog_path), "--collections",
                     "sentinel-2-l2a", "--start", "2025-10-01", "--end", "2025-10-31",
                     "--indices", "NDVI", "--expression", f"GNDVI={formula}",
                     "--output", str(out)]) == 0
    written = {name: (out / name).stat().st_mtime_ns for name in _files(out)}
    assert "static-catalog_sentinel-2-l2a_GNDVI_monthly_median.tif" in written
    spec = tmp_path / "composite.json"
    spec.write_text(json.dumps({
        "kind": "composite", "aoi": str(small_sample.forests_path),
        "sources": [{"kind": "static", "href": str(small_sample.catalog_path),
                     "collections": ["sentinel-2-l2a"]}],
        "start": "2025-10-01", "end": "2025-10-31", "indices": ["NDVI"],
        "custom_indices": {"GNDVI": formula}, "output_dir": str(out)}))
    assert cli.main(["--quiet", "job", str(spec)]) == 0, capsys.readouterr().err
    assert sorted(_files(out)) == sorted(written)
