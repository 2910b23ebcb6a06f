"""Processing algorithms with processing.run on the synthetic sample, and qgis_process."""

import json
import os
import shutil
import subprocess
import sys
import zipfile

import pandas as pd
import pytest
from qgis.core import QgsProcessingException, QgsVectorLayer

from raster_collect_plugin.processing.common import INDEX_NAMES
from raster_collect_plugin.processing.provider import PROVIDER_ID

SAMPLE_SOURCE = 3  # "Static STAC catalog" in common.SOURCE_NAMES


@pytest.fixture(scope="module")
def provider(raster_collect_provider):
    return raster_collect_provider


def run(algorithm, parameters):
    import processing

    return processing.run(f"{PROVIDER_ID}:{algorithm}", parameters)


INDICES_NDVI_EVI = [INDEX_NAMES.index("NDVI"), INDEX_NAMES.index("EVI")]


def source_parameters(sample, **extra):
    parameters = {"INPUT": str(sample.forests_path), "ID_FIELD": "forest_id",
                  "SOURCES": [SAMPLE_SOURCE], "CATALOG": str(sample.catalog_path),
                  "COLLECTIONS": "sentinel-2-l2a", "START": "2025-10-01", "END": "2025-12-31",
                  "MAX_CLOUD": 100}
    parameters.update(extra)
    return parameters


def test_all_algorithms_are_registered(provider):
    ids = sorted(a.name() for a in provider.algorithms())
    assert ids == ["compute_composites", "create_hexagons", "create_sample_data",
                   "export_report_pdf", "monitor_disturbance", "search_imagery",
                   "sentinel_hub_statistics", "storm_damage", "validate_monitoring",
                   "zonal_timeseries"]
    # the toolbox's groups: the storm assessment and its report side by side
    groups = {a.name(): (a.group(), a.groupId()) for a in provider.algorithms()}
    assert groups["export_report_pdf"] == groups["storm_damage"] == ("Change", "change")
    assert all(group_id == group.lower() for group, group_id in groups.values())
    # a storm's windows around the event decide: no start / end date to fill in for nothing
    dated = {a.name() for a in provider.algorithms() if a.parameterDefinition("START")}
    assert "storm_damage" not in dated and {"compute_composites", "zonal_timeseries",
                                            "search_imagery", "monitor_disturbance"} <= dated


def test_search_imagery(provider, small_sample, tmp_path):
    result = run("search_imagery", source_parameters(
        small_sample, OUTPUT=str(tmp_path / "footprints.gpkg"), ITEMS=str(tmp_path / "a.csv")))
    layer = QgsVectorLayer(result["OUTPUT"], "footprints", "ogr")
    expected = sorted(i["id"] for i in small_sample.items["sentinel-2-l2a"])
    assert sorted(f["id"] for f in layer.getFeatures()) == expected
    assert layer.crs().authid() == "EPSG:4326"
    assert len(pd.read_csv(result["ITEMS"])) == len(expected)


def test_compute_composites(provider, small_sample, tmp_path):
    result = run("compute_composites", source_parameters(
        small_sample, INDICES=[0, 1], OUTPUT_FOLDER=str(tmp_path / "out")))
    names = sorted(os.path.basename(p) for p in result["RASTERS"])
    assert names == ["static-catalog_sentinel-2-l2a_EVI_monthly_median.tif",
                     "static-catalog_sentinel-2-l2a_NDVI_monthly_median.tif"]
    assert os.path.dirname(result["RASTERS"][0]) == result["OUTPUT_FOLDER"]
    import re  # named like the dock's runs

    assert re.fullmatch(r"raster-collect-\d{8}-\d{6}-[0-9a-f]{4}",
                        os.path.basename(result["OUTPUT_FOLDER"]))
    import rasterio

    [ndvi] = [p for p in result["RASTERS"] if "NDVI" in p]
    with rasterio.open(ndvi) as dataset:
        assert dataset.descriptions == ("2025-10", "2025-11", "2025-12")
        assert 0.6 < float(pd.Series(dataset.read(1).ravel()).median()) < 0.85
    # a second batch row into the same folder gets its own run folder
    again = run("compute_composites", source_parameters(
        small_sample, OUTPUT_FOLDER=str(tmp_path / "out")))
    assert again["OUTPUT_FOLDER"] != result["OUTPUT_FOLDER"]


def test_zonal_timeseries_matches_core(provider, small_sample, tmp_path):
    from datetime import date

    from raster_collect_plugin.core.composites.requests import CompositeRequest, Source
    from raster_collect_plugin.core.sources.providers import StaticCatalogProvider
    from raster_collect_plugin.core.zonal.pipeline import ZonalRequest, run_zonal

    # the indices given: without them, the default follows the project's last dock run
    result = run("zonal_timeseries", source_parameters(
        small_sample, OUTPUT_FOLDER=str(tmp_path / "out"), INDICES=INDICES_NDVI_EVI))
    table = QgsVectorLayer(result["TABLE"], "table", "ogr")
    rows = {(f["forest_id"], f["period"], f["index"]): f["mean"] for f in table.getFeatures()}
    assert len(rows) == 6 * 3 * 2
    core = run_zonal(ZonalRequest(CompositeRequest(
        aoi=small_sample.forests_path,
        sources=[Source(StaticCatalogProvider("x", str(small_sample.catalog_path)),
                        ("sentinel-2-l2a",))],
        start=date(2025, 10, 1), end=date(2025, 12, 31), output_dir=tmp_path / "core",
        max_cloud_cover=100)))
    for _, row in core.forest_table.iterrows():
        assert rows[(row["forest_id"], row["period"], "NDVI")] == pytest.approx(row["mean"],
                                                                            rel=1e-9)
    latest = QgsVectorLayer(result["LATEST"], "latest", "ogr")
    assert latest.featureCount() == 6
    assert latest.fields().indexOf("NDVI_mean") >= 0 and latest.fields().indexOf("EVI_mean") >= 0


def test_zonal_timeseries_from_existing_raster(provider, small_sample, tmp_path):
    composites = run("compute_composites", source_parameters(
        small_sample, OUTPUT_FOLDER=str(tmp_path / "c")))
    result = run("zonal_timeseries", {"INPUT": str(small_sample.forests_path),
                                      "ID_FIELD": "forest_id",
                                      "RASTER": [p for p in composites["RASTERS"]
                                                 if "NDVI" in p][0],
                                      "OUTPUT_FOLDER": str(tmp_path / "z")})
    table = QgsVectorLayer(result["TABLE"], "table", "ogr")
    features = list(table.getFeatures())
    assert len(features) == 18 and {f["index"] for f in features} == {"NDVI"}


def test_zonal_timeseries_raster_options(provider, small_sample, tmp_path):
    import geopandas as gpd
    import numpy as np
    import rasterio
    from affine import Affine

    forests = gpd.read_file(small_sample.forests_path)
    xmin, ymin, xmax, ymax = forests.total_bounds
    width, height = int((xmax - xmin) // 10) + 2, int((ymax - ymin) // 10) + 2
    types = np.where(np.arange(width) < width // 2, 1, 2).astype("uint8")
    raster = tmp_path / "types.tif"
    with rasterio.open(raster, "w", driver="GTiff", count=2, width=width, height=height,
                       dtype="uint8", crs="EPSG:28356", nodata=0,
                       transform=Affine(10, 0, xmin - 10, 0, -10, ymax + 10)) as dataset:
        dataset.write(np.stack([np.tile(types, (height, 1))] * 2))
    result = run("zonal_timeseries", {"INPUT": str(small_sample.forests_path),
                                      "ID_FIELD": "forest_id", "RASTER": str(raster),
                                      "BANDS": "2", "CATEGORICAL": True, "COVERAGE": 1,
                                      "OUTPUT_FOLDER": str(tmp_path / "z")})
    rows = list(QgsVectorLayer(result["TABLE"], "table", "ogr").getFeatures())
    assert len(rows) == len(forests) and {r["period"] for r in rows} == {"2"}
    classes = list(QgsVectorLayer(result["CLASSES"], "classes", "ogr").getFeatures())
    per_forest = {}
    for row in classes:
        per_forest.setdefault(row["forest_id"], 0.0)
        per_forest[row["forest_id"]] += row["fraction"]
        assert row["area"] == row["count"] * 100 and row["value"] in (1, 2)
    assert per_forest and all(abs(total - 1) < 1e-9 for total in per_forest.values())
    with pytest.raises(QgsProcessingException, match="not both"):
        run("zonal_timeseries", {"INPUT": str(small_sample.forests_path),
                                 "ID_FIELD": "forest_id", "RASTER": str(raster), "NODATA": 1,
                                 "IGNORE_NODATA": True, "OUTPUT_FOLDER": str(tmp_path / "y")})
    # hexagons are for imagery runs: asked for with a raster, said so (they were skipped)
    with pytest.raises(QgsProcessingException, match="Hexagons are made for imagery runs"):
        run("zonal_timeseries", {"INPUT": str(small_sample.forests_path),
                                 "ID_FIELD": "forest_id", "RASTER": str(raster), "HEX_AREA": 1,
                                 "OUTPUT_FOLDER": str(tmp_path / "x")})
    assert not (tmp_path / "x").exists()


def test_a_remote_dask_setting_is_not_sent_to_a_zonal_raster_job(provider, small_sample,
                                                                tmp_path, monkeypatch):
    """The plugin's remote scheduler setting went into every job; a zonal-raster job runs no
    dask graph and its spec now refuses 'compute', so it is sent none (an imagery job is)."""
    from raster_collect_plugin import settings
    from raster_collect_plugin.processing import common

    sent = []

    def run_job(spec, **options):  # what the engine is sent is the subject, not the run
        sent.append(spec)
        raise common.bridge.JobFailed("failure", "stopped by the test")

    monkeypatch.setattr(common.bridge, "run_job", run_job)
    before = {name: settings.value(name) for name in ("dask/mode", "dask/scheduler_address")}
    settings.set_value("dask/mode", "remote")
    settings.set_value("dask/scheduler_address", "tcp://127.0.0.1:8786")
    try:
        raster = tmp_path / "raster.tif"
        write_raster_over(small_sample, raster)
        for parameters in ({"INPUT": str(small_sample.forests_path), "ID_FIELD": "forest_id",
                            "RASTER": str(raster)}, source_parameters(small_sample)):
            with pytest.raises(QgsProcessingException, match="stopped by the test"):
                run("zonal_timeseries", {**parameters, "OUTPUT_FOLDER": str(tmp_path / "z")})
    finally:
        for name, value in before.items():
            settings.set_value(name, value)
    assert [spec["kind"] for spec in sent] == ["zonal-raster", "zonal"]
    assert "compute" not in sent[0]
    assert sent[1]["compute"] == {"mode": "remote", "scheduler_address": "tcp://127.0.0.1:8786"}


def write_raster_over(sample, path):
    """A one-band uint8 raster of 10 m cells over the sample's forests."""
    import geopandas as gpd
    import numpy as np
    import rasterio
    from affine import Affine

    xmin, ymin, xmax, ymax = gpd.read_file(sample.forests_path).total_bounds
    width, height = int((xmax - xmin) // 10) + 2, int((ymax - ymin) // 10) + 2
    with rasterio.open(path, "w", driver="GTiff", count=1, width=width, height=height,
                       dtype="uint8", crs="EPSG:28356",
                       transform=Affine(10, 0, xmin - 10, 0, -10, ymax + 10)) as dataset:
        dataset.write(np.ones((1, height, width), "uint8"))


def test_create_hexagons(provider, small_sample, tmp_path):
    result = run("create_hexagons", {"INPUT": str(small_sample.forests_path),
                                     "ID_FIELD": "forest_id", "CELL_AREA": 1.0, "CLIP": False,
                                     "OUTPUT": str(tmp_path / "hex.gpkg")})
    layer = QgsVectorLayer(result["OUTPUT"], "hex", "ogr")
    areas = [f.geometry().area() for f in layer.getFeatures()]
    assert layer.featureCount() > 300 and all(abs(a - 10_000) < 0.01 for a in areas)
    assert layer.crs().authid() == "EPSG:28356"


def test_invalid_parameters_raise_clear_errors(provider, small_sample, tmp_path):
    points = QgsVectorLayer("Point?crs=EPSG:28356&field=forest_id:integer", "pts", "memory")
    with pytest.raises(QgsProcessingException):
        run("create_hexagons", {"INPUT": points, "OUTPUT": "memory:"})
    with pytest.raises(QgsProcessingException, match="no field 'compartment'"):
        run("create_hexagons", {"INPUT": str(small_sample.forests_path),
                                "ID_FIELD": "compartment", "OUTPUT": "memory:"})
    with pytest.raises(QgsProcessingException, match="swap"):
        run("compute_composites", source_parameters(
            small_sample, START="2025-12-31", END="2025-01-01",
            OUTPUT_FOLDER=str(tmp_path / "x")))
    with pytest.raises(QgsProcessingException, match="catalog.json path or URL"):
        run("search_imagery", source_parameters(small_sample, CATALOG="",
                                                OUTPUT="memory:"))


def qgis_process_binary():
    # Debian's qgis_process wrapper passes --noversioncheck, which qgis_process rejects.
    for candidate in ("/usr/bin/qgis_process.bin", shutil.which("qgis_process")):
        if candidate and os.path.exists(candidate):
            return candidate
    pytest.fail("qgis_process is not installed: run `make setup`")


def test_qgis_process_runs_the_deployed_plugin(small_sample, tmp_path):
    """qgis_process embeds Debian's /usr/bin/python3, which lacks the engine's packages: the
    plugin still loads and registers its provider, a run says in one sentence how to set up
    the engine; with the setting pointed at a complete Python (the test venv) the job runs."""
    from tools.package_plugin import build

    config = tmp_path / "config"
    plugins = config / "profiles" / "default" / "python" / "plugins"
    plugins.mkdir(parents=True)
    zipfile.ZipFile(build(None, tmp_path / "plugin.zip")).extractall(plugins)
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "RASTER_COLLECT_PYTHON", "VIRTUAL_ENV")}
    temp = tmp_path / "temp"  # what the runs leave in the temp folder
    temp.mkdir()
    env.update(QT_QPA_PLATFORM="offscreen", QGIS_CUSTOM_CONFIG_PATH=str(config),
               XDG_CACHE_HOME=str(tmp_path / "cache"), TMPDIR=str(temp),
               PATH=os.pathsep.join(p for p in env["PATH"].split(os.pathsep)
                                    if not p.startswith(sys.prefix)))
    binary = qgis_process_binary()

    def qgis_process(*arguments):
        return subprocess.run([binary, *arguments], env=env, capture_output=True, text=True,
                              timeout=300)

    enable = qgis_process("plugins", "enable", "raster_collect_plugin")
    assert enable.returncode == 0, enable.stdout + enable.stderr
    listed = qgis_process("list")
    assert "raster_collect:create_hexagons" in listed.stdout, listed.stdout[-2000:]
    output = tmp_path / "hex.gpkg"
    arguments = ["--json", "run", "raster_collect:create_hexagons", "--",
                 f"INPUT={small_sample.forests_path}", "ID_FIELD=forest_id", "CELL_AREA=2",
                 "CLIP=false", f"OUTPUT={output}"]
    refused = qgis_process(*arguments)
    said = refused.stdout + refused.stderr
    assert refused.returncode != 0 and not output.exists()
    assert "error starting plugin" not in said
    assert said.count("The Raster Collect processing engine is not ready") == 1, said[-3000:]
    assert "rasterio is missing" in said or "(and " in said
    assert "Settings → Options → Raster Collect" in said

    ini = config / "profiles" / "default" / "QGIS" / "QGIS3.ini"
    ini.write_text(ini.read_text() + f"\n[raster_collect]\nengine\\python={sys.executable}\n")
    completed = qgis_process(*arguments)
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-2000:]
    report = json.loads(completed.stdout[completed.stdout.index("{"):])
    assert report["results"]["OUTPUT"].startswith(str(output))
    layer = QgsVectorLayer(str(output), "hex", "ogr")
    assert layer.featureCount() > 150
    assert all(abs(f.geometry().area() - 20_000) < 0.01 for f in layer.getFeatures())
    assert [p.name for p in temp.iterdir() if p.name.startswith("raster-collect")] == []


def test_storm_damage_algorithm(provider, small_sample, tmp_path, qgis_new_project):
    from qgis.core import QgsProject

    from raster_collect_plugin.core.storm import CLASS_ORDER
    from raster_collect_plugin.gui.storm_layers import FOREST_LABELS_FROM, damage_renderer

    result, loaded = run_like_the_toolbox("storm_damage", source_parameters(
        small_sample, COLLECTIONS="sentinel-2-l2a,sentinel-1-rtc", EVENT_DATE="2025-11-13",
        OUTPUT_FOLDER=str(tmp_path / "storm")))
    assert list(loaded) == [result["DAMAGE"]]
    [shown] = QgsProject.instance().mapLayersByName("storm damage")
    assert shown.renderer().type() == "categorizedSymbol"
    # the dock's styling: one vocabulary (legend says what the class means), labels
    legend = {c.value(): c.label() for c in shown.renderer().categories()}
    assert legend["severe"] == "severe: >= 50 % of the stand damaged"
    assert shown.labelsEnabled()
    assert shown.labeling().settings().minimumScale == FOREST_LABELS_FROM
    layer = QgsVectorLayer(result["DAMAGE"], "damage", "ogr")
    classes = {f["forest_id"]: f["damage_class"] for f in layer.getFeatures()}
    assert {k for k, v in classes.items() if v in ("moderate", "severe")} == set(
        small_sample.damaged_ids)
    renderer = damage_renderer()
    assert renderer.classAttribute() == "damage_class"
    assert [c.value() for c in renderer.categories()] == list(CLASS_ORDER) == [
        "severe", "moderate", "light", "none", "unknown", "not stocked before event"]


def run_like_the_toolbox(algorithm, parameters):
    """processing.run, then the toolbox's own result handling (layers loaded on completion,
    styled by their post-processors)."""
    import processing
    from processing.gui.Postprocessing import handleAlgorithmResults
    from qgis.core import (
        QgsApplication,
        QgsProcessingContext,
        QgsProcessingFeedback,
        QgsProject,
    )

    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    feedback = QgsProcessingFeedback()
    result = processing.run(f"{PROVIDER_ID}:{algorithm}", parameters, context=context,
                            feedback=feedback)
    loaded = dict(context.layersToLoadOnCompletion())
    alg = QgsApplication.processingRegistry().createAlgorithmById(f"{PROVIDER_ID}:{algorithm}")
    assert handleAlgorithmResults(alg, context, feedback, parameters=parameters)
    return result, loaded


def test_outputs_load_like_any_processing_output(provider, small_sample, tmp_path,
                                                 qgis_new_project):
    from qgis.core import QgsProject

    result, loaded = run_like_the_toolbox("create_sample_data", {
        "OUTPUT_FOLDER": str(tmp_path / "sample"), "SMALL": True})
    assert list(loaded) == [result["FORESTS"]]
    [forests] = QgsProject.instance().mapLayersByName("forests (sample)")
    assert forests.featureCount() == 6 and forests.fields().indexOf("forest_id") >= 0

    result, loaded = run_like_the_toolbox("zonal_timeseries", source_parameters(
        small_sample, OUTPUT_FOLDER=str(tmp_path / "out")))
    assert set(loaded) == {result["TABLE"], result["LATEST"]}
    [latest] = QgsProject.instance().mapLayersByName("forests: latest statistics")
    assert latest.renderer().type() == "graduatedSymbol"  # the dock's fixed NDVI classes
    assert [r.label() for r in latest.renderer().ranges()][-1] == "dense, healthy"
    assert QgsProject.instance().mapLayersByName("zonal statistics")

    result, loaded = run_like_the_toolbox("compute_composites", source_parameters(
        small_sample, OUTPUT_FOLDER=str(tmp_path / "c")))
    assert set(loaded) == set(result["RASTERS"])
    [ndvi] = QgsProject.instance().mapLayersByName(
        "sentinel-2-l2a NDVI (latest: 2025-12)")
    assert ndvi.renderer().type() == "singlebandpseudocolor"
    assert ndvi.renderer().band() == 3
    assert (ndvi.renderer().classificationMin(), ndvi.renderer().classificationMax()) == (
        0.0, 1.0)
