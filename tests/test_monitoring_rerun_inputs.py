"""A monitoring folder continued with another scene filter is refused (README: "A rerun with
other parameters or forests is refused (exit 2)"): ``--max-cloud`` decides which scenes are
monitored, so a folder continued with another one would end where no run from scratch ends."""

import json
import subprocess
import sys
from datetime import date

from raster_collect_plugin.core.sample.disturbance_catalog import write_scenario
from raster_collect_plugin.core.sample.disturbance_scenario import Event, ScenarioSpec

SPEC = ScenarioSpec(start=date(2024, 1, 1), end=date(2025, 3, 31), columns=2, rows=1,
                    events=(Event(1, "windthrow", date(2025, 3, 1)),))


def _monitor(scenario, output, end, *extra):
    return subprocess.run(
        [sys.executable, "-m", "raster_collect_plugin", "--quiet", "monitor", "--gpkg",
         str(scenario.compartments), "--catalog", str(scenario.catalog), "--history-start",
         "2024-01-01", "--history-end", "2024-12-31", "--end", end, "--output", str(output),
         *extra], capture_output=True, text=True, timeout=600)


def test_another_max_cloud_needs_overwrite(tmp_path):
    scenario = write_scenario(tmp_path / "scenes", SPEC)
    folder = tmp_path / "monitoring"
    assert _monitor(scenario, folder, "2025-01-31").returncode == 0
    # before the fix: accepted, the later scenes filtered by another cloud limit
    other = _monitor(scenario, folder, "2025-03-31", "--max-cloud", "20")
    assert other.returncode == 2, other.stderr[-2000:]
    assert "--overwrite" in other.stderr
    same = _monitor(scenario, folder, "2025-03-31")
    assert same.returncode == 0, same.stderr[-2000:]
    filtered = tmp_path / "filtered"
    assert _monitor(scenario, filtered, "2025-01-31", "--max-cloud", "20").returncode == 0
    again = _monitor(scenario, filtered, "2025-03-31", "--max-cloud", "20")
    assert again.returncode == 0, again.stderr[-2000:]


def test_a_folder_started_before_the_cloud_limit_was_recorded_continues(tmp_path,
                                                                        monkeypatch):
    import pytest

    from raster_collect_plugin.core.jobs import monitor, run_job
    from raster_collect_plugin.core.runs.folder import ResultsConflict

    scenario = write_scenario(tmp_path / "scenes", SPEC)
    spec = {"kind": "monitor", "aoi": str(scenario.compartments),
            "sources": [{"kind": "static", "href": str(scenario.catalog)}],
            "history_start": "2024-01-01", "history_end": "2024-12-31", "end": "2025-01-31",
            "max_cloud_cover": 60, "output_dir": str(tmp_path / "monitoring")}
    with monkeypatch.context() as before:  # its fingerprint without the cloud limit
        before.setattr(monitor, "_cloud_limit_unrecorded", lambda *_: True)
        first = run_job(dict(spec))
    again = run_job(dict(spec, end="2025-03-31"))
    assert again["changes"]["first_scene"] > first["changes"]["last_scene"]
    with pytest.raises(ResultsConflict, match="max_cloud_cover"):
        run_job(dict(spec, end="2025-03-31", max_cloud_cover=20))


def test_a_continued_folder_with_fewer_table_formats_drops_the_earlier_tables(tmp_path):
    """A monitor run continued with table_formats ["csv"] after ["csv", "parquet"] left the
    first run's Parquet tables (its numbers, out of the manifest) beside the fresh CSVs."""
    import json

    from raster_collect_plugin.core.jobs import run_job

    scenario = write_scenario(tmp_path / "scenes", SPEC)
    output = tmp_path / "monitoring"
    spec = {"kind": "monitor", "aoi": str(scenario.compartments),
            "sources": [{"kind": "static", "href": str(scenario.catalog)}],
            "history_start": "2024-01-01", "history_end": "2024-12-31", "end": "2025-01-31",
            "output_dir": str(output), "table_formats": ["csv", "parquet"]}
    run_job(dict(spec))  # continued at once: within publish_written's second of slack
    parquet = sorted(p.name for p in output.glob("*.parquet"))
    assert "monitoring_compartments_by_month.parquet" in parquet
    result = run_job(dict(spec, end="2025-03-31", table_formats=["csv"]))
    assert not list(output.glob("*.parquet"))
    assert (output / "monitoring_compartments_by_month.csv").is_file()
    assert f"removed the earlier run's {', '.join(parquet)}" in " ".join(result["notes"])
    manifest = json.loads((output / "manifest.json").read_text())
    assert all((output / name).is_file() for name in manifest["files"])


def test_a_log_appended_in_the_folder_is_not_the_runs_and_survives_overwrite(tmp_path):
    """README's cron line appends ``watch.log`` in the monitoring folder while watch runs: the
    run listed it in its manifest as its own (any file changed during the run was), so a
    later ``monitor ... --overwrite`` removed the user's log as an old output."""
    import json

    from raster_collect_plugin.core.jobs import run_job

    scenario = write_scenario(tmp_path / "scenes", SPEC)
    output = tmp_path / "monitoring"
    spec = {"kind": "monitor", "aoi": str(scenario.compartments),
            "sources": [{"kind": "static", "href": str(scenario.catalog)}],
            "history_start": "2024-01-01", "history_end": "2024-12-31", "end": "2025-01-31",
            "output_dir": str(output), "hexagon_area_m2": 10_000}
    run_job(dict(spec))
    log = output / "watch.log"
    log.write_text("first run\n")

    def appending(*_):  # what the shell's >> does while the run prints
        with open(log, "a") as handle:
            handle.write("progress\n")

    run_job(dict(spec, end="2025-03-31"), progress=appending)
    manifest = json.loads((output / "manifest.json").read_text())
    assert "watch.log" not in manifest["files"] and "monitoring_state.npz" in manifest["files"]
    present = {p.name for p in output.iterdir() if not p.name.startswith(".")}
    assert present - {"manifest.json", "watch.log"} == set(manifest["files"])
    run_job({k: v for k, v in spec.items() if k != "hexagon_area_m2"} | {"overwrite": True})
    assert log.read_text().startswith("first run\nprogress")
    assert not list(output.glob("monitoring_hexagons*"))


def test_one_folder_continues_from_processing_and_the_command_line(tmp_path, monkeypatch):
    """Processing sends a catalog source with ``"collections": []`` (the default), the
    command line leaves the key out: the same catalog was "different sources" (exit 2) to
    the other door's rerun. A folder that recorded the empty key keeps continuing."""
    from raster_collect_plugin import cli
    from raster_collect_plugin.core.jobs import monitor, run_job

    scenario = write_scenario(tmp_path / "scenes", SPEC)
    folder = tmp_path / "monitoring"
    with monkeypatch.context() as before:  # a folder Processing started before the fix
        before.setattr(monitor, "_recorded_sources", lambda _, sources: sorted(
            json.dumps(s, sort_keys=True) for s in sources))
        first = run_job({"kind": "monitor", "aoi": str(scenario.compartments),
                         "sources": [{"kind": "static", "href": str(scenario.catalog),
                                      "collections": []}],
                         "history_start": "2024-01-01", "history_end": "2024-12-31",
                         "end": "2025-01-31", "max_cloud_cover": 100,
                         "output_dir": str(folder)})
    assert cli.main(["--quiet", "monitor", "--gpkg", str(scenario.compartments), "--catalog",
                     str(scenario.catalog), "--history-start", "2024-01-01",
                     "--history-end", "2024-12-31", "--end", "2025-03-31", "--max-cloud",
                     "100", "--output", str(folder)]) == 0
    changes = json.loads((folder / "monitoring_changes.json").read_text())
    assert changes["first_scene"] > first["changes"]["last_scene"]  # continued, not redone
    # a new folder records them alike, whichever door starts it
    href = str(scenario.catalog)
    assert monitor._recorded_sources(tmp_path / "new", [
        {"kind": "static", "href": href, "collections": [], "name": None}]) == \
        monitor._recorded_sources(tmp_path / "new", [{"kind": "static", "href": href}])
