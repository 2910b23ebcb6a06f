"""The Disturbance monitoring Processing algorithm (issue 30) on a small disturbance scenario:
its layers load like any Processing output, and a rerun on the same folder continues."""

from datetime import date

import pytest
from qgis.core import QgsRasterLayer, QgsVectorLayer

from raster_collect_plugin.core.sample.disturbance_catalog import write_scenario
from raster_collect_plugin.core.sample.disturbance_scenario import Event, ScenarioSpec
from tests.test_processing import run, run_like_the_toolbox

SPEC = ScenarioSpec(start=date(2024, 1, 1), end=date(2025, 6, 30), columns=2, rows=1,
                    events=(Event(1, "windthrow", date(2025, 3, 14)),))
STATIC = 3  # "Static STAC catalog"


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    return write_scenario(tmp_path_factory.mktemp("scenario"), SPEC)


def _parameters(scenario, folder, end):
    return {"INPUT": str(scenario.compartments), "ID_FIELD": "forest_id", "SOURCES": [STATIC],
            "CATALOG": str(scenario.catalog), "START": "2024-01-01", "END": end,
            "MAX_CLOUD": 100, "HISTORY_END": "2024-12-31", "OUTPUT_FOLDER": str(folder)}


def test_monitor_disturbance_algorithm(raster_collect_provider, scenario, tmp_path,
                                       qgis_new_project):
    folder = tmp_path / "monitoring"
    result, loaded = run_like_the_toolbox("monitor_disturbance",
                                          _parameters(scenario, folder, "2025-06-30"))
    assert sorted(loaded) == sorted([result["COMPARTMENTS"], result["STATUS"],
                                     result["ALERTS"]])
    layer = QgsVectorLayer(result["COMPARTMENTS"], "monitoring", "ogr")
    alerts = {f["forest_id"]: f["alert"] for f in layer.getFeatures()}
    assert alerts == {101: "none", 102: "disturbed"}
    assert QgsRasterLayer(result["STATUS"], "status").isValid()
    patches = QgsVectorLayer(result["ALERTS"], "alerts", "ogr")
    assert {f["forest_id"] for f in patches.getFeatures()} == {102}
    # later, on the same folder: nothing new, nothing newly confirmed
    again = run("monitor_disturbance", _parameters(scenario, folder, "2025-06-30"))
    assert QgsVectorLayer(again["ALERTS"], "alerts", "ogr").featureCount() == 0


def test_a_history_shorter_than_a_year_is_a_warning_in_the_log(raster_collect_provider,
                                                              scenario, tmp_path):
    import processing
    from qgis.core import QgsProcessingFeedback

    class Log(QgsProcessingFeedback):
        warnings = []

        def pushWarning(self, text):
            self.warnings.append(text)

    log = Log()
    processing.run("raster_collect:monitor_disturbance", dict(
        _parameters(scenario, tmp_path / "monitoring", "2025-02-28"), START="2024-11-01"),
        feedback=log)
    assert any("(2024-11-01 .. 2024-12-31) is 61 days, less than a year" in text
               for text in log.warnings)
