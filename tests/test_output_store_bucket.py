"""An ``s3://`` output naming no bucket (``s3://``, ``s3:///runs``: a variable left unset in a
script) ended in boto's "Unable to locate credentials" traceback, exit 1; now one line naming
the fix, exit 2, before any work. No store is contacted."""

from __future__ import annotations

import json

import pytest

from raster_collect_plugin import cli


@pytest.mark.parametrize("output", ["s3://", "s3:///runs"])
def test_an_output_with_no_bucket_is_refused(small_sample, tmp_path, capsys, output):
    imagery = ["--gpkg", str(small_sample.forests_path), "--catalog",
               str(small_sample.catalog_path), "--collections", "sentinel-2-l2a",
               "--start", "2025-10-01", "--end", "2025-10-31", "--output", output]
    for command in (["zonal", *imagery], ["composite", *imagery], ["unlock", output]):
        assert cli.main(["--json", *command]) == 2, command
        out, err = capsys.readouterr()
        error = json.loads(out)["error"]
        assert error["kind"] == "bad_input" and "Traceback" not in err
        assert error["message"] == f"{output} names no bucket: give it as s3://bucket/prefix"
    spec = tmp_path / "composite.json"
    spec.write_text(json.dumps({
        "kind": "composite", "aoi": str(small_sample.forests_path),
        "sources": [{"kind": "static", "href": str(small_sample.catalog_path)}],
        "start": "2025-10-01", "end": "2025-10-31", "output_dir": output}))
    assert cli.main(["job", str(spec)]) == 2
    assert capsys.readouterr().err.strip().endswith("give it as s3://bucket/prefix")



def test_monitor_refuses_an_object_store_output(tmp_path, capsys, monkeypatch):
    """``monitor --output s3://bucket/mon`` wrote a local folder ``s3:/bucket/mon`` and
    exited 0; a monitoring folder is local (as a storm's): exit 2, one line, nothing made."""
    from datetime import date

    from raster_collect_plugin.core.sample.disturbance_catalog import write_scenario
    from raster_collect_plugin.core.sample.disturbance_scenario import ScenarioSpec

    scenario = write_scenario(tmp_path / "scenario", ScenarioSpec(
        start=date(2024, 1, 1), end=date(2024, 12, 31), columns=1, rows=1, events=()))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    assert cli.main(["monitor", "--gpkg", str(scenario.compartments), "--catalog",
                     str(scenario.catalog), "--history-start", "2024-01-01",
                     "--history-end", "2024-10-31", "--end", "2024-12-31",
                     "--output", "s3://bucket/mon"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "a monitoring folder is local" in err
    assert list(work.iterdir()) == []
