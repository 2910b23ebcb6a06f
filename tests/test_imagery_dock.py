"""The scene viewer from the dock: search, then a scene from the table or a footprint."""

import time

from qgis.core import QgsProject, QgsRasterLayer

from raster_collect_plugin.gui import scene_actions
from tests.test_dock import dock, forests, wait_for_job  # noqa: F401 (fixtures)
from tests.test_imagery_layers import wait_for_tasks


def test_scene_from_the_table_and_from_a_footprint(dock, forests, small_sample):  # noqa: F811
    forests.selectByIds([f.id() for f in forests.getFeatures()][:1])
    dock.selected_only.setChecked(True)
    dock.start_search()
    assert wait_for_job(dock) == "search", dock.last_error
    scenes = dock.scene_actions.scenes
    assert len(scenes) == len(dock.search_rows) > 0
    row = next(n for n, r in enumerate(dock.search_rows)
               if scenes[r["id"]]["cloud_cover"] == min(s["cloud_cover"]
                                                        for s in scenes.values()))
    started = time.perf_counter()
    dock.results_table.cellDoubleClicked.emit(row, 2)  # double-click: true colour
    wait_for_tasks()  # the layer is made in a background task, added on the main thread
    elapsed = time.perf_counter() - started
    layer = dock.scene_actions.last_layer
    assert isinstance(layer, QgsRasterLayer) and layer.isValid()
    assert layer.id() in QgsProject.instance().mapLayers()
    group = QgsProject.instance().layerTreeRoot().findGroup("Raster Collect imagery")
    assert group is not None and group.findLayer(layer.id()) is not None
    assert layer.name().endswith("true colour") and layer.bandCount() == 3
    assert elapsed < 3.0, elapsed
    # clipped to the selected compartment (plus context), not the whole scene
    selected = forests.boundingBoxOfSelected()
    assert layer.extent().width() < selected.width() + 2 * 100 + 40

    footprints = dock.footprint_layer
    names = [a.name() for a in footprints.actions().actions()]
    assert "Show False colour infrared (NIR, red, green)" in names
    scene_id = dock.search_rows[row]["id"]
    scene_actions.open_from_footprint(scene_id, "cloud-mask")
    wait_for_tasks()
    assert dock.scene_actions.last_layer.name().endswith("cloud mask")
    scene_actions.open_from_footprint(scene_id, "radar")  # not a radar scene: a clear message
    assert "has no radar" in dock.last_error


def test_compute_with_true_colour_composites(dock, forests):  # noqa: F811
    dock.colour_check.setChecked(True)
    dock.start_compute()
    assert wait_for_job(dock) == "zonal", dock.last_error
    names = [layer.name() for layer in QgsProject.instance().mapLayers().values()]
    assert "true colour 2025-10" in names and "true colour 2025-12" in names
    [october] = [layer for layer in QgsProject.instance().mapLayers().values()
                 if layer.name() == "true colour 2025-10"]
    assert october.temporalProperties().isActive() and october.bandCount() == 3


def test_click_a_forest_for_the_before_after_pair(dock, forests, qgis_iface):  # noqa: F811
    from qgis.core import QgsPointXY
    from qgis.gui import QgsMapMouseEvent
    from qgis.PyQt.QtCore import QEvent, QPoint, Qt

    from raster_collect_plugin.gui.before_after import ForestPickTool
    dock.start_search()
    assert wait_for_job(dock) == "search", dock.last_error
    canvas = qgis_iface.mapCanvas()
    canvas.setDestinationCrs(forests.crs())
    canvas.resize(600, 400)
    canvas.setExtent(forests.extent())
    dock.scene_actions.pick_forest()
    tool = canvas.mapTool()
    assert isinstance(tool, ForestPickTool)
    qgis_iface.setActiveLayer(forests)
    forest = next(forests.getFeatures())
    centre = forest.geometry().pointOnSurface().asPoint()
    pixel = canvas.getCoordinateTransform().transform(QgsPointXY(centre))
    event = QgsMapMouseEvent(canvas, QEvent.Type.MouseButtonRelease,
                             QPoint(int(pixel.x()), int(pixel.y())), Qt.MouseButton.LeftButton)
    tool.canvasReleaseEvent(event)
    wait_for_tasks()
    group = QgsProject.instance().layerTreeRoot().findGroup("before/after 2025-11-13")
    assert group is not None, dock.last_error
    names = [node.name() for node in group.findLayers()]
    assert len(names) == 2 and all(n.endswith("true colour") for n in names)
    assert names[0][:10] < "2025-11-13" < names[1][:10]


def test_scene_menu_entries_run_their_command(dock, forests, monkeypatch):  # noqa: F811
    """The table's context menu (QAction + triggered, as on Qt6) opens the chosen rendering."""
    from qgis.PyQt.QtCore import QPoint
    from qgis.PyQt.QtWidgets import QMenu

    shown = []

    class RecordingMenu(QMenu):
        def exec(self, *args):  # noqa: A003 - Qt's name
            shown.append(self)

    monkeypatch.setattr(scene_actions, "QMenu", RecordingMenu)
    dock.start_search()
    assert wait_for_job(dock) == "search", dock.last_error
    table = dock.results_table
    dock.scene_actions.show_menu(QPoint(5, table.rowViewportPosition(0) + 2))
    [menu] = shown
    texts = [action.text() for action in menu.actions()]
    assert "Renew imagery access of all layers" in texts
    add = next(action for action in menu.actions() if action.text().startswith("Add layer:"))
    add.trigger()
    wait_for_tasks()
    assert add.text() == "Add layer: True colour (red, green, blue)"
    layer = dock.scene_actions.last_layer
    # this failed now and then (no layer), most likely because the search's thumbnails and
    # this layer shared a VRT that GDAL rewrites when a layer closes; each layer has its own
    # now (test_imagery_layers: the same layer built in three threads at once)
    assert isinstance(layer, QgsRasterLayer) and layer.isValid(), \
        (dock.last_error, dock.status.toolTip())
    assert layer.name().endswith("true colour") and layer.bandCount() == 3


def test_an_earlier_dock_deleted_later_leaves_the_new_ones_actions(forests, qgis_iface):  # noqa: F811
    """A new dock exists when an older one (same modules) is deleted, as in the tests, whose
    docks are deleted in the next test's event loop: the footprints' actions and the project
    hook must stay with the new dock (until it goes too)."""
    from qgis.PyQt.QtCore import QCoreApplication, QEvent

    from raster_collect_plugin.gui import imagery_tasks
    from raster_collect_plugin.gui.dock import RasterCollectDock

    def delete(widget) -> None:
        widget.shutdown()
        widget.deleteLater()
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)

    older = RasterCollectDock(qgis_iface, qgis_iface.mainWindow())
    newer = RasterCollectDock(qgis_iface, qgis_iface.mainWindow())
    assert scene_actions._ACTIVE == [newer.scene_actions]
    delete(older)
    assert scene_actions._ACTIVE == [newer.scene_actions]
    assert imagery_tasks._HOOK  # projects opened later are still re-signed
    scene_actions.open_from_footprint("no-such-scene", "true-colour")
    assert "no-such-scene" in newer.last_error  # the new dock answers
    delete(newer)
    assert scene_actions._ACTIVE == [] and not imagery_tasks._HOOK
