"""The plugin class QGIS loads: a toolbar button and menu entry toggling the dock, the
Processing provider and the Settings → Options → Raster Collect page. ``unload`` removes
everything ``initGui`` added.

The plugin always loads, whatever QGIS's Python has installed: the work runs in the engine
(a separate Python). Its doctor runs in a background task at start-up; when the engine is not
ready the message bar says so in one sentence with a button to set it up.
"""

from __future__ import annotations

from typing import Optional

from qgis.core import Qgis, QgsApplication
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtGui import QIcon
from qgis.PyQt.QtWidgets import QAction, QPushButton

from .paths import resource_path

MENU_TITLE = "&Raster Collect"


class RasterCollectPlugin:
    """Wires the dock widget, the Processing provider and the engine options into QGIS."""

    def __init__(self, iface):
        self.iface = iface
        self.action: Optional[QAction] = None
        self.dock = None
        self.provider = None
        self.options_factory = None
        self._warned = False
        self._bar_item = None

    def initProcessing(self) -> None:  # noqa: N802 (QGIS API name)
        from .processing.provider import RasterCollectProvider

        self.provider = RasterCollectProvider()
        QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self) -> None:  # noqa: N802
        from .gui.dock import RasterCollectDock
        from .gui.engine_options import EngineOptionsFactory
        from .gui.engine_state import engine_state

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

        self.options_factory = EngineOptionsFactory()
        if hasattr(self.iface, "registerOptionsWidgetFactory"):
            self.iface.registerOptionsWidgetFactory(self.options_factory)
        engine_state().changed.connect(self.warn_if_engine_not_ready)
        engine_state().refresh()

    def warn_if_engine_not_ready(self) -> None:
        """Once a session: the engine is not ready — one sentence and a set-up button."""
        from .gui.engine_notices import pop_bar_item
        from .gui.engine_options import open_engine_options
        from .gui.engine_state import engine_state
        from .gui.messages import ENGINE_REPAIR, for_message_bar

        state = engine_state()
        if state.ready is True:  # set up since: the warning goes, and stays gone
            pop_bar_item(self.iface, self._bar_item)
            self._bar_item = None
            return
        if state.ready is not False or self._warned:
            return
        self._warned = True
        bar = self.iface.messageBar()
        # a forester's sentence; the packages and the command are in the tooltip and the log
        text = for_message_bar(f"{ENGINE_REPAIR} (it is not ready). Set it up in a few "
                               "clicks:")
        item = bar.createMessage("Raster Collect", text)
        self._bar_item = item
        item.setToolTip(state.message())
        button = QPushButton("Set up the engine…", item)
        button.setObjectName("raster_collect_setup_engine")
        button.clicked.connect(lambda: open_engine_options(self.iface))
        item.layout().addWidget(button)
        bar.pushWidget(item, Qgis.MessageLevel.Warning, 0)

    def unload(self) -> None:
        from .gui.engine_state import engine_state

        try:
            engine_state().changed.disconnect(self.warn_if_engine_not_ready)
        except (TypeError, RuntimeError):
            pass
        engine_state().cancel_checks()
        from .gui.engine_notices import pop_bar_item

        pop_bar_item(self.iface, self._bar_item)
        self._bar_item = None
        if self.options_factory is not None:
            if hasattr(self.iface, "unregisterOptionsWidgetFactory"):
                self.iface.unregisterOptionsWidgetFactory(self.options_factory)
            self.options_factory = None
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
