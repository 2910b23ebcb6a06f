"""A monitoring run: continue (or start) the state kept in the output folder with the scenes
newer than its last one, then write the per-pixel COGs, the per-compartment and per-hexagon
tables and layers, the "alerts since" layer and what changed; the state is saved last, so a
run that fails or is cancelled leaves the previous state to continue from."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Callable, Dict, List, Optional

import numpy as np

from ..runs.file_replace import remove, replace_all
from .clear_days import ClearDays
from .detector import confidence, fit_state, magnitude, monitor_series
from .late import record_processed
from .state import (
    CONFIRMED,
    NOT_MONITORED,
    RECOVERED,
    STATUS_NAMES,
    SUSPECTED,
    MonitorParams,
    MonitorState,
    StateError,
    day_number,
)

STATE_BYTES_PER_PIXEL = 132  # the per-pixel arrays of the state (state.PIXEL_ARRAYS) + beta
OUTPUT_BYTES_PER_PIXEL = 44  # outputs, zone membership (pixel, zone: 8) and temporaries


@dataclass
class MonitorRequest:
    """What to monitor and where the state and outputs live (``output_dir``)."""

    output_dir: Path
    params: MonitorParams
    zones: object = None  # GeoDataFrame of compartments (optional)
    id_field: str = "forest_id"
    hexagon_area_m2: Optional[float] = None
    # per compartment, the UTM zone its hexagons are laid in (Aoi.own_zones: given in degrees)
    hexagon_zones: Optional[List[Optional[int]]] = None
    alerts_since: Optional[date] = None  # default: state.ALERTS_SINCE_DEFAULT
    min_alert_ha: float = 0.1
    memory_budget: Optional[int] = None
    table_formats: tuple = ("gpkg", "csv")
    adopted_scenes: Optional[Dict[str, str]] = None  # see late.record_processed
    late_scenes: Optional[list] = None  # the folder's late scenes (monitoring.late)
    report: Dict = field(default_factory=dict)  # added to what changed


@dataclass
class MonitorResult:
    files: Dict[str, Path]
    summary: object  # per-compartment DataFrame (None without zones)
    changes: Dict = field(default_factory=dict)
    state: Optional[MonitorState] = None


def memory_bytes(series) -> int:
    """What a run holds beyond the engine's own memory: the state and outputs per pixel, a
    batch of scenes (and a float64 copy of one), a block of the history (four float64 copies
    of whole rows: up to ``ROW_BLOCK_VALUES`` values, or one row, and no more than the whole
    history) and the clear-days record of its scenes (a bit a pixel and scene)."""
    from .detector import ROW_BLOCK_VALUES, SCENE_BATCH_BYTES

    scenes, cols = series.sizes.get("time", 0), series.sizes["x"]
    pixels = series.sizes["y"] * cols
    # a fixed 4e6-value block made a few pixels' estimate 128 MB
    block = min(scenes * pixels, max(ROW_BLOCK_VALUES, scenes * cols))
    scene = pixels * series.dtype.itemsize
    batch = scene * min(scenes, max(1, SCENE_BATCH_BYTES // max(1, scene))) \
        if series.chunks is not None else scene  # a lazy series is computed by batches
    return int(pixels * (STATE_BYTES_PER_PIXEL + OUTPUT_BYTES_PER_PIXEL + 8) + batch
               + block * 8 * 4 + pixels * scenes // 8)


def check_memory(series, budget: Optional[int]) -> str:
    from ..composites.sizing import BUDGET_ADVICE, SizeError, default_budget, human

    needed = memory_bytes(series)
    budget = default_budget() if budget is None else budget
    text = (f"monitoring {series.sizes['y']} × {series.sizes['x']} pixels: about "
            f"{human(needed)} of memory beyond the engine's own")
    if needed > budget:
        raise SizeError(f"too large for the memory budget of {human(budget)}: {text}; "
                        "monitor fewer or smaller forests per run, a coarser --resolution, "
                        f"or {BUDGET_ADVICE}")
    return text


def _grid(series):
    from affine import Affine

    transform = series.attrs.get("transform")
    if transform is None:
        import rioxarray  # noqa: F401

        transform = series.rio.transform()
    elif not isinstance(transform, Affine):
        transform = Affine(*tuple(transform)[:6])
    crs = series.attrs.get("crs")
    return transform, str(crs)


def run_monitor(request: MonitorRequest, series, *, progress: Optional[Callable] = None,
                cancel: Optional[Callable[[], bool]] = None) -> MonitorResult:
    """Continue or start monitoring ``series`` (time, y, x; coordinate ``sensor``)."""
    output_dir = Path(request.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    check_memory(series, request.memory_budget)
    transform, crs = _grid(series)
    grid = {"crs": crs, "transform": list(transform)[:6]}
    state = MonitorState.load(output_dir)
    if state is None:
        if request.zones is not None:  # before the fit: it would end "no pixel has 10 ..."
            _refuse_without_pixels(request, transform, crs, series.shape[-2:])
        state = fit_state(series, request.params.check(), cancel=cancel,
                          scratch_dir=output_dir)
        state.grid, state.index = grid, str(series.attrs.get("index", ""))
        if request.zones is not None:  # only the forests are monitored
            _outside_not_monitored(state, request.zones, transform, crs)
        if not state.arrays["fitted"].any():  # the state would stay empty for good
            p = request.params
            raise StateError(f"no pixel has {p.min_history_obs} clear observations in the "
                             f"history {p.history_start} .. {p.history_end} "
                             f"({state.history_observations} scenes): start the history "
                             "earlier (a year or more also fits the seasonal model)")
        previous_last = None
    else:
        _check_continues(state, request.params, series, grid)
        previous_last = state.last_time
    before = state.status.copy()
    before_confirmation = state.confirmation.copy()
    collector = _zone_series(request, state, transform, crs)
    clear_days = ClearDays(int(np.prod(state.shape)))
    processed = monitor_series(state, series, progress=progress, cancel=cancel,
                               on_scene=_both(collector, clear_days))
    record_processed(state, series, previous_last, request.adopted_scenes)
    if request.late_scenes is not None:
        state.late_scenes = list(request.late_scenes)
    since = request.alerts_since or (
        np.datetime64(previous_last, "D").astype(object) if previous_last is not None
        else request.params.history_end)
    # the outputs are written aside and moved in all together just before the state is
    # saved: a run that fails half-way leaves the previous run's outputs, which its state
    # and manifest describe (not some files of a state that was never saved)
    stage = output_dir / f".monitoring.partial-{os.getpid()}"
    remove(stage, must=False)
    stage.mkdir()
    try:
        files, summary, changes = _write_outputs(
            replace(request, output_dir=stage), state, collector, before, before_confirmation,
            processed, since, previous_last, transform, crs)
        files["clear_days"] = clear_days.append_to(output_dir, previous_last, into=stage)
        replace_all((stage / name, output_dir / name) for name in sorted(os.listdir(stage)))
    finally:
        remove(stage, must=False)
    files = {key: output_dir / path.name for key, path in files.items()}
    files["state"], files["state_metadata"] = state.save(output_dir)
    return MonitorResult(files, summary, changes, state)


def _write_outputs(request: MonitorRequest, state: MonitorState, collector, before,
                   before_confirmation, processed, since, previous_last, transform, crs):
    """(files, compartment summary, changes) written into ``request.output_dir``."""
    from ..outputs.files import write_json

    stage = Path(request.output_dir)
    pixels = _pixel_layers(state)
    files = _write_rasters(stage, state, pixels, transform, crs)
    summary = None
    zones_changed = []
    if request.zones is not None:
        from .outputs import write_zone_outputs

        zone_files, summary, zones_changed = write_zone_outputs(
            request, state, pixels, transform, crs, since, before_confirmation)
        files.update(zone_files)
    if collector is not None:
        files["series"] = collector.append_to(stage.parent, previous_last, into=stage)
    changes = _changes(state, before, before_confirmation, processed, since, zones_changed,
                       request.id_field)
    changes.update(request.report, late_scenes=state.late_scenes)
    files["changes"] = write_json(stage / "monitoring_changes.json", changes)
    return {key: Path(path) for key, path in files.items()}, summary, changes


def _both(collector, clear_days: ClearDays) -> Callable:
    """One ``on_scene`` calling the compartments' series (when there are compartments) and
    the clear-days record."""
    if collector is None:
        return clear_days

    def on_scene(*scene) -> None:
        collector(*scene)
        clear_days(*scene)
    return on_scene


def _zone_series(request: MonitorRequest, state: MonitorState, transform, crs: str):
    if request.zones is None:
        return None
    from .areas import zone_pixels
    from .zone_series import ZoneSeries

    zones = request.zones
    if zones.crs is not None and str(zones.crs) != crs:
        zones = zones.to_crs(crs)
    zones = zones.reset_index(drop=True)
    members = zone_pixels(zones, transform, state.shape)
    return ZoneSeries(members, zones[request.id_field].to_numpy(), request.id_field)


def _refuse_without_pixels(request: MonitorRequest, transform, crs: str, shape) -> None:
    """Refuse compartments none of which holds a pixel centre of the grid: nothing would be
    monitored, and the fit's refusal would blame the history."""
    from .areas import zone_pixels

    zones = request.zones
    if zones.crs is not None and str(zones.crs) != crs:
        zones = zones.to_crs(crs)
    if len(zone_pixels(zones.reset_index(drop=True), transform, shape).pixel):
        return
    ids = [str(value) for value in zones[request.id_field]]
    named = ", ".join(ids[:10]) + (f" and {len(ids) - 10} more" if len(ids) > 10 else "")
    raise StateError(f"no compartment holds a pixel centre of the {abs(transform.a):g} m grid "
                     f"({request.id_field} {named}: each smaller than a pixel, or a sliver): "
                     "nothing to monitor; choose compartments at least a pixel wide "
                     "(--forest, a spec's 'ids')")


def _outside_not_monitored(state: MonitorState, zones, transform, crs: str) -> None:
    from .areas import zone_pixels

    if zones.crs is not None and str(zones.crs) != crs:
        zones = zones.to_crs(crs)
    outside = zone_pixels(zones.reset_index(drop=True), transform, state.shape).outside()
    state.arrays["fitted"][outside] = False
    state.arrays["status"][outside] = NOT_MONITORED


def _check_continues(state: MonitorState, params: MonitorParams, series, grid: Dict) -> None:
    if state.params != params:
        old, new = state.params.to_json(), params.to_json()
        changed = sorted(k for k in old if old[k] != new.get(k))
        raise StateError(f"the folder's monitoring state was made with other parameters "
                         f"({', '.join(changed)}); use the same ones to continue, or start "
                         "in a new folder")
    shape = (series.sizes["y"], series.sizes["x"])
    if tuple(state.shape) != shape or state.grid.get("crs") != grid["crs"] or not np.allclose(
            state.grid.get("transform", []), grid["transform"]):
        raise StateError("the series is on another grid than the folder's monitoring state "
                         f"({state.shape} pixels); use the same forests, resolution and CRS, "
                         "or start in a new folder")


def _pixel_layers(state: MonitorState) -> Dict[str, np.ndarray]:
    pixels = dict(state.arrays)
    pixels["confidence"] = confidence(state)
    pixels["magnitude"] = magnitude(state)
    return pixels


def yyyymmdd(days: np.ndarray) -> np.ndarray:
    """Days since 1970 as int32 YYYYMMDD (0 stays 0): readable in any GIS."""
    dates = np.asarray(days, dtype="int64").astype("datetime64[D]")
    months = dates.astype("datetime64[M]")
    years = months.astype("datetime64[Y]").astype(int) + 1970
    month = months.astype(int) % 12 + 1
    day = (dates - months.astype("datetime64[D]")).astype(int) + 1
    return np.where(np.asarray(days) > 0, years * 10000 + month * 100 + day, 0).astype("int32")


RASTERS = (  # (file stem, layer, nodata, description)
    ("monitoring_status", "status", 255,
     "0 no alert, 1 suspected, 2 confirmed, 3 recovered, 255 not monitored"),
    ("monitoring_first_anomaly", "first_anomaly", 0, "first anomaly date YYYYMMDD"),
    ("monitoring_confirmation", "confirmation", 0, "confirmation date YYYYMMDD"),
    ("monitoring_magnitude", "magnitude", float("nan"),
     "mean departure from the model (index units, in the disturbance direction)"),
    ("monitoring_confidence", "confidence", 255, "0 none, 1 low, 2 medium, 3 high"),
)


def _write_rasters(output_dir: Path, state: MonitorState, pixels, transform, crs
                   ) -> Dict[str, Path]:
    from ..outputs.files import write_cog

    rows, cols = state.shape
    monitored = pixels["status"] != NOT_MONITORED
    tags = {"history": f"{state.params.history_start}/{state.params.history_end}",
            "last_scene": str(state.last_time)[:19], "index": state.index,
            "rule": f"{state.params.confirm} anomalies confirm, {state.params.recover} normal "
                    "observations end"}
    files = {}
    for stem, layer, nodata, description in RASTERS:
        values = pixels[layer]
        if layer in ("first_anomaly", "confirmation"):
            values = yyyymmdd(np.where(monitored, values, 0))
        elif layer == "confidence":
            values = np.where(monitored, values, 255).astype("uint8")
        files[stem] = write_cog(output_dir / f"{stem}.tif", values.reshape(rows, cols),
                                transform=transform, crs=crs, nodata=nodata,
                                band_descriptions=[description], tags=tags)
    return files


def _changes(state: MonitorState, before, before_confirmation, processed, since,
             zones_changed, id_field: str) -> Dict:
    """What this run changed: scenes processed, pixels that entered each status, the zones
    with new confirmed disturbance."""
    after = state.status
    entered = {STATUS_NAMES[code]: int(np.count_nonzero((after == code) & (before != code)))
               for code in (SUSPECTED, CONFIRMED, RECOVERED)}
    newly = int(np.count_nonzero(state.confirmation != before_confirmation))
    return {"scenes": processed["scenes"], "first_scene": processed["first"],
            "last_scene": processed["last"],
            "last_time": None if state.last_time is None else str(state.last_time)[:19],
            "alerts_since": str(since), "entered": entered, "newly_confirmed_pixels": newly,
            "zones_with_new_alerts": zones_changed, "id_field": id_field,
            "pixels": {STATUS_NAMES[c]: int(np.count_nonzero(after == c))
                       for c in STATUS_NAMES}, "last_day": day_number(state.last_time)}
