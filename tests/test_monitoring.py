"""Per-pixel disturbance monitoring (issue 30): status, dates, magnitude and confidence on a
small series with known changes; the same state whether run once or in increments."""

from datetime import date

import numpy as np
import pytest

from raster_collect_plugin.core.monitoring.detector import (
    confidence,
    fit_state,
    magnitude,
    monitor_series,
)
from raster_collect_plugin.core.monitoring.state import (
    CONFIRMED,
    NO_ALERT,
    NOT_MONITORED,
    RECOVERED,
    MonitorParams,
    MonitorState,
    StateError,
    day_to_date,
)
from tests.monitoring_helpers import HISTORY, nth_on_or_after, small_series

PARAMS = MonitorParams(*HISTORY)


def _run(series, params=PARAMS):
    state = fit_state(series, params)
    monitor_series(state, series)
    return state


def test_status_dates_magnitude_and_confidence():
    series = small_series()
    state = _run(series)
    status = state.status.reshape(2, 3)
    assert status.tolist() == [[NO_ALERT, CONFIRMED, NO_ALERT],
                               [RECOVERED, NOT_MONITORED, CONFIRMED]]
    first = state.first_anomaly.reshape(2, 3)
    confirmed = state.confirmation.reshape(2, 3)
    # the first anomaly is the first observation after the event; the third one confirms
    assert day_to_date(first[0, 1]) == nth_on_or_after(series, "2025-03-14", 1)
    assert day_to_date(confirmed[0, 1]) == nth_on_or_after(series, "2025-03-14", 3)
    assert day_to_date(first[1, 2]) == nth_on_or_after(series, "2025-09-01", 1)
    # recovered on the third normal observation after the stand came back
    assert day_to_date(state.recovery.reshape(2, 3)[1, 0]) == \
        nth_on_or_after(series, "2025-06-01", 3)
    drop = magnitude(state).reshape(2, 3)
    assert drop[0, 1] == pytest.approx(0.4, abs=0.02)
    assert drop[1, 2] == pytest.approx(0.3, abs=0.02)
    assert np.isnan(drop[0, 0]) and np.isnan(drop[1, 1])
    tiers = confidence(state).reshape(2, 3)
    # months of anomalies from both sensors: high; nothing confirmed: none
    assert tiers[0, 1] == 3 and tiers[0, 0] == 0 and tiers[0, 2] == 0


def test_one_outlier_is_not_a_disturbance():
    series = small_series()
    state = fit_state(series, PARAMS)
    outlier = nth_on_or_after(series, "2025-05-03", 1)
    monitor_series(state, series.sel(time=slice(None, str(outlier))))
    assert state.status.reshape(2, 3)[0, 2] == 1  # suspected on the outlier
    monitor_series(state, series)
    assert state.status.reshape(2, 3)[0, 2] == NO_ALERT


def test_increments_give_the_run_from_scratch(tmp_path):
    series = small_series()
    once = _run(series)
    state = None
    for number, end in enumerate(("2025-02-10", "2025-05-20", "2025-08-31", "2025-12-31")):
        part = series.sel(time=slice(None, end))
        state = fit_state(part, PARAMS) if state is None else MonitorState.load(tmp_path)
        monitor_series(state, part)
        state.save(tmp_path)
        assert MonitorState.load(tmp_path).scenes == state.scenes, number
    again = MonitorState.load(tmp_path)
    assert again.last_time == once.last_time and again.scenes == once.scenes
    np.testing.assert_array_equal(again.beta, once.beta)
    for name, values in once.arrays.items():
        np.testing.assert_array_equal(again.arrays[name], values, err_msg=name)


def test_history_must_be_complete():
    series = small_series().sel(time=slice(None, "2024-06-30"))
    with pytest.raises(StateError, match="end of the history period"):
        fit_state(series, PARAMS)
    with pytest.raises(StateError, match="must end after"):
        MonitorParams(date(2024, 1, 1), date(2023, 1, 1)).check()


def test_a_lazy_series_is_read_once_and_gives_the_same_state(tmp_path, monkeypatch):
    """A dask-backed series (as the loader gives) is staged once, scene by scene, for the
    history fit (not read again for every block of rows); the state is the same as from
    memory and no scratch file is left."""
    import raster_collect_plugin.core.monitoring.detector as detector

    series = small_series()
    eager = _run(series)
    monkeypatch.setattr(detector, "ROW_BLOCK_VALUES", 1)  # one row a block
    reads = []

    def counted(block):
        if block.size:  # not dask's calls with empty arrays to learn the output
            reads.append(1)
        return block

    data = series.chunk({"time": 1}).data
    lazy_series = series.copy(data=data.map_blocks(counted, dtype=data.dtype))
    lazy = fit_state(lazy_series, PARAMS, scratch_dir=tmp_path)
    history = int(detector.history_mask(series, PARAMS).sum())
    assert len(reads) == history
    monitor_series(lazy, lazy_series)
    # Statuses, dates and counts are equal; the fitted floats only to the last bits: one row a
    # block is a different matrix product shape, and OpenBLAS's AVX-512 kernels (also its
    # Haswell one for one-row products) sum such shapes in another order (1e-16 apart here).
    np.testing.assert_allclose(lazy.beta, eager.beta, rtol=1e-12, atol=1e-15)
    for name, values in eager.arrays.items():
        if np.issubdtype(values.dtype, np.floating):
            np.testing.assert_allclose(lazy.arrays[name], values, rtol=1e-12, atol=1e-15,
                                       err_msg=name)
        else:
            np.testing.assert_array_equal(lazy.arrays[name], values, err_msg=name)
    assert list(tmp_path.iterdir()) == []
