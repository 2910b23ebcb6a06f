"""The plugin's view of the engine: run the doctor in the engine's Python (a child process)
and cache its report until the engine changes (interpreter path and modification times of the
interpreter and of its site-packages folders, and the shipped requirements)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable, Dict, Optional

from .doctor import HOST_PYTHON_VARIABLE
from .interpreter import ENGINE_PYTHON_VARIABLE, interpreter_path
from .processes import child_environment, popen_options
from .requirements import fingerprint

_LOCK = threading.Lock()


class DoctorCancelled(RuntimeError):
    """The check was cancelled (its child process killed); nothing is cached."""


class EngineNotReady(RuntimeError):
    """The engine's Python cannot run jobs; the message is one sentence with the fix."""

    def __init__(self, report: Dict):
        super().__init__(not_ready_message(report))
        self.report = report


def default_cache_dir() -> Path:
    """A per-user cache folder (the plugin passes a folder of the QGIS profile instead)."""
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "raster-collect"


def _mtime(path: str) -> Optional[float]:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return None


def engine_stamp(python: str, site_folders=()) -> Dict:
    """What must be unchanged for a cached report to stay true."""
    return {"python": str(python), "python_mtime": _mtime(python),
            "resolved_mtime": _mtime(os.path.realpath(python)),
            "requirements": fingerprint(),
            "site_folders": {folder: _mtime(folder) for folder in site_folders}}


def run_doctor(python: str, *, timeout: float = 180.0,
               cancel: Optional[Callable[[], bool]] = None) -> Dict:
    """Run ``python -m raster_collect_plugin doctor --json`` and return its report; a Python
    that cannot start or answer gives a not-ready report naming why. ``cancel`` is polled
    while it runs: when it turns true the child is killed and ``DoctorCancelled`` raised (so
    a QGIS task, or QGIS quitting, never waits for a Python that hangs)."""
    command = [str(python), "-m", "raster_collect_plugin", "doctor", "--json"]
    try:
        # tell the doctor which Python is QGIS's own (the caller's), so it never advises
        # pip-installing into it (OSGeo4W's Python looks like any other Python from inside)
        host = {HOST_PYTHON_VARIABLE: interpreter_path()}
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True, encoding="utf-8", errors="replace",
                                   env=child_environment(host), stdin=subprocess.DEVNULL,
                                   **popen_options())
    except (OSError, subprocess.SubprocessError) as error:
        return unusable_report(python, f"cannot run {python}: {error}")
    deadline = time.monotonic() + timeout
    while True:
        try:
            stdout, stderr = process.communicate(timeout=0.2)
            break
        except subprocess.TimeoutExpired:
            stopped = cancel is not None and cancel()
            if stopped or time.monotonic() > deadline:
                _kill(process)
                if stopped:
                    raise DoctorCancelled("the engine check was cancelled") from None
                return unusable_report(python, f"{python} did not answer the check within "
                                               f"{timeout:g} s")
    try:
        report = json.loads(stdout[stdout.index("{"):])
    except ValueError:
        last = (stderr.strip().splitlines() or ["no output"])[-1]
        return unusable_report(python, f"{python} could not run the check ({last})")
    report["python"]["requested"] = str(python)
    return report


def _kill(process: subprocess.Popen) -> None:
    """Kill a child and stop reading it, without waiting for a grandchild that may still
    hold its output pipes open."""
    process.kill()
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            stream.close()
    process.wait()


def unusable_report(python: str, problem: str) -> Dict:
    """A not-ready report for a Python that could not be checked (naming the environment
    variable when that is where the Python came from: it overrides the plugin's setting)."""
    fix = ("Choose a working Python 3.9+ or create the engine: in QGIS open Settings → "
           "Options → Raster Collect and click “Create the engine”.")
    if os.environ.get(ENGINE_PYTHON_VARIABLE) == str(python):
        fix = (f"This Python comes from the environment variable {ENGINE_PYTHON_VARIABLE}, "
               "which overrides the plugin's setting: correct it, or remove it to use the "
               "engine chosen in Settings → Options → Raster Collect.")
    return {"python": {"executable": str(python), "requested": str(python), "version": None,
                       "site_folders": []},
            "packages": [], "libraries": {}, "problems": [problem], "ready": False,
            "fix": fix, "fix_command": ""}


class DoctorCache:
    """Reports by interpreter path in one JSON file, valid while the engine is unchanged."""

    def __init__(self, folder: Optional[Path] = None):
        self.path = Path(folder or default_cache_dir()) / "engine-doctor.json"

    def _load(self) -> Dict:
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def get(self, python: str) -> Optional[Dict]:
        """The cached report, or None when there is none or the engine changed since."""
        entry = self._load().get(str(python))
        if not entry:
            return None
        folders = entry["stamp"].get("site_folders", {})
        if engine_stamp(python, folders) != entry["stamp"]:
            return None
        return entry["report"]

    def put(self, python: str, report: Dict) -> None:
        folders = report.get("python", {}).get("site_folders") or []
        with _LOCK:
            entries = self._load()
            entries[str(python)] = {"stamp": engine_stamp(python, folders), "report": report}
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle, partial = tempfile.mkstemp(dir=self.path.parent, suffix=".part")
            with os.fdopen(handle, "w", encoding="utf-8") as opened:
                json.dump(entries, opened)
            os.replace(partial, self.path)


def check_engine(python: str, *, cache_dir: Optional[Path] = None,
                 refresh: bool = False, cancel: Optional[Callable[[], bool]] = None) -> Dict:
    """The doctor's report for ``python``; a cached *ready* report is reused until the engine
    changes, a not-ready one is checked again (the user may just have fixed it).
    ``cancel``: as for ``run_doctor`` (a cancelled check raises and caches nothing)."""
    cache = DoctorCache(cache_dir)
    if not refresh:
        cached = cache.get(python)
        if cached is not None and cached.get("ready"):
            return cached
    report = run_doctor(python, cancel=cancel)
    cache.put(python, report)
    return report


def require_ready(python: str, *, cache_dir: Optional[Path] = None) -> Dict:
    """Raise :class:`EngineNotReady` unless ``python`` can run jobs."""
    report = check_engine(python, cache_dir=cache_dir)
    if not report.get("ready"):
        raise EngineNotReady(report)
    return report


def not_ready_message(report: Dict) -> str:
    """One readable sentence: what is wrong with the engine and the fix (commands whole)."""
    problems = report.get("problems") or ["it did not pass the check"]
    shown = "; ".join(problems[:3]) + (f" (and {len(problems) - 3} more)"
                                      if len(problems) > 3 else "")
    python = report.get("python", {}).get("requested") or report.get("python", {}).get(
        "executable", "?")
    return (f"The Raster Collect processing engine is not ready ({python}: {shown}). "
            f"{report.get('fix', '')}").strip()
