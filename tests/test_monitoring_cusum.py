"""The CuSum monitor (nrt ``nrt.monitor.cusum.CuSum``) on the project's disturbance scenario:
selectable by ``monitoring: {"method": "cusum"}``; its scores are printed (no thresholds of its
own: what is asserted is what the scenario makes reasonable) and an increment ends where a run
from scratch ends."""

import math
from dataclasses import replace
from datetime import date

import numpy as np
import pytest

from raster_collect_plugin.core.jobs.monitor import monitor_params
from raster_collect_plugin.core.monitoring.charts import cusum_critical_value
from raster_collect_plugin.core.monitoring.run import MonitorRequest, run_monitor
from raster_collect_plugin.core.monitoring.scoring import score_state
from raster_collect_plugin.core.monitoring.state import MonitorParams, StateError
from raster_collect_plugin.core.sample.disturbance_scenario import make_scenario

PARAMS = MonitorParams(date(2023, 1, 1), date(2024, 12, 31), method="cusum")


@pytest.fixture(scope="module")
def scenario():
    return make_scenario()


def test_cusum_critical_value_is_the_ols_cusum_one():
    # Brownian-bridge boundary of the OLS-CUSUM test (strucchange's efp/boundary): the root of
    # 2 (Phi(x) - x phi(x)) + alpha - 2 = 0; check the equation itself and its monotony
    for alpha in (0.01, 0.05, 0.1):
        x = cusum_critical_value(alpha)
        cdf = 0.5 * (1 + math.erf(x / math.sqrt(2)))
        pdf = math.exp(-x * x / 2) / math.sqrt(2 * math.pi)
        assert abs(2 * (cdf - x * pdf) + alpha - 2) < 1e-9
    assert cusum_critical_value(0.01) > cusum_critical_value(0.05) > cusum_critical_value(0.1)


def test_the_method_comes_from_the_job_spec():
    spec = {"history_start": "2023-01-01", "history_end": "2024-12-31",
            "monitoring": {"method": "cusum", "alpha": 0.01}}
    params = monitor_params(spec)
    assert params.method == "cusum" and params.alpha == 0.01
    with pytest.raises(StateError, match="'ewma' or 'cusum'"):
        monitor_params(dict(spec, monitoring={"method": "mosum"}))


def test_cusum_on_the_scenario(scenario, tmp_path):
    state = run_monitor(MonitorRequest(tmp_path / "once", PARAMS, zones=scenario.compartments),
                        scenario.series).state
    result = score_state(state, scenario.references, scenario.compartments,
                         observations=scenario.series)
    kinds = result["event_types"].set_index("event")
    print("CuSum pixel", result["pixel"], "compartment", result["compartment"],
          "delay", result["delay"]["confirmation"]["observations"])
    print(kinds[["pixels", "detected_pixels", "recall"]].to_string())
    assert kinds.loc["windthrow", "recall"] >= 0.9
    assert kinds.loc["clearfell", "recall"] >= 0.9
    assert result["compartment"]["recall"] >= 0.9
    assert result["compartment"]["precision"] >= 0.9  # intact stands stay quiet
    # the sum lags EWMA by an observation or two: 3 to confirm plus that lag
    assert result["delay"]["confirmation"]["observations"]["median"] <= 5
    # the CuSum boundary of a monitored pixel grows with the monitoring period (nrt's)
    fitted = state.arrays["fitted"]
    assert np.all(state.arrays["boundary"][fitted] > 0)
    # increments from the saved state end where one run ends
    for end in ("2025-06-30", "2025-12-31"):
        again = run_monitor(MonitorRequest(tmp_path / "steps", PARAMS,
                                           zones=scenario.compartments),
                            scenario.series.sel(time=slice(None, end))).state
    for name, values in state.arrays.items():
        np.testing.assert_array_equal(again.arrays[name], values, err_msg=name)
    # EWMA stays the default and ignores alpha
    assert replace(PARAMS, method="ewma") == MonitorParams(date(2023, 1, 1), date(2024, 12, 31))


def test_the_method_comes_from_the_command_line():
    from raster_collect_plugin.cli import build_parser
    from raster_collect_plugin.cli.monitoring import monitor_spec

    base = ["monitor", "--gpkg", "forests.gpkg", "--catalog", "catalog.json",
            "--history-start", "2023-01-01", "--history-end", "2024-12-31", "--output", "out"]
    args = build_parser("monitor").parse_args([*base, "--method", "cusum", "--alpha", "0.01"])
    assert monitor_spec(args)["monitoring"] == {"method": "cusum", "alpha": 0.01}
    assert monitor_spec(build_parser("monitor").parse_args(base))["monitoring"] == {}
