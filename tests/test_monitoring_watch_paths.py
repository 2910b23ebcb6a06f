"""A monitoring folder started with relative paths (the README's examples: ``--gpkg
forests.gpkg --catalog scenes/catalog.json --output runs/monitoring``) is continued by
``watch --output FOLDER`` from any working directory (cron starts in the home folder): the
folder's saved spec names the polygons and the catalog by absolute paths."""

import json
import os
import shutil
import subprocess
import sys
from datetime import date

from raster_collect_plugin.core.sample.disturbance_catalog import write_scenario
from raster_collect_plugin.core.sample.disturbance_scenario import Event, ScenarioSpec

SPEC = ScenarioSpec(start=date(2024, 1, 1), end=date(2025, 3, 31), columns=2, rows=1,
                    events=(Event(1, "windthrow", date(2025, 3, 1)),))


def _cli(cwd, *arguments):
    environment = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    environment["PYTHONPATH"] = os.pathsep.join(
        p for p in (root, environment.get("PYTHONPATH")) if p)
    return subprocess.run([sys.executable, "-m", "raster_collect_plugin", "--json", *arguments],
                          capture_output=True, text=True, timeout=600, cwd=cwd,
                          env=environment)


def test_watch_from_another_directory_finds_the_relative_inputs(tmp_path):
    project = tmp_path / "project"
    write_scenario(project / "scenes", SPEC)
    shutil.copy(project / "scenes" / "compartments.gpkg", project / "forests.gpkg")
    first = _cli(project, "monitor", "--gpkg", "forests.gpkg", "--catalog",
                 "scenes/catalog.json", "--history-start", "2024-01-01", "--history-end",
                 "2024-12-31", "--end", "2025-01-31", "--output", "runs/monitoring")
    assert first.returncode == 0, first.stderr[-2000:]
    folder = project / "runs" / "monitoring"
    saved = json.loads((folder / "monitoring_job.json").read_text())
    assert saved["aoi"] == str(project / "forests.gpkg")
    assert saved["sources"][0]["href"] == str(project / "scenes" / "catalog.json")
    elsewhere = tmp_path / "home"
    elsewhere.mkdir()
    # before the fix: "cannot read the catalog scenes/catalog.json", exit 1
    watched = _cli(elsewhere, "watch", "--output", str(folder), "--end", "2025-03-31")
    assert watched.returncode == 0, watched.stderr[-2000:]
    changes = json.loads(watched.stdout)["changes"]
    assert changes["scenes"] > 0 and changes["first_scene"] > "2025-01-31"
    # the same inputs given relatively again continue the folder (same fingerprint)
    again = _cli(project, "monitor", "--gpkg", "forests.gpkg", "--catalog",
                 "scenes/catalog.json", "--history-start", "2024-01-01", "--history-end",
                 "2024-12-31", "--end", "2025-03-31", "--output", "runs/monitoring")
    assert again.returncode == 0, again.stderr[-2000:]
    assert json.loads(again.stdout)["changes"]["scenes"] == 0


def test_a_folder_started_with_relative_catalog_paths_before_still_continues(tmp_path,
                                                                              monkeypatch):
    from raster_collect_plugin.core.jobs import monitor, run_job

    project = tmp_path / "project"
    write_scenario(project / "scenes", SPEC)
    monkeypatch.chdir(project)
    spec = {"kind": "monitor", "aoi": "scenes/compartments.gpkg",
            "sources": [{"kind": "static", "href": "scenes/catalog.json"}],
            "history_start": "2024-01-01", "history_end": "2024-12-31", "end": "2025-01-31",
            "output_dir": "runs/monitoring"}
    with monkeypatch.context() as before:  # as the folder was written before the fix
        before.setattr(monitor, "absolute_paths", dict)
        first = run_job(dict(spec))
    assert first["changes"]["scenes"] > 0
    # the same relative paths continue it (its fingerprint has them as given)
    again = run_job(dict(spec, end="2025-03-31"))
    assert again["changes"]["first_scene"] > first["changes"]["last_scene"]
    saved = json.loads((project / "runs" / "monitoring" / "monitoring_job.json").read_text())
    assert saved["sources"][0]["href"] == "scenes/catalog.json"


def test_watch_whose_polygons_or_catalog_are_gone_says_how_to_continue(tmp_path):
    # before the fix: "polygon file ... does not exist" with no way on (the path is the
    # folder's saved spec's, not one the user typed)
    folder = tmp_path / "monitoring"
    folder.mkdir()
    (tmp_path / "forests.gpkg").write_bytes(b"")
    spec = {"kind": "monitor", "aoi": str(tmp_path / "moved.gpkg"),
            "sources": [{"kind": "static", "href": str(tmp_path / "scenes" / "catalog.json")}],
            "history_start": "2024-01-01", "history_end": "2024-12-31",
            "output_dir": str(folder)}
    (folder / "monitoring_job.json").write_text(json.dumps(spec))
    done = _cli(tmp_path, "watch", "--output", str(folder))
    assert done.returncode == 2, done.stderr[-2000:]
    [line] = done.stderr.strip().splitlines()
    assert "moved.gpkg named in" in line and "monitor --gpkg NEW_PATH" in line
    (folder / "monitoring_job.json").write_text(json.dumps(
        dict(spec, aoi=str(tmp_path / "forests.gpkg"))))
    done = _cli(tmp_path, "watch", "--output", str(folder))
    assert done.returncode == 2, done.stderr[-2000:]
    [line] = done.stderr.strip().splitlines()
    assert "catalog.json named in" in line and "put it back" in line and "--overwrite" in line
    assert sorted(p.name for p in folder.iterdir()) == ["monitoring_job.json"]
