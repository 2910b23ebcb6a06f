"""Run every benchmark (``make benchmark``), then print their ratio lines together with the
load average (each benchmark also prints its own CPU-seconds, wall and peak RSS)."""

import subprocess
import sys
from pathlib import Path

from _measure import load_line

HERE = Path(__file__).resolve().parent

summary = []
for script in sorted(HERE.glob("*.py")):
    if script.name == "run_all.py" or script.name.startswith("_"):  # helpers, not benchmarks
        continue
    print(f"== {script.name} ({load_line()})", flush=True)
    process = subprocess.Popen([sys.executable, str(script), *sys.argv[1:]],
                               stdout=subprocess.PIPE, text=True)
    for line in process.stdout:
        print(line, end="", flush=True)
        if line.lstrip().startswith(("ratio", "COGs bit-identical", "one-forest",
                                     "composite peak against area", "end to end", "-- ",
                                     "the file's tiles decoded alone")):
            summary.append(f"{script.stem}: {line.strip()}")
    if process.wait():
        sys.exit(f"{script.name} failed (exit {process.returncode})")
print("== ratios")
print("\n".join(summary))
print(load_line())
