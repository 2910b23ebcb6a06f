"""The doors to the scene viewer: the dock's scene table (context menu, double-click) and the
footprints layer (feature actions). Signing runs in a background task; layers are added on
the main thread."""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

from qgis.core import (
    Qgis,
    QgsAction,
    QgsCoordinateReferenceSystem,
    QgsMessageLog,
    QgsProject,
    QgsRectangle,
    QgsTask,
    QgsVectorLayer,
)
from qgis.PyQt.QtCore import QCoreApplication, QObject, Qt
from qgis.PyQt.QtWidgets import QFileDialog, QMenu

from ..core import imagery as core
from ..qgis_compat import qgis_enum
from . import imagery, imagery_tasks
from .tasks import LOG_TAG
from .temporal_focus import bring_into_view

PACKAGE = __name__.rsplit(".", 2)[0]  # "raster_collect_plugin" as installed
_ACTIVE: List[SceneActions] = []


class OpenTask(QgsTask):
    """Worker thread: sign the scene's hrefs (engine job, Planetary Computer only), write its
    VRT and make the styled layer (GDAL's first reads happen here, not on the UI thread);
    ``finished`` adds it to the project on the main thread."""

    def __init__(self, scene: Dict, rendering: str, extent, extent_crs, on_done, signer=None):
        super().__init__(f"Raster Collect: open {scene['id']}", QgsTask.Flag.CanCancel)
        self.scene, self.rendering, self.on_done = scene, rendering, on_done
        self.extent = QgsRectangle(extent) if extent is not None else None
        # what the worker needs of the project, taken here on the main thread
        project = QgsProject.instance()
        self.extent_crs = QgsCoordinateReferenceSystem(
            extent_crs if extent_crs is not None else project.crs())
        self.context = project.transformContext()
        self.signer = signer
        self.layer = None
        self.error: Optional[Exception] = None

    def run(self) -> bool:
        try:
            spec = core.layer_spec(self.scene, self.rendering)
            signed, expires = imagery.sign_for(
                self.scene, imagery.scene_hrefs(self.scene, spec), self.signer,
                cancel=self.isCanceled)
            if self.isCanceled():
                return False
            layer = imagery.finish_open(self.scene, self.rendering, signed, expires,
                                        self.extent, self.extent_crs, add=False,
                                        context=self.context)
            layer.moveToThread(QCoreApplication.instance().thread())
            self.layer = layer
            return True
        except Exception as error:  # reported in finished()
            self.error = error
            return False

    def finished(self, ok: bool) -> None:
        self.on_done(self)


class SceneActions(QObject):
    """Scene table menu and footprint actions for the dock (one per dock)."""

    def __init__(self, dock, signer=None):
        super().__init__(dock)
        self.dock = dock
        self.signer = signer
        self.scenes: Dict[str, Dict] = {}
        self.last_layer = None
        table = dock.results_table
        table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        table.customContextMenuRequested.connect(self.show_menu)
        table.cellDoubleClicked.connect(lambda row, _column: self.open_row(row, None))
        table.setToolTip("Double-click a scene to see it in true colour (or radar); "
                         "right-click for false colour, SWIR, cloud mask and more")
        _ACTIVE[:] = [self]
        imagery_tasks.install_project_hook()
        # this dock's actions only: an earlier dock deleted after this one was made (in the
        # same module state: QGIS's plugin reload re-imports the modules, but docks made and
        # deleted one after another, as the tests do, share them) must not take this one's
        # footprint actions and project hook with it
        dock.destroyed.connect(lambda *_args, actions=self: _dock_gone(actions))

    # ------------------------------------------------------------------ search results

    def scenes_found(self, result: Dict, footprints: Optional[QgsVectorLayer]) -> None:
        """Remember the scenes of a search; give the footprints layer viewer actions."""
        self.scenes = dict(result.get("scenes") or {})
        if footprints is not None:
            add_footprint_actions(footprints)

    def scene_id(self, row: int) -> Optional[str]:
        item = self.dock.results_table.item(row, 4)
        return item.text() if item is not None else None

    # ------------------------------------------------------------------ menu

    def show_menu(self, position) -> None:
        table = self.dock.results_table
        row = table.rowAt(position.y())
        scene = self.scenes.get(self.scene_id(row) or "") if row >= 0 else None
        menu = QMenu(table)
        if scene is None:
            menu.addAction("No viewable scene here").setEnabled(False)
        else:
            # addAction(text) + triggered: the same on Qt5 and Qt6 (the text+slot overloads moved)
            for key in scene["renderings"]:
                label = core.RENDERINGS[key].label
                menu.addAction(f"Add layer: {label}").triggered.connect(
                    lambda _checked=False, key=key, sid=scene["id"]: self.open(sid, key))
            menu.addSeparator()
            first = scene["renderings"][0] if scene["renderings"] else None
            if first:
                menu.addAction("Save clipped GeoTIFF...").triggered.connect(
                    lambda _checked=False, sid=scene["id"], key=first: self.save(sid, key))
        if self.scenes:
            menu.addAction("Before/after the event date: click a forest on the map...") \
                .triggered.connect(lambda _checked=False: self.pick_forest())
        menu.addAction("Renew imagery access of all layers").triggered.connect(
            lambda _checked=False: self.renew_all())
        menu.exec(table.viewport().mapToGlobal(position))

    def open_row(self, row: int, rendering: Optional[str]) -> None:
        scene_id = self.scene_id(row)
        if scene_id:
            self.open(scene_id, rendering)

    # ------------------------------------------------------------------ opening

    def aoi_extent(self) -> Tuple[Optional[QgsRectangle], Optional[QgsCoordinateReferenceSystem]]:
        """The chosen forests' extent (selected ones when 'selected only' is ticked)."""
        layer = self.dock.layer_combo.currentLayer()
        if not isinstance(layer, QgsVectorLayer):
            return None, None
        if self.dock.selected_only.isChecked() and layer.selectedFeatureCount():
            return layer.boundingBoxOfSelected(), layer.crs()
        return layer.extent(), layer.crs()

    def open(self, scene_id: str, rendering: Optional[str] = None, *, extent=None,
             extent_crs=None, callback=None) -> None:
        """Add a scene layer; Planetary Computer scenes are signed in a background task."""
        scene = self.scenes.get(scene_id)
        if scene is None:
            self.dock.show_error(f"Scene {scene_id} cannot be shown: search again.")
            return
        rendering = rendering or (scene["renderings"] or ["true-colour"])[0]
        if extent is None:
            extent, extent_crs = self.aoi_extent()

        def done(task: OpenTask) -> None:
            if task.error is not None or task.layer is None:
                self.dock.show_error(f"Cannot show {scene_id}: "
                                     f"{task.error or 'cancelled'}")
                return
            layer = task.layer
            imagery.add_to_imagery_group(layer)
            self.last_layer = layer
            moved = bring_into_view(self.dock.iface.mapCanvas(), layer)
            self.dock.set_status(f"Added {layer.name()} (streamed, clipped to the forests)"
                                 + (f"; {moved}" if moved else ""))
            if callback is not None:
                callback(layer)

        task = OpenTask(scene, rendering, extent, extent_crs, done, self.signer)
        self.dock.set_status(f"Opening {scene_id}"
                                 f"{' (signing)' if scene.get('signing') else ''}...")
        imagery_tasks.start_task(task)

    def save(self, scene_id: str, rendering: str, destination: Optional[str] = None) -> None:
        """Download the clipped scene as a GeoTIFF (asks where unless given)."""
        if destination is None:
            destination, _ = QFileDialog.getSaveFileName(
                self.dock, "Save clipped GeoTIFF", f"{scene_id}_{rendering}.tif",
                "GeoTIFF (*.tif)")
            if not destination:
                return

        def write(layer) -> None:
            try:
                imagery_tasks.save_clipped(layer, destination)
                self.dock.set_status(f"Saved {destination}")
            except (core.ImageryError, RuntimeError) as error:
                self.dock.show_error(str(error))

        self.open(scene_id, rendering, callback=write)

    # ------------------------------------------------------------------ before / after

    def event_day(self) -> str:
        return self.dock.event_date.date().toString("yyyy-MM-dd")

    def pick_forest(self) -> None:
        """Map tool: the next click on a forest opens the before/after pair."""
        from .before_after import ForestPickTool

        canvas = self.dock.iface.mapCanvas()
        previous = canvas.mapTool()

        def picked(geometry, crs, name="") -> None:
            if previous is not None:
                canvas.setMapTool(previous)
            self.before_after(geometry, crs, name=name)

        self._pick_tool = ForestPickTool(canvas, self.click_layer, picked,
                                         self.dock.id_field_combo.currentField)
        canvas.setMapTool(self._pick_tool)
        self.dock.set_status(f"Click a forest to compare scenes before and after "
                                 f"{self.event_day()} (set under Period > Event date)")

    def click_layer(self) -> Optional[QgsVectorLayer]:
        """The active polygon layer (e.g. the storm result), else the dock's forests."""
        active = self.dock.iface.activeLayer()
        if isinstance(active, QgsVectorLayer) and active.geometryType() == \
                qgis_enum("Qgis.GeometryType.Polygon"):
            return active
        layer = self.dock.layer_combo.currentLayer()
        return layer if isinstance(layer, QgsVectorLayer) else None

    def before_after(self, geometry, crs, done=None, name: str = ""):
        """Choose and show the clearest scenes before and after the event for one forest;
        the status says what is shown (or the problem) once the choice is made."""
        from .before_after import open_before_after

        self.dock.set_status("Choosing the clearest scenes before and after...")

        def shown(dialog) -> None:
            if dialog is not None:
                dates = " and ".join(label.split(" ")[0] for label in dialog.titles)
                self.dock.set_status(f"Before/after {self.event_day()}"
                                     f"{' for ' + name if name else ''}: {dates} side by "
                                     "side (group on the map, layers not tied to a date)")
            if done is not None:
                done(dialog)

        return open_before_after(list(self.scenes.values()), self.event_day(), geometry, crs,
                                 signer=self.signer, parent=self.dock.iface.mainWindow(),
                                 report=self.dock.show_error, done=shown, name=name)

    def renew_all(self) -> None:
        layers = imagery.imagery_layers()
        if layers:
            imagery_tasks.start_task(imagery_tasks.ResignTask(layers, self.signer))
            self.dock.set_status(f"Renewing access of {len(layers)} imagery layers")


def _dock_gone(actions: SceneActions) -> None:
    """A dock was deleted: when its actions are the active ones (the newest dock's), forget
    them and unhook the project."""
    if actions in _ACTIVE:
        _ACTIVE.clear()
        imagery_tasks.uninstall_project_hook()


def add_footprint_actions(layer: QgsVectorLayer) -> None:
    """Feature actions on the footprints layer (identify results, attribute table, the
    'Run feature action' tool): one per rendering."""
    for key, rendering in core.RENDERINGS.items():
        code = (f"from {PACKAGE}.gui import scene_actions\n"
                f"scene_actions.open_from_footprint('[% \"id\" %]', '{key}')")
        action = QgsAction(qgis_enum("Qgis.AttributeActionType.GenericPython"),
                           f"Show {rendering.label}", code)
        action.setActionScopes({"Feature", "Canvas"})
        layer.actions().addAction(action)


def open_from_footprint(scene_id: str, rendering: str) -> None:
    """Entry point of the footprint actions."""
    if not _ACTIVE:
        QgsMessageLog.logMessage("open the Raster Collect dock and search first", LOG_TAG,
                                 Qgis.MessageLevel.Warning)
        return
    actions = _ACTIVE[0]
    scene = actions.scenes.get(scene_id)
    if scene is not None and rendering not in scene["renderings"]:
        actions.dock.show_error(f"{scene['collection']} has no "
                                f"{core.RENDERINGS[rendering].label.lower()}; choose "
                                f"{', '.join(scene['renderings'])}")
        return
    actions.open(scene_id, rendering)
