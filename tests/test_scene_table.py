"""The scene table (issue 32): thumbnails (the item's preview, else an overview clipped to the
forests), the cloud over the forests, sorting and filters by date, sensor and cloud."""

from qgis.PyQt.QtCore import QDate, QEventLoop, Qt, QTimer
from qgis.PyQt.QtGui import QColor, QImage

from raster_collect_plugin.gui import imagery
from raster_collect_plugin.gui.scene_table import (
    CLOUD,
    COLLECTION,
    DATE,
    FOREST_CLOUD,
    ID,
)
from tests.test_dock import dock, forests, wait_for_job  # noqa: F401 (fixtures)

COLLECTIONS = "sentinel-2-l2a,landsat-c2-l2,sentinel-1-rtc"


def wait_for_thumbnails(tools, timeout_seconds=120):
    """Start the thumbnails again and wait for that task's end."""
    loop, done = QEventLoop(), []
    tools.start_thumbnails(done=lambda task: (done.append(task), loop.quit()))
    QTimer.singleShot(timeout_seconds * 1000, loop.quit)
    loop.exec()
    assert done, "the thumbnails were not made in time"
    return done[0]


def wait_for_running_thumbnails(tools, timeout_seconds=120):
    """Wait for the thumbnails already being made (the search starts them) to end."""
    loop = QEventLoop()
    timer = QTimer()
    timer.timeout.connect(lambda: tools.task is None and loop.quit())
    timer.start(50)
    QTimer.singleShot(timeout_seconds * 1000, loop.quit)
    if tools.task is not None:
        loop.exec()
    timer.stop()
    assert tools.task is None, "the search's thumbnails did not end in time"


def column(table, number, visible_only=True):
    return [table.item(r, number).text() for r in range(table.rowCount())
            if not (visible_only and table.isRowHidden(r))]


def test_thumbnails_forest_cloud_sort_and_filters(dock, forests, small_sample,  # noqa: F811
                                                  tmp_path):
    dock.custom_collections.setText(COLLECTIONS)
    dock.start_search()
    assert wait_for_job(dock) == "search", dock.last_error
    table, tools = dock.results_table, dock.scene_table
    assert tools.bar.minimumSizeHint().width() <= 280  # fits the 300-pixel dock
    assert dock.chart_box.minimumSizeHint().width() <= 280  # and so do the chart's buttons
    count = table.rowCount()
    assert count == len(dock.search_rows) > 6
    # one scene carries its own preview (a rendered_preview asset): that picture is used
    preview = QImage(64, 32, QImage.Format.Format_RGB32)
    preview.fill(QColor("#ff00ff"))
    assert preview.save(str(tmp_path / "preview.png"))
    with_preview = dock.search_rows[0]["id"]
    dock.scene_actions.scenes[with_preview]["preview"] = str(tmp_path / "preview.png")
    # the search started thumbnails of its own: their VRTs come and go until they end
    wait_for_running_thumbnails(tools)
    vrts = set(imagery.cache_dir().glob("*.vrt"))
    task = wait_for_thumbnails(tools)  # its worker read the project (bounds_in) before:
    assert task.errors == {}  # conftest's project_from_the_main_thread_only failed the test
    assert set(imagery.cache_dir().glob("*.vrt")) == vrts  # the overviews' own VRTs removed
    assert set(task.images) == {r["id"] for r in dock.search_rows}
    assert task.images[with_preview].pixelColor(10, 5) == QColor("#ff00ff")
    overview = next(image for key, image in task.images.items() if key != with_preview)
    assert max(overview.width(), overview.height()) == 48
    assert len({overview.pixelColor(x, y).name() for x in range(0, overview.width(), 4)
                for y in range(0, overview.height(), 4)}) > 3  # a picture, not a blank tile
    for row in range(count):
        assert not table.item(row, DATE).icon().isNull()
    # cloud over the forests: read from the optical scenes' masks; radar has none
    by_collection = {}
    for row in range(count):
        by_collection.setdefault(table.item(row, COLLECTION).text(), []).append(
            table.item(row, FOREST_CLOUD).text())
    assert all(v != "" and 0 <= float(v) <= 100 for v in by_collection["sentinel-2-l2a"])
    assert all(v != "" for v in by_collection["landsat-c2-l2"])
    assert set(by_collection["sentinel-1-rtc"]) == {""}

    # sorting by cloud is numeric (9 before 10), and a row keeps its scene id
    table.sortItems(CLOUD, Qt.SortOrder.AscendingOrder)
    clouds = [float(v) for v in column(table, CLOUD, False) if v]
    assert clouds == sorted(clouds)
    cover = {r["id"]: r["cloud_cover"] for r in dock.search_rows}
    for row in range(count):
        scene_cover = cover[table.item(row, ID).text()]
        assert table.item(row, CLOUD).text() == ("" if scene_cover is None
                                                 else f"{scene_cover:.0f}")
    table.sortItems(DATE, Qt.SortOrder.DescendingOrder)
    assert column(table, DATE) == sorted(column(table, DATE), reverse=True)
    # filters: sensor, dates, cloud (over the forests where known)
    tools.sensor_combo.setCurrentText("landsat-c2-l2")
    assert set(column(table, COLLECTION)) == {"landsat-c2-l2"}
    tools.sensor_combo.setCurrentText("all sensors")
    tools.from_date.setDate(QDate(2025, 11, 1))
    assert min(column(table, DATE)) >= "2025-11-01"
    assert len(column(table, DATE)) < count
    tools.from_date.setDate(QDate(2025, 1, 1))
    tools.cloud_spin.setValue(5)
    shown = [r for r in range(count) if not table.isRowHidden(r)]
    assert all(tools.cloud_of(r) is None or tools.cloud_of(r) <= 5 for r in shown)
    assert len(shown) < count
    assert tools.visible_scene_ids() == [table.item(r, ID).text() for r in shown]
    # hidden rows are only hidden: they are not left out of the computation
    assert dock.unticked_scene_ids() == set()
