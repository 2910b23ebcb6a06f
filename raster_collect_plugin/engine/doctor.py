"""``raster-collect doctor``: can this Python run Raster Collect's jobs?

Runs *inside* the engine's Python and uses only the standard library until the packages are
confirmed (it must work in a bare Python): the Python itself, every package of the shipped
requirements with installed vs required (and tested) version, GDAL/PROJ/GEOS versions from
rasterio/pyproj/shapely, and a verdict with the one fix. ``--json`` is what the plugin reads.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import platform
import site
import sys
import sysconfig
from importlib import metadata
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from .arguments import OneLineParser
from .processes import quote_command
from .requirements import (
    CONSTRAINTS_FILE,
    REQUIREMENTS_FILE,
    Requirement,
    fingerprint,
    shipped_constraints,
    shipped_requirements,
)

MIN_PYTHON = (3, 9)
HOST_PYTHON_VARIABLE = "RASTER_COLLECT_HOST_PYTHON"  # set by the plugin: QGIS's own Python
SETUP_HINT = "in QGIS open Settings → Options → Raster Collect and click “Create the engine”"
# imported once the versions are right: a broken binary wheel shows up here, not in a job
SMOKE_IMPORTS = ("numpy", "rasterio", "pyproj", "shapely", "pyogrio", "xarray", "dask",
                 "odc.stac", "pystac_client", "geopandas", "exactextract", "numba")


def _installed(name: str) -> Optional[str]:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _externally_managed() -> bool:
    """PEP 668: the system's package manager owns this Python (pip refuses to install)."""
    stdlib = sysconfig.get_paths().get("stdlib")
    return bool(stdlib) and Path(stdlib, "EXTERNALLY-MANAGED").exists()


def _is_host_python() -> bool:
    """True when this is the Python of the process that asked (QGIS's, inside QGIS)."""
    import os

    host = os.environ.get(HOST_PYTHON_VARIABLE)
    if not host:
        return False
    for mine in (sys.executable, getattr(sys, "_base_executable", None)):
        try:
            if mine and os.path.samefile(mine, host):
                return True
        except OSError:
            continue
    return False


def _site_folders() -> List[str]:
    folders = list(dict.fromkeys([sysconfig.get_paths()["purelib"],
                                  sysconfig.get_paths()["platlib"]]))
    if site.ENABLE_USER_SITE and site.getusersitepackages():
        folders.append(site.getusersitepackages())
    return [f for f in folders if Path(f).is_dir()]


def _check_packages(requirements: List[Requirement], pins: Dict[str, str]) -> List[Dict]:
    rows = []
    for requirement in requirements:
        installed = _installed(requirement.name)
        if installed is None:
            status = "missing"
        elif not requirement.allows(installed):
            status = "wrong version"
        else:
            status = "ok"
        rows.append({"name": requirement.name, "required": requirement.specifier or "any",
                     "tested": pins.get(requirement.name), "installed": installed,
                     "status": status})
    return rows


def _native_libraries() -> Dict[str, Optional[str]]:
    versions: Dict[str, Optional[str]] = {"gdal": None, "proj": None, "geos": None}
    try:
        import rasterio

        versions["gdal"] = rasterio.__gdal_version__
    except Exception:  # noqa: BLE001 (reported by the smoke imports)
        pass
    try:
        import pyproj

        versions["proj"] = pyproj.proj_version_str
    except Exception:  # noqa: BLE001
        pass
    try:
        import shapely

        versions["geos"] = shapely.geos_version_string
    except Exception:  # noqa: BLE001
        pass
    return versions


def install_command(python: Optional[str] = None, *, repair: bool = False) -> str:
    """The whole pip command that installs the shipped requirements at the tested pins."""
    arguments = [python or sys.executable, "-m", "pip", "install"]
    if repair:
        arguments.append("--force-reinstall")
    arguments += ["-c", str(CONSTRAINTS_FILE), "-r", str(REQUIREMENTS_FILE)]
    return quote_command(arguments)


def diagnose(*, smoke_imports: bool = True) -> Dict:
    """Check this Python; returns the report (``ready``, ``problems``, ``fix``, details)."""
    in_venv = sys.prefix != getattr(sys, "base_prefix", sys.prefix)
    qgis_python = not in_venv and (importlib.util.find_spec("qgis") is not None
                                   or _is_host_python())
    report: Dict = {
        "python": {"executable": sys.executable, "version": platform.python_version(),
                   "implementation": platform.python_implementation(), "prefix": sys.prefix,
                   "virtual_environment": in_venv, "externally_managed": _externally_managed(),
                   "qgis_python": qgis_python, "site_folders": _site_folders()},
        "requirements_file": str(REQUIREMENTS_FILE),
        "constraints_file": str(CONSTRAINTS_FILE),
        "requirements_fingerprint": fingerprint(),
        "packages": [], "libraries": {"gdal": None, "proj": None, "geos": None},
        "problems": [], "ready": False, "fix": "", "fix_command": "",
    }
    problems: List[str] = report["problems"]
    if sys.version_info[:2] < MIN_PYTHON:
        problems.append(f"Python {platform.python_version()} is too old (need "
                        f"{MIN_PYTHON[0]}.{MIN_PYTHON[1]} or newer)")
        report["fix"] = f"Use a newer Python for the engine: {SETUP_HINT}."
        return report
    rows = _check_packages(shipped_requirements(), shipped_constraints())
    report["packages"] = rows
    bad = [r for r in rows if r["status"] != "ok"]
    for row in bad:
        if row["installed"] is None:
            problems.append(f"{row['name']} is missing (need {row['required']})")
        else:
            problems.append(f"{row['name']} {row['installed']} does not match "
                            f"{row['required']}")
    if not bad and smoke_imports:
        for module in SMOKE_IMPORTS:
            try:
                importlib.import_module(module)
            except Exception as error:  # noqa: BLE001 (any failure makes the engine unusable)
                problems.append(f"{module} is installed but fails to import: "
                                f"{type(error).__name__}: {error}")
        report["libraries"] = _native_libraries()
    report["ready"] = not problems
    if not problems:
        return report
    if qgis_python or (report["python"]["externally_managed"] and not in_venv):
        owner = "QGIS's own Python" if qgis_python else "managed by the system (PEP 668)"
        report["fix"] = (f"This Python is {owner}, so Raster Collect does not install into it: "
                         f"{SETUP_HINT}, or point Raster Collect at another Python (that "
                         f"page, or the RASTER_COLLECT_PYTHON environment variable).")
    else:
        repair = not bad  # everything installed but broken: reinstall
        report["fix_command"] = install_command(repair=repair)
        shell = " (in PowerShell put & and a space before it)" if sys.platform == "win32" else ""
        report["fix"] = (f"Install the engine's packages into this Python with{shell}: "
                         f"{report['fix_command']}")
    return report


def render(report: Dict) -> str:
    """The report as text for a terminal."""
    python = report["python"]
    kind = ("virtual environment" if python.get("virtual_environment")
            else "QGIS's Python" if python.get("qgis_python")
            else "system Python (externally managed)" if python.get("externally_managed")
            else "Python")
    lines = [f"Python {python['version']} at {python['executable']} ({kind})", ""]
    if report["packages"]:
        width = max(len(r["name"]) for r in report["packages"]) + 2
        lines.append(f"{'package':<{width}}{'installed':<14}{'required':<18}{'tested':<18}status")
        for row in report["packages"]:
            lines.append(f"{row['name']:<{width}}{row['installed'] or '-':<14}"
                         f"{row['required']:<18}{row['tested'] or '-':<18}{row['status']}")
        lines.append("")
    libraries = report.get("libraries") or {}
    if any(libraries.values()):
        lines.append(", ".join(f"{name.upper()} {version}" for name, version in
                               libraries.items() if version))
        lines.append("")
    if report["ready"]:
        lines.append("Verdict: READY — this Python can run Raster Collect's jobs.")
    else:
        lines.append(f"Verdict: NOT READY — {len(report['problems'])} problem(s): "
                     + "; ".join(report["problems"][:5])
                     + (" …" if len(report["problems"]) > 5 else ""))
        lines.append(f"Fix: {report['fix']}")
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``doctor [--json]``: exit code 0 when ready, 1 when not."""
    parser = OneLineParser(prog="raster-collect doctor",
                                     description="check that this Python can run the engine")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    report = diagnose()
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(render(report))
    return 0 if report["ready"] else 1
