"""The plugin class QGIS loads: a toolbar button and menu entry toggling the dock, and the
Processing provider. ``unload`` removes everything ``initGui`` added."""

from __future__ import annotations

from typing import Optional

from qgis.core import QgsApplication
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtGui import QIcon
from qgis.PyQt.QtWidgets import QAction

from .paths import resource_path

MENU_TITLE = "&Raster Collect"


class RasterCollectPlugin:
    """Wires the dock widget and the Processing provider into QGIS."""

    def __init__(self, iface):
        self.iface = iface
        self.action: Optional[QAction] = None
        self.dock = None
        self.provider = None

    def initProcessing(self) -> None:  # noqa: N802 (QGIS API name)
        from .processing.provider import RasterCollectProvider

        self.provider = RasterCollectProvider()
        QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self) -> None:  # noqa: N802
        from .gui.dock import RasterCollectDock

        self.initProcessing()
        main_window = self.iface.mainWindow()
        self.dock = RasterCollectDock(self.iface, main_window)
        self.dock.setVisible(False)
        self.iface.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.dock)

        self.action = QAction(QIcon(str(resource_path("icon.svg"))), "Raster Collect", main_window)
        self.action.setObjectName("raster_collect_toggle_dock")
        self.action.setCheckable(True)
        self.action.setToolTip("Cloud-masked indices and statistics for selected forests")
        self.action.toggled.connect(self.dock.setVisible)
        self.dock.visibilityChanged.connect(self.action.setChecked)
        self.iface.addToolBarIcon(self.action)
        self.iface.addPluginToRasterMenu(MENU_TITLE, self.action)

    def unload(self) -> None:
        if self.action is not None:
            self.iface.removePluginRasterMenu(MENU_TITLE, self.action)
            self.iface.removeToolBarIcon(self.action)
            self.action.deleteLater()
            self.action = None
        if self.dock is not None:
            self.dock.shutdown()  # cancels running work and stops the local dask cluster
            self.iface.removeDockWidget(self.dock)
            self.dock.deleteLater()
            self.dock = None
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
