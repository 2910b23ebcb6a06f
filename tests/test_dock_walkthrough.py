"""The dock as an analyst walks through it (sample, compute, cancel, storm, monitoring): what
the progress bar, status line and layers say at each step."""

import shutil

from qgis.core import QgsApplication
from qgis.PyQt.QtCore import QDate

from tests.test_dock import dock, forests, wait_for_job  # noqa: F401 (fixtures)


def test_a_new_job_starts_its_progress_bar_at_zero(dock):  # noqa: F811
    dock.start_search()
    assert wait_for_job(dock) == "search", dock.last_error
    assert dock.progress.value() == 100  # the finished job's bar is full...
    dock.start_search()
    # ... and the next job's starts empty: "search: starting" beside 100 % read as done
    assert dock.state == "running" and dock.progress.value() == 0
    assert dock.status_text().startswith("search: starting")
    assert wait_for_job(dock) == "search", dock.last_error


def test_expanding_monitoring_shows_no_empty_chart(qgis_app):
    from raster_collect_plugin.gui.monitoring_section import MonitoringSection

    section = MonitoringSection()
    section.show()
    section.setCollapsed(False)  # QgsCollapsibleGroupBox shows every child on expanding
    assert not section.chart.isVisibleTo(section)  # no empty combo and blank plot yet
    assert section.run_button.isVisibleTo(section)
    section.deleteLater()


def test_engine_errors_name_the_docks_fields_not_command_line_options(
        dock, small_sample, tmp_path):  # noqa: F811
    # the sample's scenes as a user's own catalog (the sample itself is refused before the run)
    own = shutil.copytree(small_sample.catalog_path.parent, tmp_path / "own",
                          ignore=shutil.ignore_patterns("sample.json"))
    dock.catalog_edit.setFilePath(str(own / "catalog.json"))
    section = dock.monitoring_section
    section.history_start.setDate(QDate(2025, 10, 1))
    section.history_end.setDate(QDate(2025, 12, 31))  # the last Sentinel-2 scene: 2025-12-20
    section.folder.setFilePath(str(tmp_path / "monitoring"))
    section.run_button.click()
    assert wait_for_job(dock) == "monitor"
    assert dock.state == "failed"
    assert "(Disturbance monitoring → to: 2025-12-20)" in dock.last_error, dock.last_error
    assert "--" not in dock.last_error and dock.status_text() == dock.last_error


def test_the_form_fits_a_300_pixel_dock_without_sideways_scrolling(dock):  # noqa: F811
    """The scroll area has no horizontal scroll bar: a form wider than it cut the right edge
    of every field (file buttons, spin arrows) and focusing a field shifted it sideways."""
    dock.setFloating(True)
    dock.resize(300, 900)
    dock.show()
    for section in (dock.aoi_section, dock.period_section, dock.outputs_section,
                    dock.storm_section, dock.monitoring_section, dock.scenes_box,
                    dock.chart_box):
        section.setCollapsed(False)
    QgsApplication.processEvents()
    wide = {section.title(): section.minimumSizeHint().width() for section in (
        dock.aoi_section, dock.period_section, dock.outputs_section, dock.storm_section,
        dock.monitoring_section, dock.scenes_box, dock.chart_box)}
    assert dock.scroll.horizontalScrollBar().maximum() == 0, (dock.scroll.viewport().width(),
                                                              wide)
