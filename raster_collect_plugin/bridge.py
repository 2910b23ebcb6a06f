"""Run core jobs in a separate Python process and follow their progress.

QGIS's own GDAL/GEOS/PROJ and the wheels core needs cannot share one process, so the dock and
the Processing algorithms hand a JSON job spec to ``python -m raster_collect_plugin job``.
This module has no QGIS and no heavy imports: cancelling terminates the child (which removes
its partial outputs on the way out).
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
import time
from pathlib import Path
from typing import Callable, Dict, Optional

from .dependencies import interpreter_path

PLUGINS_DIR = Path(__file__).resolve().parent.parent
ENGINE_PYTHON_VARIABLE = "RASTER_COLLECT_PYTHON"


class JobFailed(RuntimeError):
    """The job ended with an error; ``kind`` is 'bad_input' or 'failure'."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


class JobCancelled(RuntimeError):
    """The job was cancelled; its partial outputs were removed."""


def engine_python(configured: Optional[str] = None) -> str:
    """The Python that runs jobs: the setting, $RASTER_COLLECT_PYTHON, or QGIS's Python."""
    return configured or os.environ.get(ENGINE_PYTHON_VARIABLE) or interpreter_path()


def run_job(spec: Dict, *, workdir: Path, progress: Optional[Callable[[float, str], None]] = None,
            cancel: Optional[Callable[[], bool]] = None, python: Optional[str] = None,
            poll_seconds: float = 0.1, terminate_grace: float = 15.0,
            secret_env: Optional[Dict[str, str]] = None) -> Dict:
    """Run ``spec`` in a child Python; returns its result or raises JobFailed/JobCancelled.

    ``secret_env`` (credentials) reaches the child only through its environment: never the
    spec file, the command line or a log."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    spec_path = workdir / "job.json"
    spec_path.write_text(json.dumps(spec, indent=2, default=str))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(PLUGINS_DIR)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.update(secret_env or {})
    command = [engine_python(python), "-m", "raster_collect_plugin", "--quiet", "job",
               str(spec_path), "--events"]
    stderr_path = workdir / "job.log"
    with open(stderr_path, "w") as stderr:
        try:
            child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True,
                                     env=env, cwd=str(workdir))
        except OSError as error:
            raise JobFailed("failure", f"cannot start the processing Python {command[0]}: "
                                       f"{error}. Set its path in the plugin settings.") from None
        lines: queue.Queue[Optional[str]] = queue.Queue()
        reader = threading.Thread(target=_read_lines, args=(child.stdout, lines), daemon=True)
        reader.start()
        outcome: Dict = {}
        cancelled = False
        while True:
            _drain(lines, progress, outcome)
            if child.poll() is not None:
                break
            if cancel is not None and cancel() and not cancelled:
                cancelled = True
                child.terminate()
                try:
                    child.wait(timeout=terminate_grace)
                except subprocess.TimeoutExpired:
                    child.kill()
            time.sleep(poll_seconds)
        reader.join(timeout=5)
        _drain(lines, progress, outcome)
        child.stdout.close()  # else an "unclosed file" ResourceWarning per job
    if cancelled or outcome.get("event") == "cancelled":
        raise JobCancelled("cancelled: no outputs were written")
    if outcome.get("event") == "result":
        return outcome["result"]
    if outcome.get("event") == "error":
        raise JobFailed(outcome.get("kind", "failure"), outcome.get("message", "unknown error"))
    tail = stderr_path.read_text()[-1500:] if stderr_path.exists() else ""
    raise JobFailed("failure", f"the processing Python exited with code {child.returncode}"
                               f"{': ' + tail.strip().splitlines()[-1] if tail.strip() else ''}")


def _read_lines(stream, lines: queue.Queue[Optional[str]]) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


def _drain(lines, progress, outcome: Dict) -> None:
    while True:
        try:
            line = lines.get_nowait()
        except queue.Empty:
            return
        if not line or not line.startswith("{"):
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("event") == "progress":
            if progress is not None:
                progress(float(event.get("fraction", 0)), str(event.get("message", "")))
        else:
            outcome.clear()
            outcome.update(event)

