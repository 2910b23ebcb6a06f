"""Acceptance of the monitoring (issue 30) on the project's synthetic disturbance scenario
(windthrow, clear-fell, gradual dieback, intact stands; Sentinel-2 and Landsat, clouds):
compartment precision and recall >= 0.95, pixel F1 >= 0.9, median delay to confirmation <= 2
clear observations, and the same numbers run once or in 4 increments."""

from datetime import date

import pytest

from raster_collect_plugin.core.monitoring.run import MonitorRequest, run_monitor
from raster_collect_plugin.core.monitoring.scoring import score_state
from raster_collect_plugin.core.monitoring.state import MonitorParams
from raster_collect_plugin.core.sample.disturbance_scenario import make_scenario

PARAMS = MonitorParams(date(2023, 1, 1), date(2024, 12, 31))
INCREMENTS = ("2025-03-31", "2025-06-30", "2025-09-30", "2025-12-31")


@pytest.fixture(scope="module")
def scenario():
    return make_scenario()


def _score(state, scenario):
    result = score_state(state, scenario.references, scenario.compartments,
                         observations=scenario.series)
    return {"pixel": result["pixel"], "compartment": result["compartment"],
            "delay": result["delay"]}


def test_thresholds_once_and_in_four_increments(scenario, tmp_path):
    once = run_monitor(MonitorRequest(tmp_path / "once", PARAMS, zones=scenario.compartments),
                       scenario.series).state
    numbers = _score(once, scenario)
    assert numbers["compartment"]["precision"] >= 0.95
    assert numbers["compartment"]["recall"] >= 0.95
    assert numbers["pixel"]["f1"] >= 0.9
    assert numbers["delay"]["confirmation"]["observations"]["median"] <= 2
    assert numbers["delay"]["first_anomaly"]["observations"]["median"] <= 1
    state = None
    for end in INCREMENTS:
        state = run_monitor(MonitorRequest(tmp_path / "steps", PARAMS,
                                           zones=scenario.compartments),
                            scenario.series.sel(time=slice(None, end))).state
    assert _score(state, scenario) == numbers
