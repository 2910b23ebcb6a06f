"""End to end per provider shape: items served by `rustac serve`, COGs over HTTP with Range,
known DNs in -> the documented reflectance, NDVI/EVI, masks and monthly composites out."""

import json
from dataclasses import replace
from datetime import date

import numpy as np
import pytest
import rasterio

from raster_collect_plugin.core.composites.pipeline import run_composites
from raster_collect_plugin.core.composites.requests import CompositeRequest, Source
from raster_collect_plugin.core.sample import catalog as sc
from raster_collect_plugin.core.sample import scenes as sd
from raster_collect_plugin.core.sources.providers import (
    EarthSearchProvider,
    MaxarOpenDataProvider,
    PlanetaryComputerProvider,
    StacApiProvider,
    StaticCatalogProvider,
)
from tests import reference

OCTOBER = (date(2025, 10, 1), date(2025, 10, 31))


def run(provider, collection, sample, tmp_path, indices=("NDVI", "EVI"), **extra):
    request = CompositeRequest(
        aoi=sample.forests_path, sources=[Source(provider, (collection,))],
        start=extra.pop("start", OCTOBER[0]), end=extra.pop("end", OCTOBER[1]),
        output_dir=tmp_path / "out", indices=indices,
        max_cloud_cover=extra.pop("max_cloud_cover", None), **extra)
    return run_composites(request)


def read_output(path):
    with rasterio.open(path) as dataset:
        return dataset.read(), dataset.transform, dataset.descriptions, dataset.tags()


def check_s2_month(sample, result, shape_name, month="2025-10"):
    [collection] = result.collections
    ndvi, transform, labels, tags = read_output(collection.index_paths["NDVI"])
    evi, _, _, _ = read_output(collection.index_paths["EVI"])
    counts, _, _, _ = read_output(collection.count_path)
    band = labels.index(month)
    shape = ndvi.shape[1:]
    items = [i for i in sample.items[next(iter(sample.items))]
             if i["properties"]["datetime"].startswith(month)]
    assert len(items) == 2
    per_scene = [reference.sentinel2(sample.root, item, shape_name, transform, shape)
                 for item in items]
    expected_ndvi, expected_count = reference.monthly(
        [reference.ndvi(b) for b, _ in per_scene], [c for _, c in per_scene])
    expected_evi, _ = reference.monthly(
        [reference.evi(b) for b, _ in per_scene], [c for _, c in per_scene])
    np.testing.assert_array_equal(counts[band], expected_count)
    assert np.isnan(ndvi[band][expected_count == 0]).all()
    np.testing.assert_allclose(ndvi[band], expected_ndvi, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(evi[band], expected_evi, rtol=1e-4, atol=1e-5)
    # masked pixels exist and are excluded; healthy forest comes out near NDVI 0.79
    assert (expected_count < 2).any()
    forest = np.nanmedian(ndvi[band])
    assert 0.7 < forest < 0.85, forest
    assert tags["index"] == "NDVI" and "1e-10" in tags["formula"]
    return collection


@pytest.mark.parametrize("shape_name,provider_class,collection", [
    ("planetary-computer", PlanetaryComputerProvider, "sentinel-2-l2a"),
    ("earth-search-c1", EarthSearchProvider, "sentinel-2-c1-l2a"),
    ("earth-search-l2a", EarthSearchProvider, "sentinel-2-l2a"),
])
def test_sentinel2_shapes(shape_name, provider_class, collection, tmp_path, file_server,
                          stac_api):
    spec = sd.small_spec(sensors=(sd.S2_COLLECTION,), s2_shape=shape_name, months=1)
    sample = sc.make_sample(tmp_path / "sample", spec)
    files = file_server(sample.root)
    [items_name] = sample.items
    api = stac_api({items_name: sample.item_collection(items_name, files.url)})
    result = run(provider_class(url=api.url), collection, sample, tmp_path)
    assert result.errors == {}
    result_collection = check_s2_month(sample, result, shape_name)
    rules = {scene["reflectance_rule"] for scene in result_collection.scenes}
    if shape_name == "earth-search-l2a":
        assert all("already removed" in rule for rule in rules), rules
    if shape_name == "planetary-computer":
        assert rules == {"DN/10000 - 0.1 (baseline 05.11)"}


def test_planetary_computer_old_baseline_has_no_offset(tmp_path, file_server, stac_api):
    spec = sd.small_spec(sensors=(sd.S2_COLLECTION,), months=1)
    scenes = [replace(s, baseline="02.14") for s in sd.default_scenes(spec)]
    sample = sc.make_sample(tmp_path / "sample", spec, scenes=scenes)
    files = file_server(sample.root)
    api = stac_api({"s2": sample.item_collection(sd.S2_COLLECTION, files.url)})
    result = run(PlanetaryComputerProvider(url=api.url), sd.S2_COLLECTION, sample, tmp_path)
    check_s2_month(sample, result, "planetary-computer")
    assert {s["reflectance_rule"] for s in result.collections[0].scenes} == {
        "DN/10000 (baseline 02.14)"}


def test_landsat_scale_offset_and_qa_mask(small_sample, tmp_path, file_server, stac_api):
    files = file_server(small_sample.root)
    api = stac_api({"landsat": small_sample.item_collection(sd.LANDSAT_COLLECTION, files.url)})
    result = run(PlanetaryComputerProvider(url=api.url), sd.LANDSAT_COLLECTION, small_sample,
                 tmp_path, indices=("NDVI",))
    [collection] = result.collections
    ndvi, transform, labels, _ = read_output(collection.index_paths["NDVI"])
    counts, _, _, _ = read_output(collection.count_path)
    assert transform.a == 30 and transform.c % 30 == 15  # native odd-15 m grid kept
    items = [i for i in small_sample.items[sd.LANDSAT_COLLECTION]
             if i["properties"]["datetime"].startswith("2025-10")]
    per_scene = [reference.landsat(small_sample.root, i, transform, ndvi.shape[1:])
                 for i in items]
    expected, expected_count = reference.monthly([reference.ndvi(b) for b, _ in per_scene],
                                                 [c for _, c in per_scene])
    np.testing.assert_array_equal(counts[0], expected_count)
    np.testing.assert_allclose(ndvi[0], expected, rtol=1e-5, atol=1e-6)
    assert (expected_count == 0).any() or (expected_count == 1).any()  # masking happened


def test_sentinel1_rtc_vh_in_decibels(small_sample, tmp_path, file_server, stac_api):
    files = file_server(small_sample.root)
    api = stac_api({"s1": small_sample.item_collection(sd.S1_COLLECTION, files.url)})
    result = run(PlanetaryComputerProvider(url=api.url), sd.S1_COLLECTION, small_sample,
                 tmp_path, indices=("VH", "VHVV"))
    [collection] = result.collections
    vh, transform, _, tags = read_output(collection.index_paths["VH"])
    assert tags["units"] == "dB"
    items = [i for i in small_sample.items[sd.S1_COLLECTION]
             if i["properties"]["datetime"].startswith("2025-10")]
    linear = [reference.crop_to(*reference.read_asset(small_sample.root, i, "vh"), transform,
                                vh.shape[1:]) for i in items]
    expected = 10 * np.log10(np.median(np.stack(linear), axis=0))  # average linear, then dB
    np.testing.assert_allclose(vh[0], expected, rtol=1e-5)
    assert -20 < np.median(vh[0]) < -14


def test_static_catalog_and_period_without_scenes(small_sample, tmp_path):
    provider = StaticCatalogProvider("Sample", str(small_sample.catalog_path))
    result = run(provider, sd.S2_COLLECTION, small_sample, tmp_path, indices=("NDVI",),
                 start=date(2025, 9, 1), end=date(2025, 10, 31), method="mean")
    [collection] = result.collections
    ndvi, _, labels, _ = read_output(collection.index_paths["NDVI"])
    assert labels == ("2025-09", "2025-10")
    assert np.isnan(ndvi[0]).all()  # September: no scenes -> NaN, not an error
    assert np.isfinite(ndvi[1]).mean() > 0.5
    metadata = json.loads(collection.metadata_path.read_text())
    assert metadata["cloud_mask"]["band"] == "SCL"
    assert metadata["cloud_mask"]["invalid_values"] == [0, 1, 3, 8, 9, 10]
    assert metadata["indices"][0]["formula"] == "(nir - red) / (nir + red + 1e-10)"
    assert metadata["item_ids"] and metadata["licence"] == "CC-BY-4.0"  # the collection's
    scenes_csv = (tmp_path / "out" / "scenes.csv").read_text().splitlines()
    assert scenes_csv[0].startswith("provider,collection,period")
    assert len(scenes_csv) == 1 + 2
    assert not list((tmp_path / "out").glob(".raster-collect-partial-*"))


def test_scene_and_period_clear_fractions_are_recorded(small_sample, tmp_path):
    provider = StaticCatalogProvider("Sample", str(small_sample.catalog_path))
    result = run(provider, sd.S2_COLLECTION, small_sample, tmp_path, indices=("NDVI",),
                 start=date(2025, 10, 1), end=date(2025, 12, 31))
    [collection] = result.collections
    fractions = {s["datetime"][:10]: s["clear_fraction"] for s in collection.scenes}
    overcast = [s for s in sd.default_scenes(small_sample.spec)
                if s.collection == sd.S2_COLLECTION and s.clouds
                and s.clouds[0].radius > 2000]
    assert overcast, "the sample has an overcast post-storm scene"
    assert fractions[overcast[0].when.date().isoformat()] == 0.0
    assert all(0.0 <= f <= 1.0 for f in fractions.values())
    assert len(collection.period_clear_fraction) == 3


def test_earth_search_landsat_requester_pays_is_explained(small_sample, tmp_path, file_server,
                                                         stac_api, monkeypatch):
    monkeypatch.delenv("AWS_REQUEST_PAYER", raising=False)
    files = file_server(small_sample.root)
    api = stac_api({"landsat": small_sample.item_collection(sd.LANDSAT_COLLECTION, files.url)})
    with pytest.raises(ValueError, match="requester-pays"):
        run(EarthSearchProvider(url=api.url), sd.LANDSAT_COLLECTION, small_sample, tmp_path)



def test_maxar_open_data_static_catalog(tmp_path):
    spec = sd.small_spec(sensors=(sd.MAXAR_EVENT,), columns=3, rows=1, margin_m=60.0)
    sample = sc.make_sample(tmp_path / "sample", spec)
    provider = MaxarOpenDataProvider(catalog_href=str(sample.root / "maxar" / "catalog.json"))
    assert provider.events() == [sd.MAXAR_EVENT]
    result = run(provider, sd.MAXAR_EVENT, sample, tmp_path, indices=("NDVI",),
                 start=date(2025, 10, 1), end=date(2025, 11, 30))
    [collection] = result.collections
    ndvi, transform, labels, _ = read_output(collection.index_paths["NDVI"])
    assert transform.a == 4.0 and labels == ("2025-10", "2025-11")
    item_before, item_after = sample.items[sd.MAXAR_EVENT]
    for band, item in ((0, item_before), (1, item_after)):
        with rasterio.open(sample.root / item["assets"]["ms_analytic"]["href"]) as dataset:
            red, nir = dataset.read(5).astype(float), dataset.read(7).astype(float)
            native = dataset.transform
        red = reference.crop_to(red, native, transform, ndvi.shape[1:])
        nir = reference.crop_to(nir, native, transform, ndvi.shape[1:])
        np.testing.assert_allclose(ndvi[band], reference.ndvi({"red": red, "nir": nir}),
                                   rtol=1e-5)
    metadata = json.loads(collection.metadata_path.read_text())
    assert metadata["licence"] == "CC-BY-NC-4.0"
    assert "digital numbers" in metadata["profile_notes"][0]
    # the storm shows: damaged compartments lose NDVI between the two acquisitions
    assert np.nanmean(ndvi[1]) < np.nanmean(ndvi[0])


def test_custom_stac_api_by_url(small_sample, tmp_path, file_server, stac_api):
    files = file_server(small_sample.root)
    api = stac_api({name: small_sample.item_collection(name, files.url)
                    for name in small_sample.items})
    custom = StacApiProvider("My STAC", api.url)
    assert custom.list_collections() == sorted(small_sample.items)
    october = {i["id"]: i["properties"]["eo:cloud_cover"]
               for i in small_sample.items[sd.S2_COLLECTION]
               if i["properties"]["datetime"].startswith("2025-10")}
    limit = min(october.values())
    assert max(october.values()) > limit  # the filter has something to remove
    result = run(custom, sd.S2_COLLECTION, small_sample, tmp_path, indices=("NDVI",),
                 max_cloud_cover=limit)
    [collection] = result.collections
    assert collection.provider == "My STAC"
    # scene-level cloud filter applied on the client (rustac has no query extension)
    used = json.loads(collection.metadata_path.read_text())["item_ids"]
    assert used == [i for i, cover in october.items() if cover <= limit]
