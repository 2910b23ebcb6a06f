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
        assert wait_for(lambda: engine_state().ready is True
                        and engine_state().python == sys.executable)
        assert iface.messageBar().widgets == []
        assert widget.status_text() == READY and widget.last_error == ""
        engine_state().changed.emit()
        assert iface.messageBar().widgets == [] and widget.status_text() == READY
    finally:
        widget.shutdown()
        widget.deleteLater()
