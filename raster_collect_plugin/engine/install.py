"""Create or repair the plugin's own engine: a virtual environment (never QGIS's own
site-packages) made from a base Python that is discovered and shown to the user, then
``pip install`` of the shipped requirements at the shipped pins, then the doctor.

QGIS-free: the plugin runs :func:`create_engine` in a QgsTask; tests and the command line run
it directly. Every step writes to a log file the user can open.
"""

from __future__ import annotations

import glob
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

from .figures import setup_figures
from .interpreter import interpreter_path, is_shim, venv_python
from .pip_progress import PipProgress, failure_cause
from .processes import popen_options, quote_command
from .requirements import (
    REQUIREMENTS_FILE,
    constraints_file,
    has_lock,
    parse_constraints,
)
from .setup_env import describe_network, setup_environment
from .status import run_doctor

MINIMUM_PYTHON = (3, 10)  # the oldest Python the plugin ships tested pins for
# base Pythons in order of preference when several are found: the versions the engine is
# tested with most first, not simply the newest (a new Python may lack wheels)
PREFERRED_PYTHONS = ((3, 12), (3, 11), (3, 13), (3, 14), (3, 10))
# Windows antivirus may hold files the venv step writes: retry after these pauses (seconds)
LOCKED_FILE_RETRIES = (2.0, 5.0, 10.0)
_LOCKED = ("PermissionError", "WinError 32", "WinError 5", "being used by another process",
           "Access is denied")

_PROBE = ("import sys, json, importlib.util as u; print(json.dumps({'executable': "
          "sys.executable, 'version': list(sys.version_info[:3]), 'venv': "
          "u.find_spec('venv') is not None, 'ensurepip': u.find_spec('ensurepip') is not None,"
          " 'in_venv': sys.prefix != sys.base_prefix, 'prefix': sys.prefix}))")


class SetupCancelled(RuntimeError):
    """The user cancelled; a half-made new engine was removed."""


class SetupFailed(RuntimeError):
    """A set-up step failed; the message names the step and points at the log."""


@dataclass(frozen=True)
class BasePython:
    """A Python that can make the engine's virtual environment (or why it cannot)."""

    path: str            # what the venv is made from (a shim resolved to its real Python)
    version: str
    origin: str          # where it was found: "QGIS's Python", "python3 on PATH", ...
    usable: bool
    note: str = ""       # e.g. "pyenv shim ~/.pyenv/shims/python3 resolves to ..."

    def label(self) -> str:
        text = f"Python {self.version} — {self.path} ({self.origin})"
        return f"{text}: {self.note}" if self.note else text


def _probe(path: str, timeout: float = 20.0) -> Optional[Dict]:
    import json

    try:
        # without QGIS's PYTHONHOME/PYTHONPATH: another Python would crash at start with them
        completed = subprocess.run([path, "-c", _PROBE], capture_output=True, text=True,
                                   timeout=timeout, stdin=subprocess.DEVNULL,
                                   env=setup_environment(), **popen_options())
        return json.loads(completed.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None


def _candidate_paths(own_label: str) -> List[tuple]:
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    found = [(interpreter_path(), own_label)]
    names = [f"python{version}"] + [f"python{v[0]}.{v[1]}" for v in PREFERRED_PYTHONS] + [
        "python3"]
    if sys.platform == "win32":
        names = ["python"]
        found += [(p, "python.org install") for p in sorted(glob.glob(
            os.path.expandvars(r"%LOCALAPPDATA%\Programs\Python\Python3*\python.exe")),
            reverse=True)]
    for name in names:
        located = shutil.which(name)
        if located:
            found.append((located, f"{name} on PATH"))
    if sys.platform != "win32":
        found += [("/usr/bin/python3", "system Python"),
                  ("/opt/homebrew/bin/python3", "Homebrew"), ("/usr/local/bin/python3", "")]
    return found


def _preference(version: str) -> int:
    parts = tuple(int(p) for p in version.split(".")[:2])
    return PREFERRED_PYTHONS.index(parts) if parts in PREFERRED_PYTHONS else len(
        PREFERRED_PYTHONS)


def discover_base_pythons(own_label: str = "QGIS's Python") -> List[BasePython]:
    """Pythons that could make the engine, best first: usable, with no caveat, then the
    versions with tested pins and wheels in :data:`PREFERRED_PYTHONS` order (not simply the
    newest). A pyenv (or other) shim is never used silently: it is resolved to the Python it
    runs, and the note says so."""
    results: Dict[str, BasePython] = {}
    for path, origin in _candidate_paths(own_label):
        if not path or not Path(path).is_file():
            continue
        info = _probe(path)
        if info is None:
            continue
        note = ""
        real = info["executable"]
        if is_shim(path):
            note = f"shim {path} runs this Python"
        if info["in_venv"]:
            note = (note + "; " if note else "") + "inside a virtual environment"
        key = f"{os.path.realpath(real)}|{info['prefix']}"  # a venv shares its base's binary
        if key in results:
            continue
        version = ".".join(str(p) for p in info["version"])
        minor = tuple(info["version"][:2])
        usable = minor >= MINIMUM_PYTHON and info["venv"] and info["ensurepip"]
        if not (info["venv"] and info["ensurepip"]):
            note = (note + "; " if note else "") + "cannot make virtual environments " \
                "(Debian/Ubuntu: install the python3-venv package)"
        elif minor < MINIMUM_PYTHON:
            note = (note + "; " if note else "") + "too old: the engine needs Python " \
                f"{MINIMUM_PYTHON[0]}.{MINIMUM_PYTHON[1]}+"
        elif not has_lock(minor):
            note = (note + "; " if note else "") + "newer than the tested versions: its " \
                "packages may need compiling"
        elif not setup_figures(minor).get("wheels", True):
            note = (note + "; " if note else "") + "some packages have no ready-made " \
                "build (wheel) for this Python on this computer"
        elif sys.platform == "darwin" and ".app/Contents/" in real:
            note = (note + "; " if note else "") + "the Python inside QGIS.app may make " \
                "broken virtual environments: prefer a python.org or Homebrew Python"
        results[key] = BasePython(real, version, origin or "found", usable, note)
    return sorted(results.values(),
                  key=lambda b: (not b.usable, bool(b.note), _preference(b.version),
                                 [-int(p) for p in b.version.split(".")]))


def install_arguments(python: str, *, find_links: Optional[str] = None,
                      repair: bool = False,
                      version: Optional[Sequence[int]] = None) -> List[str]:
    """The pip command that installs the shipped requirements at the pins for ``version``
    (the engine's Python; default: the running one)."""
    arguments = [str(python), "-m", "pip", "install", "--disable-pip-version-check",
                 "--progress-bar", "off", "--no-input"]
    if repair:
        arguments.append("--upgrade")
    if find_links:
        arguments += ["--no-index", "--find-links", str(find_links)]
    return arguments + ["-c", str(constraints_file(version)), "-r", str(REQUIREMENTS_FILE)]


def python_version(python: str) -> Optional[tuple]:
    """(major, minor) of a Python, asked in a clean environment (None if it does not run)."""
    info = _probe(str(python))
    return tuple(info["version"][:2]) if info else None


def setup_size_text(version: Optional[Sequence[int]] = None) -> str:
    """'about 274 MB download, about 990 MB on disk' for a Python on this computer."""
    figures = setup_figures(version)
    text = (f"about {figures.get('download_mb', '?')} MB download, about "
            f"{figures.get('disk_mb', '?')} MB on disk")
    return text + (" (estimated: no figures for this computer)"
                   if figures.get("estimated") else "")


def repair_plan(report: Optional[Dict]) -> List[str]:
    """The packages a repair would download (missing or at a wrong version, from the
    doctor's report); empty when everything is installed: nothing to download."""
    rows = (report or {}).get("packages") or []
    if not rows:
        return ["(everything: the engine could not be checked)"]
    return [row["name"] for row in rows if row.get("status") != "ok"]


ProgressCallback = Callable[[float, str], None]


def _run_step(arguments: Sequence[str], log, *, cancel: Callable[[], bool],
              on_line: Callable[[str], None], env: Optional[Dict[str, str]] = None,
              on_tick: Callable[[], None] = lambda: None) -> int:
    """Run one child with its output appended to the log; cancel terminates (then kills) it.
    ``on_tick`` runs while the child is quiet."""
    log.write(f"\n$ {quote_command(arguments)}\n")
    log.flush()
    child = subprocess.Popen(list(arguments), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, text=True, encoding="utf-8",
                             errors="replace", env=env, **popen_options())
    lines: queue.Queue = queue.Queue()

    def read() -> None:
        for line in child.stdout:
            lines.put(line)
        lines.put(None)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    finished = False
    try:
        while not finished:
            try:
                line = lines.get(timeout=0.2)
            except queue.Empty:
                line = ""
                on_tick()
            if line is None:
                finished = True
            elif line:
                log.write(line)
                on_line(line.rstrip())
            if cancel():
                child.terminate()
                try:
                    child.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()
                log.write("\n-- cancelled by the user\n")
                raise SetupCancelled("engine set-up cancelled")
        log.flush()
        return child.wait()
    finally:
        # the pipe is closed once the reader is done with it (else a ResourceWarning)
        if child.poll() is None:
            child.kill()
            child.wait()
        reader.join(timeout=10)
        if not reader.is_alive():
            child.stdout.close()


def _make_venv(base_python: str, venv_dir: Path, log, *, cancel: Callable[[], bool],
               env: Dict[str, str], sleep: Callable[[float], None] = time.sleep) -> int:
    """``base -m venv``, again after a pause when a file was locked (antivirus on Windows)."""
    for pause in (*LOCKED_FILE_RETRIES, None):
        output: List[str] = []
        code = _run_step([base_python, "-m", "venv", str(venv_dir)], log, cancel=cancel,
                         on_line=output.append, env=env)
        if code == 0 or pause is None or not any(m in line for line in output
                                                   for m in _LOCKED):
            return code
        log.write(f"-- a file was locked (antivirus?): trying again in {pause:.0f} s\n")
        shutil.rmtree(venv_dir, ignore_errors=True)
        sleep(pause)
    return code


def _site_folder(venv_dir: Path) -> Optional[Path]:
    if sys.platform == "win32":
        return venv_dir / "Lib" / "site-packages"
    return next(iter(sorted(venv_dir.glob("lib/python3*/site-packages"))), None)


def create_engine(venv_dir: Path, base_python: str, *, log_path: Path,
                  find_links: Optional[str] = None,
                  progress: Optional[ProgressCallback] = None,
                  cancel: Optional[Callable[[], bool]] = None,
                  proxy: Optional[str] = None, no_proxy: str = "") -> Dict:
    """Make (or repair) the engine in ``venv_dir`` from ``base_python`` and return the
    doctor's report. ``proxy`` (e.g. QGIS's network proxy, ``http://host:port``) is used
    unless HTTPS_PROXY/HTTP_PROXY are set. Raises SetupCancelled or SetupFailed (a new,
    unfinished engine folder is removed; an existing engine is left as it was before pip
    ran)."""
    venv_dir, log_path = Path(venv_dir), Path(log_path)
    progress = progress or (lambda fraction, message: None)
    cancel = cancel or (lambda: False)
    python = venv_python(venv_dir)
    created = not python.is_file()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = setup_environment(proxy=proxy, no_proxy=no_proxy)
    started = time.monotonic()
    with open(log_path, "a", encoding="utf-8") as log:
        log.write(f"== Raster Collect engine set-up {time.strftime('%Y-%m-%d %H:%M:%S')}\n"
                  f"engine folder: {venv_dir}\nbase Python: {base_python}\n"
                  f"offline wheel folder: {find_links or '(none: PyPI)'}\n"
                  f"{describe_network(env)}\n")
        try:
            if created:
                progress(0.02, "creating the virtual environment")
                code = _make_venv(base_python, venv_dir, log, cancel=cancel, env=env)
                if code != 0 or not python.is_file():
                    raise SetupFailed(f"{base_python} could not create a virtual environment "
                                      f"in {venv_dir} (see the log {log_path})")
            version = python_version(str(python)) or python_version(base_python)
            lock = constraints_file(version)
            log.write(f"engine Python {'.'.join(map(str, version or ()))}: pins {lock.name}\n")
            progress(0.08, "installing packages with pip")
            expected = len(parse_constraints(lock.read_text(encoding="utf-8"))) or 1
            reader = PipProgress(progress, expected, _site_folder(venv_dir))
            code = _run_step(install_arguments(str(python), find_links=find_links,
                                               repair=not created, version=version), log,
                             cancel=cancel, on_line=reader.line, env=env, on_tick=reader.tick)
            if code != 0:
                raise SetupFailed(f"pip could not install the engine's packages (exit code "
                                  f"{code}):\n{failure_cause(reader.lines)}\n(whole log: "
                                  f"{log_path})")
            progress(0.92, "checking the engine")
            report = run_doctor(str(python))
            log.write(f"\n-- doctor: {'ready' if report.get('ready') else 'NOT ready'} "
                      f"{report.get('problems') or ''}\n-- took "
                      f"{time.monotonic() - started:.0f} s\n")
            progress(1.0, "engine ready" if report.get("ready") else "engine check failed")
            return report
        except (SetupCancelled, SetupFailed, OSError) as error:
            log.write(f"\n-- failed: {error}\n")
            if created:
                shutil.rmtree(venv_dir, ignore_errors=True)
            if isinstance(error, OSError):
                raise SetupFailed(f"cannot run {base_python}: {error}") from None
            raise


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``setup-engine``: the options page's "Create the engine" from a terminal."""
    from .arguments import OneLineParser

    parser = OneLineParser(
        prog="raster-collect setup-engine",
        description="create or repair the processing engine (a virtual environment)")
    parser.add_argument("--target", help="folder of the engine's venv (required to create)")
    parser.add_argument("--base-python", help="Python to make it from (default: the first "
                                              "suitable one found; see --list)")
    parser.add_argument("--find-links", help="offline: install only from this wheel folder")
    parser.add_argument("--list", action="store_true", help="list the Pythons found and exit")
    parser.add_argument("--yes", action="store_true", help="do not ask before downloading")
    args = parser.parse_args(argv)
    found = discover_base_pythons("the Python running this command")
    if args.list:
        for base in found:
            print(("  " if base.usable else "x ") + base.label())
        return 0
    if not args.target:
        parser.error("--target is required: the folder for the engine's virtual environment")
    base = args.base_python or next((b.path for b in found if b.usable), None)
    if base is None:
        print("raster-collect: error: no Python 3.10+ able to make virtual environments was "
              "found; install one (python.org, Homebrew, apt install python3-venv) and pass "
              "--base-python", file=sys.stderr)
        return 2
    if not args.find_links and not args.yes:
        size = setup_size_text(python_version(base))
        answer = input(f"Download from PyPI into {args.target} ({size}; made from "
                       f"{base})? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            return 1
    log = Path(args.target).parent / "raster_collect_engine_setup.log"
    try:
        report = create_engine(Path(args.target), base, log_path=log, find_links=args.find_links,
                               progress=lambda f, m: print(f"{100 * f:5.1f}%  {m}", flush=True))
    except (SetupFailed, SetupCancelled) as error:
        print(f"raster-collect: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("raster-collect: interrupted; the unfinished engine was removed", file=sys.stderr)
        return 1
    python = venv_python(Path(args.target))
    if report.get("ready"):
        print(f"Engine ready: {python}\nUse it: Settings → Options → Raster Collect → (b), or "
              f"set RASTER_COLLECT_PYTHON={quote_command([python])}")
        return 0
    print("The engine's check failed: " + "; ".join(report.get("problems", [])) +
          f" (log: {log})", file=sys.stderr)
    return 1
