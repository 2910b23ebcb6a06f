"""A row of map views, one per date, for one forest (as EO Time Series Viewer shows a time
series): the scenes the scene table shows, in date order, each clipped to the forest; the
views move and zoom together; back/forward step one date.

Scenes are signed in background tasks, their layers made on the main thread and kept by the
window's own layer store, not added to the project (nothing to ask about when QGIS closes)."""

from __future__ import annotations

from typing import Callable, Dict, List, Mapping, Optional, Sequence

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsGeometry,
    QgsMapLayerStore,
    QgsProject,
    QgsRasterLayer,
    QgsRectangle,
    QgsTask,
)
from qgis.gui import QgsMapCanvas
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..core import imagery as core
from . import imagery, imagery_tasks
from .before_after import link_extents, outline_layer
from .layers import quiet_gdal

VIEWS = 4


def scenes_over(scenes: Sequence[Mapping], geometry: QgsGeometry,
                crs: QgsCoordinateReferenceSystem) -> List[Mapping]:
    """The scenes whose footprint box holds the forest's box, in date order."""
    box = QgsCoordinateTransform(crs, QgsCoordinateReferenceSystem("EPSG:4326"),
                                 QgsProject.instance()).transformBoundingBox(
        geometry.boundingBox())
    chosen = []
    for scene in scenes:
        bbox = scene.get("bbox")
        if not bbox or QgsRectangle(*bbox[:4]).intersects(box):
            chosen.append(scene)
    return sorted(chosen, key=lambda s: (str(s.get("datetime")), s.get("collection", "")))


class DateViewsDialog(QDialog):
    """``count`` synchronised map views over ``scenes`` (date order), starting at ``start``."""

    def __init__(self, scenes: Sequence[Mapping], geometry: QgsGeometry,
                 crs: QgsCoordinateReferenceSystem, *, open_layer: Callable, name: str = "",
                 forest_cloud: Optional[Mapping[str, float]] = None, count: int = VIEWS,
                 on_pixel: Optional[Callable] = None, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.scenes = list(scenes)
        self.open_layer = open_layer  # (scene, extent, crs, done(layer or error)) -> task
        self.forest_cloud = dict(forest_cloud or {})
        self.crs = QgsCoordinateReferenceSystem(crs)
        self.forest_box = QgsRectangle(geometry.boundingBox())
        self.layers: Dict[str, QgsRasterLayer] = {}
        # the window's own layer store owns the layers (deleted on the main thread with it)
        self.store = QgsMapLayerStore(self)
        self.errors: Dict[str, str] = {}
        self.pending: Dict[str, object] = {}
        self.start = 0
        self.outline = outline_layer(geometry, self.crs, name)
        self.setWindowTitle(f"By date: {name}" if name else "By date")
        self.resize(300 * count, 380)
        outer = QVBoxLayout(self)
        steps = QHBoxLayout()
        self.back_button = QPushButton("◀ Earlier", self)
        self.forward_button = QPushButton("Later ▶", self)
        self.position = QLabel(self)
        steps.addWidget(self.back_button)
        steps.addWidget(self.position, 1)
        steps.addWidget(self.forward_button)
        outer.addLayout(steps)
        row = QHBoxLayout()
        self.canvases: List[QgsMapCanvas] = []
        self.labels: List[QLabel] = []
        extent = QgsRectangle(self.forest_box)
        extent.grow(max(extent.width(), extent.height()) * 0.15)
        for _ in range(min(count, max(1, len(self.scenes)))):
            column = QVBoxLayout()
            label = QLabel(self)
            label.setWordWrap(True)
            canvas = QgsMapCanvas(self)
            canvas.setDestinationCrs(self.crs)
            canvas.setExtent(extent)
            column.addWidget(label)
            column.addWidget(canvas, 1)
            row.addLayout(column)
            self.canvases.append(canvas)
            self.labels.append(label)
        outer.addLayout(row, 1)
        link_extents(self.canvases)
        self.pixel_tools = []
        if on_pixel is not None:  # a click in any view: that pixel's time series
            from .pixel_profile import PixelPickTool

            for canvas in self.canvases:
                tool = PixelPickTool(canvas)
                tool.pixel_picked.connect(lambda point: on_pixel(point, self.crs))
                canvas.setMapTool(tool)
                self.pixel_tools.append(tool)
        self.back_button.clicked.connect(lambda: self.step(-1))
        self.forward_button.clicked.connect(lambda: self.step(1))
        self.show_from(0)

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt API name)
        """The views let go of the layers before the window goes: the layers belong to no
        project, so nothing else must draw them once they are freed."""
        for canvas in self.canvases:
            canvas.stopRendering()
            canvas.setLayers([])
        self.layers.clear()
        self.store.removeAllMapLayers()
        super().closeEvent(event)

    # ------------------------------------------------------------------ dates

    def shown_scenes(self) -> List[Mapping]:
        return self.scenes[self.start:self.start + len(self.canvases)]

    def step(self, by: int) -> None:
        """Move the row of views ``by`` dates (clamped to the first and last)."""
        self.show_from(self.start + by)

    def show_from(self, start: int) -> None:
        last = max(0, len(self.scenes) - len(self.canvases))
        self.start = min(max(0, start), last)
        self.back_button.setEnabled(self.start > 0)
        self.forward_button.setEnabled(self.start < last)
        shown = self.shown_scenes()
        self.position.setText(f"dates {self.start + 1}-{self.start + len(shown)} of "
                              f"{len(self.scenes)}")
        for slot, canvas in enumerate(self.canvases):
            scene = shown[slot] if slot < len(shown) else None
            self.labels[slot].setText(self.title(scene) if scene else "")
            canvas.setLayers([self.outline])
            if scene is not None:
                self._fill(slot, scene)
            canvas.refresh()

    def title(self, scene: Mapping) -> str:
        cloud = self.forest_cloud.get(scene["id"])
        note = f", forest {cloud:.0f} % cloud" if cloud is not None else ""
        return f"{str(scene.get('datetime'))[:10]} {scene.get('collection', '')}{note}"

    def _fill(self, slot: int, scene: Mapping) -> None:
        layer = self.layers.get(scene["id"])
        if layer is not None:
            self.canvases[slot].setLayers([self.outline, layer])
            return
        if scene["id"] in self.errors or scene["id"] in self.pending:
            return

        def done(made) -> None:
            self.pending.pop(scene["id"], None)
            if isinstance(made, QgsRasterLayer):
                made.temporalProperties().setIsActive(False)  # one date per view already
                self.store.addMapLayer(made)
                self.layers[scene["id"]] = made
                self._redraw(scene["id"])
            else:
                self.errors[scene["id"]] = str(made)
                for position, shown in enumerate(self.shown_scenes()):
                    if shown["id"] == scene["id"]:
                        self.labels[position].setText(f"{self.title(scene)}: {made}")

        self.pending[scene["id"]] = self.open_layer(scene, self.forest_box, self.crs, done)

    def _redraw(self, scene_id: str) -> None:
        for slot, scene in enumerate(self.shown_scenes()):
            if scene["id"] == scene_id:
                self.canvases[slot].setLayers([self.outline, self.layers[scene_id]])
                self.canvases[slot].refresh()


class SignTask(QgsTask):
    """Worker: sign one scene's hrefs (an engine job for Planetary Computer, nothing for open
    catalogs); the layer is then made on the main thread, as the before/after pair's are (a
    layer made on a worker thread and kept outside the project is not safe to free)."""

    def __init__(self, scene: Mapping, rendering: str, on_done: Callable, signer=None):
        super().__init__(f"Raster Collect: sign {scene['id']}", QgsTask.Flag.CanCancel)
        self.scene, self.rendering, self.on_done, self.signer = scene, rendering, on_done, signer
        self.signed: Optional[tuple] = None
        self.error: Optional[Exception] = None

    def run(self) -> bool:
        try:
            spec = core.layer_spec(self.scene, self.rendering)
            self.signed = imagery.sign_for(self.scene, imagery.scene_hrefs(self.scene, spec),
                                           self.signer, cancel=self.isCanceled)
            return True
        except Exception as error:  # reported in finished()
            self.error = error
            return False

    def finished(self, ok: bool) -> None:
        self.on_done(self)


def task_opener(signer=None, rendering: Optional[str] = None) -> Callable:
    """``open_layer`` for the dialog: signed in a background task, the layer made on the
    main thread when the task ends."""

    def open_layer(scene: Mapping, extent: QgsRectangle, crs, done: Callable) -> SignTask:
        chosen = rendering if rendering in scene["renderings"] else (
            "true-colour" if "true-colour" in scene["renderings"] else scene["renderings"][0])

        def finished(task: SignTask) -> None:
            if task.signed is None:
                done(task.error or "cancelled")
                return
            try:
                with quiet_gdal():
                    done(imagery.finish_open(scene, chosen, *task.signed, extent, crs,
                                             add=False))
            except (core.ImageryError, RuntimeError) as error:
                done(error)

        task = SignTask(scene, chosen, finished, signer)
        imagery_tasks.start_task(task)
        return task

    return open_layer
