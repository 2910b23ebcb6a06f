"""The synthetic sample has the providers' real band layouts and pixel encodings."""

import geopandas as gpd
import numpy as np
import pystac
import rasterio

from raster_collect_plugin.core.sample import catalog as sc
from raster_collect_plugin.core.sample import scenes as sd


def open_asset(sample, collection, index, key):
    item = sample.items[collection][index]
    return item, rasterio.open(sample.root / item["assets"][key]["href"])


def test_forests_in_projected_and_geographic_crs(small_sample):
    projected = gpd.read_file(small_sample.forests_path)
    geographic = gpd.read_file(small_sample.forests_wgs84_path)
    assert projected.crs.to_epsg() == 28356 and geographic.crs.to_epsg() == 4326
    assert list(projected["forest_id"]) == list(range(281, 287))
    assert projected.geometry.is_valid.all()
    areas_ha = projected.area / 10_000
    assert ((areas_ha > 50) & (areas_ha < 110)).all(), areas_ha
    lon, lat = geographic.geometry.union_all().centroid.coords[0]
    assert 152.9 < lon < 153.0 and -27.0 < lat < -26.9  # Beerburrum


def test_sentinel2_pc_shape_carries_baseline_offset(small_sample):
    item, dataset = open_asset(small_sample, "sentinel-2-l2a", 0, "B04")
    assert item["properties"]["s2:processing_baseline"] == "05.11"
    assert "raster:bands" not in item["assets"]["B04"]  # Planetary Computer: raw DNs only
    assert dataset.res == (10, 10) and dataset.nodata == 0 and dataset.dtypes[0] == "uint16"
    assert dataset.crs.to_epsg() == 32756
    dn = dataset.read(1)
    valid = dn[dn > 0]
    assert (valid >= 1000).mean() > 0.999  # +1000 BOA offset since baseline 04.00
    _, scl = open_asset(small_sample, "sentinel-2-l2a", 0, "SCL")
    assert scl.res == (20, 20)
    assert set(np.unique(scl.read(1))) <= {0, 3, 4, 5, 8, 9}


def test_clouds_are_bright_and_flagged(small_sample):
    items = small_sample.items["sentinel-2-l2a"]
    cloudy = max((i for i in range(len(items)) if items[i]["properties"]["eo:cloud_cover"] < 90),
                 key=lambda i: items[i]["properties"]["eo:cloud_cover"])
    item, red = open_asset(small_sample, "sentinel-2-l2a", cloudy, "B04")
    _, scl = open_asset(small_sample, "sentinel-2-l2a", cloudy, "SCL")
    assert item["properties"]["eo:cloud_cover"] > 0
    red20 = red.read(1)[::2, ::2]
    classes = scl.read(1)
    assert np.median(red20[classes == 9]) > 1000 + 4000  # reflectance > 0.4
    assert np.median(red20[classes == 4]) < 1000 + 500


def test_landsat_scale_offset_and_qa_pixel(small_sample):
    item, red = open_asset(small_sample, "landsat-c2-l2", 1, "red")
    bands = item["assets"]["red"]["raster:bands"][0]
    assert (bands["scale"], bands["offset"]) == (2.75e-05, -0.2)
    assert red.transform.c % 30 == 15  # pixel corners on odd multiples of 15 m
    reflectance = red.read(1) * bands["scale"] + bands["offset"]
    _, qa = open_asset(small_sample, "landsat-c2-l2", 1, "qa_pixel")
    words = qa.read(1)
    clear = (words & (1 << sd.QA_CLEAR)) > 0
    assert 0.0 < np.median(reflectance[clear]) < 0.15
    assert qa.nodata == 1


def test_sentinel1_linear_gamma0(small_sample):
    item, vh = open_asset(small_sample, "sentinel-1-rtc", 0, "vh")
    assert vh.nodata == -32768 and vh.dtypes[0] == "float32"
    values = vh.read(1)
    assert 0.005 < float(np.median(values)) < 0.05  # linear power, not dB


def test_static_catalog_is_readable_with_pystac(small_sample):
    catalog = pystac.Catalog.from_file(str(small_sample.catalog_path))
    items = list(catalog.get_items(recursive=True))
    assert len(items) == sum(len(v) for v in small_sample.items.values())
    href = items[0].assets[next(iter(items[0].assets))].get_absolute_href()
    assert rasterio.open(href).count == 1


def test_sample_is_reused_when_unchanged(small_sample):
    before = small_sample.catalog_path.stat().st_mtime_ns
    again = sc.make_sample(small_sample.root, small_sample.spec)
    assert again.catalog_path.stat().st_mtime_ns == before
    assert again.truth == small_sample.truth
