"""Which Python runs the engine, and what QGIS's own Python really is.

Inside QGIS ``sys.executable`` is often not a Python: the QGIS binary (Windows ``qgis-bin.exe``,
Linux ``qgis``) or, with an embedded pyenv Python, a shell-script shim. ``interpreter_path``
finds the real interpreter file instead of trusting it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import List, Optional

ENGINE_PYTHON_VARIABLE = "RASTER_COLLECT_PYTHON"
ENGINE_FOLDER = "raster_collect_engine"  # the managed venv, under the QGIS profile folder


def is_shim(path: str) -> bool:
    """True for a launcher script (pyenv shim, ``.bat``/shell wrapper) rather than a Python
    binary: running it may pick a different Python depending on the folder or shell."""
    candidate = Path(path)
    parts = {p.lower() for p in candidate.parts}
    if "shims" in parts and any(".pyenv" in p or "pyenv-win" in p for p in parts):
        return True
    if candidate.suffix.lower() in (".bat", ".cmd", ".sh"):
        return True
    try:
        with open(candidate.resolve(), "rb") as opened:
            return opened.read(2) == b"#!"
    except OSError:
        return False


def _looks_like_python(path: Path) -> bool:
    return path.name.lower().startswith("python") and not path.name.lower().startswith(
        "pythonw")


def _candidates() -> List[Path]:
    found: List[Path] = []
    executable = Path(sys.executable) if sys.executable else None
    if executable is not None and _looks_like_python(executable):
        found.append(executable)
    base = getattr(sys, "_base_executable", None)
    if base and _looks_like_python(Path(base)):
        found.append(Path(base))
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    for prefix in dict.fromkeys((Path(sys.exec_prefix), Path(sys.base_exec_prefix))):
        if sys.platform == "win32":
            found.append(prefix / "python.exe")
        else:
            found += [prefix / "bin" / f"python{version}", prefix / "bin" / "python3"]
    if sys.platform == "darwin" and executable is not None:
        # QGIS.app: Contents/MacOS/QGIS with its Python in Contents/MacOS/bin (varies by build)
        found += [executable.parent / "bin" / "python3",
                  executable.parent / "bin" / f"python{version}"]
    return found


def interpreter_path() -> str:
    """The real Python interpreter file of the running Python (QGIS's Python inside QGIS)."""
    for candidate in _candidates():
        if candidate.is_file() and os.access(candidate, os.X_OK) and not is_shim(str(candidate)):
            return str(candidate)
    return sys.executable


def venv_python(venv_dir: Path) -> Path:
    """The interpreter inside a virtual environment folder."""
    venv_dir = Path(venv_dir)
    if sys.platform == "win32":
        return venv_dir / "Scripts" / "python.exe"
    return venv_dir / "bin" / "python"


def managed_engine_dir(profile_dir: Path) -> Path:
    """Where the plugin creates its own engine: a folder of the QGIS profile."""
    return Path(profile_dir) / ENGINE_FOLDER


def engine_python(configured: Optional[str] = None, managed_dir: Optional[Path] = None) -> str:
    """The Python that runs jobs: $RASTER_COLLECT_PYTHON, else the configured path, else the
    plugin's managed engine when it exists, else QGIS's own Python (the doctor then tells
    whether it can do the work)."""
    chosen = os.environ.get(ENGINE_PYTHON_VARIABLE) or configured
    if chosen:
        return chosen
    if managed_dir is not None and venv_python(managed_dir).is_file():
        return str(venv_python(managed_dir))
    return interpreter_path()
