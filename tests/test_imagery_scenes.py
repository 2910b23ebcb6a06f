"""Scene renderings described in core (no QGIS): bands, DN rules per provider, stretch, VRTs."""

import numpy as np
import pytest
from osgeo import gdal

from raster_collect_plugin.core import imagery
from raster_collect_plugin.core.pixels import bands, load
from raster_collect_plugin.core.sample import catalog as sc
from raster_collect_plugin.core.sample import scenes as sd
from raster_collect_plugin.core.sources.signing import sign_hrefs


def test_engine_and_viewer_use_the_same_sentinel2_offset_rule():
    assert imagery.S2_OFFSET_BASELINE == load.S2_OFFSET_BASELINE
    assert imagery.S2_BOA_OFFSET == load.S2_BOA_OFFSET


def _item(small_sample, collection, index=0):
    return small_sample.items[collection][index]


def test_planetary_computer_sentinel2_baseline_rule(small_sample):
    item = _item(small_sample, sd.S2_COLLECTION)
    scene = imagery.describe_item(item, bands.PLANETARY_COMPUTER_S2, provider="Planetary "
                                  "Computer", provider_kind="planetary-computer")
    assert scene["signing"] == "planetary-computer"
    assert scene["renderings"] == ["true-colour", "false-colour", "swir", "cloud-mask"]
    red = scene["bands"]["red"]
    assert (red["asset"], red["scale"], red["offset"]) == ("B04", 1e-4, -0.1)  # baseline 05.11
    old = dict(item, properties=dict(item["properties"], **{"s2:processing_baseline": "03.01"}))
    scene_old = imagery.describe_item(old, bands.PLANETARY_COMPUTER_S2, provider="PC",
                                      provider_kind="planetary-computer")
    assert scene_old["bands"]["red"]["offset"] == 0.0
    spec = imagery.layer_spec(scene, "swir")
    assert [(b.name, b.asset) for b in spec.bands] == [("swir22", "B12"), ("nir08", "B8A"),
                                                       ("red", "B04")]
    assert [(b.minimum, b.maximum) for b in spec.bands] == [(0.0, 0.4), (0.0, 0.5), (0.0, 0.2)]
    false_colour = imagery.layer_spec(scene, "false-colour")
    assert [b.asset for b in false_colour.bands] == ["B08", "B04", "B03"]
    mask = imagery.layer_spec(scene, "cloud-mask")
    assert (mask.kind, mask.mask_kind, mask.bands[0].asset) == ("mask", "scl", "SCL")
    with pytest.raises(imagery.ImageryError, match="no radar"):
        imagery.layer_spec(scene, "radar")


def test_earth_search_and_landsat_take_raster_bands_once(small_sample, tmp_path):
    es = sc.make_sample(tmp_path / "es", sd.small_spec(sensors=(sd.S2_COLLECTION,), months=1,
                                                       s2_shape="earth-search-c1"))
    item = es.items["sentinel-2-c1-l2a"][0]
    scene = imagery.describe_item(item, bands.EARTH_SEARCH_S2_C1, provider="Earth Search",
                                  provider_kind="earth-search")
    assert scene["signing"] is None
    assert (scene["bands"]["red"]["scale"], scene["bands"]["red"]["offset"]) == (1e-4, -0.1)
    landsat = imagery.describe_item(_item(small_sample, sd.LANDSAT_COLLECTION),
                                    bands.LANDSAT_C2_L2, provider="PC",
                                    provider_kind="planetary-computer")
    red = landsat["bands"]["red"]
    assert (red["scale"], red["offset"]) == (2.75e-5, -0.2)
    assert landsat["mask"] == {"kind": "qa_pixel", "asset": "qa_pixel", "nodata": 1}
    assert "radar" not in landsat["renderings"] and "swir" in landsat["renderings"]


def test_earth_search_old_collection_is_decided_by_its_pixels():
    with_offset = np.array([[1300, 1450], [1100, 0]])  # no valid DN below 1000
    removed = np.array([[300, 450], [100, 0]])
    assert imagery.needs_boa_offset([with_offset]) is True
    assert imagery.needs_boa_offset([removed]) is False


def test_sentinel1_radar_rendering_in_decibels(small_sample):
    scene = imagery.describe_item(_item(small_sample, sd.S1_COLLECTION), bands.SENTINEL1_RTC,
                                  provider="PC", provider_kind="planetary-computer")
    assert scene["renderings"] == ["radar"]
    spec = imagery.layer_spec(scene, "radar")
    assert [b.name for b in spec.bands] == ["vv", "vh", "vv/vh"]
    assert all(b.decibels for b in spec.bands)
    assert spec.bands[2].ratio_of == ("vv", "vh")


def test_clipped_grid_and_windows():
    ten = imagery.stac_grid([10, 0, 500_000, 0, -10, 7_000_000], [1000, 1000])
    twenty = imagery.stac_grid([20, 0, 500_000, 0, -20, 7_000_000], [500, 500])
    clipped = imagery.clip_grid(ten, (500_105, 6_995_000, 501_000, 6_999_995))
    assert clipped.transform == (500_100, 10, 0, 6_999_995 + 5, 0, -10)
    assert (clipped.width, clipped.height) == (90, 500)
    assert imagery.source_window(ten, clipped) == (10, 0, 90, 500)
    assert imagery.source_window(twenty, clipped) == (5, 0, 45, 250)
    with pytest.raises(imagery.ImageryError, match="outside this scene"):
        imagery.clip_grid(ten, (0, 0, 10, 10))


def test_vrt_gives_reflectance_from_the_cog_window(small_sample):
    item = _item(small_sample, sd.S2_COLLECTION)
    scene = imagery.describe_item(item, bands.PLANETARY_COMPUTER_S2, provider="PC",
                                  provider_kind="static")
    spec = imagery.layer_spec(scene, "true-colour")
    hrefs = {k: str(small_sample.root / a["href"]) for k, a in scene["assets"].items()}
    grids = {k: imagery.stac_grid(a["transform"], a["shape"]) for k, a in scene["assets"].items()}
    full = grids["B04"]
    left, bottom, right, top = full.bounds
    target = imagery.target_grid(spec, grids, (left + 200, bottom + 300, right - 100, top - 50))
    from pyproj import CRS

    xml, helper = imagery.vrt_xml(spec, hrefs, grids, target, CRS.from_epsg(32756).to_wkt())
    assert helper is None
    dataset = gdal.Open(xml)
    red = dataset.GetRasterBand(1).ReadAsArray()
    dn = gdal.Open(hrefs["B04"]).ReadAsArray()[5:5 + target.height, 20:20 + target.width]
    expected = np.where(dn == 0, imagery.NODATA_OUT, dn * 1e-4 - 0.1)
    np.testing.assert_allclose(red, expected, rtol=1e-6, atol=1e-6)
    assert dataset.GetRasterBand(1).GetNoDataValue() == imagery.NODATA_OUT


def test_token_expiry_and_unsigned_hrefs_pass_through():
    signed = ("https://acct.blob.core.windows.net/c/B04.tif?st=2025-12-01T00%3A00%3A00Z"
              "&se=2025-12-01T01:00:00Z&sp=rl&sig=abc")
    assert imagery.token_expiry(signed) == "2025-12-01T01:00:00Z"
    assert imagery.strip_query(signed) == "https://acct.blob.core.windows.net/c/B04.tif"
    assert imagery.expired("2000-01-01T00:00:00Z") and not imagery.expired(None)
    assert sign_hrefs(["http://127.0.0.1/x.tif"], None) == {
        "hrefs": {"http://127.0.0.1/x.tif": "http://127.0.0.1/x.tif"}, "expires": None}
    with pytest.raises(ValueError, match="unknown signing"):
        sign_hrefs(["http://x/y.tif"], "nope")



def test_before_after_candidates_and_the_clearest_nearest_scene():
    def scene(sid, day, cover=5.0, renderings=("true-colour", "cloud-mask")):
        return {"id": sid, "datetime": f"{day}T00:00:00Z", "cloud_cover": cover,
                "renderings": list(renderings), "mask": {"kind": "scl"}}

    scenes = [scene("a", "2025-10-20"), scene("b", "2025-11-05"), scene("c", "2025-11-13"),
              scene("d", "2025-11-20", cover=99), scene("e", "2025-11-28"),
              scene("f", "2025-12-05"), scene("r", "2025-11-10", renderings=("radar",))]
    before, after = imagery.pair_candidates(scenes, "2025-11-13")
    assert [s["id"] for s in before] == ["b", "a"]
    assert [s["id"] for s in after] == ["e", "f"]
    assert imagery.clearest(before, {"b": 0.4, "a": 1.0})["id"] == "a"
    assert imagery.clearest(after, {"e": 0.97, "f": 1.0})["id"] == "e"
    assert imagery.clearest(after, {"e": 0.2, "f": 0.6})["id"] == "f"
    assert imagery.clearest(after, {}) is None
    scl = np.array([[4, 4, 9, 0], [4, 3, 4, 4]])
    assert imagery.clear_fraction("scl", scl) == 5 / 8
    qa = np.array([[sd.QA_WORD_CLEAR, sd.QA_WORD_CLOUD], [sd.QA_WORD_FILL, sd.QA_WORD_CLEAR]])
    assert imagery.clear_fraction("qa_pixel", qa) == 0.5


def test_search_job_describes_planetary_computer_scenes_unsigned(small_sample, stac_api,
                                                                 monkeypatch, tmp_path):
    from planetary_computer import sas
    from planetary_computer.settings import Settings

    from raster_collect_plugin.core.jobs.run import run_job
    from tests.servers.range_http import short_lived_clock
    from tests.servers.sas_tokens import SasTokenServer

    tokens = SasTokenServer(short_lived_clock(), lifetime_seconds=3600).start()
    monkeypatch.setenv("PC_SDK_SAS_URL", tokens.sas_url)
    Settings.get.cache_clear()
    sas.TOKEN_CACHE.clear()
    try:
        base = "https://pcsampleaccount.blob.core.windows.net/sentinel2-l2"
        api = stac_api({"s2": small_sample.item_collection(sd.S2_COLLECTION, base)})
        result = run_job({"kind": "search", "aoi": str(small_sample.forests_path),
                          "sources": [{"kind": "planetary-computer", "url": api.url,
                                       "collections": [sd.S2_COLLECTION]}],
                          "start": "2025-10-01", "end": "2025-10-31",
                          "output_dir": str(tmp_path)})
        signed_job = run_job({"kind": "sign", "signing": "planetary-computer",
                              "hrefs": [f"{base}/a/B04.tif", f"{base}/a/B03.tif?old=token"]})
    finally:
        tokens.stop()
        Settings.get.cache_clear()
        sas.TOKEN_CACHE.clear()
    scenes = result["scenes"]
    assert set(scenes) == {row["id"] for row in result["items"]} and scenes
    scene = next(iter(scenes.values()))
    assert scene["signing"] == "planetary-computer" and scene["provider_kind"] == \
        "planetary-computer"
    assert all(a["href"].startswith(base) and "?" not in a["href"]
               for a in scene["assets"].values())
    assert scene["renderings"] == ["true-colour", "false-colour", "swir", "cloud-mask"]
    assert scene["bands"]["red"]["offset"] == -0.1
    signed = signed_job["hrefs"]
    assert set(signed) == {f"{base}/a/B04.tif", f"{base}/a/B03.tif"}  # old token stripped
    assert all("sig=" in s and "old=token" not in s for s in signed.values())
    assert signed_job["expires"] == imagery.token_expiry(signed[f"{base}/a/B04.tif"])
