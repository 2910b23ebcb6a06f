"""Before/after pair: click a forest (any polygon layer, e.g. the storm result) and see the
clearest scene before and after the event side by side, zoomed to that forest.

The choice runs in a background task: for the scenes nearest the event on each side it reads
only the forest's window of each scene's cloud mask (a few kilobytes) and takes the nearest
scene that sees the forest clear. Layers and the window are made on the main thread.
"""

from __future__ import annotations

from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from osgeo import gdal
from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsCoordinateTransformContext,
    QgsFeature,
    QgsFeatureRequest,
    QgsFillSymbol,
    QgsGeometry,
    QgsPalLayerSettings,
    QgsPointXY,
    QgsProject,
    QgsRasterLayer,
    QgsRectangle,
    QgsTask,
    QgsTextFormat,
    QgsVectorLayer,
    QgsVectorLayerSimpleLabeling,
)
from qgis.gui import QgsMapCanvas, QgsMapToolEmitPoint
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtGui import QColor
from qgis.PyQt.QtWidgets import QDialog, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from ..core import imagery as core
from ..qgis_compat import qgis_enum
from . import imagery, imagery_tasks


def _bounds(extent: QgsRectangle, source: QgsCoordinateReferenceSystem, scene: Mapping,
            context: QgsCoordinateTransformContext) -> Tuple[float, float, float, float]:
    target = QgsCoordinateReferenceSystem(f"EPSG:{scene['epsg']}")
    box = QgsCoordinateTransform(source, target, context).transformBoundingBox(extent)
    return box.xMinimum(), box.yMinimum(), box.xMaximum(), box.yMaximum()


def forest_clear_fraction(scene: Mapping, signed: Mapping[str, str],
                          bounds: Tuple[float, float, float, float]) -> float:
    """Clear share of the scene's cloud mask over ``bounds`` (only that window is read)."""
    spec = core.layer_spec(scene, "cloud-mask")
    asset = scene["assets"][spec.bands[0].asset]
    href = signed[asset["href"]]
    if asset.get("transform") and asset.get("shape"):
        grid = core.stac_grid(asset["transform"], asset["shape"])
    else:
        dataset = gdal.Open(core.vsicurl(href))
        grid = core.Grid(tuple(dataset.GetGeoTransform()), dataset.RasterXSize,
                         dataset.RasterYSize)
    try:
        target = core.clip_grid(grid, bounds)
    except core.ImageryError:
        return 0.0
    xml, _ = core.vrt_xml(spec, {spec.bands[0].asset: href}, {spec.bands[0].asset: grid},
                          target, "")
    dataset = gdal.Open(xml)
    if dataset is None:
        raise core.ImageryError(f"cannot read the cloud mask of {scene['id']}: "
                                f"{gdal.GetLastErrorMsg()}")
    return core.clear_fraction(spec.mask_kind, dataset.ReadAsArray())


class PairTask(QgsTask):
    """Worker: sign the candidates, read their masks over the forest, choose the pair."""

    def __init__(self, scenes: Sequence[Mapping], event_day: str, extent: QgsRectangle,
                 crs: QgsCoordinateReferenceSystem, on_done: Callable[[PairTask], None],
                 signer: Optional[imagery.Signer] = None):
        super().__init__("Raster Collect: before/after scenes", QgsTask.Flag.CanCancel)
        self.scenes, self.event_day = [s for s in scenes if s.get("epsg")], event_day
        self.extent, self.crs = QgsRectangle(extent), QgsCoordinateReferenceSystem(crs)
        self.context = QgsProject.instance().transformContext()
        self.on_done, self.signer = on_done, signer
        self.pair: Tuple[Optional[Mapping], Optional[Mapping]] = (None, None)
        self.clear: Dict[str, float] = {}
        self.signed: Dict[str, Tuple[Dict[str, str], Optional[str]]] = {}
        self.error: Optional[Exception] = None

    def run(self) -> bool:
        try:
            before, after = core.pair_candidates(self.scenes, self.event_day)
            for scene in before + after:
                if self.isCanceled():
                    return False
                hrefs = list(dict.fromkeys(
                    imagery.scene_hrefs(scene, core.layer_spec(scene, "cloud-mask"))
                    + imagery.scene_hrefs(scene, core.layer_spec(scene, "true-colour"))))
                self.signed[scene["id"]] = imagery.sign_for(scene, hrefs, self.signer,
                                                            cancel=self.isCanceled)
                bounds = _bounds(self.extent, self.crs, scene, self.context)
                self.clear[scene["id"]] = forest_clear_fraction(
                    scene, self.signed[scene["id"]][0], bounds)
            self.pair = (core.clearest(before, self.clear), core.clearest(after, self.clear))
            return True
        except Exception as error:  # reported in finished()
            self.error = error
            return False

    def finished(self, ok: bool) -> None:
        self.on_done(self)


class BeforeAfterDialog(QDialog):
    """Two map views side by side with linked extents, the forest outlined in both."""

    def __init__(self, layers: Sequence[QgsRasterLayer], titles: Sequence[str],
                 outline: QgsVectorLayer, extent: QgsRectangle, parent: Optional[QWidget] = None,
                 name: str = ""):
        super().__init__(parent)
        self.setWindowTitle(f"Before / after: {name}" if name else "Before / after")
        self.resize(1000, 520)
        row = QHBoxLayout(self)
        self.canvases: List[QgsMapCanvas] = []
        self.titles = list(titles)
        self.outline = outline
        for layer, title in zip(layers, titles):
            column = QVBoxLayout()
            label = QLabel(f"{name} — {title}" if name else title, self)
            label.setWordWrap(True)
            canvas = QgsMapCanvas(self)
            canvas.setDestinationCrs(layer.crs())
            canvas.setLayers([outline, layer])
            canvas.setExtent(extent)
            canvas.refresh()
            column.addWidget(label)
            column.addWidget(canvas, 1)
            row.addLayout(column)
            self.canvases.append(canvas)
        link_extents(self.canvases)


def link_extents(canvases: Sequence[QgsMapCanvas]) -> None:
    """Pan or zoom one of ``canvases`` and the others follow (the guard stops the echo)."""
    syncing = [False]

    def sync(source: QgsMapCanvas) -> None:
        if syncing[0]:
            return
        syncing[0] = True
        try:
            for canvas in canvases:
                if canvas is not source:
                    canvas.setExtent(source.extent())
                    canvas.refresh()
        finally:
            syncing[0] = False

    for canvas in canvases:
        canvas.extentsChanged.connect(lambda canvas=canvas: sync(canvas))


def outline_layer(geometry: QgsGeometry, crs: QgsCoordinateReferenceSystem,
                  name: str = "") -> QgsVectorLayer:
    """The clicked forest as a yellow outline labelled with its name (memory layer, not in
    the project). Multi-polygon, so a forest in several parts is drawn too."""
    layer = QgsVectorLayer(f"MultiPolygon?crs={crs.authid() or crs.toWkt()}&field=name:string",
                           "forest", "memory")
    shape = QgsGeometry(geometry)
    shape.convertToMultiType()
    feature = QgsFeature(layer.fields())
    feature.setGeometry(shape)
    feature.setAttributes([name])
    layer.dataProvider().addFeatures([feature])
    layer.updateExtents()
    layer.renderer().setSymbol(QgsFillSymbol.createSimple(
        {"color": "0,0,0,0", "outline_color": "255,230,0", "outline_width": "0.8"}))
    if name:
        label = QgsPalLayerSettings()
        label.fieldName = "name"
        text = QgsTextFormat()
        text.setColor(QColor(255, 230, 0))
        text.setSize(10)
        buffer = text.buffer()
        buffer.setEnabled(True)
        buffer.setColor(QColor(0, 0, 0))
        text.setBuffer(buffer)
        label.setFormat(text)
        layer.setLabeling(QgsVectorLayerSimpleLabeling(label))
        layer.setLabelsEnabled(True)
    return layer


def show_pair(task: PairTask, geometry: QgsGeometry, *, parent=None,
              report: Callable[[str], None] = print, name: str = ""
              ) -> Optional[BeforeAfterDialog]:
    """Main thread: the two layers (added to the project) and the side-by-side window."""
    if task.error is not None:
        report(f"Before/after failed: {task.error}")
        return None
    before, after = task.pair
    if before is None or after is None:
        side = "before" if before is None else "after"
        report(f"No scene sees this forest clear {side} {task.event_day}: widen the search "
               "period or raise the scene cloud limit.")
        return None
    root = QgsProject.instance().layerTreeRoot()
    group = root.insertGroup(0, f"before/after {task.event_day}")
    layers, titles = [], []
    for scene in (before, after):
        signed, expires = task.signed[scene["id"]]
        layer = imagery.finish_open(scene, "true-colour", signed, expires, task.extent,
                                    task.crs, add=False)
        # a pair of different dates: never hidden by the temporal controller's frame
        layer.temporalProperties().setIsActive(False)
        QgsProject.instance().addMapLayer(layer, False)
        group.addLayer(layer)
        layers.append(layer)
        titles.append(f"{str(scene['datetime'])[:10]} {scene['collection']}: forest "
                      f"{task.clear[scene['id']]:.0%} clear")
    outline = outline_layer(geometry, task.crs, name)
    transform = QgsCoordinateTransform(task.crs, layers[0].crs(), QgsProject.instance())
    extent = transform.transformBoundingBox(task.extent)
    extent.grow(max(extent.width(), extent.height()) * 0.15)
    dialog = BeforeAfterDialog(layers, titles, outline, extent, parent, name)
    dialog.show()
    return dialog


def open_before_after(scenes: Sequence[Mapping], event_day: str, geometry: QgsGeometry,
                      crs: QgsCoordinateReferenceSystem, *, signer=None, parent=None,
                      report: Callable[[str], None] = print,
                      done: Optional[Callable[[Optional[BeforeAfterDialog]], None]] = None,
                      name: str = "") -> PairTask:
    """Start choosing the pair for one forest; the window opens when the task ends."""
    holder = {}

    def finished(task: PairTask) -> None:
        holder["dialog"] = show_pair(task, geometry, parent=parent, report=report, name=name)
        if done is not None:
            done(holder["dialog"])

    task = PairTask(scenes, event_day, geometry.boundingBox(), crs, finished, signer)
    imagery_tasks.start_task(task)
    return task


class ForestPickTool(QgsMapToolEmitPoint):
    """Click a forest polygon (active polygon layer, else the dock's forests layer)."""

    def __init__(self, canvas: QgsMapCanvas, layer_for_click: Callable[[], QgsVectorLayer],
                 on_forest: Callable[..., None], id_field: Callable[[], str] = lambda: ""):
        """``on_forest(geometry, crs, name)``; ``id_field()`` names the field that names a
        forest (else a usual name field, else the feature id)."""
        super().__init__(canvas)
        self.id_field = id_field
        self.layer_for_click, self.on_forest = layer_for_click, on_forest
        self.setCursor(Qt.CursorShape.CrossCursor)

    def canvasReleaseEvent(self, event) -> None:  # noqa: N802 (Qt API name)
        layer = self.layer_for_click()
        if layer is None:
            return
        point = self.toLayerCoordinates(layer, event.mapPoint())
        feature = forest_at(layer, point)
        if feature is not None:
            self.on_forest(feature.geometry(), layer.crs(),
                           forest_name(layer, feature, self.id_field()))


def forest_name(layer: QgsVectorLayer, feature: QgsFeature, preferred: str = "") -> str:
    """'forest_id 12' from the preferred field, a usual name field, else the feature id."""
    names = layer.fields().names()
    for field in (preferred, "forest_id", "name", "id"):
        if field and field in names and feature[field] not in (None, ""):
            return f"{field} {feature[field]}"
    return f"feature {feature.id()}"


def forest_at(layer: QgsVectorLayer, point: QgsPointXY) -> Optional[QgsFeature]:
    """The polygon of ``layer`` under ``point`` (layer coordinates)."""
    if layer.geometryType() != qgis_enum("Qgis.GeometryType.Polygon"):
        return None
    probe = QgsGeometry.fromPointXY(point)
    request = QgsFeatureRequest().setFilterRect(probe.boundingBox().buffered(1e-6))
    for feature in layer.getFeatures(request):
        if feature.geometry().contains(probe):
            return feature
    return None
