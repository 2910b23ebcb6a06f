"""Measuring a benchmark's sides fairly on a shared machine (a helper, not a benchmark).

Each side runs in its own process; the parent reads that process's CPU-seconds (user + system,
its threads and the children it waited for) and peak RSS from ``os.wait4``, so nothing the
side starts is missed, and prints the load average beside every figure: on a loaded machine
wall time mostly measures the neighbours, CPU-seconds much less so.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Sequence


def load_line() -> str:
    """The machine's load average (1, 5, 15 min) and core count, for every report."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def phase_cpu() -> float:
    """User + system CPU-seconds of this process so far (all its threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb() -> float:
    """The peak resident memory of this process (VmHWM, reset at exec) or of the largest
    child it waited for, whichever is larger. Not ``ru_maxrss`` of this process: Linux keeps
    the parent's RSS at fork in it, so a large benchmark parent would show in every side."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return max(int(line.split()[1]) / 1024, children)
    return max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, children)


def run_measured(argv: Sequence[str], cwd: str | None = None) -> Dict[str, float]:
    """Run ``argv`` (a Python side printing a JSON line last) in its own process; its JSON plus
    ``process_cpu`` (CPU-s of the process and its waited-for children), ``process_wall`` and
    ``process_peak_rss_mb``: the side's own report (:func:`peak_rss_mb`) when it gives
    ``peak_rss_mb``, else wait4's figure (which includes this process's RSS at fork)."""
    import tempfile

    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen(list(argv), stdout=out, stderr=err, text=True, cwd=cwd)
        _, status, usage = os.wait4(process.pid, 0)  # not Popen.wait: it drops the rusage
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if process.returncode:
        raise RuntimeError(f"{' '.join(map(str, argv[:3]))} failed:\n{stderr[-3000:]}")
    result = json.loads(stdout.strip().splitlines()[-1])
    result["process_wall"] = wall
    result["process_cpu"] = usage.ru_utime + usage.ru_stime
    result["process_peak_rss_mb"] = result.get("peak_rss_mb", usage.ru_maxrss / 1024)
    return result


def spread(values: List[float], unit: str = "s", digits: int = 1) -> str:
    """'min x / median y' of repeated runs."""
    return (f"{min(values):.{digits}f} / {statistics.median(values):.{digits}f} {unit}"
            if values else "n/a")


def python() -> str:
    return sys.executable
