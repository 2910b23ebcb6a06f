"""The scene table as EO Time Series Viewer users expect it: a thumbnail per scene (the item's
rendered preview when it has one, else a small overview of the scene clipped to the forests),
the cloud over the forests (read from the scene's own cloud mask, only the forests' window),
sorting by any column and filters by date, sensor and cloud.

Thumbnails and cloud are made in a background task; the icons are set on the main thread."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional, Sequence

from qgis.core import (
    QgsBlockingNetworkRequest,
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransformContext,
    QgsProject,
    QgsRectangle,
    QgsTask,
)
from qgis.PyQt.QtCore import QDate, QObject, QSize, Qt, QUrl
from qgis.PyQt.QtGui import QIcon, QImage, QPixmap
from qgis.PyQt.QtNetwork import QNetworkRequest
from qgis.PyQt.QtWidgets import (
    QComboBox,
    QDateEdit,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..core import imagery as core
from . import imagery, imagery_tasks
from .before_after import _bounds, forest_clear_fraction
from .layers import quiet_gdal

THUMB = 48  # pixels, the longer side
COLUMNS = ["date", "collection", "cloud %", "provider", "id", "forest cloud %"]
DATE, COLLECTION, CLOUD, ID, FOREST_CLOUD = 0, 1, 2, 4, 5
ALL_SENSORS = "all sensors"


def preview_image(href: str) -> Optional[QImage]:
    """The item's own preview (a local file or an http(s) URL), None if it cannot be read."""
    url = QUrl(href)
    image = QImage()
    if url.scheme() in ("http", "https"):
        request = QgsBlockingNetworkRequest()
        if request.get(QNetworkRequest(url)) != QgsBlockingNetworkRequest.ErrorCode.NoError:
            return None
        image.loadFromData(bytes(request.reply().content()))
    else:
        image.load(url.toLocalFile() if url.scheme() == "file" else href)
    return None if image.isNull() else image


def overview_image(scene: Mapping, signed: Mapping[str, str], expires: Optional[str],
                   extent: QgsRectangle, crs: QgsCoordinateReferenceSystem,
                   context: QgsCoordinateTransformContext, size: int = THUMB) -> QImage:
    """The scene's first rendering (true colour, radar...) clipped to ``extent``, drawn small
    (GDAL reads the COGs' overviews); in a worker thread: ``context`` is the project's
    transform context, taken on the main thread."""
    rendering = "true-colour" if "true-colour" in scene["renderings"] else \
        scene["renderings"][0]
    with quiet_gdal():  # statistics GDAL samples on opening: noise for constant bands
        layer = imagery.finish_open(scene, rendering, signed, expires, extent, crs,
                                    add=False, context=context)
        box = layer.extent()
        ratio = box.width() / box.height() if box.height() else 1.0
        width, height = ((size, max(1, round(size / ratio))) if ratio >= 1
                         else (max(1, round(size * ratio)), size))
        image = layer.renderer().block(1, box, width, height).image().copy()
        source = Path(layer.source())
        del layer  # closes its dataset (GDAL writes its statistics into the VRT)
        imagery.remove_vrt(source)  # the thumbnail's own VRT: no layer uses it
    return image


class ThumbnailTask(QgsTask):
    """Worker: a thumbnail and the cloud over the forests for each scene; one scene's failure
    leaves its cell empty and is reported, the others go on."""

    def __init__(self, scenes: Sequence[Mapping], extent: QgsRectangle,
                 crs: QgsCoordinateReferenceSystem, on_done: Callable[[ThumbnailTask], None],
                 signer: Optional[imagery.Signer] = None, size: int = THUMB):
        super().__init__("Raster Collect: scene thumbnails", QgsTask.Flag.CanCancel)
        self.scenes = list(scenes)
        self.extent, self.crs = QgsRectangle(extent), QgsCoordinateReferenceSystem(crs)
        self.context = QgsProject.instance().transformContext()
        self.on_done, self.signer, self.size = on_done, signer, size
        self.images: Dict[str, QImage] = {}
        self.forest_cloud: Dict[str, float] = {}
        self.errors: Dict[str, str] = {}

    def run(self) -> bool:
        for number, scene in enumerate(self.scenes):
            if self.isCanceled():
                return False
            try:
                self._one(scene)
            except Exception as error:  # this scene only; shown in the status
                self.errors[scene["id"]] = str(error)
            self.setProgress(100.0 * (number + 1) / max(1, len(self.scenes)))
        return True

    def _one(self, scene: Mapping) -> None:
        renderings = [r for r in scene["renderings"] if r != "cloud-mask"]
        hrefs: List[str] = []
        for rendering in (renderings[:1] + (["cloud-mask"] if scene.get("mask") else [])):
            hrefs += imagery.scene_hrefs(scene, core.layer_spec(scene, rendering))
        signed, expires = imagery.sign_for(scene, list(dict.fromkeys(hrefs)), self.signer,
                                           cancel=self.isCanceled)
        if scene.get("mask") and scene.get("epsg"):
            bounds = _bounds(self.extent, self.crs, scene, self.context)
            self.forest_cloud[scene["id"]] = 100.0 * (
                1.0 - forest_clear_fraction(scene, signed, bounds))
        image = preview_image(scene["preview"]) if scene.get("preview") else None
        if image is None and renderings:
            image = overview_image(scene, signed, expires, self.extent, self.crs,
                                   self.context, self.size)
        if image is not None:
            self.images[scene["id"]] = image.scaled(
                self.size, self.size, Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation)

    def finished(self, ok: bool) -> None:
        self.on_done(self)


class _Number(QTableWidgetItem):
    """A cell that sorts by its number (an empty cell last)."""

    def __init__(self, value: Optional[float]):
        super().__init__("" if value is None else f"{value:.0f}")
        self.value = float("inf") if value is None else float(value)

    def __lt__(self, other):  # noqa: D105
        return self.value < getattr(other, "value", float("inf"))


class SceneTable(QObject):
    """Sort, filter, thumbnails and forest cloud for the dock's scene table (one per dock)."""

    def __init__(self, dock, signer=None):
        super().__init__(dock)
        self.dock = dock
        self.signer = signer
        self.task: Optional[ThumbnailTask] = None
        self.forest_cloud: Dict[str, float] = {}
        self.date_views = None
        table = dock.results_table
        table.setColumnCount(len(COLUMNS))
        table.setHorizontalHeaderLabels(COLUMNS)
        table.setIconSize(QSize(THUMB, THUMB))
        table.verticalHeader().setDefaultSectionSize(THUMB + 4)
        self.bar = self._filter_bar(dock.scenes_box)
        dock.scenes_box.layout().insertWidget(0, self.bar)

    def _filter_bar(self, parent) -> QWidget:
        """Sensor and cloud, then the dates, then *By date…*: three short rows, so the bar
        fits a 300-pixel dock."""
        bar = QWidget(parent)
        rows = QVBoxLayout(bar)
        rows.setContentsMargins(0, 0, 0, 0)
        rows.setSpacing(2)
        first, second = QHBoxLayout(), QHBoxLayout()
        self.sensor_combo = QComboBox(bar)
        self.sensor_combo.addItem(ALL_SENSORS)
        self.sensor_combo.setToolTip("Show the scenes of one collection (sensor)")
        self.sensor_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.sensor_combo.setMinimumContentsLength(4)
        # the longest collection name must not widen the dock: the combo takes what is left
        self.sensor_combo.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.sensor_combo.setMinimumWidth(90)
        self.cloud_spin = QSpinBox(bar)
        self.cloud_spin.setRange(0, 100)
        self.cloud_spin.setValue(100)
        self.cloud_spin.setPrefix("cloud ≤")
        self.cloud_spin.setToolTip("Largest cloud cover shown (%): over the forests where it "
                                   "is known (from the scene's cloud mask), else the scene's")
        first.addWidget(self.sensor_combo, 1)
        first.addWidget(self.cloud_spin)
        self.from_date, self.to_date = QDateEdit(bar), QDateEdit(bar)
        for edit, tip in ((self.from_date, "first"), (self.to_date, "last")):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
            edit.setToolTip(f"The {tip} acquisition day shown")
        second.addWidget(self.from_date, 1)
        second.addWidget(QLabel("–", bar))
        second.addWidget(self.to_date, 1)
        self.views_button = QPushButton("By date…", bar)
        self.views_button.setToolTip("The scenes shown, one map view per date, for the "
                                     "selected forest (step earlier / later)")
        self.views_button.clicked.connect(lambda: self.open_date_views())
        rows.addLayout(first)
        rows.addLayout(second)
        rows.addWidget(self.views_button)
        for signal in (self.sensor_combo.currentIndexChanged, self.cloud_spin.valueChanged,
                       self.from_date.dateChanged, self.to_date.dateChanged):
            signal.connect(lambda *_: self.apply_filter())
        return bar

    def shutdown(self) -> None:
        """The dock closes: stop the thumbnails (a task must not outlive its table) and
        close the views by date."""
        task, self.task = self.task, None
        if task is not None:
            task.on_done = lambda _task: None
            task.cancel()
            task.waitForFinished(30_000)
        if self.date_views is not None:
            self.date_views.close()
            self.date_views = None

    # ------------------------------------------------------------------ filling

    def table_filled(self, rows: Sequence[Mapping]) -> None:
        """After the dock has written the search's rows: numbers that sort, the filters' range,
        sorting on, thumbnails started."""
        table = self.dock.results_table
        table.setSortingEnabled(False)
        self.forest_cloud = {}
        for row in range(table.rowCount()):
            scene_id = table.item(row, ID).text()
            cover = next((r.get("cloud_cover") for r in rows if r["id"] == scene_id), None)
            table.setItem(row, CLOUD, _Number(cover))
            table.setItem(row, FOREST_CLOUD, _Number(None))
        collections = sorted({r["collection"] for r in rows})
        self.sensor_combo.blockSignals(True)
        self.sensor_combo.clear()
        self.sensor_combo.addItems([ALL_SENSORS] + collections)
        self.sensor_combo.blockSignals(False)
        days = sorted(str(r["datetime"])[:10] for r in rows)
        for edit, day in ((self.from_date, days[0] if days else ""),
                          (self.to_date, days[-1] if days else "")):
            edit.blockSignals(True)
            edit.setDate(QDate.fromString(day, "yyyy-MM-dd") if day else QDate.currentDate())
            edit.blockSignals(False)
        table.setSortingEnabled(True)
        table.sortItems(DATE, Qt.SortOrder.AscendingOrder)
        self.apply_filter()
        self.start_thumbnails()

    def start_thumbnails(self, done: Optional[Callable[[ThumbnailTask], None]] = None
                         ) -> Optional[ThumbnailTask]:
        """Make the thumbnails and forest cloud of the searched scenes in the background."""
        scenes = list(self.dock.scene_actions.scenes.values())
        extent, crs = self.dock.scene_actions.aoi_extent()
        if not scenes or extent is None:
            return None
        if self.task is not None:
            self.task.cancel()

        def finished(task: ThumbnailTask) -> None:
            if task is self.task:
                self.task = None
            self.show_thumbnails(task)
            if done is not None:
                done(task)

        self.task = ThumbnailTask(scenes, extent, crs, finished, self.signer)
        imagery_tasks.start_task(self.task)
        return self.task

    def show_thumbnails(self, task: ThumbnailTask) -> None:
        """Main thread: icons and forest cloud into the table's rows."""
        table = self.dock.results_table
        sorting = table.isSortingEnabled()
        table.setSortingEnabled(False)  # rows stay put while cells change
        for row in range(table.rowCount()):
            scene_id = table.item(row, ID).text()
            image = task.images.get(scene_id)
            if image is not None:
                table.item(row, DATE).setIcon(QIcon(QPixmap.fromImage(image)))
            if scene_id in task.forest_cloud:
                self.forest_cloud[scene_id] = task.forest_cloud[scene_id]
                table.setItem(row, FOREST_CLOUD, _Number(task.forest_cloud[scene_id]))
        table.setSortingEnabled(sorting)
        table.resizeColumnToContents(DATE)  # the thumbnail beside the date
        self.apply_filter()
        if task.errors:
            self.dock.set_status(f"No thumbnail for {len(task.errors)} scenes: "
                                 f"{next(iter(task.errors.values()))}")

    # ------------------------------------------------------------------ filtering

    def cloud_of(self, row: int) -> Optional[float]:
        """The row's cloud: over the forests when known, else the scene's."""
        table = self.dock.results_table
        scene_id = table.item(row, ID).text()
        if scene_id in self.forest_cloud:
            return self.forest_cloud[scene_id]
        value = getattr(table.item(row, CLOUD), "value", float("inf"))
        return None if value == float("inf") else value

    def apply_filter(self) -> int:
        """Hide the rows outside the filters; returns how many rows are shown."""
        table = self.dock.results_table
        sensor = self.sensor_combo.currentText()
        first = self.from_date.date().toString("yyyy-MM-dd")
        last = self.to_date.date().toString("yyyy-MM-dd")
        shown = 0
        for row in range(table.rowCount()):
            day = table.item(row, DATE).text()
            cloud = self.cloud_of(row)
            visible = ((sensor == ALL_SENSORS or table.item(row, COLLECTION).text() == sensor)
                       and first <= day <= last
                       and (cloud is None or cloud <= self.cloud_spin.value()))
            table.setRowHidden(row, not visible)
            shown += visible
        return shown

    def visible_scene_ids(self) -> List[str]:
        """The ids of the rows shown, in the table's order."""
        table = self.dock.results_table
        return [table.item(r, ID).text() for r in range(table.rowCount())
                if not table.isRowHidden(r)]


    # ------------------------------------------------------------------ views by date

    def open_date_views(self):
        """One map view per date for the selected forest over the scenes the table shows;
        None (and the reason in the status) without a selected forest or a scene."""
        from .before_after import forest_name
        from .date_views import DateViewsDialog, scenes_over, task_opener

        layer = self.dock.layer_combo.currentLayer()
        feature = next(layer.getSelectedFeatures(), None) if layer is not None else None
        if feature is None:
            self.dock.show_error("Select one forest on the map, then By date… shows it on "
                                 "each date of the scene table.")
            return None
        visible = set(self.visible_scene_ids())
        scenes = scenes_over([s for key, s in self.dock.scene_actions.scenes.items()
                              if key in visible and s.get("renderings")],
                             feature.geometry(), layer.crs())
        if not scenes:
            self.dock.show_error("No scene shown in the table covers this forest: widen the "
                                 "filters or search again.")
            return None
        if self.date_views is not None:
            self.date_views.close()
        self.date_views = DateViewsDialog(
            scenes, feature.geometry(), layer.crs(), open_layer=task_opener(self.signer),
            name=forest_name(layer, feature, self.dock.id_field_combo.currentField()),
            forest_cloud=self.forest_cloud, on_pixel=self._pixel,
            parent=self.dock.iface.mainWindow())
        self.date_views.show()
        self.dock.set_status(f"{len(scenes)} dates of this forest: ◀ ▶ step through them")
        return self.date_views

    def _pixel(self, point, crs) -> None:
        """A click in a view by date: the pixel's series from the last run, if any."""
        if getattr(self.dock, "_last_run", None) is None:
            self.dock.set_status("Fetch & compute first: a click then shows the pixel's time "
                                 "series from the run's composites")
            return
        from .pixel_profile import show_pixel

        show_pixel(self.dock, point, crs)
