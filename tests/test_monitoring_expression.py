"""Monitoring a band expression (README: "--direction increase for indices that rise with
damage (e.g. CRSWIR)"): ``monitor --expression NAME=FORMULA`` / job spec ``custom_indices``
with ``index`` NAME. Before, no door could give one: ``--index`` took only the registered
indices, none of which rises with damage."""

import json
import subprocess
import sys
from datetime import date

import pytest

from raster_collect_plugin.core.jobs import JobError
from raster_collect_plugin.core.jobs.monitor import check_monitor_spec
from raster_collect_plugin.core.pixels.expression import ExpressionError
from raster_collect_plugin.core.sample.disturbance_catalog import write_scenario
from raster_collect_plugin.core.sample.disturbance_scenario import Event, ScenarioSpec

CRSWIR = "CRSWIR=swir16/(nir+(swir22-nir)*0.5623)"
SPEC = ScenarioSpec(start=date(2024, 1, 1), end=date(2025, 4, 30), columns=2, rows=1,
                    events=(Event(1, "windthrow", date(2025, 3, 1)),))
JOB = {"kind": "monitor", "aoi": "forests.gpkg", "output_dir": "out",
       "sources": [{"kind": "static", "href": "catalog.json"}],
       "history_start": "2024-01-01", "history_end": "2024-12-31"}


def test_the_expression_is_checked_up_front():
    with pytest.raises(JobError, match="'index' is 'NDVI'"):
        check_monitor_spec(dict(JOB, custom_indices={"CRSWIR": "swir16/nir"}))
    with pytest.raises(ExpressionError, match="unknown band"):
        check_monitor_spec(dict(JOB, index="X", custom_indices={"X": "swir99/nir"}))
    with pytest.raises(ExpressionError, match="unknown index"):
        check_monitor_spec(dict(JOB, index="CRSWIR"))
    check_monitor_spec(dict(JOB, index="CRSWIR", custom_indices={"CRSWIR": "swir16/nir"}))


def _cli(*arguments):
    return subprocess.run([sys.executable, "-m", "raster_collect_plugin", "--json",
                           *arguments], capture_output=True, text=True, timeout=600)


def test_monitor_an_index_that_rises_with_damage(tmp_path):
    scenario = write_scenario(tmp_path / "scenes", SPEC)
    folder = tmp_path / "monitoring"
    common = ("monitor", "--gpkg", str(scenario.compartments), "--catalog",
              str(scenario.catalog), "--history-start", "2024-01-01", "--history-end",
              "2024-12-31", "--direction", "increase", "--output", str(folder))
    first = _cli(*common, "--expression", CRSWIR, "--end", "2025-02-15")
    assert first.returncode == 0, first.stderr[-2000:]
    state = json.loads((folder / "monitoring_state.json").read_text())
    assert state["index"] == "CRSWIR"
    watched = _cli("watch", "--output", str(folder), "--end", "2025-04-30")
    assert watched.returncode == 0, watched.stderr[-2000:]
    rows = json.loads(watched.stdout)["compartments"]
    assert [row["forest_id"] for row in rows if row["alert"] == "disturbed"] == [102]
    assert rows[0]["disturbed_fraction"] > 0.9
    other = _cli(*common, "--expression", "CRSWIR=swir16/nir", "--end", "2025-04-30")
    assert other.returncode == 2 and "formula" in other.stderr
    bad = _cli(*common, "--expression", "CRSWIR", "--end", "2025-04-30")
    assert bad.returncode == 2 and "NAME=FORMULA" in bad.stderr
