"""Colour composites per period beside the indices: median of cloud-free reflectance per band,
one 3-band COG per month with its display stretch, and as temporal layers in QGIS."""

import json
from datetime import date

import numpy as np
import pytest
import rasterio

from raster_collect_plugin.core.composites.pipeline import run_composites
from raster_collect_plugin.core.composites.requests import CompositeRequest, RequestError, Source
from raster_collect_plugin.core.sample import scenes as sd
from raster_collect_plugin.core.sources.providers import StaticCatalogProvider
from tests import reference


def request(sample, tmp_path, **extra):
    provider = StaticCatalogProvider("Sample", str(sample.catalog_path))
    return CompositeRequest(aoi=sample.forests_path, sources=[Source(provider,
                                                                     (sd.S2_COLLECTION,))],
                            start=date(2025, 10, 1), end=date(2025, 11, 30),
                            output_dir=tmp_path / "out", indices=("NDVI",),
                            max_cloud_cover=None, **extra)


def expected_month(sample, month, transform, shape):
    """nanmedian of clear red/green/blue reflectance over the month's scenes (PC rule)."""
    keys = {"red": "B04", "green": "B03", "blue": "B02"}
    per_band = {name: [] for name in keys}
    clears = []
    for item in sample.items[sd.S2_COLLECTION]:
        if not item["properties"]["datetime"].startswith(month):
            continue
        _, clear = reference.sentinel2(sample.root, item, "planetary-computer", transform,
                                       shape)
        clears.append(clear)
        for name, key in keys.items():
            dn, native = reference.read_asset(sample.root, item, key)
            dn = reference.crop_to(dn, native, transform, shape).astype("float64")
            per_band[name].append(dn / 10000 - 0.1)  # baseline 05.11
    return {name: reference.monthly(values, clears)[0] for name, values in per_band.items()}


def test_true_colour_composite_per_month(small_sample, tmp_path):
    result = run_composites(request(small_sample, tmp_path, colour_composites=("true-colour",)))
    [collection] = result.collections
    months = collection.colour_paths["true-colour"]
    assert sorted(months) == ["2025-10", "2025-11"]
    for month, path in months.items():
        with rasterio.open(path) as dataset:
            data, transform, tags = dataset.read(), dataset.transform, dataset.tags()
            assert dataset.descriptions == ("red", "green", "blue")
            assert dataset.count == 3 and dataset.dtypes[0] == "float32"
        expected = expected_month(small_sample, month, transform, data.shape[1:])
        for band, name in enumerate(("red", "green", "blue")):
            np.testing.assert_allclose(data[band], expected[name], rtol=1e-5, atol=1e-6)
        assert tags["rendering"] == "true-colour" and json.loads(tags["stretch"]) == [
            [0.0, 0.2]] * 3
    metadata = json.loads(collection.metadata_path.read_text())
    assert set(metadata["colour_composites"]["true-colour"]) == {"2025-10", "2025-11"}
    assert not list((tmp_path / "out").glob(".raster-collect-partial-*"))


def test_unknown_colour_composite_is_refused(small_sample, tmp_path):
    with pytest.raises(RequestError, match="unknown colour composite"):
        run_composites(request(small_sample, tmp_path, colour_composites=("cloud-mask",)))
    assert not (tmp_path / "out").exists()


def test_colour_composites_as_temporal_layers(small_sample, tmp_path, qgis_new_project):
    from qgis.core import QgsDateTimeRange, QgsProject
    from qgis.PyQt.QtCore import QDate, QDateTime, QTime

    from raster_collect_plugin.core.jobs.run import _collection
    from raster_collect_plugin.gui.imagery import add_colour_composite_layers

    result = run_composites(request(small_sample, tmp_path, colour_composites=("true-colour",)))
    collection = _collection(result.collections[0])
    group = QgsProject.instance().layerTreeRoot().addGroup("run")
    layers = add_colour_composite_layers(group, collection)
    assert [layer.name() for layer in layers] == ["true colour 2025-10", "true colour 2025-11"]
    october = layers[0]
    assert october.renderer().type() == "multibandcolor"
    assert october.renderer().redContrastEnhancement().maximumValue() == pytest.approx(0.2)
    temporal = october.temporalProperties()
    assert temporal.isActive()
    assert temporal.fixedTemporalRange() == QgsDateTimeRange(
        QDateTime(QDate(2025, 10, 1), QTime(0, 0)),
        QDateTime(QDate(2025, 10, 31), QTime(23, 59, 59)))


def test_command_line_colour_composites(small_sample, tmp_path):
    from raster_collect_plugin import cli

    output = tmp_path / "cli"
    assert cli.main(["--quiet", "composite", "--gpkg", str(small_sample.forests_path),
                     "--catalog", str(small_sample.catalog_path), "--collections",
                     "sentinel-2-l2a", "--start", "2025-10-01", "--end", "2025-10-31",
                     "--indices", "NDVI", "--colour", "true-colour,false-colour",
                     "--output", str(output)]) == 0
    made = sorted(p.name for p in output.rglob("*colour_2025-10_median.tif"))
    assert len(made) == 2 and any("false-colour" in name for name in made)
    with rasterio.open(next(output.rglob("*_false-colour_2025-10_median.tif"))) as dataset:
        assert dataset.descriptions == ("nir", "red", "green")


def test_processing_colour_composites(raster_collect_provider, small_sample, tmp_path):
    from tests.test_processing import run, source_parameters

    result = run("compute_composites", source_parameters(
        small_sample, INDICES=[0], COLOUR=[0], END="2025-10-31",
        OUTPUT_FOLDER=str(tmp_path / "out")))
    names = sorted(p.rsplit("/", 1)[-1] for p in result["RASTERS"])
    assert names == ["static-catalog_sentinel-2-l2a_NDVI_monthly_median.tif",
                     "static-catalog_sentinel-2-l2a_true-colour_2025-10_median.tif"]


def test_radar_composite_in_decibels(small_sample, tmp_path):
    provider = StaticCatalogProvider("Sample", str(small_sample.catalog_path))
    result = run_composites(CompositeRequest(
        aoi=small_sample.forests_path, sources=[Source(provider, (sd.S1_COLLECTION,))],
        start=date(2025, 10, 1), end=date(2025, 10, 31), output_dir=tmp_path / "out",
        indices=("VH",), max_cloud_cover=None, colour_composites=("radar", "true-colour")))
    [collection] = result.collections
    assert set(collection.colour_paths) == {"radar"}  # no true colour from radar
    with rasterio.open(collection.colour_paths["radar"]["2025-10"]) as dataset:
        data, transform, tags = dataset.read(), dataset.transform, dataset.tags()
        assert dataset.descriptions == ("vv", "vh", "vv/vh")
    items = [i for i in small_sample.items[sd.S1_COLLECTION]
             if i["properties"]["datetime"].startswith("2025-10")]
    medians = {}
    for band in ("vv", "vh"):
        linear = [reference.crop_to(*reference.read_asset(small_sample.root, i, band),
                                    transform, data.shape[1:]) for i in items]
        medians[band] = 10 * np.log10(np.median(np.stack(linear), axis=0))  # linear, then dB
    np.testing.assert_allclose(data[0], medians["vv"], rtol=1e-5)
    np.testing.assert_allclose(data[1], medians["vh"], rtol=1e-5)
    np.testing.assert_allclose(data[2], medians["vv"] - medians["vh"], rtol=1e-4, atol=1e-4)
    assert tags["units"] == "dB" and json.loads(tags["stretch"]) == [[-25, 0], [-30, -5],
                                                                    [0, 15]]
