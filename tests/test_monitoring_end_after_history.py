"""An end on the history's last day leaves nothing to monitor. `monitor --end D --history-end D`
(job spec 'end' equal to 'history_end') passed the "end before the history" check and, after
the catalog search, was refused with "the series must reach the end of the history period",
which points at the scenes, not at the end. Both doors now say in one line, before any work,
that the end must be after the history's end (exit 2, nothing written)."""

import json
import subprocess
import sys
from datetime import date

import pytest

from raster_collect_plugin.core.sample.disturbance_catalog import write_scenario
from raster_collect_plugin.core.sample.disturbance_scenario import Event, ScenarioSpec

SPEC = ScenarioSpec(start=date(2024, 1, 1), end=date(2025, 6, 30), columns=2, rows=1,
                    events=(Event(1, "windthrow", date(2025, 3, 14)),))
HISTORY_END = "2024-12-31"


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    return write_scenario(tmp_path_factory.mktemp("scenario"), SPEC)


def _refused(arguments) -> str:
    done = subprocess.run([sys.executable, "-m", "raster_collect_plugin", *arguments],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr[-2000:]
    return lines[0]


@pytest.mark.parametrize("end", [HISTORY_END, "2024-11-30"])
def test_the_command_line_says_end_must_be_after_the_history(scenario, tmp_path, end):
    line = _refused(["monitor", "--gpkg", str(scenario.compartments), "--catalog",
                     str(scenario.catalog), "--history-start", "2024-01-01", "--history-end",
                     HISTORY_END, "--end", end, "--output", str(tmp_path / "out")])
    assert line == (f"raster-collect: error: --end ({end}) must be after --history-end "
                    f"({HISTORY_END}): monitoring starts after the history; give a later "
                    "--end (default: today)")
    assert not (tmp_path / "out").exists()


def test_the_job_spec_names_its_keys(scenario, tmp_path):
    spec = {"kind": "monitor", "aoi": str(scenario.compartments),
            "sources": [{"kind": "static", "href": str(scenario.catalog)}],
            "history_start": "2024-01-01", "history_end": HISTORY_END, "end": HISTORY_END,
            "output_dir": str(tmp_path / "out")}
    path = tmp_path / "job.json"
    path.write_text(json.dumps(spec))
    line = _refused(["job", str(path)])
    assert (f"'end' ({HISTORY_END}) must be after 'history_end' ({HISTORY_END}): monitoring "
            "starts after the history; give a later end (default: today)") in line
    assert "series" not in line
    assert not (tmp_path / "out").exists()
