"""Check that the Python packages the plugin needs are installed and recent enough.

Pure Python (no qgis import) so it can run before anything else is loaded and be tested alone.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Dict, List, Optional, Tuple

# distribution name -> minimum version (kept in step with requirements.txt)
REQUIRED_PACKAGES: Dict[str, str] = {
    "numpy": "1.24",
    "pandas": "2.1",
    "xarray": "2024.1",
    "dask": "2024.1",
    "distributed": "2024.1",
    "odc-stac": "0.3.10",
    "odc-geo": "0.4",
    "rioxarray": "0.15",
    "rasterio": "1.3.9",
    "pystac": "1.9",
    "pystac-client": "0.7",
    "planetary-computer": "1.0",
    "geopandas": "1.0",
    "shapely": "2.0",
    "pyogrio": "0.7",
    "pyproj": "3.6",
    "exactextract": "0.2",
    "h3": "4.0",
    "sentinelhub": "3.10",
    "pyarrow": "14",
    "tqdm": "4.60",
}


@dataclass(frozen=True)
class DependencyProblem:
    """A required package that is missing (installed is None) or older than required."""

    package: str
    required: str
    installed: Optional[str]

    def describe(self) -> str:
        if self.installed is None:
            return f"{self.package} (missing, need >= {self.required})"
        return f"{self.package} {self.installed} (too old, need >= {self.required})"


def _version_tuple(version: str) -> Tuple[int, ...]:
    """Leading numeric components of a version string: '2024.10.0rc1' -> (2024, 10, 0)."""
    parts = []
    for piece in version.split("."):
        match = re.match(r"\d+", piece)
        if not match:
            break
        parts.append(int(match.group()))
    return tuple(parts)


def find_problems(
    required: Optional[Dict[str, str]] = None,
    version_of=metadata.version,
) -> List[DependencyProblem]:
    """Return the packages from ``required`` that are missing or too old."""
    problems = []
    for package, minimum in (required or REQUIRED_PACKAGES).items():
        try:
            installed: Optional[str] = version_of(package)
        except metadata.PackageNotFoundError:
            installed = None
        if installed is None or _version_tuple(installed) < _version_tuple(minimum):
            problems.append(DependencyProblem(package, minimum, installed))
    return problems


def interpreter_path() -> str:
    """The Python interpreter QGIS runs (inside QGIS, sys.executable is often the QGIS binary)."""
    executable = Path(sys.executable)
    if executable.name.lower().startswith("python"):
        return str(executable)
    if sys.platform == "win32":
        return str(Path(sys.exec_prefix) / "python.exe")
    return str(Path(sys.exec_prefix) / "bin" / f"python{sys.version_info[0]}.{sys.version_info[1]}")


def pip_command(problems: List[DependencyProblem]) -> str:
    """The exact pip command that installs the missing/outdated packages for QGIS's Python."""
    specs = " ".join(f'"{p.package}>={p.required}"' for p in problems)
    numpy_pin = ' "numpy<2"' if any(p.package != "numpy" for p in problems) else ""
    return f'"{interpreter_path()}" -m pip install --user {specs}{numpy_pin}'


def problems_message(problems: List[DependencyProblem]) -> str:
    """One message naming every problem package and the command that fixes them."""
    names = ", ".join(p.describe() for p in problems)
    return (
        f"Raster Collect is disabled: required Python packages are missing or too old: {names}. "
        f"Install them with: {pip_command(problems)} and restart QGIS."
    )
