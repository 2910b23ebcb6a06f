"""The dock end to end (pytest-qgis, offscreen): search, compute, layers, cancel, bad input."""

import socket
import stat
from datetime import date
from pathlib import Path

import pytest
from qgis.core import (
    QgsApplication,
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsProject,
    QgsTask,
    QgsVectorLayer,
)
from qgis.PyQt.QtCore import QDate, QEventLoop, Qt, QTimer

from raster_collect_plugin.gui.dock import SOURCES, RasterCollectDock
from raster_collect_plugin.qgis_compat import qgis_enum


def wait_for_job(dock, timeout_seconds=180):
    loop, finished = QEventLoop(), []
    dock.job_finished.connect(lambda kind: (finished.append(kind), loop.quit()))
    QTimer.singleShot(int(timeout_seconds * 1000), loop.quit)
    loop.exec()
    assert finished, "the job did not finish in time"
    return finished[0]


def tick_source(dock, key):
    row = [k for k, _, _ in SOURCES].index(key)
    dock.source_list.item(row).setCheckState(Qt.CheckState.Checked)


def tick_index(dock, name):
    for row in range(dock.index_list.count()):
        item = dock.index_list.item(row)
        state = Qt.CheckState.Checked if item.data(Qt.ItemDataRole.UserRole) == name \
            else Qt.CheckState.Unchecked
        item.setCheckState(state)


@pytest.fixture
def forests(small_sample, qgis_new_project):
    layer = QgsVectorLayer(f"{small_sample.forests_path}|layername=forests", "forests", "ogr")
    assert layer.isValid()
    QgsProject.instance().addMapLayer(layer)
    yield layer


@pytest.fixture
def dock(qgis_iface, forests, small_sample, tmp_path):
    widget = RasterCollectDock(qgis_iface, qgis_iface.mainWindow())
    widget.layer_combo.setLayer(forests)
    tick_source(widget, "catalog")
    widget.catalog_edit.setFilePath(str(small_sample.catalog_path))
    widget.custom_collections.setText("sentinel-2-l2a")
    widget.start_date.setDate(QDate(2025, 10, 1))
    widget.end_date.setDate(QDate(2025, 12, 31))
    widget.max_cloud.setValue(100)
    tick_index(widget, "NDVI")
    widget.output_folder.setFilePath(str(tmp_path / "outputs"))
    yield widget
    close_dock(widget)


def close_dock(widget) -> None:
    """Cancel the dock's running job (waiting for it), shut it down and delete it."""
    if widget.current_task is not None:
        widget.current_task.cancel()
        wait_for_job(widget)
    widget.shutdown()
    widget.deleteLater()


def select_three(layer):
    ids = [f.id() for f in layer.getFeatures()][:3]
    layer.selectByIds(ids)
    return [f["forest_id"] for f in layer.getSelectedFeatures()]


def test_search_then_compute_adds_styled_temporal_layers(dock, forests, small_sample, tmp_path,
                                                         qgis_iface):
    chosen = select_three(forests)
    dock.selected_only.setChecked(True)
    assert dock.aoi_summary.text().startswith("3 polygons")
    assert dock.id_field_combo.currentField() == "forest_id"

    dock.start_search()
    assert wait_for_job(dock) == "search"
    expected = sorted(i["id"] for i in small_sample.items["sentinel-2-l2a"])
    table_ids = sorted(dock.results_table.item(r, 4).text()
                       for r in range(dock.results_table.rowCount()))
    assert table_ids == expected
    footprints = QgsProject.instance().mapLayersByName("scene footprints")[0]
    assert sorted(f["id"] for f in footprints.getFeatures()) == expected

    dock.hexagon_spin.setValue(4)
    dock.preset_combo.setCurrentText("Before/after an event")  # the storm of 2025-11-13
    dock.start_date.setDate(QDate(2025, 10, 1))
    dock.end_date.setDate(QDate(2025, 12, 31))
    dock.start_compute()
    assert wait_for_job(dock) == "zonal", dock.last_error
    assert dock.last_error == ""
    november = QgsProject.instance().mapLayersByName("NDVI 2025-11")[0]
    assert november.crs().authid() == "EPSG:32756"
    assert november.renderer().type() == "singlebandpseudocolor"
    span = november.temporalProperties().fixedTemporalRange()
    assert (span.begin().date(), span.end().date()) == (QDate(2025, 11, 1), QDate(2025, 11, 30))
    transform = QgsCoordinateTransform(forests.crs(), november.crs(), QgsProject.instance())
    selected_extent = transform.transformBoundingBox(forests.boundingBoxOfSelected())
    assert november.extent().contains(selected_extent)
    group = QgsProject.instance().layerTreeRoot().children()[0]
    # run folders and file names as Processing names them
    import re

    assert re.fullmatch(r"raster-collect-\d{8}-\d{6}-[0-9a-f]{4}", group.name())
    run_folder = tmp_path / "outputs" / group.name()
    assert (run_folder / "static-catalog_sentinel-2-l2a_NDVI_monthly_median.tif").exists()

    # the table layer holds exactly what the core engine computes
    from raster_collect_plugin.core.areas.aoi import load_aoi
    from raster_collect_plugin.core.composites.requests import CompositeRequest, Source
    from raster_collect_plugin.core.sources.providers import StaticCatalogProvider
    from raster_collect_plugin.core.zonal.pipeline import ZonalRequest, run_zonal

    core = run_zonal(ZonalRequest(CompositeRequest(
        aoi=load_aoi(small_sample.forests_path, ids=chosen),
        sources=[Source(StaticCatalogProvider("x", str(small_sample.catalog_path)),
                        ("sentinel-2-l2a",))],
        start=date(2025, 10, 1), end=date(2025, 12, 31), output_dir=tmp_path / "core",
        max_cloud_cover=100)))
    shown = {(f["forest_id"], f["period"]): f["mean"] for f in dock.table_layer.getFeatures()}
    assert len(shown) == len(core.forest_table) == 9
    for _, row in core.forest_table.iterrows():
        assert shown[(row["forest_id"], row["period"])] == pytest.approx(row["mean"], rel=1e-9)
    latest = QgsProject.instance().mapLayersByName("forests: latest statistics")[0]
    assert latest.renderer().type() == "graduatedSymbol"
    ranges = latest.renderer().ranges()
    assert [r.label() for r in ranges] == ["bare / no canopy", "sparse", "moderate", "healthy",
                                           "dense, healthy"]
    for lower, upper in zip(ranges, ranges[1:]):
        assert lower.lowerValue() < lower.upperValue() <= upper.lowerValue()
    # the temporal controller shows one month of the run at a time, the latest first
    controller = qgis_iface.mapCanvas().temporalController()
    assert controller.temporalExtents().begin().date() == QDate(2025, 10, 1)
    assert controller.totalFrameCount() == 3 and controller.currentFrameNumber() == 2
    assert controller.dateTimeRangeForFrameNumber(2).begin().date() == QDate(2025, 12, 1)
    assert controller.frameDuration().originalUnit() == qgis_enum("Qgis.TemporalUnit.Months")
    # the run has an event date: a change layer, after minus before, from the table's values
    [change] = QgsProject.instance().mapLayersByName("forests: NDVI change since 2025-11-13")
    # saved in the run folder, not a memory layer: it survives saving and reopening the project
    assert change.providerType() == "ogr"
    run_folder = Path(dock._last_run[0]["output_dir"])
    assert change.source() == f"{run_folder / 'forests_change.gpkg'}|layername=change"
    assert not list(run_folder.glob(".forests_change*"))
    medians = {(f["forest_id"], f["period"]): f["median"] for f in dock.table_layer.getFeatures()
               if f["usable"] and f["index"] == "NDVI"}
    for feature in change.getFeatures():
        forest = feature["forest_id"]
        if (forest, "2025-10") in medians and (forest, "2025-12") in medians:
            assert feature["NDVI_change"] == pytest.approx(
                medians[(forest, "2025-12")] - medians[(forest, "2025-10")])
    worst = min(change.getFeatures(), key=lambda f: f["NDVI_change"])["forest_id"]
    assert worst in small_sample.damaged_ids
    # click a forest: its series for every index and sensor of the run
    assert dock.pick_button.isEnabled()
    dock.pick_button.setChecked(True)
    assert qgis_iface.mapCanvas().mapTool() is dock._pick_tool
    dock._pick_tool.featureIdentified.emit(
        next(f for f in forests.getFeatures() if f["forest_id"] == worst))
    assert list(dock._forest_dialog.series) == ["NDVI"]
    assert "(Δ -" in dock._forest_dialog.figure.axes[0].texts[-1].get_text()
    dock.pick_button.setChecked(False)
    dock._forest_dialog.close()
    # the run's one-page report: map, forests ranked worst first, time series
    report = dock.write_report(tmp_path / "report.html")
    page = report.read_text()
    (tmp_path / "probe.txt").write_text("")  # the mode any new output gets (0666 - umask)
    assert stat.S_IMODE(report.stat().st_mode) == stat.S_IMODE(
        (tmp_path / "probe.txt").stat().st_mode)
    assert "NDVI change since 2025-11-13" in page
    assert page.count("data:image/png;base64,") == 2
    first_row = page.split("<tr><td>")[1].split("</td>")[0]
    assert first_row == str(worst)  # the worst forest heads the ranking
    assert "drop &gt; 0.30" in page or "drop 0.15 - 0.30" in page  # change, not damage words
    hexagons = QgsProject.instance().mapLayersByName("hexagons: latest statistics")[0]
    assert hexagons.featureCount() > 9 and hexagons.renderer().type() == "graduatedSymbol"
    assert {f["forest_id"] for f in hexagons.getFeatures()} == set(chosen)
    assert dock._chart is not None and len(dock._chart.series) == 3


def test_cancel_leaves_no_outputs_and_the_dock_usable(dock, forests, tmp_path):
    for key in ("catalog",):
        tick_source(dock, key)
    dock.custom_collections.setText("sentinel-2-l2a,landsat-c2-l2,sentinel-1-rtc")
    dock.hexagon_spin.setValue(0.05)
    dock.start_compute()
    task = dock.current_task
    loop = QEventLoop()
    timer = QTimer()
    timer.timeout.connect(lambda: loop.quit() if task.progress() > 0 else None)
    timer.start(20)
    QTimer.singleShot(60_000, loop.quit)
    loop.exec()
    timer.stop()
    dock.cancel()
    assert dock.status_text().startswith("Cancelling")
    task.progressChanged.emit(99.0)  # late progress must not overwrite "Cancelling…"
    assert dock.status_text().startswith("Cancelling") and dock.state == "cancelling"
    assert not dock.cancel_button.isEnabled()
    wait_for_job(dock)
    # one state everywhere: the dock, the task manager (complete, "(cancelled)": QGIS does not
    # announce "Task failed") and the disk (no file and no empty run folder)
    assert dock.state == "cancelled" and dock.status_text() == "Cancelled: no outputs were written."
    assert task.status() == QgsTask.TaskStatus.Complete
    assert task.description() == "Raster Collect: compute (cancelled)"
    outputs = tmp_path / "outputs"
    assert not outputs.exists() or list(outputs.rglob("*")) == []
    assert dock.search_button.isEnabled() and dock.compute_button.isEnabled()
    assert not dock.cancel_button.isEnabled()
    assert dock.last_error == ""


def closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_bad_input_gives_clear_messages(dock, forests, qgis_iface):
    dock.selected_only.setChecked(True)
    forests.removeSelection()
    dock.start_search()
    assert "nothing is selected" in dock.last_error and dock.current_task is None
    dock.selected_only.setChecked(False)
    dock.start_date.setDate(QDate(2025, 12, 31))
    dock.end_date.setDate(QDate(2025, 1, 1))
    dock.start_compute()
    assert "swap them" in dock.last_error
    dock.end_date.setDate(QDate(2026, 1, 31))
    dock.layer_combo.setLayer(None)
    dock.start_search()
    assert "No polygon layer" in dock.last_error


def test_geographic_layer_and_unreachable_provider(dock, small_sample, tmp_path):
    wgs84 = QgsVectorLayer(f"{small_sample.forests_wgs84_path}|layername=forests", "wgs84",
                           "ogr")
    QgsProject.instance().addMapLayer(wgs84)
    dock.layer_combo.setLayer(wgs84)
    assert "geographic CRS (will use UTM)" in dock.aoi_summary.text()
    assert wgs84.crs() == QgsCoordinateReferenceSystem("EPSG:4326")
    for row in range(dock.source_list.count() - 1):
        dock.source_list.item(row).setCheckState(Qt.CheckState.Unchecked)
    tick_source(dock, "custom")
    dock.custom_url.setText(f"http://127.0.0.1:{closed_port()}")
    dock.start_compute()
    wait_for_job(dock)
    assert "cannot open the STAC API" in dock.last_error
    assert dock.compute_button.isEnabled()


def test_buttons_and_status_always_visible_at_300_by_900(dock, qgis_iface):
    """The actions and the status sit outside the scroll area: visible whatever the form's
    length, and the status line keeps its height whatever the message."""
    window = qgis_iface.mainWindow()
    dock.setFloating(True)
    dock.resize(300, 900)
    dock.show()
    QgsApplication.processEvents()
    for section in (dock.aoi_section, dock.period_section, dock.outputs_section):
        section.setCollapsed(False)
    QgsApplication.processEvents()
    assert dock.scroll.widget().sizeHint().height() > 900  # the form itself needs scrolling
    for widget in (dock.search_button, dock.compute_button, dock.cancel_button, dock.progress,
                   dock.status):
        assert widget.isVisible()
        assert not dock.scroll.isAncestorOf(widget)
        top_left = widget.mapTo(dock, widget.rect().topLeft())
        bottom_right = widget.mapTo(dock, widget.rect().bottomRight())
        assert dock.rect().contains(top_left) and dock.rect().contains(bottom_right), widget
    height = dock.status.height()
    dock.set_status("x " * 400)
    QgsApplication.processEvents()
    assert dock.status.height() == height and dock.status_text() == "x " * 400
    assert window is not None
    # the details most runs never touch start collapsed
    fresh = RasterCollectDock(qgis_iface, window)
    assert fresh.outputs_section.dask.isCollapsed() and fresh.aoi_section.details.isCollapsed()
    assert not fresh.aoi_section.isCollapsed()
    fresh.shutdown()
    fresh.deleteLater()


def test_engine_prompt_does_not_widen_the_dock(dock):
    """The first-run prompt sits in the banner slot: it must fit the width the rest of the
    dock needs (300 px on the desktop), never push the dock wider."""
    dock.engine_prompt.setVisible(False)
    QgsApplication.processEvents()
    rest = dock.widget().minimumSizeHint().width()
    assert dock.engine_prompt.minimumSizeHint().width() <= rest


def test_sources_that_cannot_compute_the_indices_are_not_searched(dock):
    tick_source(dock, "pc-s1")
    tick_index(dock, "NDVI")
    kinds = [s.get("collections") for s in dock.chosen_sources()]
    assert ["sentinel-1-rtc"] not in kinds and dock.skipped_sources == [
        "Sentinel-1 RTC (radar) · Planetary Computer"]
    tick_index(dock, "VV")
    assert ["sentinel-1-rtc"] in [s.get("collections") for s in dock.chosen_sources()]


def test_try_it_on_sample_data_fills_the_form(dock, tmp_path, qgis_iface):
    dock.output_folder.setFilePath(str(tmp_path / "outputs"))
    dock.start_sample()
    assert wait_for_job(dock) == "sample", dock.last_error
    [layer] = QgsProject.instance().mapLayersByName("forests (sample)")
    assert layer.featureCount() == 6
    assert dock.layer_combo.currentLayer() is layer
    assert dock.id_field_combo.currentField() == "forest_id"
    [source] = dock.chosen_sources()
    assert source["kind"] == "static"
    assert source["href"] == str(tmp_path / "outputs" / "raster-collect-sample" / "catalog.json")
    assert source["collections"] == ["sentinel-2-l2a", "landsat-c2-l2"]
    assert dock.chosen_event_date() == date(2025, 11, 13)
    assert (dock.start_date.date(), dock.end_date.date()) == (QDate(2025, 10, 1),
                                                              QDate(2025, 12, 31))
    assert dock.status_text().startswith("Sample ready: 6 forests")
