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
import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

from .interpreter import interpreter_path, is_shim, venv_python
from .processes import popen_options, quote_command
from .requirements import CONSTRAINTS_FILE, REQUIREMENTS_FILE, shipped_constraints
from .status import run_doctor

RECOMMENDED_PYTHON = (3, 11)  # the shipped pins (pandas 3) need it
MINIMUM_PYTHON = (3, 9)
# measured: the wheels of the shipped pins for CPython 3.11 manylinux x86_64 (see the README)
DOWNLOAD_MB = 180
INSTALLED_MB = 720

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
        completed = subprocess.run([path, "-c", _PROBE], capture_output=True, text=True,
                                   timeout=timeout, stdin=subprocess.DEVNULL, **popen_options())
        return json.loads(completed.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None


def _candidate_paths(own_label: str) -> List[tuple]:
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    found = [(interpreter_path(), own_label)]
    names = [f"python{version}", "python3.13", "python3.12", "python3.11", "python3"]
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


def discover_base_pythons(own_label: str = "QGIS's Python") -> List[BasePython]:
    """Pythons that could make the engine, best first (usable, then newest). A pyenv (or other)
    shim is never used silently: it is resolved to the Python it runs, and the note says so."""
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
        usable = tuple(info["version"][:2]) >= MINIMUM_PYTHON and info["venv"] and info[
            "ensurepip"]
        if not (info["venv"] and info["ensurepip"]):
            note = (note + "; " if note else "") + "cannot make virtual environments " \
                "(Debian/Ubuntu: install the python3-venv package)"
        elif tuple(info["version"][:2]) < RECOMMENDED_PYTHON:
            note = (note + "; " if note else "") + "older than 3.11: the tested versions " \
                "will not install"
        results[key] = BasePython(real, version, origin or "found", usable, note)
    return sorted(results.values(),
                  key=lambda b: (not b.usable, bool(b.note),
                                 [-int(p) for p in b.version.split(".")]))


def install_arguments(python: str, *, find_links: Optional[str] = None,
                      repair: bool = False) -> List[str]:
    """The pip command that installs the shipped requirements at the shipped pins."""
    arguments = [str(python), "-m", "pip", "install", "--disable-pip-version-check",
                 "--progress-bar", "off", "--no-input"]
    if repair:
        arguments.append("--upgrade")
    if find_links:
        arguments += ["--no-index", "--find-links", str(find_links)]
    return arguments + ["-c", str(CONSTRAINTS_FILE), "-r", str(REQUIREMENTS_FILE)]


ProgressCallback = Callable[[float, str], None]


def _run_step(arguments: Sequence[str], log, *, cancel: Callable[[], bool],
              on_line: Callable[[str], None], env: Optional[Dict[str, str]] = None) -> int:
    """Run one child with its output appended to the log; cancel terminates (then kills) it."""
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


def create_engine(venv_dir: Path, base_python: str, *, log_path: Path,
                  find_links: Optional[str] = None,
                  progress: Optional[ProgressCallback] = None,
                  cancel: Optional[Callable[[], bool]] = None) -> Dict:
    """Make (or repair) the engine in ``venv_dir`` from ``base_python`` and return the
    doctor's report. Raises SetupCancelled or SetupFailed (a new, unfinished engine folder
    is removed; an existing engine is left as it was before pip ran)."""
    venv_dir, log_path = Path(venv_dir), Path(log_path)
    progress = progress or (lambda fraction, message: None)
    cancel = cancel or (lambda: False)
    python = venv_python(venv_dir)
    created = not python.is_file()
    expected = max(len(shipped_constraints()), 1)
    seen = {"collected": 0}
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1", PYTHONNOUSERSITE="1")
    for variable in ("PYTHONHOME", "PYTHONPATH", "PIP_USER", "PIP_TARGET", "PIP_PREFIX"):
        env.pop(variable, None)
    started = time.monotonic()
    with open(log_path, "a", encoding="utf-8") as log:
        log.write(f"== Raster Collect engine set-up {time.strftime('%Y-%m-%d %H:%M:%S')}\n"
                  f"engine folder: {venv_dir}\nbase Python: {base_python}\n"
                  f"offline wheel folder: {find_links or '(none: PyPI)'}\n")
        try:
            if created:
                progress(0.02, "creating the virtual environment")
                code = _run_step([base_python, "-m", "venv", str(venv_dir)], log,
                                 cancel=cancel, on_line=lambda line: None, env=env)
                if code != 0 or not python.is_file():
                    raise SetupFailed(f"{base_python} could not create a virtual environment "
                                      f"in {venv_dir} (see the log {log_path})")
            progress(0.08, "installing packages with pip")

            def on_pip_line(line: str) -> None:
                match = re.match(r"(Collecting|Processing|Requirement already satisfied:)\s+"
                                 r"(\S+)", line)
                if match:
                    seen["collected"] += 1
                    name = match.group(2).split("/")[-1].split("==")[0]
                    progress(0.08 + 0.6 * min(seen["collected"] / expected, 1.0),
                             f"getting {name} ({seen['collected']} packages so far)")
                elif line.startswith("Installing collected packages"):
                    progress(0.75, "installing the packages (this takes a minute)")

            code = _run_step(install_arguments(str(python), find_links=find_links,
                                               repair=not created), log,
                             cancel=cancel, on_line=on_pip_line, env=env)
            if code != 0:
                raise SetupFailed(f"pip could not install the engine's packages (exit code "
                                  f"{code}); the last lines of the log {log_path} say why")
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
    import argparse

    parser = argparse.ArgumentParser(
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
        print("raster-collect: error: no Python 3.9+ able to make virtual environments was "
              "found; install one (python.org, Homebrew, apt install python3-venv) and pass "
              "--base-python", file=sys.stderr)
        return 2
    if not args.find_links and not args.yes:
        answer = input(f"Download about {DOWNLOAD_MB} MB from PyPI into {args.target} "
                       f"(made from {base})? [y/N] ")
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
