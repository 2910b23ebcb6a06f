"""Parity with JRC nrt (issue 30): the history fit (OLS, Shewhart screening), the EWMA chart
and the CuSum chart are nrt's formulas, checked against nrt 0.3.0 itself, run in a
subprocess with nrt on its path (tests/nrt_venv.py: nrt's GDAL wheels never load into this
process)."""

from dataclasses import replace

import numpy as np
import pytest

from raster_collect_plugin.core.monitoring.charts import cusum_critical_value
from raster_collect_plugin.core.monitoring.detector import fit_state, monitor_series
from raster_collect_plugin.core.monitoring.state import MonitorParams
from tests.monitoring_helpers import HISTORY, small_series
from tests.nrt_venv import run_nrt

PARAMS = MonitorParams(*HISTORY)


@pytest.fixture(scope="module")
def nrt_results(tmp_path_factory):
    """nrt's fit of the first row of the small series (intact, windthrow, one outlier) and
    its CuSum after monitoring the intact pixel's observations."""
    folder = tmp_path_factory.mktemp("nrt")
    series = small_series(noise=0.02).isel(y=[0])
    times = series.time.values.astype("datetime64[ns]")
    history_end = np.datetime64(f"{HISTORY[1]}T23:59:59", "ns")
    np.savez(folder / "input.npz", values=series.values.astype("float64"),
             times=times.astype("int64"), history_end=np.int64(history_end.astype("int64")),
             monitor=times > history_end)
    run_nrt(folder / "input.npz", folder / "output.npz")
    with np.load(folder / "output.npz") as data:
        return series, {name: data[name] for name in data.files}


def test_fit_and_ewma_match_jrc_nrt(nrt_results):
    series, nrt = nrt_results
    ours = fit_state(series, PARAMS)
    k = ours.beta.shape[0]
    np.testing.assert_allclose(ours.beta, nrt["ewma_beta"].reshape(k, -1), rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(ours.sigma, nrt["ewma_sigma"].ravel(), rtol=1e-5)
    np.testing.assert_allclose(ours.boundary, nrt["ewma_boundary"].ravel(), rtol=1e-5)
    # nrt's fit residuals are expected - observed (its monitor() uses observed - expected)
    np.testing.assert_allclose(ours.ewma, -nrt["ewma_process"].ravel(), rtol=1e-4, atol=1e-7)


def test_cusum_matches_jrc_nrt(nrt_results):
    series, nrt = nrt_results
    params = replace(PARAMS, method="cusum")
    ours = fit_state(series, params)
    k = ours.beta.shape[0]
    np.testing.assert_allclose(ours.beta, nrt["cusum_beta"].reshape(k, -1), rtol=1e-5,
                               atol=1e-6)
    assert cusum_critical_value(0.05) == pytest.approx(float(nrt["cusum_critval"]), rel=1e-6)
    np.testing.assert_array_equal(ours.arrays["history_size"], nrt["cusum_histsize"].ravel())
    np.testing.assert_allclose(ours.arrays["scale"], nrt["cusum_sigma"].ravel()
                               * np.sqrt(nrt["cusum_histsize"].ravel()), rtol=1e-5)
    # the history's sum of OLS residuals is 0 up to rounding (nrt's has the other sign)
    np.testing.assert_allclose(ours.ewma, -nrt["cusum_fit_process"].ravel(), atol=1e-5)
    # after monitoring every later observation: the intact pixel (0) has no departure beyond
    # the clipping, so its process and boundary are nrt's
    monitor_series(ours, series)
    assert np.isfinite(nrt["cusum_process"].ravel()[0])
    np.testing.assert_allclose(ours.ewma[0], nrt["cusum_process"].ravel()[0], atol=1e-4)
    np.testing.assert_allclose(ours.boundary[0], nrt["cusum_boundary"].ravel()[0], rtol=1e-5)
