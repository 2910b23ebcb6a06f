"""What a batch user of the Processing algorithms met (qgis_process sweep): a search whose
sources all failed, messages naming command-line options, outputs an algorithm declares."""

import os
import socket
from pathlib import Path

import pytest
from qgis.core import QgsProcessingException, QgsProcessingFeedback

from raster_collect_plugin.core.sample.disturbance_catalog import write_scenario
from tests.test_monitoring_processing import SPEC
from tests.test_monitoring_processing import _parameters as monitoring_parameters
from tests.test_processing import INDICES_NDVI_EVI, SAMPLE_SOURCE, run, source_parameters

CUSTOM_STAC = 4  # "Custom STAC API" in common.SOURCE_NAMES


@pytest.fixture(scope="module")
def provider(raster_collect_provider):
    return raster_collect_provider


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    """The monitoring tests' small disturbance scenario (2 compartments, one windthrow)."""
    return write_scenario(tmp_path_factory.mktemp("scenario"), SPEC)


class RecordingFeedback(QgsProcessingFeedback):
    def __init__(self):
        super().__init__()
        self.errors = []

    def reportError(self, error, fatalError=False):  # noqa: N802, N803
        self.errors.append(error)


def closed_loopback_url() -> str:
    """A loopback STAC API address nothing listens on (connections are refused at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def test_search_fails_when_every_source_failed(provider, small_sample, tmp_path):
    output = tmp_path / "footprints.gpkg"
    parameters = source_parameters(small_sample, SOURCES=[CUSTOM_STAC],
                                   STAC_URL=closed_loopback_url(), OUTPUT=str(output),
                                   ITEMS=str(tmp_path / "scenes.csv"))
    with pytest.raises(QgsProcessingException) as raised:
        run("search_imagery", parameters)
    message = str(raised.value)
    assert message.startswith("No scenes: the search failed. Custom STAC: cannot open the "
                              "STAC API at http://127.0.0.1:")
    assert message.count("Custom STAC") == 1
    assert not output.exists() and not (tmp_path / "scenes.csv").exists()


def test_search_keeps_the_scenes_of_the_sources_that_answered(provider, small_sample,
                                                               tmp_path):
    import processing

    feedback = RecordingFeedback()
    parameters = source_parameters(small_sample, SOURCES=[SAMPLE_SOURCE, CUSTOM_STAC],
                                   STAC_URL=closed_loopback_url(),
                                   OUTPUT=str(tmp_path / "footprints.gpkg"))
    result = processing.run("raster_collect:search_imagery", parameters, feedback=feedback)
    expected = len(small_sample.items["sentinel-2-l2a"])
    from qgis.core import QgsVectorLayer

    assert QgsVectorLayer(result["OUTPUT"], "f", "ogr").featureCount() == expected
    [error] = feedback.errors
    assert error.startswith("Custom STAC: cannot open the STAC API") and \
        error.count("Custom STAC") == 1


def test_monitoring_conflict_names_the_folder_not_command_line_options(
        provider, scenario, tmp_path):
    folder = tmp_path / "monitoring"
    run("monitor_disturbance", monitoring_parameters(scenario, folder, "2025-06-30"))
    other = dict(monitoring_parameters(scenario, folder, "2025-06-30"), CONFIRM=4)
    with pytest.raises(QgsProcessingException) as raised:
        run("monitor_disturbance", other)
    message = str(raised.value)
    # its parameter's label (it named the spec's key, monitoring.confirm)
    assert "holds results of another run (different 'Anomalies that confirm' (the folder's " \
        "run: 3, this run: 4))" in message
    assert message.endswith("choose another output folder, or delete those results and "
                            "run again")
    assert "--" not in message


def test_validation_of_a_folder_without_monitoring_names_the_algorithm(provider, scenario,
                                                                        tmp_path):
    with pytest.raises(QgsProcessingException) as raised:
        run("validate_monitoring", {"MONITORING": str(scenario.root),
                                    "REFERENCES": str(scenario.references),
                                    "DATE_FIELD": "date",
                                    "OUTPUT_FOLDER": str(tmp_path / "validation")})
    message = str(raised.value)
    assert message.endswith("give the monitoring folder 'Disturbance monitoring' wrote")
    assert "raster-collect" not in message and "--" not in message


def test_sample_data_returns_its_output_folder(provider, tmp_path):
    folder = tmp_path / "ünï cødé dir" / "sample"
    result = run("create_sample_data", {"OUTPUT_FOLDER": str(folder), "SMALL": True})
    assert result["OUTPUT_FOLDER"] == str(folder)  # declared: a model can chain on it
    assert result["CATALOG"] == str(folder / "catalog.json")
    assert (folder / "catalog.json").is_file()


def test_a_band_that_does_not_exist_is_said_as_the_fix_not_as_a_crash(provider, small_sample,
                                                                        tmp_path):
    from osgeo import gdal, osr
    from qgis.core import QgsVectorLayer

    extent = QgsVectorLayer(str(small_sample.forests_path), "f", "ogr").extent()
    raster = tmp_path / "three bands.tif"
    dataset = gdal.GetDriverByName("GTiff").Create(str(raster), 20, 20, 3, gdal.GDT_Float32)
    dataset.SetGeoTransform((extent.xMinimum(), extent.width() / 20, 0,
                             extent.yMaximum(), 0, -extent.height() / 20))
    crs = osr.SpatialReference()
    crs.ImportFromEPSG(28356)
    dataset.SetProjection(crs.ExportToWkt())
    for band in (1, 2, 3):
        dataset.GetRasterBand(band).Fill(0.5)
    dataset = None
    with pytest.raises(QgsProcessingException) as raised:
        run("zonal_timeseries", {"INPUT": str(small_sample.forests_path),
                                 "ID_FIELD": "forest_id", "RASTER": str(raster),
                                 "BANDS": "1,7", "OUTPUT_FOLDER": str(tmp_path / "out")})
    assert str(raised.value) == "band(s) [7] do not exist: the raster has bands 1-3"


def test_an_unknown_authentication_id_is_named(provider, small_sample, tmp_path):
    with pytest.raises(QgsProcessingException) as raised:
        run("sentinel_hub_statistics", {"INPUT": str(small_sample.forests_path),
                                        "ID_FIELD": "forest_id", "AUTH": "nosuch1",
                                        "START": "2025-10-01", "END": "2025-12-31",
                                        "OUTPUT_FOLDER": str(tmp_path / "hub")})
    assert str(raised.value).startswith(
        "There is no authentication configuration 'nosuch1' in this QGIS profile")
    assert not (tmp_path / "hub").exists()


def test_dates_in_the_wrong_order_are_refused_before_the_run(provider, small_sample, tmp_path):
    from qgis.core import QgsApplication, QgsProcessingContext

    algorithm = QgsApplication.processingRegistry().createAlgorithmById(
        "raster_collect:zonal_timeseries")
    parameters = source_parameters(small_sample, START="2025-12-31", END="2025-10-01",
                                   OUTPUT_FOLDER=str(tmp_path / "out"))
    ok, message = algorithm.checkParameterValues(parameters, QgsProcessingContext())
    assert not ok
    assert message == ("The end date (2025-10-01) is before the start date (2025-12-31): "
                       "swap them.")
    with pytest.raises(QgsProcessingException, match="is before the start date"):
        run("zonal_timeseries", parameters)
    assert not (tmp_path / "out").exists()


def test_a_refused_monitoring_rerun_keeps_the_folders_forests(provider, scenario, tmp_path):
    from qgis.core import QgsVectorLayer

    folder = tmp_path / "monitoring"
    run("monitor_disturbance", monitoring_parameters(scenario, folder, "2025-06-30"))
    kept = (folder / "forests.gpkg").read_bytes()
    subset = f"{scenario.compartments}|layername=compartments|subset=forest_id = 101"
    other = dict(monitoring_parameters(scenario, folder, "2025-06-30"), INPUT=subset)
    with pytest.raises(QgsProcessingException,
                       match=r"different forests \(the selection, or their polygons\)"):
        run("monitor_disturbance", other)
    # the folder still holds its own two compartments, so it can be continued
    assert (folder / "forests.gpkg").read_bytes() == kept
    assert QgsVectorLayer(str(folder / "forests.gpkg"), "f", "ogr").featureCount() == 2
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith(".forests")) == []
    again = run("monitor_disturbance", monitoring_parameters(scenario, folder, "2025-06-30"))
    assert QgsVectorLayer(again["ALERTS"], "alerts", "ogr").featureCount() == 0


def test_a_failed_first_monitoring_run_leaves_no_folder(provider, scenario, tmp_path):
    folder = tmp_path / "monitoring"
    parameters = dict(monitoring_parameters(scenario, folder, "2024-06-30"))
    with pytest.raises(QgsProcessingException, match="'End date' .2024-06-30. must be after "
                                                     "'End of the stable history"):
        run("monitor_disturbance", parameters)  # refused in the parameters' words, at once
    assert not folder.exists()
    # a run that fails in the engine, after the folder was made: a history too short to fit
    short = dict(parameters, START="2024-11-15", END="2025-02-28")
    with pytest.raises(QgsProcessingException, match="start the history earlier"):
        run("monitor_disturbance", short)
    assert not folder.exists()
    early = dict(parameters, HISTORY_END="2023-12-31")  # before the start: said at once
    with pytest.raises(QgsProcessingException, match="The history must end"):
        run("monitor_disturbance", early)
    assert not folder.exists()


def test_relative_paths_are_read_from_the_working_folder(provider, small_sample, tmp_path,
                                                         monkeypatch):
    """As qgis_process and the native algorithms read them, not from the engine's scratch
    folder (the outputs were written there and deleted with it, the run said it succeeded)."""
    import shutil

    from qgis.core import QgsVectorLayer

    shutil.copytree(small_sample.catalog_path.parent, tmp_path / "sample dir")
    monkeypatch.chdir(tmp_path)
    catalog = os.path.join("sample dir", small_sample.catalog_path.name)
    result = run("zonal_timeseries", source_parameters(
        small_sample, CATALOG=catalog, OUTPUT_FOLDER="rel out", INDICES=INDICES_NDVI_EVI))
    folder = Path(result["OUTPUT_FOLDER"])
    assert folder.parent == tmp_path / "rel out"
    table = QgsVectorLayer(result["TABLE"], "t", "ogr")
    assert table.featureCount() == 6 * 3 * 2  # forests, months, NDVI and EVI
    composites = sorted(p.name for p in folder.glob("*_NDVI_monthly_median.tif"))
    assert composites == ["static-catalog_sentinel-2-l2a_NDVI_monthly_median.tif"]
    again = run("zonal_timeseries", {"INPUT": str(small_sample.forests_path),
                                     "ID_FIELD": "forest_id",
                                     "RASTER": os.path.relpath(folder / composites[0]),
                                     "OUTPUT_FOLDER": "rel out"})
    assert QgsVectorLayer(again["TABLE"], "t", "ogr").featureCount() == 18


def test_an_unreadable_scene_url_is_bad_input_not_a_crash(provider, small_sample, tmp_path):
    missing = tmp_path / "missing-item.json"
    with pytest.raises(QgsProcessingException) as raised:
        run("storm_damage", source_parameters(
            small_sample, EVENT_DATE="2025-11-13", AFTER_ITEMS=str(missing),
            OUTPUT_FOLDER=str(tmp_path / "storm")))
    assert str(raised.value).startswith(f"cannot read the STAC item {missing}: ")
    assert "unexpected" not in str(raised.value) and "see the log" not in str(raised.value)


def test_a_failed_run_leaves_no_folder_it_made(provider, small_sample, tmp_path):
    chosen = tmp_path / "new" / "runs"  # neither exists before the run
    with pytest.raises(QgsProcessingException, match="nothing to compute"):
        run("zonal_timeseries", source_parameters(
            small_sample, START="2030-01-01", END="2030-03-01", OUTPUT_FOLDER=str(chosen)))
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "kept").mkdir()  # a folder the user made stays, empty or not
    with pytest.raises(QgsProcessingException, match="nothing to compute"):
        run("zonal_timeseries", source_parameters(
            small_sample, START="2030-01-01", END="2030-03-01",
            OUTPUT_FOLDER=str(tmp_path / "kept")))
    assert [p.name for p in tmp_path.iterdir()] == ["kept"]
    assert list((tmp_path / "kept").iterdir()) == []


def test_storm_scene_lists_keep_the_spaces_of_local_paths():
    """One item per line; a line of URLs (qgis_process) split at spaces; a local path with a
    space in a folder name stays whole (it was cut in two)."""
    from raster_collect_plugin.processing.storm_damage import item_list

    assert item_list("/data/storm scenes/a.json\n  C:\\Storm 2025\\b.json \n\n") == \
        ["/data/storm scenes/a.json", "C:\\Storm 2025\\b.json"]
    assert item_list("https://x/a.json https://x/b.json\nhttps://x/c.json") == \
        ["https://x/a.json", "https://x/b.json", "https://x/c.json"]
    assert item_list("") == [] and item_list(None) == []


def test_compartments_with_heights_give_the_composites_of_their_footprints(provider,
                                                                          small_sample,
                                                                          tmp_path):
    """A PolygonZ layer (a GPS or drone survey) in the Processing door stopped the engine with
    a traceback from the footprint's reprojection; its composites are the flat layer's."""
    import geopandas as gpd
    import shapely
    from osgeo import gdal
    from qgis.core import QgsVectorLayer, QgsWkbTypes

    forests = gpd.read_file(small_sample.forests_path).head(2)
    forests.set_geometry(shapely.force_3d(forests.geometry.values, 41.5)).to_file(
        tmp_path / "heights.gpkg")
    forests.to_file(tmp_path / "flat.gpkg")
    assert QgsWkbTypes.hasZ(QgsVectorLayer(str(tmp_path / "heights.gpkg"), "z", "ogr").wkbType())
    pixels = {}
    for name in ("flat", "heights"):
        result = run("compute_composites", source_parameters(
            small_sample, INPUT=str(tmp_path / f"{name}.gpkg"), INDICES=[INDICES_NDVI_EVI[0]],
            END="2025-10-31", OUTPUT_FOLDER=str(tmp_path / name)))
        ndvi = [path for path in result["RASTERS"] if "NDVI" in path]
        assert len(ndvi) == 1
        dataset = gdal.Open(ndvi[0])
        pixels[name] = (dataset.GetGeoTransform(), dataset.ReadAsArray().tobytes())
    assert pixels["heights"] == pixels["flat"]
