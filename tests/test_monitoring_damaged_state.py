"""A monitoring folder whose state is damaged (a truncated or missing file, or the ``.npz`` and
``.json`` of two different saves: a save interrupted between them) is refused in one line naming
the fix (``--overwrite``, exit 2), never continued from mismatched arrays or silently rebuilt;
a run from the history starts ``monitoring_series.csv`` again instead of appending to it; a run
that fails while writing leaves the previous outputs; ``watch --end`` before the folder's last
scene says what to do; ``watch --overwrite`` rebuilds a folder that conflicts."""

import json
import shutil
import subprocess
import sys
from datetime import date

import numpy as np
import pandas as pd
import pytest

from raster_collect_plugin.core.monitoring.areas import Membership
from raster_collect_plugin.core.monitoring.state import (
    MonitorParams,
    MonitorState,
    StateError,
    empty_arrays,
)
from raster_collect_plugin.core.monitoring.zone_series import SERIES_FILE, ZoneSeries
from raster_collect_plugin.core.sample.disturbance_catalog import write_scenario
from raster_collect_plugin.core.sample.disturbance_scenario import ScenarioSpec

SPEC = ScenarioSpec(start=date(2024, 1, 1), end=date(2025, 2, 28), columns=1, rows=1,
                    events=())


def _state(last: str) -> MonitorState:
    params = MonitorParams(date(2023, 1, 1), date(2024, 12, 31))
    state = MonitorState(params, (1, 2), np.zeros((5, 2)), empty_arrays(2),
                         np.datetime64(last, "ns"))
    state.arrays["observations"][:] = int(last[5:7])
    return state


def test_the_two_files_of_different_saves_are_refused(tmp_path):
    # before the fix: the older JSON's last scene with the newer arrays, silently (a scene
    # processed twice by the next run)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    _state("2025-01-10").save(tmp_path / "a")
    _state("2025-02-10").save(tmp_path / "b")
    assert MonitorState.load(tmp_path / "b").arrays["observations"].tolist() == [2, 2]
    shutil.copy(tmp_path / "b" / "monitoring_state.npz", tmp_path / "a")
    with pytest.raises(StateError, match="different saves.*--overwrite"):
        MonitorState.load(tmp_path / "a")


@pytest.mark.parametrize("damage, words", [
    (lambda f: (f / "monitoring_state.npz").write_bytes(b"PK\x03\x04"), "damaged"),
    (lambda f: (f / "monitoring_state.json").write_text('{"version": 1, '), "damaged"),
    (lambda f: (f / "monitoring_state.json").unlink(), "monitoring_state.json is missing"),
    (lambda f: (f / "monitoring_state.npz").unlink(), "monitoring_state.npz is missing"),
])
def test_a_damaged_or_half_state_is_refused(tmp_path, damage, words):
    # before the fix: a BadZipFile/JSONDecodeError traceback (exit 1), or with one file left
    # the state was taken as absent and the monitoring silently started again
    _state("2025-01-10").save(tmp_path)
    damage(tmp_path)
    with pytest.raises(StateError, match=words) as caught:
        MonitorState.load(tmp_path)
    assert "\n" not in str(caught.value) and "--overwrite" in str(caught.value)


def test_a_run_from_the_history_starts_the_series_table_again(tmp_path):
    # before the fix: the rows of the lost run stayed and the new run's were appended after
    # them (every scene twice)
    pd.DataFrame({"forest_id": [1], "time": ["2025-01-05T10:30:00"], "sensor": ["landsat"],
                  "clear_pixels": [4], "observed": [0.8], "expected": [0.8],
                  "anomalous_fraction": [0.0]}).to_csv(tmp_path / SERIES_FILE, index=False)
    series = ZoneSeries(Membership(np.array([0, 1]), np.array([0, 0]), 2), np.array([1]),
                        "forest_id")
    scene = type("Scene", (), {"valid": np.array([True, True]),
                               "expected": np.array([0.7, 0.7]),
                               "anomaly": np.array([False, False])})()
    series("2025-01-05T10:30:00", "landsat", np.array([0.7, 0.7]), scene)
    table = pd.read_csv(series.append_to(tmp_path, None))
    assert table["time"].tolist() == ["2025-01-05T10:30:00"]
    assert table["observed"].tolist() == pytest.approx([0.7])


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    scenario = write_scenario(tmp_path_factory.mktemp("scenario"), SPEC)
    output = tmp_path_factory.mktemp("monitoring")
    arguments = ("monitor", "--gpkg", str(scenario.compartments), "--catalog",
                 str(scenario.catalog), "--history-start", "2024-01-01", "--history-end",
                 "2024-12-31", "--end", "2025-01-31", "--output", str(output))
    done = _cli(*arguments)
    assert done.returncode == 0, done.stderr[-2000:]
    return output, arguments


def _cli(*arguments):
    return subprocess.run([sys.executable, "-m", "raster_collect_plugin", "--quiet",
                           *arguments], capture_output=True, text=True, timeout=600)


def test_watch_on_a_truncated_state_exits_2_and_overwrite_rebuilds(folder, tmp_path):
    original, arguments = folder
    copy = tmp_path / "copy"
    shutil.copytree(original, copy)
    npz = copy / "monitoring_state.npz"
    npz.write_bytes(npz.read_bytes()[:1000])  # an interrupted write by an older version
    done = _cli("watch", "--output", str(copy), "--end", "2025-02-28")
    assert done.returncode == 2, done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "is damaged" in lines[0] and "--overwrite" in lines[0]
    again = _cli(*arguments[:-1], str(copy), "--overwrite")
    assert again.returncode == 0, again.stderr[-2000:]
    saved = json.loads((copy / "monitoring_state.json").read_text())
    assert saved["last_time"] == json.loads(
        (original / "monitoring_state.json").read_text())["last_time"]


def test_a_run_failing_while_writing_leaves_the_previous_outputs(tmp_path, monkeypatch):
    # before the fix: the rasters were rewritten in place from the new (never saved) state,
    # so the folder showed a later status than its state and manifest described
    from raster_collect_plugin.core.monitoring import run as monitoring
    from tests.monitoring_helpers import HISTORY, small_series

    series = small_series()
    request = monitoring.MonitorRequest(tmp_path, MonitorParams(*HISTORY))
    monitoring.run_monitor(request, series.sel(time=slice(None, "2025-03-01")))
    status = (tmp_path / "monitoring_status.tif").read_bytes()
    saved = (tmp_path / "monitoring_state.json").read_text()

    def fail(*arguments):
        raise OSError("disk error while writing")

    monkeypatch.setattr(monitoring, "_changes", fail)  # after the rasters are written
    with pytest.raises(OSError, match="disk error"):
        monitoring.run_monitor(request, series.sel(time=slice(None, "2025-06-30")))
    assert (tmp_path / "monitoring_status.tif").read_bytes() == status
    assert (tmp_path / "monitoring_state.json").read_text() == saved
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
    monkeypatch.undo()
    result = monitoring.run_monitor(request, series.sel(time=slice(None, "2025-06-30")))
    assert result.changes["entered"]["confirmed"] > 0
    assert (tmp_path / "monitoring_status.tif").read_bytes() != status
    assert result.files["monitoring_status"] == tmp_path / "monitoring_status.tif"


def test_watch_ending_before_the_last_processed_scene_says_what_to_do(folder):
    # before the fix: "'end' (...) is before the first day to monitor (...)", no way on
    original, _ = folder
    last = json.loads((original / "monitoring_state.json").read_text())["last_time"][:10]
    done = _cli("watch", "--output", str(original), "--end", "2025-01-05")
    assert done.returncode == 2, done.stderr[-2000:]
    [line] = done.stderr.strip().splitlines()
    assert f"before the first day to monitor ({last})" in line
    assert "give a later --end" in line


def test_watch_overwrite_rebuilds_a_folder_that_conflicts(folder, tmp_path):
    # before the fix: the conflict said "use --overwrite", which watch did not have
    original, _ = folder
    copy = tmp_path / "copy"
    shutil.copytree(original, copy)
    saved = json.loads((copy / "monitoring_job.json").read_text())
    saved["monitoring"] = {"threshold": 2.5}  # as forests edited since are a conflict too
    (copy / "monitoring_job.json").write_text(json.dumps(saved))
    done = _cli("watch", "--output", str(copy), "--end", "2025-02-28")
    assert done.returncode == 2 and "different monitoring.threshold" in done.stderr
    assert "--overwrite" in done.stderr
    again = _cli("watch", "--output", str(copy), "--end", "2025-02-28", "--overwrite")
    assert again.returncode == 0, again.stderr[-2000:]
    state = json.loads((copy / "monitoring_state.json").read_text())
    assert state["params"]["threshold"] == 2.5 and state["last_time"] > "2025-02"
    assert "overwrite" not in json.loads((copy / "monitoring_job.json").read_text())
