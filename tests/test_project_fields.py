"""Fields a dock section registers are saved in the project and back on reopen, beside the
dock's own choices and the temporal controller (issue 32); secrets are refused."""

import pytest
from qgis.core import QgsProject
from qgis.PyQt.QtCore import QDate, Qt
from qgis.PyQt.QtWidgets import QCheckBox, QComboBox, QDateEdit, QDoubleSpinBox, QLineEdit

from raster_collect_plugin.gui import project_fields
from raster_collect_plugin.gui.project_fields import register_field
from raster_collect_plugin.gui.results import configure_temporal
from raster_collect_plugin.gui.temporal_focus import temporal_controller
from tests.test_dock import dock, forests  # noqa: F401 (fixtures)


@pytest.fixture
def storm_section(dock):  # noqa: F811
    """Widgets a storm section would add to the dock, registered as it would register them."""
    before = dict(project_fields.FIELDS)
    dock.storm_severe_fraction = QDoubleSpinBox(dock)
    dock.storm_severe_fraction.setRange(0, 1)
    dock.storm_severe_fraction.setSingleStep(0.05)
    dock.storm_keep_runs = QCheckBox(dock)
    dock.storm_window = QComboBox(dock)
    dock.storm_window.addItems(["45 days", "90 days"])
    dock.storm_after = QDateEdit(dock)
    dock.storm_note = QLineEdit(dock)
    register_field("storm/severe_fraction", "storm_severe_fraction")
    register_field("storm/keep_runs", "storm_keep_runs")
    register_field("storm/window", "storm_window")
    register_field("storm/after", "storm_after")
    # a field with its own reading and writing: the note kept upper-case
    register_field("storm/note", "storm_note", read=lambda w: w.text().upper(),
                   write=lambda w, text: w.setText(f"restored {text}"))
    register_field("storm/not_on_this_dock", "no_such_widget")
    yield dock
    project_fields.FIELDS.clear()
    project_fields.FIELDS.update(before)


def test_registered_fields_and_the_controller_come_back_with_the_project(
        storm_section, tmp_path, qgis_iface, small_sample):
    widget = storm_section
    project = QgsProject.instance()
    widget.preset_combo.setCurrentText("Before/after an event")
    widget.start_date.setDate(QDate(2025, 10, 1))
    widget.end_date.setDate(QDate(2025, 12, 31))
    widget.storm_severe_fraction.setValue(0.65)
    widget.storm_keep_runs.setChecked(True)
    widget.storm_window.setCurrentText("90 days")
    widget.storm_after.setDate(QDate(2025, 12, 28))
    widget.storm_note.setText("block 7")
    controller = temporal_controller(qgis_iface.mapCanvas())
    configure_temporal(controller, ["2025-10", "2025-11", "2025-12"], "month")
    controller.setCurrentFrameNumber(0)
    saved = tmp_path / "storm.qgz"
    assert project.write(str(saved))
    assert project.readEntry("raster_collect", "dock/storm/severe_fraction")[0] == "0.65"

    # the session moves on, then the project is closed and opened again
    widget.storm_severe_fraction.setValue(0.5)
    widget.storm_keep_runs.setChecked(False)
    widget.storm_window.setCurrentText("45 days")
    widget.storm_after.setDate(QDate(2026, 1, 1))
    widget.storm_note.setText("")
    widget.catalog_edit.setFilePath("")
    widget.preset_combo.setCurrentText("Last 12 months")
    controller.setNavigationMode(controller.NavigationMode.NavigationOff)
    project.clear()
    assert project.read(str(saved))

    assert widget.storm_severe_fraction.value() == pytest.approx(0.65)
    assert widget.storm_keep_runs.isChecked()
    assert widget.storm_window.currentText() == "90 days"
    assert widget.storm_after.date() == QDate(2025, 12, 28)
    assert widget.storm_note.text() == "restored BLOCK 7"
    # the dock's own choices too
    assert widget.catalog_edit.filePath() == str(small_sample.catalog_path)
    assert widget.preset_combo.currentText() == "Before/after an event"
    assert (widget.start_date.date(), widget.end_date.date()) == (QDate(2025, 10, 1),
                                                              QDate(2025, 12, 31))
    assert widget.chosen_indices() == ["NDVI"]
    assert [widget.source_list.item(r).checkState() == Qt.CheckState.Checked
            for r in range(widget.source_list.count())].count(True) == 1
    # and the temporal controller: animated, three months, on the frame the user looked at
    assert controller.navigationMode() == controller.NavigationMode.Animated
    assert controller.totalFrameCount() == 3 and controller.currentFrameNumber() == 0
    assert controller.dateTimeRangeForFrameNumber(0).begin().date() == QDate(2025, 10, 1)


@pytest.mark.parametrize("key,widget", [("sentinel_hub/token", "token_edit"),
                                        ("copernicus/client", "client_secret_edit"),
                                        ("stac/login", "password_edit")])
def test_a_secret_is_never_registered(key, widget):
    with pytest.raises(ValueError, match="secret"):
        register_field(key, widget)
    assert key not in project_fields.FIELDS


def test_storm_monitoring_and_keep_runs_come_back_with_the_project(dock, tmp_path):  # noqa: F811
    """The dock's real sections register themselves: their values survive save and reopen."""
    project = QgsProject.instance()
    dock.storm_event_date.setDate(QDate(2025, 11, 13))
    dock.before_days_spin.setValue(60)
    dock.storm_section.threshold_spins["moderate_fraction"].setValue(0.15)
    dock.monitoring_section.history_start.setDate(QDate(2022, 1, 1))
    dock.monitoring_section.history_end.setDate(QDate(2024, 6, 30))
    dock.monitoring_section.folder.setFilePath(str(tmp_path / "watch"))
    dock.monitoring_section.set_cloud_limit(40.0)
    dock.monitoring_section.trend.setChecked(True)
    dock.monitoring_section.screen_sigma.setValue(4.0)
    dock.keep_runs.setChecked(True)
    saved = tmp_path / "sections.qgz"
    assert project.write(str(saved))

    dock.storm_section.reset_thresholds()
    dock.before_days_spin.setValue(90)
    dock.storm_event_date.setDate(QDate(2020, 1, 1))
    dock.monitoring_section.history_start.setDate(QDate(2019, 1, 1))
    dock.monitoring_section.folder.setFilePath("")
    dock.monitoring_section.set_cloud_limit(None)
    dock.monitoring_section.trend.setChecked(False)
    dock.monitoring_section.screen_sigma.setValue(5.0)
    dock.keep_runs.setChecked(False)
    project.clear()
    assert project.read(str(saved))

    assert dock.storm_event_date.date() == QDate(2025, 11, 13)
    assert dock.before_days_spin.value() == 60
    assert dock.storm_section.threshold_spins["moderate_fraction"].value() == pytest.approx(0.15)
    assert dock.monitoring_section.history_start.date() == QDate(2022, 1, 1)
    assert dock.monitoring_section.history_end.date() == QDate(2024, 6, 30)
    assert dock.monitoring_section.folder.filePath() == str(tmp_path / "watch")
    assert dock.monitoring_section.cloud_limit() == 40.0
    assert dock.monitoring_section.monitoring_keys() == {"trend": True, "screen_sigma": 4.0}
    assert dock.keep_runs.isChecked()
