"""Defaults every door shares (dock, Processing, command line), stated once, and the run
folders they make."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import List, Optional
from uuid import uuid4

# scenes above this cloud cover are not searched; clouds in the rest are masked per pixel
DEFAULT_MAX_CLOUD_COVER = 80.0
# the indices computed when none are asked for (dock, command line, job spec)
DEFAULT_INDICES = ("NDVI", "EVI")
# the Sentinel Hub doors' default: each index costs processing units
DEFAULT_HUB_INDICES = ("NDVI",)
# the index a disturbance monitoring follows when none is named
DEFAULT_MONITOR_INDEX = "NDVI"
# a monitoring's scene cloud limit when none is given (every door: job spec, command line,
# Processing, the dock): none, since its clouds are masked per pixel and a cloudy scene's
# clear pixels are observations the chart needs
DEFAULT_MONITOR_MAX_CLOUD_COVER: Optional[float] = None
RUN_PREFIX = "raster-collect-"
# how a refused rerun over another run's results is told to go on (Processing rewords it);
# here, in a module QGIS's own Python can import
REPLACE_ADVICE = ('use --overwrite (job spec "overwrite": true) to replace them, or choose '
                  "another --output")


def run_name(now: Optional[datetime] = None) -> str:
    """A fresh run folder name, e.g. ``raster-collect-20251124-184700-3fa2`` (time first so
    runs sort by date; a random tail so batch rows started in one second never collide)."""
    return f"{RUN_PREFIX}{(now or datetime.now()).strftime('%Y%m%d-%H%M%S')}-{uuid4().hex[:4]}"


def remove_empty_run_folder(folder: Optional[str]) -> None:
    """Remove a run's output folder if a cancel or failure left it empty (never a folder
    holding anything)."""
    if not folder:
        return
    path = Path(folder)
    try:
        if path.is_dir() and not any(path.iterdir()):
            path.rmdir()
    except OSError:
        pass


def missing_folders(folder: Optional[str]) -> List[Path]:
    """``folder`` and its parents that do not exist yet, deepest first (local paths): what a
    run about to make ``folder`` must remove again if it fails."""
    if not folder or "://" in str(folder):
        return []
    missing, path = [], Path(folder)
    while not path.exists() and path != path.parent:
        missing.append(path)
        path = path.parent
    return missing


def remove_made_folders(made: List[Path]) -> None:
    """After a failed or cancelled run: the folders of ``made`` (``missing_folders`` before
    it) it left empty, deepest first, up to the first that holds anything."""
    for path in made:
        try:
            path.rmdir()
        except OSError:  # not empty, or already gone
            if path.exists():
                return
