"""From job spawn to the first progress event a QGIS user sees: the real job process
(``python -m raster_collect_plugin --quiet job SPEC --events``, as engine/bridge.py starts it)
for a one-forest composite on the small sample, run N times. Prints min/median seconds to the
first progress event and to the end, with each run's CPU-seconds and peak RSS and the load
average before and after (the target, issue 31: <= 0.8 s on an idle 2-core machine)."""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._workdir import work_folder  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def make_sample(folder: Path) -> dict:
    """The small sample (made once, in a separate process like the job's engine)."""
    made = subprocess.run(
        [sys.executable, "-c",
         "import json, sys; from pathlib import Path; "
         "from raster_collect_plugin.core.sample.catalog import make_sample; "
         "from raster_collect_plugin.core.sample.scenes import small_spec; "
         "s = make_sample(Path(sys.argv[1]), small_spec()); "
         "print(json.dumps({'forests': str(s.forests_path), 'catalog': str(s.catalog_path)}))",
         str(folder / "sample")], cwd=ROOT, env=child_env(), check=True, capture_output=True,
        text=True)
    return json.loads(made.stdout.strip().splitlines()[-1])


def child_env() -> dict:
    """This checkout first on the path, as the engine's editable install would be."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return env


def run_once(spec_path: Path, folder: Path) -> dict:
    """One job: seconds to its first progress event and to its end, CPU-seconds, peak RSS."""
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-m", "raster_collect_plugin", "--quiet", "job",
                              str(spec_path), "--events"], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, text=True,
                             cwd=folder, env=child_env())
    first = None
    events = []
    for line in child.stdout:
        event = json.loads(line)
        events.append(event)
        if first is None and event.get("event") == "progress":
            first = time.perf_counter() - started
    child.stdout.close()
    _, status, usage = os.wait4(child.pid, 0)  # the child's own CPU time and peak RSS
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0 or events[-1].get("event") != "result":
        raise SystemExit(f"the job failed (exit {child.returncode}): {events[-1:]}")
    return {"first": first, "wall": time.perf_counter() - started,
            "cpu": usage.ru_utime + usage.ru_stime, "peak_rss_mb": usage.ru_maxrss / 1024}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--workdir")
    args, _ = parser.parse_known_args()  # run_all.py passes its own arguments through
    with work_folder(args.workdir, "rc-first-progress-") as folder:
        sample = make_sample(folder)
        runs = []
        load_before = os.getloadavg()
        for n in range(args.runs):
            spec = {"kind": "composite", "aoi": sample["forests"], "ids": ["281"],
                    "sources": [{"kind": "static", "href": sample["catalog"]}],
                    "start": "2025-10-01", "end": "2025-12-31",
                    "output_dir": str(folder / f"out-{n}")}
            spec_path = folder / f"job-{n}.json"
            spec_path.write_text(json.dumps(spec))
            runs.append(run_once(spec_path, folder))
        load_after = os.getloadavg()
    firsts = [r["first"] for r in runs]
    walls = [r["wall"] for r in runs]
    print(f"one-forest composite job, small sample, {len(runs)} runs: first progress event "
          f"min {min(firsts):.2f} s, median {statistics.median(firsts):.2f} s "
          f"(target <= 0.8 s); whole job min {min(walls):.2f} s, median "
          f"{statistics.median(walls):.2f} s wall, median "
          f"{statistics.median(r['cpu'] for r in runs):.2f} CPU-s, peak RSS "
          f"{max(r['peak_rss_mb'] for r in runs):.0f} MB")
    before, after = ("/".join(f"{x:.2f}" for x in load) for load in (load_before, load_after))
    print(f"load average (1/5/15 min) before {before}, after {after}, "
          f"{os.cpu_count()} cores")


if __name__ == "__main__":
    main()
