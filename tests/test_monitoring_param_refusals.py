"""The monitoring parameters are refused in one voice per door (README, *Disturbance
monitoring*): the job spec names ``job spec monitoring 'KEY'`` for a value out of range as for
one of the wrong type (the range errors named the bare key), the command line names its option
(``--sensitivity``), both from ``MonitorParams.check``. And ``min_history_obs`` below what the
chosen model can fit (one more than its coefficients) was accepted while such pixels were
silently never fitted: it is refused naming the minimum for that model."""

import json
from datetime import date

import numpy as np
import pytest

from raster_collect_plugin import cli
from raster_collect_plugin.core.monitoring.harmonic import (
    coefficients,
    design_matrix,
    fit_history,
)
from raster_collect_plugin.core.monitoring.state import MonitorParams

SPEC = {"kind": "monitor", "history_start": "2023-01-01", "history_end": "2024-12-31"}


def _job(tmp_path, capsys, monitoring: dict) -> list:
    """Run a monitor job spec with ``monitoring``: exit 2, nothing written; its stderr."""
    spec = dict(SPEC, aoi=str(tmp_path / "forests.gpkg"), output_dir=str(tmp_path / "out"),
                sources=[{"kind": "static", "href": str(tmp_path / "catalog.json")}],
                monitoring=monitoring)
    path = tmp_path / "job.json"
    path.write_text(json.dumps(spec))
    assert cli.main(["job", str(path)]) == 2
    assert not (tmp_path / "out").exists()
    return capsys.readouterr().err.splitlines()


def _monitor(tmp_path, capsys, *options: str) -> list:
    """Run ``monitor`` with ``options``: exit 2, nothing written; its stderr."""
    assert cli.main(["monitor", "--gpkg", str(tmp_path / "forests.gpkg"), "--catalog",
                     str(tmp_path / "catalog.json"), "--history-start", "2023-01-01",
                     "--history-end", "2024-12-31", "--quiet", "--output",
                     str(tmp_path / "out"), *options]) == 2
    assert not (tmp_path / "out").exists()
    return capsys.readouterr().err.splitlines()


@pytest.mark.parametrize("monitoring, least, terms", [
    ({"min_history_obs": 5}, 6, "5 coefficients: intercept, 4 harmonic terms"),
    ({"min_history_obs": 6, "trend": True}, 7, "6 coefficients: intercept, trend, 4 harmonic"),
    ({"min_history_obs": 9, "harmonic_order": 4}, 10, "9 coefficients: intercept, 8 harmonic"),
    ({"min_history_obs": 10, "harmonic_order": 4, "trend": True}, 11, "10 coefficients"),
    ({"min_history_obs": 1, "harmonic_order": 0}, 2, "1 coefficients: intercept;"),
])
def test_too_few_history_observations_for_the_model_are_refused(tmp_path, capsys, monitoring,
                                                                least, terms):
    # before the fix: accepted (only 0 was refused), and every pixel with fewer than `least`
    # clear history observations silently left unmonitored
    [line] = _job(tmp_path, capsys, monitoring)
    assert line.startswith("raster-collect: error: job spec monitoring 'min_history_obs' must "
                           f"be at least {least} clear observations for this model (")
    assert terms in line and line.endswith(f"not {monitoring['min_history_obs']}")


def test_the_minimum_named_is_what_the_fit_needs():
    """A pixel with the named minimum of clear observations is fitted, one fewer is not (an
    exact fit, σ 0): the refusal's number is the detector's."""
    for order, trend in ((2, False), (2, True), (0, False), (4, True)):
        params = MonitorParams(date(2023, 1, 1), date(2024, 12, 31), harmonic_order=order,
                               trend=trend, min_history_obs=10 + order * 2 + trend)
        least = params.least_history_obs()
        times = np.datetime64("2023-01-01") + np.arange(0, 720, 24).astype("timedelta64[D]")
        X = design_matrix(times, harmonic_order=order, trend=trend)
        assert X.shape[1] == coefficients(order, trend) == least - 1
        rng = np.random.default_rng(0)
        y = 0.7 + rng.normal(0, 0.02, (len(times), 2))
        y[least:, 0] = np.nan  # pixel 0: the minimum; pixel 1: one fewer
        y[least - 1:, 1] = np.nan
        _, _, sigma, fitted = fit_history(X, y, screen_sigma=0, min_obs=1)
        assert bool(fitted[0] and sigma[0] > 0)
        assert not (fitted[1] and sigma[1] > 0)


def test_the_minimum_is_accepted():
    params = MonitorParams(date(2023, 1, 1), date(2024, 12, 31), trend=True,
                           min_history_obs=7).check()
    assert params.min_history_obs == 7
    assert MonitorParams(date(2023, 1, 1), date(2024, 12, 31), harmonic_order=0,
                         min_history_obs=2).check().min_history_obs == 2


def test_the_default_follows_the_model():
    """Left out, ``min_history_obs`` is 10, or the model's minimum when that is more: a spec
    with ``harmonic_order`` 4 and ``trend`` (10 coefficients) and no ``min_history_obs`` was
    refused for the default it did not give."""
    from raster_collect_plugin.core.jobs.monitor import monitor_params

    start, end = date(2023, 1, 1), date(2024, 12, 31)
    assert MonitorParams(start, end).check().min_history_obs == 10
    params = MonitorParams(start, end, harmonic_order=4, trend=True).check()
    assert params.min_history_obs == 11
    assert MonitorParams.from_json(params.to_json()) == params
    spec = dict(SPEC, monitoring={"harmonic_order": 4, "trend": True})
    assert monitor_params(spec).min_history_obs == 11


@pytest.mark.parametrize("monitoring, words", [
    ({"sensitivity": -1}, "job spec monitoring 'sensitivity' must be more than 0, not -1"),
    ({"screen_sigma": 0}, "job spec monitoring 'screen_sigma' must be more than 0, not 0"),
    ({"lambda_": 1.5}, "job spec monitoring 'lambda_' must be more than 0 and at most 1, "
                       "not 1.5"),
    ({"confirm": 0}, "job spec monitoring 'confirm' must be at least 1 observation, not 0"),
    ({"recover": 1001}, "job spec monitoring 'recover' must be at most 1000 observations "
                        "(years of scenes), not 1001"),
    ({"harmonic_order": 5}, "job spec monitoring 'harmonic_order' must be between 0 and 4, "
                            "not 5"),
    ({"method": "mosum"}, "job spec monitoring 'method' must be 'ewma' or 'cusum', not "
                          "'mosum'"),
    ({"alpha": 1}, "job spec monitoring 'alpha' must be more than 0 and less than 1, not 1"),
    ({"screen_sigma": "5"}, "job spec monitoring 'screen_sigma' must be a number, not '5'"),
])
def test_the_job_spec_names_its_key_in_one_wording(tmp_path, capsys, monitoring, words):
    # before the fix: "sensitivity must be more than 0, not -1", "the EWMA lambda must be in
    # (0, 1]", "confirm and recover must be at least 1 observation": not the key as written
    assert _job(tmp_path, capsys, monitoring) == [f"raster-collect: error: {words}"]


@pytest.mark.parametrize("options, words", [
    (("--sensitivity", "-1"), "--sensitivity must be more than 0, not -1"),
    (("--lambda", "0"), "--lambda must be more than 0 and at most 1, not 0"),
    (("--confirm", "0"), "--confirm must be at least 1 observation, not 0"),
    (("--harmonic-order", "5"), "--harmonic-order must be between 0 and 4, not 5"),
    (("--alpha", "1"), "--alpha must be more than 0 and less than 1, not 1"),
    (("--threshold", "nan"), "--threshold must be 0 or more, not nan"),
])
def test_the_command_line_names_its_option(tmp_path, capsys, options, words):
    # before the fix: the bare key ('sensitivity', 'the EWMA lambda'), which no option is
    assert _monitor(tmp_path, capsys, *options) == [f"raster-collect: error: {words}"]
