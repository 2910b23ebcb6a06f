"""The plugin loads and unloads cleanly: no actions, docks or providers left behind."""

from qgis.core import QgsApplication
from qgis.PyQt.QtCore import QCoreApplication, QEvent
from qgis.PyQt.QtWidgets import QDockWidget

import raster_collect_plugin
from raster_collect_plugin.plugin import RasterCollectPlugin
from raster_collect_plugin.processing.provider import PROVIDER_ID
from tests.recording_iface import RecordingIface

# PyQt6 enums are not ints; sendPostedEvents wants the int value
DEFERRED_DELETE = getattr(QEvent.Type.DeferredDelete, "value", QEvent.Type.DeferredDelete)


def our_docks(main_window):
    return [d for d in main_window.findChildren(QDockWidget)
            if d.objectName() == "RasterCollectDock"]


def test_load_and_unload_twice_leaves_nothing_behind(qgis_iface):
    main_window = qgis_iface.mainWindow()
    iface = RecordingIface(main_window)
    registry = QgsApplication.processingRegistry()
    for _ in range(2):
        plugin = raster_collect_plugin.classFactory(iface)
        assert isinstance(plugin, RasterCollectPlugin)
        plugin.initGui()
        assert len(iface.toolbar_actions) == 1
        assert [menu for menu, _ in iface.menu_actions] == ["&Raster Collect"]
        assert len(iface.docks) == 1 and len(our_docks(main_window)) == 1
        provider = registry.providerById(PROVIDER_ID)
        assert provider is not None
        assert registry.algorithmById(f"{PROVIDER_ID}:create_sample_data") is not None

        # the toolbar action toggles the dock
        iface.toolbar_actions[0].trigger()
        assert iface.docks[0].isVisibleTo(main_window)

        plugin.unload()
        QCoreApplication.sendPostedEvents(None, DEFERRED_DELETE)
        assert iface.toolbar_actions == [] and iface.menu_actions == [] and iface.docks == []
        assert registry.providerById(PROVIDER_ID) is None
        assert our_docks(main_window) == []
