"""Per-pixel disturbance monitoring: fit the stable history, then every later clear
observation, one at a time, updates each pixel's EWMA chart and fordead-style counters.

Processing one observation at a time is what makes the run incremental: the state after the
n-th observation is the same whether the first n-1 were processed in this run or an earlier one.
Every update is vectorised over the pixels; the series is read one scene (time step) at a time,
and the history in blocks of rows, so memory stays bounded by the grid, not by the series.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager, suppress
from typing import Callable, Iterator, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from .charts import init_boundary, init_chart, update_chart
from .harmonic import design_matrix, fit_history
from .state import (
    CONFIRMED,
    NO_ALERT,
    NOT_MONITORED,
    RECOVERED,
    SUSPECTED,
    MonitorParams,
    MonitorState,
    StateError,
    day_number,
    empty_arrays,
    sensor_bit,
)

ROW_BLOCK_VALUES = 4_000_000  # history values read at once (float64: 32 MB)
# scenes of a lazy series computed together: each dask compute optimises and orders the whole
# graph (about 0.1 s here however small the scene), so reading one scene a compute made that
# overhead most of a monitoring run (23 of 28 s on the test scenario)
SCENE_BATCH_BYTES = 64 * 2**20


def _times(series) -> np.ndarray:
    return np.asarray(series["time"].values, dtype="datetime64[ns]")


def history_mask(series, params: MonitorParams) -> np.ndarray:
    times = _times(series).astype("datetime64[D]")
    return (times >= np.datetime64(params.history_start)) & \
        (times <= np.datetime64(params.history_end))


def _cancelled(cancel: Optional[Callable[[], bool]]) -> None:
    if cancel is not None and cancel():
        from ..composites.requests import Cancelled

        raise Cancelled("cancelled by the user")


def scenes(series, positions: Sequence[int], *,
           cancel: Optional[Callable[[], bool]] = None) -> Iterator[Tuple[int, np.ndarray]]:
    """(position, values) of each scene of ``series`` at ``positions``, in that order; a lazy
    series is computed a batch of scenes at a time (up to ``SCENE_BATCH_BYTES``), each source
    chunk still read once."""
    if series.chunks is None:
        for position in positions:
            _cancelled(cancel)
            yield int(position), np.asarray(series.isel(time=int(position)).values)
        return
    scene_bytes = series.sizes["y"] * series.sizes["x"] * series.dtype.itemsize
    size = max(1, SCENE_BATCH_BYTES // max(1, scene_bytes))
    for start in range(0, len(positions), size):
        _cancelled(cancel)
        batch = [int(p) for p in positions[start:start + size]]
        values = np.asarray(series.isel(time=batch).values)
        for n, position in enumerate(batch):
            _cancelled(cancel)
            yield position, values[n]


@contextmanager
def _history(series, positions: np.ndarray, scratch_dir, cancel):
    """The history scenes as one array indexed [scene, rows, cols]. A lazy (dask) series is
    read once, scene by scene, into a scratch file: the fit then reads blocks of rows from it
    without reading a source chunk once per block."""
    if series.chunks is None:
        data = series.data
        yield lambda rows: data[positions, rows, :]
        return
    rows, cols = series.sizes["y"], series.sizes["x"]
    handle, name = tempfile.mkstemp(prefix=".scratch.monitoring-history-", suffix=".f32",
                                    dir=scratch_dir)
    os.close(handle)
    held = []  # the map, dropped before the file is removed (Windows cannot remove it open)
    try:
        shape = (len(positions), rows, cols)
        _reserve(name, int(np.prod(shape)) * 4)
        held.append(np.memmap(name, dtype=np.float32, mode="w+", shape=shape))
        for n, (_, values) in enumerate(scenes(series, positions, cancel=cancel)):
            held[0][n] = values
        yield lambda block: held[0][:, block, :]
    finally:
        held.clear()
        with suppress(OSError):
            os.remove(name)


def _reserve(name: str, size: int) -> None:
    """Give the scratch file its disk space before it is mapped: on a full disk, writing into
    a memory map kills the process (SIGBUS, no message, the folder's lock left); reserving it
    raises ENOSPC here, which the run reports as a full disk."""
    import errno
    import shutil

    free = shutil.disk_usage(os.path.dirname(name) or ".").free
    if free < size:
        raise OSError(errno.ENOSPC, f"No space left on device for the history's scratch file "
                      f"({size / 2**20:.0f} MiB, {free / 2**20:.0f} MiB free)", name)
    if hasattr(os, "posix_fallocate"):  # Linux: the blocks themselves (free space is racy)
        handle = os.open(name, os.O_RDWR)
        try:
            os.posix_fallocate(handle, 0, size)
        finally:
            os.close(handle)


def fit_state(series, params: MonitorParams, *, cancel: Optional[Callable[[], bool]] = None,
              scratch_dir=None) -> MonitorState:
    """A new state from the history period of ``series`` (dims time, y, x); a lazy series'
    history is staged in ``scratch_dir`` (default: the system's temporary folder)."""
    params.check()
    times = _times(series)
    in_history = history_mask(series, params)
    if times.size == 0 or times.max().astype("datetime64[D]") < np.datetime64(params.history_end):
        last = str(times.max())[:10] if times.size else None
        raise StateError(f"the series must reach the end of the history period "
                         f"({params.history_end}) before monitoring can start; it ends "
                         f"{last or 'before it starts'}: "
                         + (f"end the history on its last scene (--history-end {last}) or "
                            if last and last > str(params.history_start) else "")
                         + f"run again once a scene after {params.history_end} is published")
    if in_history.sum() < params.min_history_obs:
        raise StateError(f"only {int(in_history.sum())} scenes fall in the history period "
                         f"{params.history_start} .. {params.history_end}; at least "
                         f"{params.min_history_obs} clear observations per pixel are needed")
    rows, cols = series.sizes["y"], series.sizes["x"]
    positions = np.flatnonzero(in_history)
    positions = positions[np.argsort(times[positions], kind="stable")]
    X = design_matrix(times[positions], harmonic_order=params.harmonic_order,
                      trend=params.trend)
    arrays = empty_arrays(rows * cols)
    beta = np.zeros((X.shape[1], rows * cols), dtype=np.float64)
    block = max(1, ROW_BLOCK_VALUES // max(1, len(positions) * cols))
    with _history(series, positions, scratch_dir, cancel) as history:
        for start in range(0, rows, block):
            _cancelled(cancel)
            stop = min(rows, start + block)
            values = np.asarray(history(slice(start, stop)), dtype=np.float64).reshape(
                len(positions), -1)
            b, residuals, sigma, fitted = fit_history(
                X, values, screen_sigma=params.screen_sigma, min_obs=params.min_history_obs)
            pixels = slice(start * cols, stop * cols)
            beta[:, pixels] = b
            arrays["sigma"][pixels] = sigma
            arrays["fitted"][pixels] = fitted & (sigma > 0)
            init_chart(arrays, residuals, params, X.shape[1], pixels)
    fitted = arrays["fitted"]
    init_boundary(arrays, params)
    arrays["status"][fitted] = NO_ALERT
    arrays["sigma"][~fitted] = np.nan
    state = MonitorState(params, (rows, cols), beta, arrays,
                         history_observations=int(in_history.sum()))
    state.last_time = np.datetime64(f"{params.history_end}T23:59:59.999999999", "ns")
    return state


class Scene(NamedTuple):
    """What one scene did, per pixel: seen (clear and monitored), anomalous, the model's
    expectation; and how many pixels changed status."""

    valid: np.ndarray
    anomaly: np.ndarray
    expected: np.ndarray
    changed: int


def update(state: MonitorState, values: np.ndarray, when: np.datetime64, sensor: str) -> Scene:
    """Process one scene: ``values`` (pixels,) NaN where not clear."""
    p, a = state.params, state.arrays
    X = design_matrix(np.array([when], dtype="datetime64[ns]"),
                      harmonic_order=p.harmonic_order, trend=p.trend)
    expected = (X @ state.beta)[0]
    residual = values.astype(np.float64) - expected
    valid = a["fitted"] & np.isfinite(residual)
    sign = -1.0 if p.direction == "decrease" else 1.0
    departure = np.where(valid, sign * residual, 0.0)
    # the control chart; nrt's EWMA drops departures beyond outlier_sigma (missed clouds),
    # which also hides a clear-cut where the history is quiet (a 0.45 NDVI drop is 20 sigma):
    # clip them instead, so one outlier moves the chart by a bounded step (CuSum too)
    bound = p.outlier_sigma * a["sigma"]
    clipped = np.clip(residual, -bound, bound) if p.outlier_sigma else residual
    beyond = update_chart(a, clipped, valid, p)
    limit = np.maximum(p.threshold * a["sigma"], p.min_drop)
    anomaly = valid & beyond & (departure > limit)
    normal = valid & ~anomaly
    day = day_number(when)
    bit = sensor_bit(sensor)
    before = a["status"].copy()
    a["last_observation"][valid] = day
    a["observations"][valid] += 1

    confirmed = a["status"] == CONFIRMED
    # anomalies outside a confirmed episode build the candidate run
    grow = anomaly & ~confirmed
    new_run = grow & (a["run"] == 0)
    a["candidate_first"][new_run] = day
    a["candidate_sum"][new_run] = 0.0
    a["candidate_count"][new_run] = 0
    a["candidate_sensors"][new_run] = 0
    a["run"][grow] += 1
    a["candidate_sum"][grow] += departure[grow]
    a["candidate_count"][grow] += 1
    a["candidate_sensors"][grow] |= bit
    a["normal_run"][anomaly] = 0
    a["status"][grow] = SUSPECTED
    confirm = grow & (a["run"] >= p.confirm)
    a["status"][confirm] = CONFIRMED
    a["first_anomaly"][confirm] = a["candidate_first"][confirm]
    a["confirmation"][confirm] = day
    a["recovery"][confirm] = 0
    a["episode_sum"][confirm] = a["candidate_sum"][confirm]
    a["episode_count"][confirm] = a["candidate_count"][confirm]
    a["episode_sensors"][confirm] = a["candidate_sensors"][confirm]
    a["run"][confirm] = 0
    # anomalies inside a confirmed episode add to its evidence
    more = anomaly & confirmed
    a["episode_sum"][more] += departure[more]
    a["episode_count"][more] += 1
    a["episode_sensors"][more] |= bit
    # a normal observation ends a candidate run, or counts towards recovery
    broken = normal & (a["status"] == SUSPECTED)
    a["run"][broken] = 0
    a["status"][broken] = np.where(a["confirmation"][broken] > 0, RECOVERED, NO_ALERT)
    healing = normal & confirmed
    a["normal_run"][healing] += 1
    recovered = healing & (a["normal_run"] >= p.recover)
    a["status"][recovered] = RECOVERED
    a["recovery"][recovered] = day
    a["normal_run"][recovered] = 0
    state.last_time = np.datetime64(when, "ns")
    state.scenes += 1
    return Scene(valid, anomaly, expected, int(np.count_nonzero(before != a["status"])))


def monitor_series(state: MonitorState, series, *, progress=None,
                   cancel: Optional[Callable[[], bool]] = None,
                   on_scene: Optional[Callable] = None) -> dict:
    """Process every scene of ``series`` newer than the state's last one, in time order
    (``on_scene(time, sensor, values, Scene)`` after each). Returns what was processed:
    {"scenes": n, "first": time, "last": time}."""
    times = _times(series)
    sensors = (np.asarray(series["sensor"].values) if "sensor" in series.coords
               else np.full(times.size, ""))
    newer = np.flatnonzero(times > state.last_time)
    newer = newer[np.argsort(times[newer], kind="stable")]
    for done, (position, values) in enumerate(scenes(series, newer, cancel=cancel)):
        values = values.reshape(-1)
        scene = update(state, values, times[position], str(sensors[position]))
        if on_scene is not None:
            on_scene(times[position], str(sensors[position]), values, scene)
        if progress is not None:
            progress((done + 1) / len(newer), f"scene {str(times[position])[:10]}")
    return {"scenes": int(newer.size),
            "first": str(times[newer[0]])[:19] if newer.size else None,
            "last": str(times[newer[-1]])[:19] if newer.size else None}


def confidence(state: MonitorState) -> np.ndarray:
    """Confidence tier per pixel (0 none, 1 low, 2 medium, 3 high) of a confirmed or recovered
    episode: how many observations confirmed it (at least ``confirm`` + 2 counts as many) and
    whether both sensors saw it."""
    a, p = state.arrays, state.params
    episode = np.isin(a["status"], (CONFIRMED, RECOVERED)) & (a["confirmation"] > 0)
    many = a["episode_count"] >= p.confirm + 2
    sensors = a["episode_sensors"]
    both = (sensors & (sensors - 1)) > 0  # more than one bit set
    tier = np.where(many & both, 3, np.where(many | both, 2, 1))
    return np.where(episode, tier, 0).astype(np.uint8)


def magnitude(state: MonitorState) -> np.ndarray:
    """Mean departure from the model (index units, in the disturbance direction) of the
    episode's anomalous observations; of the candidate run for suspected pixels."""
    a = state.arrays
    with np.errstate(invalid="ignore", divide="ignore"):
        episode = a["episode_sum"] / a["episode_count"]
        candidate = a["candidate_sum"] / a["candidate_count"]
    status = a["status"]
    out = np.where(np.isin(status, (CONFIRMED, RECOVERED)) & (a["episode_count"] > 0), episode,
                   np.where(status == SUSPECTED, candidate, np.nan))
    out[status == NOT_MONITORED] = np.nan
    return out.astype(np.float32)
