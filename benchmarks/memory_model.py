"""Benchmark: the size estimate (``--memory-budget``'s model, core/composites/sizing.py) against
the measured peak RSS of composite, zonal and storm jobs on three AOI sizes.

Each job runs in its own process; the estimate is what the job itself checked against the
budget (every ``sizing.check`` it made, the largest), the peak is the process's (wait4).
Target: within +-30 %. Then the composite job alone on larger AOIs (``--flat-sizes``): its
peak RSS against the AOI's area (target: flat above a threshold, bounded by chunking).

    python benchmarks/memory_model.py [--sizes 600,1200,2400] [--flat-sizes 2400,4800,7200]
                                      [--months 6] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from _measure import load_line, peak_rss_mb, python, run_measured
from _workdir import work_folder

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

KINDS = ("composite", "zonal", "storm")


def child(folder: Path, kind: str, months: int) -> dict:
    """Run one job, recording every size estimate it checks."""
    from scale_out import job_spec

    from raster_collect_plugin.core.composites import sizing
    from raster_collect_plugin.core.jobs.run import run_job

    estimates = []
    check = sizing.check

    def recording(size, budget):
        estimates.append(size.memory_bytes)
        return check(size, budget)

    sizing.check = recording
    long_run = kind == "composite-long"  # the months' scenes, empty months back 49 years
    kind = "composite" if long_run else kind
    spec = job_spec(folder, folder / f"out-{kind}", months, 0, kind=kind)
    if long_run:
        spec["start"] = f"{int(spec['end'][:4]) - 49}-01-01"
    if kind == "zonal":
        spec["hexagon_area_m2"] = 10_000
    if kind == "storm":  # its windows are around the event: a storm job refuses start/end
        spec.pop("start")
        spec.pop("end")
        spec.update(event_date=f"2025-{months // 2 + 1:02d}-01", before_days=31 * (months // 2),
                    after_days=31 * (months - months // 2))
    run_job(dict(spec, overwrite=True))
    return {"estimate_mb": max(estimates) / 2**20 if estimates else None,
            "peak_rss_mb": peak_rss_mb()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="600,1200,2400")
    parser.add_argument("--flat-sizes", default="2400,4800,7200")
    parser.add_argument("--months", type=int, default=6)
    parser.add_argument("--workdir")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args, _ = parser.parse_known_args()
    if args.child:
        print(json.dumps(child(Path(args.workdir), args.child, args.months)))
        return
    with work_folder(args.workdir, "rc-memory-", parent="/var/tmp") as folder:
        _benchmark(folder, args)


def _benchmark(folder: Path, args) -> None:
    from scale_out import make_inputs

    print(f"{'job':>9} {'AOI px':>11} {'estimate':>9} {'peak RSS':>9} {'ratio':>6}")
    ratios = []
    for size in (int(s) for s in args.sizes.split(",")):
        inputs = folder / f"aoi-{size}"
        inputs.mkdir(exist_ok=True)
        make_inputs(inputs, size, size, args.months, 16)
        for kind in KINDS:
            run = run_measured([python(), __file__, "--child", kind, "--workdir", str(inputs),
                                "--months", str(args.months)], cwd=str(Path(__file__).parent))
            estimate, peak = run["estimate_mb"], run["process_peak_rss_mb"]
            ratio = estimate / peak if estimate else float("nan")
            ratios.append(ratio)
            print(f"{kind:>9} {f'{size} x {size}':>11} {estimate or 0:7.0f} MB {peak:6.0f} MB "
                  f"{ratio:6.2f}", flush=True)
    size = int(args.sizes.split(",")[0])  # a long run: hundreds of periods, most empty
    run = run_measured([python(), __file__, "--child", "composite-long", "--workdir",
                        str(folder / f"aoi-{size}"), "--months", str(args.months)],
                       cwd=str(Path(__file__).parent))
    estimate, peak = run["estimate_mb"], run["process_peak_rss_mb"]
    ratios.append(estimate / peak)
    print(f"{'composite':>9} {f'{size} x {size}':>11} {estimate:7.0f} MB {peak:6.0f} MB "
          f"{ratios[-1]:6.2f}  (49 years of months, {args.months} with scenes)", flush=True)
    print(f"ratio estimate / peak RSS: {min(ratios):.2f} to {max(ratios):.2f} (target within "
          f"0.70-1.30); {args.months} months; {load_line()}", flush=True)
    _composite_peak_against_area(folder, args)


def _composite_peak_against_area(folder: Path, args) -> None:
    """The composite job's peak RSS on growing AOIs and what each added megapixel costs."""
    from scale_out import make_inputs

    peaks = []
    for size in (int(s) for s in args.flat_sizes.split(",") if s):
        inputs = folder / f"aoi-{size}"
        inputs.mkdir(exist_ok=True)
        make_inputs(inputs, size, size, args.months, 16)
        run = run_measured([python(), __file__, "--child", "composite", "--workdir",
                            str(inputs), "--months", str(args.months)],
                           cwd=str(Path(__file__).parent))
        peaks.append((size * size / 1e6, run["process_peak_rss_mb"], run["process_wall"]))
        estimate = run["estimate_mb"] or float("nan")
        print(f"composite {f'{size} x {size}':>11}: peak RSS {peaks[-1][1]:6.0f} MB, "
              f"estimate {estimate:6.0f} MB ({estimate / peaks[-1][1]:.2f}), "
              f"{peaks[-1][2]:5.1f} s wall", flush=True)
    steps = [(b[1] - a[1]) / (b[0] - a[0]) for a, b in zip(peaks, peaks[1:])]
    if steps:
        print("composite peak against area: " + ", ".join(
            f"{mb:.0f} MB at {mpx:.1f} Mpx" for mpx, mb, _ in peaks)
            + "; each added Mpx " + ", ".join(f"{step:.1f} MB" for step in steps)
            + f" (the grids themselves: {args.months * 10} MB per Mpx); {load_line()}")


if __name__ == "__main__":
    main()
