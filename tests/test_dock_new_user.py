"""What a new user met in the dock (issue 26): an empty search, engine messages, scenes
outside the temporal controller's month, a forest outside the run, before/after details."""

from qgis.core import QgsProject
from qgis.PyQt.QtCore import QDate

from raster_collect_plugin.engine import bridge
from tests.test_dock import dock, forests, wait_for_job  # noqa: F401 (fixtures)


def test_a_search_finding_nothing_says_why_and_adds_no_layer(dock, monkeypatch):  # noqa: F811
    messages_at_start, statuses = [], []
    real_run_job = bridge.run_job

    def run_job(spec, **kwargs):
        messages_at_start.append(dock.current_task.message)
        return real_run_job(spec, **kwargs)

    monkeypatch.setattr(bridge, "run_job", run_job)
    real_set_status = dock.set_status
    monkeypatch.setattr(dock, "set_status", lambda text: (statuses.append(text),
                                                          real_set_status(text)))
    dock.compute_mode.setCurrentIndex(0)  # threads: no dask cluster to start
    dock.start_date.setDate(QDate(2020, 1, 1))
    dock.end_date.setDate(QDate(2020, 12, 31))
    dock.max_cloud.setValue(20)
    dock.start_search()
    assert wait_for_job(dock) == "search", dock.last_error
    assert dock.last_error == ""
    assert messages_at_start == [""]
    assert not any("dask" in s for s in statuses), statuses
    status = dock.status_text()
    assert status.startswith("0 scenes found"), status
    assert "2020-01-01 and 2020-12-31" in status and "cloud limit (20 %)" in status
    assert "Static STAC catalog" in status
    assert dock.results_table.rowCount() == 0 and dock.footprint_layer is None
    assert QgsProject.instance().mapLayersByName("scene footprints") == []


def test_engine_messages_are_plain_for_a_forester_and_go_once_ready(
        qgis_iface, qgis_canvas, tmp_path, monkeypatch):
    import html
    import sys
    import venv

    from raster_collect_plugin.engine.interpreter import ENGINE_PYTHON_VARIABLE, venv_python
    from raster_collect_plugin.gui.dock import RasterCollectDock
    from raster_collect_plugin.gui.engine_notices import READY
    from raster_collect_plugin.gui.engine_state import engine_state
    from tests.recording_iface import RecordingIface
    from tests.test_plugin import wait_for

    venv.EnvBuilder(with_pip=False, symlinks=True).create(tmp_path / "bare")
    monkeypatch.setenv(ENGINE_PYTHON_VARIABLE, str(venv_python(tmp_path / "bare")))
    iface = RecordingIface(qgis_iface.mainWindow(), qgis_canvas)
    widget = RasterCollectDock(iface, iface.mainWindow())
    try:
        widget.output_folder.setFilePath(str(tmp_path / "outputs"))
        widget.start_sample()
        assert wait_for_job(widget) == "sample"
        status = widget.status_text()
        assert status.startswith("The processing engine needs to be set up or updated — "
                                 "Settings → Options → Raster Collect"), status
        assert "numpy" not in status and "rasterio" not in status
        [item] = iface.messageBar().widgets
        assert html.unescape(item.text()) == status and "numpy is missing" in item.toolTip()

        # text with < and > reaches the bar whole (escaped), not read as HTML
        widget.show_error("the sample needs numpy (need >=2.3,<3) and GDAL")
        title, text, level = iface.messageBar().messages[-1]
        assert level == "critical" and "<" not in text
        assert html.unescape(text) == "the sample needs numpy (need >=2.3,<3) and GDAL"

        # the engine is set up: the notice goes, the status says ready, nothing comes back
        widget.set_status(status)
        monkeypatch.setenv(ENGINE_PYTHON_VARIABLE, sys.executable)
        engine_state().refresh(force=True)
        assert wait_for(lambda: not engine_state()._tasks)  # this check's report is in
        assert engine_state().ready is True and engine_state().python == sys.executable
        assert iface.messageBar().widgets == []
        assert widget.status_text() == READY and widget.last_error == ""
        engine_state().changed.emit()
        assert iface.messageBar().widgets == [] and widget.status_text() == READY
    finally:
        widget.shutdown()
        widget.deleteLater()


def _controller_on(canvas, periods, frame):
    from raster_collect_plugin.gui.results import configure_temporal, temporal_controller

    controller = temporal_controller(canvas)
    configure_temporal(controller, periods, "month")
    controller.setCurrentFrameNumber(frame)
    return controller


def test_a_scene_is_shown_whatever_month_the_temporal_controller_is_on(
        dock, qgis_iface):  # noqa: F811
    from tests.test_imagery_layers import wait_for_tasks

    dock.start_search()
    assert wait_for_job(dock) == "search", dock.last_error
    canvas = qgis_iface.mapCanvas()
    controller = _controller_on(canvas, ["2025-10", "2025-11", "2025-12"], 0)  # October
    assert canvas.temporalRange().begin().date() == QDate(2025, 10, 1)
    december = max(range(len(dock.search_rows)), key=lambda r: dock.search_rows[r]["datetime"])
    assert dock.search_rows[december]["datetime"].startswith("2025-12")
    dock.results_table.cellDoubleClicked.emit(december, 2)
    wait_for_tasks()
    layer = dock.scene_actions.last_layer
    assert layer.temporalProperties().isActive()  # still at its acquisition day
    assert layer.temporalProperties().isVisibleInTemporalRange(canvas.temporalRange())
    # moved by whole frames: the frames still are the run's months
    assert controller.currentFrameNumber() == 2
    assert canvas.temporalRange().begin().date() == QDate(2025, 12, 1)
    status = dock.status_text()
    assert status.startswith("Added ") and "temporal controller now shows 2025-12-01 to " \
        "2025-12-31" in status, status

    # a controller on months the run never had: its range grows back by whole months
    controller = _controller_on(canvas, ["2026-03", "2026-04"], 1)
    october = min(range(len(dock.search_rows)), key=lambda r: dock.search_rows[r]["datetime"])
    dock.results_table.cellDoubleClicked.emit(october, 2)
    wait_for_tasks()
    layer = dock.scene_actions.last_layer
    assert layer.temporalProperties().isVisibleInTemporalRange(canvas.temporalRange())
    assert canvas.temporalRange().begin().date() == QDate(2025, 10, 1)
    assert controller.temporalExtents().end().date() >= QDate(2026, 4, 1)

    # already in view (or no temporal navigation): nothing moves, nothing said
    dock.results_table.cellDoubleClicked.emit(october, 2)
    wait_for_tasks()
    assert "temporal controller" not in dock.status_text()


def test_before_after_window_names_and_outlines_the_forest_and_the_status_follows(
        dock, forests, qgis_iface):  # noqa: F811
    import numpy as np
    from qgis.core import QgsMapRendererSequentialJob, QgsPointXY
    from qgis.gui import QgsMapMouseEvent
    from qgis.PyQt.QtCore import QEvent, QPoint, QSize, Qt

    from tests.test_imagery_layers import wait_for_tasks

    dock.start_search()
    assert wait_for_job(dock) == "search", dock.last_error
    canvas = qgis_iface.mapCanvas()
    canvas.setDestinationCrs(forests.crs())
    canvas.resize(600, 400)
    canvas.setExtent(forests.extent())
    _controller_on(canvas, ["2025-10", "2025-11", "2025-12"], 2)  # neither scene's month
    dock.scene_actions.pick_forest()
    tool = canvas.mapTool()
    qgis_iface.setActiveLayer(forests)
    forest = next(forests.getFeatures())
    pixel = canvas.getCoordinateTransform().transform(
        QgsPointXY(forest.geometry().pointOnSurface().asPoint()))
    shown = []
    real_before_after = dock.scene_actions.before_after
    dock.scene_actions.before_after = lambda *a, **k: real_before_after(
        *a, done=shown.append, **k)
    tool.canvasReleaseEvent(QgsMapMouseEvent(canvas, QEvent.Type.MouseButtonRelease,
                                             QPoint(int(pixel.x()), int(pixel.y())),
                                             Qt.MouseButton.LeftButton))
    wait_for_tasks()
    [dialog] = shown
    assert dialog is not None, dock.last_error
    name = f"forest_id {forest['forest_id']}"
    assert name in dialog.windowTitle()
    status = dock.status_text()
    assert not status.startswith("Choosing") and name in status, status
    for view in dialog.canvases:
        outline, scene = view.layers()
        assert [f["name"] for f in outline.getFeatures()] == [name]
        assert outline.labelsEnabled()
        # the pair is drawn on the main map whatever frame the controller stands on
        assert scene.temporalProperties().isVisibleInTemporalRange(canvas.temporalRange())
        settings = view.mapSettings()
        settings.setOutputSize(QSize(200, 200))
        job = QgsMapRendererSequentialJob(settings)
        job.start()
        job.waitForFinished()
        image = job.renderedImage().convertToFormat(job.renderedImage().Format.Format_RGB32)
        pixels = np.frombuffer(image.constBits().asstring(image.sizeInBytes()), np.uint8)
        blue, green, red = (pixels.reshape(200, 200, 4)[..., k].astype(int) for k in range(3))
        yellow = (red > 200) & (green > 180) & (blue < 100)
        assert yellow.sum() > 100  # the forest's outline (and its name) is drawn
    dialog.close()


def test_pick_a_forest_outside_the_run_says_so(dock, forests):  # noqa: F811
    from tests.test_results_view import statistics_table

    dock.table_layer = statistics_table([(1, "sentinel-2-l2a", "2025-10", 0.8, True)])
    outside = 99
    dock.show_forest_series(outside)
    dialog = dock._forest_dialog
    assert dialog.series == {}
    assert "forest_id 99</b>: this forest was not part of the run" in dialog.heading.text()
    [axes] = dialog.figure.axes
    assert not axes.axison and "not part of the run" in axes.texts[0].get_text()
    assert dock.status_text().startswith("forest_id 99: this forest was not part of the run")
    dock.show_forest_series(1)  # a forest of the run: its series again
    assert list(dialog.series) == ["NDVI"] and "not part" not in dialog.heading.text()
    # ... and the status line no longer says the earlier pick was not part of the run
    assert dock.status_text() == "forest_id 1: its time series is in the window beside the map"
    dialog.close()


def test_a_sensor_without_the_index_band_is_named_in_words(dock, qgis_iface,  # noqa: F811
                                                            qgis_canvas):
    from tests.recording_iface import RecordingIface
    from tests.test_dock import tick_index

    dock.iface = RecordingIface(qgis_iface.mainWindow(), qgis_canvas)
    dock.presenter.iface = dock.iface
    dock.custom_collections.setText("sentinel-2-l2a,landsat-c2-l2")
    tick_index(dock, "NDRE")
    dock.start_compute()
    assert wait_for_job(dock) == "zonal", dock.last_error
    warnings = [text for _, text, level in dock.iface.messageBar().messages
                if level == "warning"]
    assert warnings and "landsat-c2-l2 has no rededge1 band" in warnings[0], warnings
    assert "[" not in warnings[0] and "'" not in warnings[0]


def test_a_search_finding_nothing_with_a_source_offline_says_so(dock):  # noqa: F811
    from tests.test_dock import closed_port, tick_source

    tick_source(dock, "custom")
    dock.custom_url.setText(f"http://127.0.0.1:{closed_port()}")
    dock.start_date.setDate(QDate(2020, 1, 1))
    dock.end_date.setDate(QDate(2020, 12, 31))
    dock.start_search()
    assert wait_for_job(dock) == "search", dock.last_error
    status = dock.status_text()
    assert status.startswith("0 scenes found. Likely reasons: "), status
    assert "could not be reached (offline?)" in status
    assert "Static STAC catalog or Custom STAC API scene between 2020-01-01" in status
    assert QgsProject.instance().mapLayersByName("scene footprints") == []
