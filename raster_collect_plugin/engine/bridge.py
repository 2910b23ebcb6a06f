"""Run core jobs in a separate Python process and follow their progress.

QGIS's own GDAL/GEOS/PROJ and the wheels core needs cannot share one process, so the dock and
the Processing algorithms hand a JSON job spec to ``python -m raster_collect_plugin job``.
This module has no QGIS and no heavy imports. Before a job the engine is checked (the doctor,
cached): a Python that cannot run it gives one sentence with the fix instead of a traceback.
Cancelling terminates the child (on Windows that is TerminateProcess: no handler runs), so
after any unsuccessful end the parent itself removes the staging folders the child left.
"""

from __future__ import annotations

import json
import queue
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Callable, Dict, Iterable, Optional, Set

from .interpreter import ENGINE_PYTHON_VARIABLE, engine_python  # noqa: F401 (public API)
from .processes import PLUGINS_DIR, child_environment, popen_options  # noqa: F401
from .status import EngineNotReady, require_ready

STAGING_MARKER = "partial"  # core stages outputs in hidden folders like .raster-collect-partial-*


class JobFailed(RuntimeError):
    """The job ended with an error; ``kind`` is 'bad_input' or 'failure'; ``conflict``: a
    refused rerun's location and runs (``core.runs.conflict.conflict_message`` words them)."""

    def __init__(self, kind: str, message: str, conflict: Optional[Dict] = None):
        super().__init__(message)
        self.kind = kind
        self.conflict = conflict


class JobCancelled(RuntimeError):
    """The job was cancelled; its partial outputs were removed."""


def _output_folders(spec: Dict) -> Set[Path]:
    """Folders the job may stage outputs in (its output folder and its files' folders)."""
    folders = set()
    for key in ("output_dir", "output", "output_folder"):
        value = spec.get(key)
        if isinstance(value, str) and value:
            path = Path(value)
            folders.add(path if key != "output" else path.parent)
    return folders


def _staging_entries(folders: Iterable[Path]) -> Set[Path]:
    found = set()
    for folder in folders:
        try:
            found.update(p for p in folder.iterdir()
                         if p.name.startswith(".") and STAGING_MARKER in p.name)
        except OSError:
            continue
    return found


def _remove(paths: Iterable[Path]) -> None:
    for path in paths:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def run_job(spec: Dict, *, workdir: Path, progress: Optional[Callable[[float, str], None]] = None,
            cancel: Optional[Callable[[], bool]] = None, python: Optional[str] = None,
            poll_seconds: float = 0.1, terminate_grace: float = 15.0,
            secret_env: Optional[Dict[str, str]] = None) -> Dict:
    """Run ``spec`` in a child Python; returns its result or raises JobFailed/JobCancelled.

    ``secret_env`` (credentials) reaches the child only through its environment: never the
    spec file, the command line or a log. Raises :class:`EngineNotReady` (a JobFailed) when
    the engine's Python cannot run jobs."""
    python = engine_python(python)
    try:
        require_ready(python)
    except EngineNotReady as error:
        raise JobFailed("engine", str(error)) from None
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    spec_path = workdir / "job.json"
    spec_path.write_text(json.dumps(spec, indent=2, default=str))
    env = child_environment(secret_env)
    staging_before = _staging_entries(_output_folders(spec))
    command = [python, "-m", "raster_collect_plugin", "--quiet", "job",
               str(spec_path), "--events"]
    stderr_path = workdir / "job.log"
    with open(stderr_path, "w") as stderr:
        try:
            child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True,
                                     env=env, cwd=str(workdir), stdin=subprocess.DEVNULL,
                                     encoding="utf-8", errors="replace", **popen_options())
        except OSError as error:
            raise JobFailed("engine", f"Cannot start the processing engine {command[0]}: "
                                      f"{error}. Choose it in Settings → Options → Raster "
                                      f"Collect.") from None
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
    if outcome.get("event") != "result":  # a killed child cannot clean up: the parent does
        _remove(_staging_entries(_output_folders(spec)) - staging_before)
    if outcome.get("event") == "result":  # finished (its manifest written) before a cancel
        return outcome["result"]         # stopped it exiting: the outputs are complete
    if cancelled or outcome.get("event") == "cancelled":
        raise JobCancelled("cancelled: no outputs were written")
    if outcome.get("event") == "error":
        raise JobFailed(outcome.get("kind", "failure"), outcome.get("message", "unknown error"),
                        outcome.get("conflict"))
    tail = (stderr_path.read_text(encoding="utf-8", errors="replace")[-1500:]
            if stderr_path.exists() else "")
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

