"""Placeholder plugin used when required Python packages are missing: one message, no actions."""

from qgis.core import Qgis, QgsMessageLog

LOG_TAG = "raster-collect"


class MissingDependenciesPlugin:
    """Shows which packages are missing and how to install them; adds nothing to QGIS."""

    def __init__(self, iface, message: str):
        self.iface = iface
        self.message = message

    def initGui(self) -> None:  # noqa: N802
        QgsMessageLog.logMessage(self.message, LOG_TAG, Qgis.MessageLevel.Critical)
        if self.iface is not None and self.iface.messageBar() is not None:
            self.iface.messageBar().pushMessage(
                "Raster Collect", self.message, level=Qgis.MessageLevel.Critical, duration=0
            )

    def unload(self) -> None:
        pass
