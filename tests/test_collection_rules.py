"""Provider rules that must hold on real item shapes: legacy / unknown collections get rules
read from their items (and say so), one collection's failure does not stop the others,
Landsat grids keep their odd-15 m corners when proj:transform is only on the item, and the
Earth Search per-scene offset test holds on dark scenes."""

import json
from datetime import datetime, timezone

import numpy as np
import pystac
import pytest
import xarray as xr
from odc.geo.geom import Geometry
from shapely.geometry import box

from raster_collect_plugin.core.composites.pipeline import run_composites
from raster_collect_plugin.core.composites.requests import CompositeRequest, Source
from raster_collect_plugin.core.pixels import bands, load
from raster_collect_plugin.core.sample import catalog as sc
from raster_collect_plugin.core.sample import scenes as sd
from raster_collect_plugin.core.sources.providers import EarthSearchProvider
from tests.test_imagery_pipeline import OCTOBER, check_s2_month

LEGACY = "sentinel-s2-l2a-cogs"


def legacy_item(baseline="05.11", applied=True, **extra_assets):
    """An Earth Search v0 item as served for sentinel-s2-l2a-cogs (STAC 1.0.0-beta.2)."""
    assets = {key: {"href": f"https://example.invalid/{key}.tif", "roles": ["data"],
                    "proj:shape": [10980, 10980],
                    "proj:transform": [10, 0, 600000, 0, -10, 3300040, 0, 0, 1]}
              for key in ("B02", "B03", "B04", "B08", "B8A", "B11", "B12", "SCL")}
    assets.update(extra_assets)
    return {"type": "Feature", "stac_version": "1.0.0-beta.2", "id": "S2B_20EPT_20250731_0_L2A",
            "collection": LEGACY, "bbox": [-60.0, -60.5, -59.0, -60.0],
            "geometry": {"type": "Polygon", "coordinates": [[[-60, -60.5], [-59, -60.5],
                                                             [-59, -60], [-60, -60.5]]]},
            "properties": {"datetime": "2025-07-31T13:33:10Z", "proj:epsg": 32720,
                           "sentinel:processing_baseline": baseline,
                           "sentinel:boa_offset_applied": applied},
            "assets": assets, "links": []}


def test_legacy_collection_rules_come_from_the_item():
    profile = bands.profile_for("earth-search", LEGACY, legacy_item())
    assert profile.rule == "s2-item-properties" and profile.assets["red"] == "B04"
    assert "rule read from its items" in profile.notes[0]
    EarthSearchProvider().check_readable(LEGACY)  # used to raise KeyError
    with pytest.raises(bands.UnknownCollection, match="choose a supported collection"):
        bands.profile_for("earth-search", "mystery", {"assets": {"data": {}}})


@pytest.mark.parametrize("baseline,applied,expected_offset,rule", [
    ("05.11", True, 0.0, "DN/10000 (item properties: baseline 05.11, boa_offset_applied True)"),
    ("05.11", False, -0.1,
     "DN/10000 - 0.1 (item properties: baseline 05.11, boa_offset_applied False)"),
    # no flag: the documented baseline rule, baseline read from the sentinel: property
    ("02.14", None, 0.0, "DN/10000 (baseline 02.14)"),
    ("04.00", None, -0.1, "DN/10000 - 0.1 (baseline 04.00)"),
])
def test_item_properties_rule_per_scene(baseline, applied, expected_offset, rule):
    item = legacy_item(baseline, applied)
    if applied is None:
        del item["properties"]["sentinel:boa_offset_applied"]
    scene = pystac.Item.from_dict(item)
    profile = bands.profile_for("earth-search", LEGACY, item)
    raw = xr.DataArray(np.array([[[2000, 1500]]], "uint16"), dims=("time", "y", "x"),
                       coords={"time": [np.datetime64("2025-07-31")]})
    physical, rules = load._to_physical(raw, "red", [[scene]], profile, None)
    np.testing.assert_allclose(physical.values[0, 0], np.array([0.2, 0.15]) + expected_offset,
                               rtol=1e-6)
    assert rules == [rule]


def test_legacy_collection_end_to_end_and_a_broken_collection_is_reported(
        tmp_path, file_server, stac_api):
    """Planetary-Computer-shaped pixels (the +1000 offset still in them) served as an Earth
    Search v0 collection with ``sentinel:`` properties, beside a collection nobody knows."""
    spec = sd.small_spec(sensors=(sd.S2_COLLECTION,), s2_shape="planetary-computer", months=1)
    sample = sc.make_sample(tmp_path / "sample", spec)
    files = file_server(sample.root)
    [name] = sample.items
    legacy = sample.item_collection(name, files.url)
    for feature in legacy["features"]:
        feature["stac_version"] = "1.0.0-beta.2"
        feature["collection"] = LEGACY
        properties = feature["properties"]
        properties["sentinel:processing_baseline"] = properties.pop("s2:processing_baseline")
        properties["sentinel:boa_offset_applied"] = False
    broken = json.loads(json.dumps(legacy))
    for feature in broken["features"]:
        feature["collection"] = "mystery-l2"
        feature["id"] += "-mystery"
        feature["assets"] = {"data": next(iter(feature["assets"].values()))}
    api = stac_api({"legacy": legacy, "mystery": broken})
    result = run_composites(CompositeRequest(
        aoi=sample.forests_path, sources=[Source(EarthSearchProvider(url=api.url),
                                                 (LEGACY, "mystery-l2"))],
        start=OCTOBER[0], end=OCTOBER[1], output_dir=tmp_path / "out", indices=("NDVI", "EVI"),
        max_cloud_cover=None))
    assert list(result.errors) == ["Earth Search mystery-l2"]
    assert "no band profile for collection 'mystery-l2'" in \
        result.errors["Earth Search mystery-l2"]
    check_s2_month(sample, result, "planetary-computer")  # DN/10000 - 0.1 where baseline >= 4
    [collection] = result.collections
    rules = {scene["reflectance_rule"] for scene in collection.scenes}
    assert rules == {"DN/10000 - 0.1 (item properties: baseline 05.11, "
                     "boa_offset_applied False)"}
    metadata = json.loads(collection.metadata_path.read_text())
    assert metadata["reflectance_rule"] == "s2-item-properties"
    assert "rule read from its items" in metadata["profile_notes"][0]


# --- Landsat grid ----------------------------------------------------------------------------

def landsat_item(on_assets: bool):
    transform = [30.0, 0.0, 449085.0, 0.0, -30.0, 4581915.0]
    properties = {"datetime": "2025-07-01T17:00:00Z", "proj:epsg": 32613,
                  "proj:shape": [7831, 7711]}
    assets = {key: {"href": f"https://example.invalid/{key}.tif", "roles": ["data"]}
              for key in ("red", "nir08", "blue", "green", "swir16", "swir22", "coastal",
                          "qa_pixel")}
    if on_assets:
        for asset in assets.values():
            asset["proj:transform"] = transform
    else:  # Earth Search: projection fields on the item only
        properties["proj:transform"] = transform
    return pystac.Item.from_dict({
        "type": "Feature", "stac_version": "1.0.0", "id": f"LC09_{on_assets}",
        "collection": "landsat-c2-l2", "bbox": [-105, 40, -104, 41],
        "geometry": {"type": "Polygon", "coordinates": [[[-105, 40], [-104, 40], [-104, 41],
                                                         [-105, 40]]]},
        "properties": properties, "assets": assets, "links": []})


@pytest.mark.parametrize("on_assets", [True, False])
def test_landsat_grid_keeps_the_scene_corners_wherever_proj_transform_is(on_assets):
    aoi = Geometry(box(452_010, 4_570_020, 455_020, 4_573_000), crs="EPSG:32613")
    geobox = load.choose_grid([landsat_item(on_assets)], aoi, bands.LANDSAT_C2_L2)
    affine = geobox.affine
    assert affine.a == 30 and (affine.c - 449085) % 30 == 0 and (affine.f - 4581915) % 30 == 0
    assert geobox.crs.epsg == 32613


def test_epsg_only_on_the_assets_is_read():
    item = landsat_item(True)
    del item.properties["proj:epsg"]
    for asset in item.assets.values():
        asset.extra_fields["proj:epsg"] = 32613
    assert load._item_epsg(item) == 32613


# --- Earth Search per-scene offset test on dark scenes ------------------------------------------

def test_pixel_test_holds_on_dark_scenes():
    rng = np.random.default_rng(5)
    shape = (4, 40, 40)
    # 0: dark water and shadow still carrying the offset: DNs scatter around 1000 (reflectance
    #    about 0, slightly negative allowed) -> the offset must still be removed
    # 1: forest whose offset was removed: red/green/blue DNs 200-600
    # 2: forest still carrying it: 1200-1600
    # 3: offset removed, mostly bright cloud (masked) over a little dark forest
    base = np.empty(shape)
    base[0] = rng.normal(1000, 40, shape[1:])
    base[1] = rng.uniform(200, 600, shape[1:])
    base[2] = rng.uniform(1200, 1600, shape[1:])
    base[3] = rng.uniform(5000, 9000, shape[1:])
    base[3, :4, :] = rng.uniform(200, 400, (4, 40))
    assert (base[0] < 1000).mean() > 0.3  # the old "< 1000" test called this scene offset-free
    time = np.arange(4).astype("datetime64[D]")
    data = xr.Dataset({key: (("time", "y", "x"), base.astype("uint16"))
                       for key in ("blue", "green", "red")}, coords={"time": time})
    usable = xr.DataArray(np.ones(shape, bool), dims=("time", "y", "x"), coords={"time": time})
    usable[3, 4:, :] = False  # clouds
    offsets = load.pixel_test_offsets(data, bands.EARTH_SEARCH_S2_L2A, usable)
    np.testing.assert_array_equal(offsets.values, np.float32([-0.1, 0.0, -0.1, 0.0]))


def test_pixel_test_rule_is_recorded():
    scene = pystac.Item("s", None, None, datetime(2025, 7, 1, tzinfo=timezone.utc), {})
    raw = xr.DataArray(np.zeros((1, 1, 1), "uint16"), dims=("time", "y", "x"))
    _, rules = load._to_physical(raw, "red", [[scene]], bands.EARTH_SEARCH_S2_L2A,
                                 xr.DataArray(np.float32([0.0]), dims="time"))
    assert rules == ["pixel test: BOA offset removed when >1% of clear visible DNs < 500"]
