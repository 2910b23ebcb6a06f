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


# QGIS's own Python, PROJ and GDAL data: the engine's wheels carry their own, and prefer these
# variables to it (an older proj.db makes EPSG lookups fail; QGIS's PYTHONPATH loads its numpy)
QGIS_VARIABLES = ("PYTHONHOME", "PYTHONPATH", "PYTHONEXECUTABLE", "__PYVENV_LAUNCHER__",
                  "PROJ_DATA", "PROJ_LIB", "GDAL_DATA", "GDAL_DRIVER_PATH")
# names of QGIS_VARIABLES the user wants the engine to keep, comma-separated (e.g. an engine
# deliberately built on QGIS's own GDAL)
KEEP_VARIABLE = "RASTER_COLLECT_ENGINE_KEEP_ENV"


def child_environment(extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """The environment of an engine child: the plugin importable, unbuffered UTF-8 output, and
    nothing of QGIS's own Python, PROJ or GDAL data leaking in (see ``QGIS_VARIABLES``) unless
    listed in ``$RASTER_COLLECT_ENGINE_KEEP_ENV``."""
    env = dict(os.environ)
    keep = {name.strip() for name in env.get(KEEP_VARIABLE, "").split(",") if name.strip()}
    inherited = env.get("PYTHONPATH", "") if "PYTHONPATH" in keep else ""
    for variable in QGIS_VARIABLES:
        if variable not in keep:
            env.pop(variable, None)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(PLUGINS_DIR)] + [p for p in inherited.split(os.pathsep) if p])
    env.setdefault("PYTHONUNBUFFERED", "1")
    # the parent reads the job's output and log as UTF-8, whatever the code page
    env["PYTHONIOENCODING"] = "utf-8"
    env["PYTHONUTF8"] = "1"
    env.update(extra or {})
    return env


def quote_command(arguments) -> str:
    """A command line the user can paste whole into this platform's shell."""
    arguments = [str(a) for a in arguments]
    if sys.platform == "win32":
        return subprocess.list2cmdline(arguments)
    import shlex

    return " ".join(shlex.quote(a) for a in arguments)
