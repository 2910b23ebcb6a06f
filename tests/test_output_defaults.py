"""Results default beside the project (else in Documents), never the temp folder; no run of
the dock or of Processing leaves a folder in the temp folder (success, failure or cancel)."""

import tempfile

import pytest
from qgis.core import QgsApplication, QgsProcessingException, QgsProcessingFeedback, QgsProject
from qgis.PyQt.QtCore import QStandardPaths

from raster_collect_plugin.default_outputs import default_output_root
from raster_collect_plugin.processing.provider import PROVIDER_ID
from tests.test_dock import dock, forests, wait_for_job  # noqa: F401 (fixtures)


@pytest.fixture
def private_temp(tmp_path, monkeypatch):
    """tempfile's folder for this test alone, to see what a run leaves there."""
    folder = tmp_path / "temp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.fixture
def saved_project(tmp_path, qgis_new_project):
    """The current project as if saved as <tmp_path>/project/forests.qgz."""
    (tmp_path / "project").mkdir()
    QgsProject.instance().setFileName(str(tmp_path / "project" / "forests.qgz"))
    yield tmp_path / "project"
    QgsProject.instance().setFileName("")


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("raster-collect"))


def test_default_is_beside_the_project_else_in_documents(tmp_path, qgis_new_project):
    documents = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
    assert str(default_output_root()) == f"{documents}/raster-collect"
    QgsProject.instance().setFileName(str(tmp_path / "forests.qgz"))
    try:
        assert default_output_root() == tmp_path / "raster-collect"
    finally:
        QgsProject.instance().setFileName("")


def test_processing_output_folders_default_beside_the_project(raster_collect_provider,
                                                              saved_project):
    registry = QgsApplication.processingRegistry()
    for name in ("compute_composites", "zonal_timeseries", "storm_damage",
                 "sentinel_hub_statistics"):
        algorithm = registry.createAlgorithmById(f"{PROVIDER_ID}:{name}")
        default = algorithm.parameterDefinition("OUTPUT_FOLDER").defaultValue()
        assert default == str(saved_project / "raster-collect"), name
    sample = registry.createAlgorithmById(f"{PROVIDER_ID}:create_sample_data")
    assert sample.parameterDefinition("OUTPUT_FOLDER").defaultValue() == str(
        saved_project / "raster-collect" / "raster-collect-sample")


def test_a_processing_run_without_a_folder_writes_beside_the_project_and_cleans_up(
        raster_collect_provider, saved_project, private_temp):
    import processing

    result = processing.run(f"{PROVIDER_ID}:create_sample_data", {"SMALL": True})
    folder = saved_project / "raster-collect" / "raster-collect-sample"
    assert result["FORESTS"].startswith(str(folder))
    assert (folder / "catalog.json").is_file()
    assert leftovers(private_temp) == []


def test_failed_and_cancelled_processing_runs_leave_no_job_folder(
        raster_collect_provider, small_sample, tmp_path, private_temp):
    import processing

    parameters = {"INPUT": str(small_sample.forests_path), "ID_FIELD": "no_such_field",
                  "SOURCES": [3], "CATALOG": str(small_sample.catalog_path),
                  "COLLECTIONS": "sentinel-2-l2a", "START": "2025-10-01",
                  "END": "2025-12-31", "MAX_CLOUD": 100,
                  "OUTPUT": str(tmp_path / "footprints.gpkg"), "ITEMS": str(tmp_path / "a.csv")}
    with pytest.raises(QgsProcessingException, match="no field 'no_such_field'"):
        processing.run(f"{PROVIDER_ID}:search_imagery", parameters)
    assert leftovers(private_temp) == []

    feedback = QgsProcessingFeedback()  # the user cancels once the run shows progress
    feedback.progressChanged.connect(lambda value: feedback.cancel() if value > 0 else None)
    parameters["ID_FIELD"] = "forest_id"
    with pytest.raises(QgsProcessingException, match="Cancelled"):
        processing.run(f"{PROVIDER_ID}:search_imagery", parameters, feedback=feedback)
    assert leftovers(private_temp) == []


def test_a_not_ready_engine_is_refused_once_before_the_run(raster_collect_provider, tmp_path,
                                                         private_temp, monkeypatch):
    import processing

    monkeypatch.setenv("RASTER_COLLECT_PYTHON", "/usr/bin/python3")  # lacks the engine's wheels
    feedback = QgsProcessingFeedback()
    with pytest.raises(QgsProcessingException) as refused:
        processing.run(f"{PROVIDER_ID}:create_sample_data",
                       {"OUTPUT_FOLDER": str(tmp_path / "sample"), "SMALL": True},
                       feedback=feedback)
    assert str(refused.value).count("The Raster Collect processing engine is not ready") == 1
    assert "Settings → Options → Raster Collect" in str(refused.value)
    assert leftovers(private_temp) == [] and not (tmp_path / "sample").exists()


def test_dock_defaults_beside_the_project_and_leaves_no_temp_folder(
        dock, saved_project, private_temp):  # noqa: F811
    dock.output_folder.setFilePath("")
    assert dock.output_root() == saved_project / "raster-collect"
    dock.end_date.setDate(dock.start_date.date().addDays(-1))  # refused before any job
    dock.start_compute()
    assert "before the start date" in dock.last_error
    assert leftovers(private_temp) == []
    dock.start_sample()
    assert wait_for_job(dock) == "sample", dock.last_error
    assert (saved_project / "raster-collect" / "raster-collect-sample" / "catalog.json").is_file()
    assert leftovers(private_temp) == []
