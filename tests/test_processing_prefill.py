"""Processing dialogs start from the dock's last run (issue 32): forests layer, catalog,
collections, dates and the event, instead of "scene footprints", today and an empty catalog."""

import pytest
from qgis.core import QgsApplication, QgsProject
from qgis.PyQt.QtCore import QDate

from raster_collect_plugin.processing.provider import PROVIDER_ID
from tests.test_dock import dock, forests, wait_for_job  # noqa: F401 (fixtures)

PREFILLED = ("storm_damage", "zonal_timeseries", "compute_composites")


@pytest.fixture
def provider(raster_collect_provider, qgis_iface, monkeypatch):
    from qgis.gui import QgsBrowserGuiModel

    model = QgsBrowserGuiModel()  # the toolbox dialog asks QGIS's interface for it
    monkeypatch.setattr(qgis_iface, "browserModel", lambda: model, raising=False)
    yield raster_collect_provider


def dialog_values(algorithm_id):
    """The parameters as a freshly opened toolbox dialog fills them in."""
    from processing.gui.AlgorithmDialog import AlgorithmDialog

    algorithm = QgsApplication.processingRegistry().createAlgorithmById(
        f"{PROVIDER_ID}:{algorithm_id}")
    dialog = AlgorithmDialog(algorithm)
    try:
        return dialog.mainWidget().createProcessingParameters()
    finally:
        dialog.deleteLater()


def day(value):
    """A date parameter's value as a QDate (date widgets give QDate, defaults QDateTime)."""
    return value if isinstance(value, QDate) else value.date()


def test_without_a_dock_run_the_defaults_stay(provider, qgis_new_project):
    from qgis.core import QgsVectorLayer

    layer = QgsVectorLayer("Polygon?crs=EPSG:4326&field=forest_id:integer", "forests", "memory")
    QgsProject.instance().addMapLayer(layer)
    values = dialog_values("storm_damage")
    assert not values.get("CATALOG")
    assert day(values["EVENT_DATE"]) != QDate(2025, 11, 13)
    # the indices every door defaults to (core/runs/defaults.py): NDVI and EVI
    from raster_collect_plugin.core.runs import DEFAULT_INDICES
    from raster_collect_plugin.processing.common import INDEX_NAMES

    for algorithm in ("zonal_timeseries", "compute_composites"):
        chosen = [INDEX_NAMES[i] for i in dialog_values(algorithm)["INDICES"]]
        assert chosen == list(DEFAULT_INDICES) == ["NDVI", "EVI"], algorithm


def test_dialogs_prefill_from_the_dock_run(provider, dock, forests, small_sample,  # noqa: F811
                                           qgis_iface):
    dock.storm_event_date.setDate(QDate(2025, 11, 13))
    dock.start_search()
    assert wait_for_job(dock) == "search", dock.last_error
    assert QgsProject.instance().mapLayersByName("scene footprints")
    for algorithm in PREFILLED:
        values = dialog_values(algorithm)
        assert values["INPUT"] == forests.id(), algorithm
        assert values["ID_FIELD"] == "forest_id"
        assert values["CATALOG"] == str(small_sample.catalog_path)
        assert values["COLLECTIONS"] == "sentinel-2-l2a"
        assert values["SOURCES"] == [3]  # Static STAC catalog
        if algorithm == "storm_damage":
            assert day(values["EVENT_DATE"]) == QDate(2025, 11, 13)
            assert (values["BEFORE_DAYS"], values["AFTER_DAYS"]) == (90, 45)
        else:
            assert day(values["START"]) == QDate(2025, 10, 1)
            assert day(values["END"]) == QDate(2025, 12, 31)
            assert values["INDICES"] == [0]  # NDVI, as ticked in the dock
        assert values["MAX_CLOUD"] == 100
