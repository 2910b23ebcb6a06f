"""The storm assessment from the dock (issue 32): the same engine as Processing and the command
line, results that explain themselves (layers on top, one change raster shown, the rest in a
collapsed hidden group, labels at compartment scales), replace-run vs keep, the ranked table
linked to the forests' selection, one vocabulary and one sign rule."""

from pathlib import Path

import pytest
from qgis.core import QgsProject, QgsVectorLayer
from qgis.PyQt.QtCore import QDate

from raster_collect_plugin.core.storm import CLASS_ORDER, DamageThresholds
from raster_collect_plugin.gui.run_layers import MORE, OUTPUT, run_groups
from raster_collect_plugin.gui.storm_layers import FOREST_LABELS_FROM, HEXAGON_LABELS_FROM
from raster_collect_plugin.gui.storm_panel import restore_storm_state, storm_state
from tests.test_dock import dock, forests, wait_for_job  # noqa: F401 (fixtures)


def run_storm(dock):  # noqa: F811
    dock.storm_button.click()
    assert wait_for_job(dock) == "storm", dock.last_error
    assert dock.last_error == ""
    return dock.storm_run


def test_storm_fields_default_to_the_core_and_round_trip(dock):  # noqa: F811
    defaults = DamageThresholds()
    assert dock.storm_section.thresholds() == pytest.approx(
        {name: getattr(defaults, name) for name in dock.storm_section.threshold_spins})
    assert (dock.before_days_spin.value(), dock.after_days_spin.value()) == (90, 45)
    assert dock.storm_section.threshold_box.isCollapsed()
    # one event date: the period section's and the storm section's
    dock.event_date.setDate(QDate(2024, 3, 2))
    assert dock.storm_event_date.date() == QDate(2024, 3, 2)
    dock.storm_event_date.setDate(QDate(2025, 11, 13))
    assert dock.event_date.date() == QDate(2025, 11, 13)
    dock.threshold_spins["moderate_fraction"].setValue(0.15)
    dock.before_days_spin.setValue(60)
    saved = storm_state(dock)
    assert saved["storm/event"] == "2025-11-13" and saved["storm/moderate_fraction"] == "0.15"
    dock.storm_section.reset_thresholds()
    dock.before_days_spin.setValue(90)
    dock.storm_event_date.setDate(QDate(2020, 1, 1))
    restore_storm_state(dock, saved)
    assert dock.threshold_spins["moderate_fraction"].value() == pytest.approx(0.15)
    assert dock.before_days_spin.value() == 60
    assert dock.storm_event_date.date() == QDate(2025, 11, 13)


def test_bad_thresholds_are_refused_before_any_job(dock):  # noqa: F811
    dock.threshold_spins["light_fraction"].setValue(0.6)  # above moderate and severe
    dock.storm_button.click()
    assert dock.current_task is None
    assert "light_fraction" in dock.last_error and "Storm thresholds" in dock.last_error


def test_storm_assessment_from_the_dock(dock, forests, small_sample, qgis_iface):  # noqa: F811
    dock.custom_collections.setText("sentinel-2-l2a,landsat-c2-l2")
    dock.hexagon_spin.setValue(4)
    dock.storm_event_date.setDate(QDate(2025, 11, 13))
    run = run_storm(dock)
    spec = dock._last_storm_spec
    # the job spec is the one Processing and the command line run (kind storm, core defaults)
    assert spec["kind"] == "storm" and spec["event_date"] == "2025-11-13"
    assert (spec["before_days"], spec["after_days"]) == (90, 45)
    assert spec["thresholds"] == pytest.approx(vars(DamageThresholds()))
    # the classes: the sample's damaged compartments are the flagged ones
    damage = run.damage
    classes = {f["forest_id"]: f["damage_class"] for f in damage.getFeatures()}
    assert {k for k, v in classes.items() if v in ("moderate", "severe")} == set(
        small_sample.damaged_ids)
    legend = [c.value() for c in damage.renderer().categories()]
    assert legend == list(CLASS_ORDER)
    # labels: id and name over damaged ha, at compartment scales only
    assert damage.labelsEnabled()
    settings = damage.labeling().settings()
    assert settings.isExpression and '"forest_id"' in settings.fieldName
    assert '"name"' in settings.fieldName and "damaged_ha" in settings.fieldName
    assert settings.scaleVisibility and settings.minimumScale == FOREST_LABELS_FROM
    assert run.hexagons.labeling().settings().minimumScale == HEXAGON_LABELS_FROM
    # the group is the top of the layer tree; damage first, then hexagons (hidden), then the
    # finest optical sensor's change raster; the rest in a collapsed hidden group
    root = QgsProject.instance().layerTreeRoot()
    assert root.children()[0] is run.group
    names = [n.name() for n in run.group.children()]
    assert names == ["forests: storm damage class",
                     "hexagons: storm damage (change since 2025-11-13)",
                     "sentinel-2-l2a: NDVI change (after - before)", MORE], names
    visible = {n.name(): n.isVisible() for n in run.group.findLayers()}
    assert visible["forests: storm damage class"]
    assert visible["sentinel-2-l2a: NDVI change (after - before)"]
    assert not visible["hexagons: storm damage (change since 2025-11-13)"]
    more = run.group.children()[-1]
    assert not more.isExpanded() and not more.itemVisibilityChecked()
    assert {n.name() for n in more.findLayers()} == {
        "landsat-c2-l2: NDVI change (after - before)",
        "all sensors: storm evidence (damaged pixels)"}
    assert all(not n.isVisible() for n in more.findLayers())
    # signs: dNDVI is after minus before (negative = loss), loss_ndvi is a loss (positive)
    worst = next(f for f in damage.getFeatures() if f["damage_class"] == "severe")
    assert worst["dNDVI"] < 0 < worst["loss_ndvi"]
    # the status counts the forests' classes and the hexagons
    status = dock.status_text()
    assert status.startswith("Storm: ") and "of 6 forests" in status and "hexagons" in status
    # results are never offered as the polygon layer
    assert all(layer.customProperty(OUTPUT) == "storm" for layer in
               [n.layer() for n in run.group.findLayers()])
    excepted = {layer.id() for layer in dock.layer_combo.exceptedLayerList()}
    assert damage.id() in excepted and run.hexagons.id() in excepted
    assert forests.id() not in excepted
    # the ranked table: the damage layer's attribute table, sorted by rank, selection linked
    qgis_iface.showAttributeTable.assert_called_with(damage)
    assert damage.attributeTableConfig().sortExpression() == '"rank"'
    columns = [c.name for c in damage.attributeTableConfig().columns()]
    assert columns[:6] == ["rank", "forest_id", "name", "damage_class", "damaged_ha",
                           "damaged_fraction"]
    ha = damage.editorWidgetSetup(damage.fields().indexOf("damaged_ha"))
    assert (ha.type(), ha.config()["Precision"]) == ("Range", 1)
    assert run.group.isExpanded() and run.group.findLayer(damage.id()).isExpanded()
    severe_ids = [f.id() for f in damage.getFeatures() if f["damage_class"] == "severe"]
    damage.selectByIds(severe_ids)
    assert sorted(f["forest_id"] for f in forests.getSelectedFeatures()) == sorted(
        f["forest_id"] for f in damage.getSelectedFeatures())
    forests.removeSelection()
    assert damage.selectedFeatureCount() == 0

    # a second run replaces the first (default) ...
    first_layers = set(run.group.findLayerIds())
    second = run_storm(dock)
    assert second.replaced == 1 and len(run_groups("storm")) == 1
    assert not first_layers & set(QgsProject.instance().mapLayers())
    # ... unless the user keeps runs
    dock.keep_runs.setChecked(True)
    third = run_storm(dock)
    assert third.replaced == 0 and len(run_groups("storm")) == 2
    assert QgsProject.instance().layerTreeRoot().children()[0] is third.group


def test_storm_tables_use_one_sign_rule(dock, small_sample):  # noqa: F811
    dock.custom_collections.setText("sentinel-2-l2a")
    run = run_storm(dock)
    folder = Path(dock._last_storm_spec["output_dir"])
    layer = QgsVectorLayer(f"{folder / 'storm_damage_ranking.gpkg'}|layername=storm_damage",
                           "t", "ogr")
    names = layer.fields().names() if layer.isValid() else []
    assert "severity_ndvi" not in names and "severity_vh_db" not in names
    for feature in run.damage.getFeatures():
        if feature["damage_class"] in ("moderate", "severe"):
            assert feature["dNDVI"] < 0 and feature["loss_ndvi"] > 0


def test_cancelling_a_storm_run_leaves_no_outputs(dock, tmp_path):  # noqa: F811
    from qgis.core import QgsTask
    from qgis.PyQt.QtCore import QEventLoop, QTimer

    dock.custom_collections.setText("sentinel-2-l2a,landsat-c2-l2,sentinel-1-rtc")
    dock.hexagon_spin.setValue(0.05)
    dock.storm_button.click()
    task = dock.current_task
    assert task is not None and task.spec["kind"] == "storm"
    assert not dock.storm_button.isEnabled() and dock.cancel_button.isEnabled()
    loop, timer = QEventLoop(), QTimer()
    timer.timeout.connect(lambda: loop.quit() if task.progress() > 0 else None)
    timer.start(20)
    QTimer.singleShot(60_000, loop.quit)
    loop.exec()
    timer.stop()
    assert task.progress() > 0  # the engine's progress reaches the dock's task
    dock.cancel()
    wait_for_job(dock)
    assert dock.state == "cancelled" and task.status() == QgsTask.TaskStatus.Complete
    assert task.description() == "Raster Collect: storm (cancelled)"
    outputs = tmp_path / "outputs"
    assert not outputs.exists() or list(outputs.rglob("*")) == []
    assert dock.storm_button.isEnabled() and run_groups("storm") == []
