"""A history too cloudy or too short for any pixel to have ``min_history_obs`` clear
observations is refused with the way out, instead of a run that exits 0 having monitored no
pixel (every compartment "none", fraction "-") and a folder whose state stays that way."""

import numpy as np
import pytest

from raster_collect_plugin.core.monitoring.run import MonitorRequest, run_monitor
from raster_collect_plugin.core.monitoring.state import STATE_FILES, MonitorParams, StateError
from tests.monitoring_helpers import HISTORY, small_series


def test_no_pixel_fitted_is_refused(tmp_path):
    series = small_series().copy()
    history = series.time.values < np.datetime64("2025-01-01")
    cloudy = np.flatnonzero(history)[9:]  # 9 clear scenes left in the history: fewer than 10
    series.values[cloudy] = np.nan
    with pytest.raises(StateError, match="no pixel has 10 clear observations"):
        run_monitor(MonitorRequest(tmp_path, MonitorParams(*HISTORY)), series)
    assert not any((tmp_path / name).exists() for name in STATE_FILES)


def test_some_pixels_fitted_run(tmp_path):
    series = small_series()  # pixel (1, 1) is never clear, the others are
    state = run_monitor(MonitorRequest(tmp_path, MonitorParams(*HISTORY)), series).state
    assert int(state.arrays["fitted"].sum()) == 5
