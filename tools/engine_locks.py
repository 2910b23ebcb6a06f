"""Resolve the engine's requirements (raster_collect_plugin/requirements.txt, the one source) into
one lock per Python minor version, wheels only, for every platform of the matrix
(raster_collect_plugin/engine/figures.py), and compute the set-up figures from those wheels.

    python tools/engine_locks.py            # `make engine-locks`: rewrite the locks and figures
    python tools/engine_locks.py --figures  # only recompute wheel_figures.json

Each (Python, platform) is resolved by ``uv pip compile --python-platform ... --only-binary
:all:`` with the current lock as preferences (so pins move only when they must); the per-platform
results are merged into ``constraints-pyXY.txt`` with environment markers where they differ.
Sizes come from the package index's JSON API (PEP 691/700 ``size`` of each wheel file).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Dict, List, Optional, Tuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from raster_collect_plugin.engine.figures import (  # noqa: E402
    FIGURES_FILE,
    MACOS_TARGETS,
    PLATFORMS,
    PYTHONS,
    Platform,
)
from raster_collect_plugin.engine.requirements import (  # noqa: E402
    REQUIREMENTS_FILE,
    constraints_file,
    normalize,
    parse_constraints,
    shipped_requirements,
)

INDEX = os.environ.get("RASTER_COLLECT_INDEX_JSON", "https://pypi.org/simple")
# installed size / wheel size, measured: the 3.11 engine on Linux x86_64 (du of the venv,
# pip and __pycache__ included, against the sum of its wheels)
DISK_PER_DOWNLOAD = 3.6
HEADER = ("# Tested pins of the engine for CPython {version}, all platforms (markers where they\n"
          "# differ). Generated from requirements.txt by `make engine-locks`; do not edit.\n")


def uv_binary() -> str:
    """The uv executable (the PyPI wheel installs it beside the Python running this)."""
    try:
        import uv

        return uv.find_uv_bin()
    except (ImportError, FileNotFoundError):
        found = shutil.which("uv")
        if not found:
            raise SystemExit("uv is not installed: make setup installs it "
                             "(requirements-dev.txt)") from None
        return found


def environment_of(target: Platform, version: Tuple[int, int]) -> Dict[str, str]:
    """Marker variables of a platform of the matrix (to read a merged lock for it)."""
    system, machine = {
        "manylinux_x86_64": ("linux", "x86_64"), "manylinux_aarch64": ("linux", "aarch64"),
        "win_amd64": ("win32", "AMD64"), "macosx_arm64": ("darwin", "arm64"),
        "macosx_x86_64": ("darwin", "x86_64")}[target.key]
    python = f"{version[0]}.{version[1]}"
    return {"sys_platform": system, "platform_machine": machine, "python_version": python,
            "python_full_version": f"{python}.0"}


def resolve(target: Platform, version: Tuple[int, int], preferences: Dict[str, str],
            *, constraints: Optional[Path] = None
            ) -> Tuple[Optional[Dict[str, str]], str, Optional[str]]:
    """Pins for one (platform, Python) with wheels only, the error (if none) and the oldest
    macOS version whose wheels made it (macOS only)."""
    error = ""
    for macos in (MACOS_TARGETS if target.key.startswith("macosx") else (None,)):
        pins, error = _resolve(target, version, preferences, constraints, macos)
        if pins is not None:
            return pins, "", macos
    return None, error, None


def _resolve(target: Platform, version: Tuple[int, int], preferences: Dict[str, str],
             constraints: Optional[Path], macos: Optional[str], *, offline: bool = False
             ) -> Tuple[Optional[Dict[str, str]], str]:
    """One ``uv pip compile``; ``offline`` uses uv's cache only (a rerun's fast path)."""
    with tempfile.TemporaryDirectory(prefix="raster-collect-lock-") as folder:
        output = Path(folder) / "lock.txt"
        output.write_text("".join(f"{n}=={v}\n" for n, v in sorted(preferences.items())))
        command = [uv_binary(), "pip", "compile", "--quiet", "--no-header", "--no-annotate",
                   "--only-binary", ":all:", "--python-platform", target.uv,
                   "--python-version", f"{version[0]}.{version[1]}", str(REQUIREMENTS_FILE),
                   "-o", str(output)]
        if constraints is not None:
            command[-2:-2] = ["-c", str(constraints)]
        if offline:
            command.append("--offline")
        env = dict(os.environ, MACOSX_DEPLOYMENT_TARGET=macos or MACOS_TARGETS[0])
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
        if done.returncode != 0:
            return None, done.stderr.strip()
        return parse_constraints(output.read_text()), ""


def merge(results: Dict[str, Dict[str, str]]) -> List[str]:
    """One line per (package, version): unmarked when every resolved platform has it, else the
    markers of the platforms that do."""
    markers = {p.key: p.marker for p in PLATFORMS}
    names = sorted({name for pins in results.values() for name in pins})
    lines = []
    for name in names:
        by_version: Dict[str, List[str]] = {}
        for key, pins in results.items():
            if name in pins:
                by_version.setdefault(pins[name], []).append(key)
        for version, keys in sorted(by_version.items()):
            if len(keys) == len(results):
                lines.append(f"{name}=={version}")
            else:
                either = " or ".join(f"({markers[k]})" for k in keys)
                lines.append(f"{name}=={version} ; {either}")
    return lines


def installed_versions(names) -> Dict[str, str]:
    """Versions installed in the Python running this (the test venv sees Debian's packages
    through --system-site-packages: keeping them where they fit leaves QGIS's own alone)."""
    from importlib import metadata

    found = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def write_locks(only: Optional[List[Tuple[int, int]]] = None
                ) -> Tuple[Dict[str, Dict[str, str]], Dict[str, Dict[str, str]]]:
    """Resolve every (Python, platform) and write the merged locks; returns uv's errors and
    the macOS version each macOS resolution needed. The running Python's own lock prefers the
    versions installed here (the test venv's, Debian's for QGIS)."""
    errors: Dict[str, Dict[str, str]] = {}
    macos: Dict[str, Dict[str, str]] = {}
    for version in only or PYTHONS:
        lock = constraints_file(version)
        text = lock.read_text() if lock.is_file() and lock.name.endswith(
            f"py{version[0]}{version[1]}.txt") else ""
        jobs = {}
        with ThreadPoolExecutor(max_workers=len(PLATFORMS)) as pool:
            for target in PLATFORMS:
                preferences = parse_constraints(text, environment_of(target, version))
                if version == sys.version_info[:2]:
                    preferences.update(installed_versions(preferences))
                jobs[target.key] = pool.submit(resolve, target, version, preferences)
        python = f"{version[0]}.{version[1]}"
        results, errors[python], macos[python] = {}, {}, {}
        for key, job in jobs.items():
            pins, error, needs = job.result()
            if pins is None:
                errors[python][key] = error.splitlines()[-1][:300]
            else:
                results[key] = pins
                if needs:
                    macos[python][key] = needs
        lock = ROOT / "raster_collect_plugin" / f"constraints-py{version[0]}{version[1]}.txt"
        lock.write_text(HEADER.format(version=f"{version[0]}.{version[1]}")
                        + "\n".join(merge(results)) + "\n")
        print(f"{lock.name}: {len(results)} platforms resolved", file=sys.stderr)
    return errors, macos


def _files(name: str, cache: Dict[str, List[Dict]]) -> List[Dict]:
    if name not in cache:
        request = urllib.request.Request(f"{INDEX}/{name}/", headers={
            "Accept": "application/vnd.pypi.simple.v1+json"})
        with urllib.request.urlopen(request, timeout=60) as answer:
            cache[name] = json.load(answer)["files"]
    return cache[name]


def _wheel_size(files: List[Dict], name: str, version: str, tags: List[str]) -> Optional[int]:
    from packaging.utils import parse_wheel_filename

    best = None
    rank = {tag: number for number, tag in enumerate(tags)}
    for entry in files:
        if not entry["filename"].endswith(".whl"):
            continue
        try:
            _, wheel_version, _, wheel_tags = parse_wheel_filename(entry["filename"])
        except ValueError:
            continue
        if str(wheel_version) != str(_version(version)):
            continue
        score = min((rank[str(t)] for t in wheel_tags if str(t) in rank), default=None)
        if score is not None and (best is None or score < best[0]):
            best = (score, entry.get("size"))
    return None if best is None else best[1]


def _version(text: str):
    from packaging.version import Version

    return Version(text)


def _tags(target: Platform, version: Tuple[int, int], macos: str) -> List[str]:
    from packaging import tags

    if target.key.startswith("manylinux"):
        arch = target.key.split("_", 1)[1]
        platforms = [f"manylinux_2_{m}_{arch}" for m in range(28, 16, -1)] + [
            f"manylinux2014_{arch}", f"linux_{arch}"]
    elif target.key.startswith("macosx"):
        arch = target.key.split("_", 1)[1]
        platforms = list(tags.mac_platforms(tuple(int(p) for p in macos.split(".")),
                                            arch))
    else:
        platforms = ["win_amd64"]
    found = list(tags.cpython_tags(version, platforms=platforms))
    found += list(tags.compatible_tags(version, f"cp{version[0]}{version[1]}", platforms))
    return [str(tag) for tag in found]


def write_figures(macos: Dict[str, Dict[str, str]], errors: Dict[str, Dict[str, str]]) -> Dict:
    """Download and disk per (Python, platform) from the wheels of the locks."""
    cache: Dict[str, List[Dict]] = {}
    table: Dict[str, Dict] = {}
    for version in PYTHONS:
        text = constraints_file(version).read_text()
        python = f"{version[0]}.{version[1]}"
        row = table.setdefault(python, {})
        for target in PLATFORMS:
            if target.key in errors.get(python, {}):
                row[target.key] = {"wheels": False, "why": errors[python][target.key]}
                continue
            pins = parse_constraints(text, environment_of(target, version))
            needs = macos.get(python, {}).get(target.key, MACOS_TARGETS[0])
            tags = _tags(target, version, needs)
            def size(item: Tuple[str, str], tags: List[str] = tags) -> Optional[int]:
                return _wheel_size(_files(normalize(item[0]), cache), *item, tags)

            with ThreadPoolExecutor(max_workers=8) as pool:
                sizes = dict(zip(pins, pool.map(size, pins.items())))
            missing = sorted({n for n, s in sizes.items() if s is None} | {
                r.name for r in shipped_requirements() if r.name not in pins})
            total = sum(s for s in sizes.values() if s)
            row[target.key] = {"download_mb": round(total / 1e6),
                               "disk_mb": int(round(total * DISK_PER_DOWNLOAD / 1e6, -1)),
                               "packages": len(pins), "wheels": not missing,
                               "missing": missing}
            if target.key.startswith("macosx"):
                row[target.key]["macos"] = needs
    figures = {"generated_by": "make engine-locks (tools/engine_locks.py)",
               "disk_note": f"disk = download x {DISK_PER_DOWNLOAD} (measured on Linux)",
               "platforms": {p.key: p.label for p in PLATFORMS}, "pythons": table}
    FIGURES_FILE.write_text(json.dumps(figures, indent=1, sort_keys=True) + "\n")
    return figures


README_START = "<!-- engine-wheels: generated by make engine-locks -->"
README_END = "<!-- /engine-wheels -->"


def readme_table(figures: Dict) -> str:
    """The README's supported-platforms table (download / disk per Python and platform)."""
    pythons = sorted(figures["pythons"], key=lambda v: tuple(int(p) for p in v.split(".")))
    lines = ["| platform | " + " | ".join(f"Python {v}" for v in pythons) + " |",
             "|---|" + "---|" * len(pythons)]
    for target in PLATFORMS:
        key, label = target.key, target.label
        cells = []
        for python in pythons:
            row = figures["pythons"][python][key]
            if not row["wheels"]:
                cells.append("no wheels")
                continue
            since = f"macOS {row['macos'].split('.')[0]}+: " if "macos" in row else ""
            cells.append(f"{since}{row['download_mb']} MB / {row['disk_mb']} MB")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_readme(figures: Dict) -> None:
    """Replace the table between the README's markers."""
    readme = ROOT / "README.md"
    text = readme.read_text()
    start, end = text.index(README_START) + len(README_START), text.index(README_END)
    readme.write_text(text[:start] + "\n" + readme_table(figures) + "\n" + text[end:])


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--figures", action="store_true", help="only recompute the figures")
    parser.add_argument("--python", action="append", metavar="X.Y",
                        help="re-resolve only this Python's lock (repeatable)")
    args = parser.parse_args(argv)
    only = [tuple(int(p) for p in v.split(".")) for v in args.python or []]
    old = json.loads(FIGURES_FILE.read_text())["pythons"] if FIGURES_FILE.is_file() else {}
    macos = {p: {k: v["macos"] for k, v in row.items() if "macos" in v}
             for p, row in old.items()}
    errors = {p: {k: v["why"] for k, v in row.items() if "why" in v} for p, row in old.items()}
    if not args.figures:
        new_errors, new_macos = write_locks(only)
        errors.update(new_errors)
        macos.update(new_macos)
        for python, failed in new_errors.items():
            for key, error in failed.items():
                print(f"no wheels-only resolution for Python {python} on {key}: {error}",
                      file=sys.stderr)
    figures = write_figures(macos, errors)
    write_readme(figures)
    for python, row in figures["pythons"].items():
        print(python, {k: (v.get("download_mb"), v.get("macos"), v["wheels"])
                       for k, v in row.items()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
