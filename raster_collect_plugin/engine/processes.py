"""Child-process options that behave the same on Windows, macOS and Linux."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, Optional

PLUGINS_DIR = Path(__file__).resolve().parent.parent.parent  # holds raster_collect_plugin/


def popen_options() -> Dict:
    """Keyword arguments for every child: no console window pops up on Windows (QGIS is a GUI
    application, so each ``python.exe`` child would otherwise open one)."""
    if sys.platform == "win32":
        return {"creationflags": getattr(subprocess, "CREATE_NO_WINDOW", 0x08000000)}
    return {}


def child_environment(extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """The environment of an engine child: the plugin importable, unbuffered output, and
    nothing of QGIS's own Python leaking in (its PYTHONHOME/PYTHONPATH would make the engine
    load QGIS's numpy or GDAL bindings)."""
    env = dict(os.environ)
    for variable in ("PYTHONHOME", "PYTHONEXECUTABLE", "__PYVENV_LAUNCHER__"):
        env.pop(variable, None)
    inherited = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join([str(PLUGINS_DIR)] + inherited)
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.setdefault("PYTHONIOENCODING", "utf-8")
    env.update(extra or {})
    return env


def quote_command(arguments) -> str:
    """A command line the user can paste whole into this platform's shell."""
    arguments = [str(a) for a in arguments]
    if sys.platform == "win32":
        return subprocess.list2cmdline(arguments)
    import shlex

    return " ".join(shlex.quote(a) for a in arguments)
