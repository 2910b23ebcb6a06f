"""A compute run that explains itself (issue 32): one index of the finest sensor shown and the
rest in a collapsed hidden group, the run on top, change since the event per forest and per
hexagon (labelled), replace-run vs keep, one footprints layer per project, and no result layer
offered as the forests."""

from qgis.core import QgsProject, QgsRasterLayer
from qgis.PyQt.QtCore import QDate, Qt

from raster_collect_plugin.gui.results import ResultsPresenter
from raster_collect_plugin.gui.run_layers import MORE, OUTPUT, run_groups
from raster_collect_plugin.gui.storm_layers import FOREST_LABELS_FROM, HEXAGON_LABELS_FROM
from tests.test_dock import dock, forests, wait_for_job  # noqa: F401 (fixtures)


def tick_indices(dock, names):  # noqa: F811
    for row in range(dock.index_list.count()):
        item = dock.index_list.item(row)
        item.setCheckState(Qt.CheckState.Checked if item.data(Qt.ItemDataRole.UserRole) in names
                           else Qt.CheckState.Unchecked)


def compute(dock):  # noqa: F811
    dock.start_compute()
    assert wait_for_job(dock) == "zonal", dock.last_error
    assert dock.last_error == ""
    return dock.presenter.run


def test_compute_run_shows_one_index_of_the_finest_sensor(dock, forests, small_sample):  # noqa: F811
    dock.custom_collections.setText("landsat-c2-l2,sentinel-2-l2a")
    tick_indices(dock, ["NDVI", "EVI"])
    dock.hexagon_spin.setValue(4)
    dock.preset_combo.setCurrentText("Before/after an event")
    dock.start_date.setDate(QDate(2025, 10, 1))
    dock.end_date.setDate(QDate(2025, 12, 31))
    run = compute(dock)
    root = QgsProject.instance().layerTreeRoot()
    assert root.children()[0] is run.group
    top = [n.name() for n in run.group.children()]
    assert "sentinel-2-l2a NDVI" in top and MORE in top
    assert not {"landsat-c2-l2 NDVI", "sentinel-2-l2a EVI", "landsat-c2-l2 EVI"} & set(top)
    more = next(n for n in run.group.children() if n.name() == MORE)
    assert not more.isExpanded() and not more.itemVisibilityChecked()
    hidden = {n.name() for n in more.children()}
    assert {"landsat-c2-l2 NDVI", "sentinel-2-l2a EVI", "landsat-c2-l2 EVI"} <= hidden
    # every raster shown is a Sentinel-2 NDVI month (Landsat 30 m never over Sentinel-2 10 m)
    shown = [n.layer() for n in run.group.findLayers()
             if n.isVisible() and isinstance(n.layer(), QgsRasterLayer)]
    assert shown and all(run.group.findLayer(r.id()).parent().name() == "sentinel-2-l2a NDVI"
                         for r in shown)
    # change since the event per forest (labelled) and per hexagon (hidden, labelled)
    assert run.change is not None and run.change.labelsEnabled()
    settings = run.change.labeling().settings()
    assert '"forest_id"' in settings.fieldName and "NDVI_change" in settings.fieldName
    assert settings.scaleVisibility and settings.minimumScale == FOREST_LABELS_FROM
    hexagons = run.hexagon_change
    assert hexagons is not None and hexagons.name().startswith("hexagons: NDVI change since")
    assert hexagons.source().endswith("hexagons_change.gpkg|layername=change")
    assert hexagons.labeling().settings().minimumScale == HEXAGON_LABELS_FROM
    values = [f["NDVI_change"] for f in hexagons.getFeatures() if f["NDVI_change"]]
    assert values and min(values) < -0.1  # the storm's losses are negative
    assert not run.group.findLayer(hexagons.id()).itemVisibilityChecked()
    assert "hexagons" in dock.status_text()
    # results tagged and never offered as the polygon layer
    latest = QgsProject.instance().mapLayersByName("forests: latest statistics")[0]
    assert latest.customProperty(OUTPUT) == "zonal"
    excepted = {layer.id() for layer in dock.layer_combo.exceptedLayerList()}
    assert {latest.id(), run.change.id(), hexagons.id()} <= excepted
    assert forests.id() not in excepted

    # replace the previous run (default), or keep it
    first = set(run.group.findLayerIds())
    second = compute(dock)
    assert second.replaced == 1 and len(run_groups("zonal")) == 1
    assert not first & set(QgsProject.instance().mapLayers())
    dock.keep_runs.setChecked(True)
    third = compute(dock)
    assert third.replaced == 0 and len(run_groups("zonal")) == 2


def test_one_footprints_layer_per_project(dock, forests, tmp_path):  # noqa: F811
    dock.start_search()
    assert wait_for_job(dock) == "search", dock.last_error
    dock.start_search()
    assert wait_for_job(dock) == "search", dock.last_error
    assert len(QgsProject.instance().mapLayersByName("scene footprints")) == 1
    # another presenter (a second dock, a reopened project) replaces it too
    path = dock.footprint_layer.source().split("|")[0]
    other = ResultsPresenter(None)
    other.show_footprints(path, folder=str(tmp_path / "elsewhere"))
    [footprints] = QgsProject.instance().mapLayersByName("scene footprints")
    assert footprints.customProperty(OUTPUT) == "footprints"
    assert footprints.id() in {layer.id() for layer in dock.layer_combo.exceptedLayerList()}
