"""Processing's *Create sample data* makes the disturbance sample too (as the dock's monitoring
section and `raster-collect sample --disturbance` do) and loads its compartments; the storm
sample's parameters (SMALL alone) keep working for batch runs and qgis_process scripts."""

import json

import pytest
from qgis.core import QgsProcessingException, QgsProject

from raster_collect_plugin.core.sample import sample_of_catalog
from raster_collect_plugin.processing.provider import PROVIDER_ID
from tests.test_output_defaults import saved_project  # noqa: F401 (fixture)
from tests.test_processing import run_like_the_toolbox

DISTURBANCE = 1  # the SAMPLE choice


@pytest.fixture(scope="module")
def provider(raster_collect_provider):
    return raster_collect_provider


def test_the_disturbance_sample_loads_its_compartments(provider, tmp_path, qgis_new_project):
    folder = tmp_path / "disturbance"
    result, loaded = run_like_the_toolbox("create_sample_data", {
        "OUTPUT_FOLDER": str(folder), "SAMPLE": DISTURBANCE})
    assert list(loaded) == [result["FORESTS"]]
    assert result["FORESTS"] == f"{folder / 'compartments.gpkg'}|layername=compartments"
    [forests] = QgsProject.instance().mapLayersByName("forests (disturbance sample)")
    assert forests.featureCount() == 8
    assert sorted(f["forest_id"] for f in forests.getFeatures()) == list(range(101, 109))
    assert result["CATALOG"] == str(folder / "catalog.json")
    assert sample_of_catalog(result["CATALOG"]) == "disturbance"
    assert (result["HISTORY_START"], result["HISTORY_END"]) == ("2023-01-01", "2024-12-31")
    assert result["REFERENCES"] == str(folder / "references.gpkg")
    links = json.loads((folder / "catalog.json").read_text())["links"]
    assert {link["href"].split("/")[1] for link in links if link["rel"] == "child"} == {
        "sentinel-2-l2a", "landsat-c2-l2"}


def test_small_with_the_disturbance_sample_is_refused_before_any_work(provider, tmp_path):
    import processing

    with pytest.raises(QgsProcessingException, match=(
            r"^'Small storm sample \(6 compartments, 3 months\)' is for the storm sample "
            r"only: untick it for the disturbance sample\.$")):
        processing.run(f"{PROVIDER_ID}:create_sample_data", {
            "OUTPUT_FOLDER": str(tmp_path / "s"), "SAMPLE": DISTURBANCE, "SMALL": True})
    assert not (tmp_path / "s").exists()


def test_old_parameters_still_make_the_storm_sample(provider, tmp_path, qgis_new_project):
    """A batch run or qgis_process script of before: no SAMPLE, SMALL as qgis_process gives it."""
    result, loaded = run_like_the_toolbox("create_sample_data", {
        "OUTPUT_FOLDER": str(tmp_path / "storm"), "SMALL": "true"})
    assert sample_of_catalog(result["CATALOG"]) == "storm"
    [forests] = QgsProject.instance().mapLayersByName("forests (sample)")
    assert forests.featureCount() == 6 and list(loaded) == [result["FORESTS"]]
    assert result.get("HISTORY_START") is None


def test_the_default_folder_keeps_the_two_samples_apart(provider, saved_project):  # noqa: F811
    import processing

    storm = processing.run(f"{PROVIDER_ID}:create_sample_data", {"SMALL": True})
    disturbance = processing.run(f"{PROVIDER_ID}:create_sample_data", {"SAMPLE": DISTURBANCE})
    root = saved_project / "raster-collect"
    assert storm["CATALOG"] == str(root / "raster-collect-sample" / "catalog.json")
    assert disturbance["CATALOG"] == str(
        root / "raster-collect-disturbance-sample" / "catalog.json")
    assert sample_of_catalog(storm["CATALOG"]) == "storm"  # not overwritten
    assert sample_of_catalog(disturbance["CATALOG"]) == "disturbance"
