"""A stable history shorter than a year (the annual harmonics cannot learn the seasons from it,
and intact stands are flagged) is named in the run's notes in every door; a year or more is
not. The command line prints the scenes' days (UTC), the day the outputs name, not times."""

import json
import re
import subprocess
import sys
from datetime import date

import pytest

from raster_collect_plugin.core.jobs import run_job
from raster_collect_plugin.core.sample.disturbance_catalog import write_scenario
from raster_collect_plugin.core.sample.disturbance_scenario import Event, ScenarioSpec

SPEC = ScenarioSpec(start=date(2024, 1, 1), end=date(2025, 6, 30), columns=2, rows=1,
                    events=(Event(1, "windthrow", date(2025, 3, 14)),))


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    return write_scenario(tmp_path_factory.mktemp("scenario"), SPEC)


def _spec(scenario, output, history_start):
    return {"kind": "monitor", "aoi": str(scenario.compartments),
            "sources": [{"kind": "static", "href": str(scenario.catalog)}],
            "history_start": history_start, "history_end": "2024-12-31", "end": "2025-02-28",
            "output_dir": str(output)}


def test_a_two_month_history_is_named_in_the_notes(scenario, tmp_path):
    result = run_job(_spec(scenario, tmp_path / "short", "2024-11-01"))
    [note] = [n for n in result.get("notes", []) if "stable history" in n]
    assert "(2024-11-01 .. 2024-12-31) is 61 days, less than a year" in note
    assert "a year or more (e.g. two)" in note
    # what it warns of: the intact compartment (101) is flagged too
    assert {row["forest_id"]: row["alert"] for row in result["compartments"]}[101] != "none"
    # watch continues the folder with the same history: said again
    watched = run_job(dict(_spec(scenario, tmp_path / "short", "2024-11-01"), end="2025-06-30"))
    assert any("is 61 days, less than a year" in n for n in watched.get("notes", []))


def test_a_year_of_history_has_no_such_note_and_the_command_line_prints_days(scenario,
                                                                              tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "raster_collect_plugin", "monitor", "--gpkg",
         str(scenario.compartments), "--catalog", str(scenario.catalog), "--history-start",
         "2024-01-01", "--history-end", "2024-12-31", "--end", "2025-02-28", "--output",
         str(tmp_path / "year")], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "stable history" not in done.stdout
    first, last = re.search(r"processed \((\S+) \.\. (\S+)\)", done.stdout).groups()
    assert re.fullmatch(r"2025-01-\d\d", first) and re.fullmatch(r"2025-02-\d\d", last)
    assert re.search(r"^last_scene: 2025-02-\d\d$", done.stdout, re.MULTILINE)
    changes = json.loads((tmp_path / "year" / "monitoring_changes.json").read_text())
    assert changes["last_scene"].startswith(last + "T")  # the machine's record keeps the time
