"""The forests of a monitoring folder: the folder keeps them (``forests.gpkg``) for its later
runs and ``watch``, so a run that fails or is refused (other forests or parameters) must put
back what the folder held, never leave its polygons replaced by the refused ones. One
implementation for both QGIS doors (the dock's task and the Processing algorithm): it needs
neither QGIS nor the heavy wheels."""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Iterator

FORESTS_NAME = "forests.gpkg"


@contextlib.contextmanager
def placed_forests(exported: Path, folder: Path) -> Iterator[str]:
    """Put ``exported`` (the polygons of this run) into ``folder`` for the job; if the body
    raises, restore the folder's previous polygons (or remove the new ones, and the folder
    and its parents this run made and left empty)."""
    from ..runs.defaults import missing_folders, remove_made_folders

    made = missing_folders(str(folder))  # a failed first run leaves none of them behind
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / FORESTS_NAME
    backup = folder / f".{FORESTS_NAME}.previous"
    had = target.exists()
    if had:
        os.replace(target, backup)
    try:
        shutil.copyfile(exported, target)
        yield str(target)
    except BaseException:
        target.unlink(missing_ok=True)
        if had:
            os.replace(backup, target)
        elif made:
            remove_made_folders(made)  # only those left empty
        raise
    backup.unlink(missing_ok=True)
