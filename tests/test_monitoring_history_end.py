"""A monitoring started before any scene after the stable history exists (the history ends
2024-12-31, the newest scene is of 2024-12-27) is refused with the way out: end the history on
the last scene's day, or run again once a later scene is published; ending it there works."""

from datetime import date

import pytest

from raster_collect_plugin.core.monitoring.detector import fit_state
from raster_collect_plugin.core.monitoring.state import MonitorParams, StateError
from tests.monitoring_helpers import HISTORY, small_series


def test_a_history_with_no_later_scene_yet_says_what_to_do():
    series = small_series().sel(time=slice(None, str(HISTORY[1])))
    last = str(series.time.values.max())[:10]
    assert last < str(HISTORY[1])
    with pytest.raises(StateError) as raised:
        fit_state(series, MonitorParams(*HISTORY))
    message = str(raised.value)
    assert f"ends {last}" in message
    assert f"--history-end {last}" in message and "once a scene after" in message
    state = fit_state(series, MonitorParams(HISTORY[0], date.fromisoformat(last)))
    assert state.scenes == 0 and str(state.last_time)[:10] == last
