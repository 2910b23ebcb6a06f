"""Benchmark: per-pixel disturbance monitoring (issue 30).

1. Acceptance on the project's synthetic disturbance scenario (8 compartments, 2023-2025,
   windthrow, clear-fell, gradual dieback, intact stands, Sentinel-2 + Landsat, clouds; history
   2023-2024): compartment precision and recall, pixel F1, delays to first anomaly and to
   confirmation (clear observations), once and in 4 increments. Targets: >= 0.95, >= 0.9,
   median <= 2, identical.
2. Scale: 480 compartments x 3 years of Sentinel-2 + Landsat (the scenario's series tiled 6 x 10,
   read lazily one scene at a time): wall time and peak memory of the full run (history fit,
   monitoring, COGs, compartment and hexagon tables), then of an increment of one new scene.
3. Scored at scale: the tiled scenario (core/sample/disturbance_tiles.py, 480 compartments with
   their own jittered events), in memory: scores and delays.

    python benchmarks/monitoring_disturbance.py [--workdir DIR] [--skip-scale]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

from _workdir import work_folder

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HISTORY = (date(2023, 1, 1), date(2024, 12, 31))
INCREMENTS = ("2025-03-31", "2025-06-30", "2025-09-30", "2025-12-31")
TILES = (6, 10)  # 8 compartments x 60 = 480


def acceptance(folder: Path) -> dict:
    from raster_collect_plugin.core.monitoring.run import MonitorRequest, run_monitor
    from raster_collect_plugin.core.monitoring.scoring import score_state
    from raster_collect_plugin.core.monitoring.state import MonitorParams
    from raster_collect_plugin.core.sample.disturbance_scenario import make_scenario

    scenario = make_scenario()
    params = MonitorParams(*HISTORY)

    def score(state) -> dict:
        result = score_state(state, scenario.references, scenario.compartments,
                             observations=scenario.series)
        return {"pixel": result["pixel"], "compartment": result["compartment"],
                "delay": result["delay"], "events": result["events"]}

    started = time.perf_counter()
    once = run_monitor(MonitorRequest(folder / "once", params, zones=scenario.compartments,
                                      hexagon_area_m2=10_000), scenario.series).state
    seconds = time.perf_counter() - started
    state = None
    for end in INCREMENTS:
        state = run_monitor(MonitorRequest(folder / "steps", params,
                                           zones=scenario.compartments,
                                           hexagon_area_m2=10_000),
                            scenario.series.sel(time=slice(None, end))).state
    first, steps = score(once), score(state)
    events = first.pop("events")
    steps.pop("events")
    numbers = {"once": first, "identical_in_4_increments": first == steps, "seconds": seconds}
    print(f"scenario: {scenario.series.sizes['time']} scenes, "
          f"{scenario.series.sizes['y']} x {scenario.series.sizes['x']} px, run in "
          f"{seconds:.1f} s")
    pixel, zone, delay = first["pixel"], first["compartment"], first["delay"]
    print(f"compartments: precision {zone['precision']:.3f} recall {zone['recall']:.3f} "
          f"(TP {zone['tp']} FP {zone['fp']} FN {zone['fn']} TN {zone['tn']})  target >= 0.95")
    print(f"pixels: precision {pixel['precision']:.3f} recall {pixel['recall']:.3f} F1 "
          f"{pixel['f1']:.3f}  target F1 >= 0.9")
    for name in ("first_anomaly", "confirmation"):
        obs, days = delay[name]["observations"], delay[name]["days"]
        print(f"delay to {name}: median {obs['median']:g} clear observations "
              f"(mean {obs['mean']:.2f}), median {days['median']:g} days (mean "
              f"{days['mean']:.1f})")
    print("per event:")
    print(events.to_string(index=False))
    print(f"same numbers in 4 increments: {numbers['identical_in_4_increments']}")
    return numbers


def _tiled():
    import dask.array as da
    import geopandas as gpd
    import numpy as np
    import pandas as pd
    import xarray as xr
    from affine import Affine
    from shapely import affinity

    from raster_collect_plugin.core.sample.disturbance_scenario import make_scenario

    scenario = make_scenario()
    base = scenario.series
    rows, cols = TILES
    height, width = base.sizes["y"], base.sizes["x"]
    transform = Affine(*base.attrs["transform"][:6])
    data = da.tile(da.from_array(base.values, chunks=(1, height, width)), (1, rows, cols))
    series = xr.DataArray(
        data, dims=base.dims,
        coords={"time": base.time.values, "sensor": ("time", base.sensor.values),
                "y": transform.f + (0.5 + np.arange(rows * height)) * transform.e,
                "x": transform.c + (0.5 + np.arange(cols * width)) * transform.a},
        attrs=dict(base.attrs))
    frames = []
    for r in range(rows):
        for c in range(cols):
            part = scenario.compartments.copy()
            part["geometry"] = [affinity.translate(g, c * width * transform.a,
                                                   r * height * transform.e)
                                for g in part.geometry]
            part["forest_id"] = part["forest_id"] + 1000 * (r * cols + c)
            frames.append(part)
    zones = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True),
                             crs=scenario.compartments.crs)
    return series, zones


class PeakMemory:
    """The process's peak resident memory while the block runs (sampled every 50 ms)."""

    def __enter__(self):
        import psutil

        self.process, self.peak, self.running = psutil.Process(), 0, True
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def _sample(self):
        while self.running:
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.05)

    def __exit__(self, *exc):
        self.running = False
        self.thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)


def scale(folder: Path) -> dict:
    from raster_collect_plugin.core.monitoring.run import MonitorRequest, run_monitor
    from raster_collect_plugin.core.monitoring.state import MonitorParams

    series, zones = _tiled()
    params = MonitorParams(*HISTORY)
    request = MonitorRequest(folder / "scale", params, zones=zones, hexagon_area_m2=10_000)
    last = series.time.values[-1]
    results = {"compartments": int(len(zones)), "pixels": int(series.sizes["y"]
                                                             * series.sizes["x"]),
               "scenes": int(series.sizes["time"])}
    with PeakMemory() as memory:
        started = time.perf_counter()
        run_monitor(request, series.sel(time=series.time < last))
        results["full_seconds"] = time.perf_counter() - started
    results["full_peak_mb"] = memory.peak / 1e6
    with PeakMemory() as memory:
        started = time.perf_counter()
        step = run_monitor(request, series)
        results["increment_seconds"] = time.perf_counter() - started
    results["increment_peak_mb"] = memory.peak / 1e6
    results["increment_scenes"] = step.changes["scenes"]
    return results


def scored_scale(folder: Path) -> dict:
    """480 compartments with their own (jittered) events, in memory, scored."""
    from raster_collect_plugin.core.monitoring.run import MonitorRequest, run_monitor
    from raster_collect_plugin.core.monitoring.scoring import score_state
    from raster_collect_plugin.core.monitoring.state import MonitorParams
    from raster_collect_plugin.core.sample.disturbance_scenario import make_scenario
    from raster_collect_plugin.core.sample.disturbance_tiles import tiled_spec

    scenario = make_scenario(tiled_spec(24, 20))
    started = time.perf_counter()
    state = run_monitor(MonitorRequest(folder / "scored", MonitorParams(*HISTORY),
                                       zones=scenario.compartments), scenario.series).state
    seconds = time.perf_counter() - started
    result = score_state(state, scenario.references, scenario.compartments,
                         observations=scenario.series)
    return {"seconds": seconds, "pixel": result["pixel"], "compartment": result["compartment"],
            "delay": result["delay"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", help="keep the outputs here (default: a temporary folder)")
    parser.add_argument("--skip-scale", action="store_true")
    parser.add_argument("--scale-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--scored-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    with work_folder(args.workdir, "raster-collect-monitoring-") as folder:
        if args.scale_only:  # in its own process: its peak memory is the run's
            print(json.dumps(scale(folder)))
            return
        if args.scored_only:
            print(json.dumps(scored_scale(folder), default=str))
            return
        acceptance(folder)
        if args.skip_scale:
            return
        done = subprocess.run([sys.executable, __file__, "--scale-only", "--workdir",
                               str(folder / "scale-run")], capture_output=True, text=True,
                              check=True)
        numbers = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"scale: {numbers['compartments']} compartments, {numbers['pixels']:,} pixels "
              f"at 10 m, {numbers['scenes']} scenes (Sentinel-2 + Landsat, 3 years)")
        print(f"  full run: {numbers['full_seconds']:.1f} s, peak {numbers['full_peak_mb']:.0f}"
              f" MB")
        print(f"  increment of {numbers['increment_scenes']} new scene: "
              f"{numbers['increment_seconds']:.1f} s, peak {numbers['increment_peak_mb']:.0f} "
              f"MB ({numbers['increment_seconds'] / numbers['full_seconds']:.1%} of the full "
              "run)")
        done = subprocess.run([sys.executable, __file__, "--scored-only", "--workdir",
                               str(folder / "scored-run")], capture_output=True, text=True,
                              check=True)
        scored = json.loads(done.stdout.strip().splitlines()[-1])
        zone, pixel, delay = scored["compartment"], scored["pixel"], scored["delay"]
        print(f"scored at scale (tiled scenario: 480 compartments, 300 disturbed, events "
              f"jittered +-20 days; in memory): run {scored['seconds']:.0f} s; compartments "
              f"precision {zone['precision']:.3f} recall {zone['recall']:.3f}; pixels F1 "
              f"{pixel['f1']:.3f}; median delay to first anomaly "
              f"{delay['first_anomaly']['observations']['median']:g}, to confirmation "
              f"{delay['confirmation']['observations']['median']:g} clear observations")


if __name__ == "__main__":
    main()
