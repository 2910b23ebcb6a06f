"""Where results go when the user has not chosen a folder: beside the saved QGIS project, else
in the user's Documents folder; never the system temp folder, which is emptied on reboot."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from qgis.core import QgsProject
from qgis.PyQt.QtCore import QStandardPaths

FOLDER_NAME = "raster-collect"


def default_output_root(project: Optional[QgsProject] = None) -> Path:
    """``<project folder>/raster-collect`` for a saved project, else
    ``<Documents>/raster-collect`` (the home folder where there is no Documents folder)."""
    project = project or QgsProject.instance()
    home = project.absolutePath() if project is not None else ""
    if home:
        return Path(home) / FOLDER_NAME
    documents = QStandardPaths.writableLocation(
        QStandardPaths.StandardLocation.DocumentsLocation)
    return Path(documents or Path.home()) / FOLDER_NAME
