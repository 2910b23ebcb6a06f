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
