"""Pixel values and masks against the providers' documented rules, on tiny hand-made scenes:
each expected value is computed here with numpy from the fixture's digital numbers.

Fixtures follow the providers' documented contracts: Planetary Computer ``sentinel-2-l2a``
(raw DNs, no raster:bands; reflectance (DN - 1000) / 10000 for processing baseline >= 04.00,
DN / 10000 before; nodata 0; SCL at 20 m), Sentinel-1 RTC (linear gamma0, float32, nodata
-32768; dB = 10·log10(linear) after averaging in linear units)."""

from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pystac
import rasterio
from affine import Affine
from odc.geo.geom import Geometry
from pyproj import Transformer
from shapely.geometry import box

from raster_collect_plugin.core.composites.collection import period_composites
from raster_collect_plugin.core.pixels import bands, load
from raster_collect_plugin.core.pixels.indices import INDICES, get_index, indices_for

CRS = "EPSG:32756"
X0, Y0 = 600_000.0, 7_000_000.0


def cog(folder: Path, name: str, values: np.ndarray, res: float, dtype: str, nodata) -> str:
    """A one-band GeoTIFF whose top-left corner is (X0, Y0)."""
    path = folder / f"{name}.tif"
    with rasterio.open(path, "w", driver="GTiff", width=values.shape[1],
                       height=values.shape[0], count=1, dtype=dtype, crs=CRS, nodata=nodata,
                       transform=Affine(res, 0, X0, 0, -res, Y0)) as out:
        out.write(values.astype(dtype), 1)
    return str(path)


def scene(item_id: str, when: datetime, properties: dict, assets: dict,
          collection: str) -> pystac.Item:
    """An item over the fixture's corner; ``assets``: key -> (href, extra fields)."""
    to_wgs84 = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    (w, s), (e, n) = to_wgs84.transform(X0 - 500, Y0 - 500), to_wgs84.transform(X0 + 500, Y0)
    item = pystac.Item(item_id, {"type": "Polygon", "coordinates": [
        [[w, s], [e, s], [e, n], [w, n], [w, s]]]}, [w, s, e, n], when,
        dict(properties, **{"proj:epsg": 32756}), collection=collection)
    for key, (href, extra) in assets.items():
        item.add_asset(key, pystac.Asset(href, media_type="image/tiff", roles=["data"],
                                         extra_fields=extra))
    return item


def corner(pixels: int = 4, res: float = 10.0) -> Geometry:
    return Geometry(box(X0, Y0 - pixels * res, X0 + pixels * res, Y0), crs=CRS)


def sentinel1(folder: Path, item_id: str, day: int, vv: np.ndarray) -> pystac.Item:
    """Planetary Computer sentinel-1-rtc: vv/vh linear gamma0, float32, nodata -32768."""
    vh = np.where(vv == -32768, -32768, vv / 4)
    return scene(item_id, datetime(2025, 7, day, tzinfo=timezone.utc), {}, {
        "vv": (cog(folder, f"{item_id}_vv", vv, 10, "float32", -32768), {}),
        "vh": (cog(folder, f"{item_id}_vh", vh, 10, "float32", -32768), {})},
        "sentinel-1-rtc")


# --- indices: division by zero and dB of zero power are NaN, never inf -------------------------

def test_a_custom_ratio_dividing_by_zero_is_nan_not_inf():
    ratio = get_index("SR", "nir / red")
    red = np.array([0.05, 0.0, 0.0], "float32")
    nir = np.array([0.30, 0.2, 0.0], "float32")
    values = ratio.compute({"nir": nir, "red": red})
    np.testing.assert_allclose(values[0], 0.30 / 0.05, rtol=1e-6)
    assert np.isnan(values[1:]).all()  # 0.2 / 0 was inf, 0 / 0 NaN
    import xarray as xr

    lazy = ratio.compute({"nir": xr.DataArray(nir).chunk(), "red": xr.DataArray(red).chunk()})
    np.testing.assert_array_equal(np.isnan(lazy.values), [False, True, True])
    assert np.isnan(get_index("INV", "nir ** -1").compute({"nir": 0.0}))
    # the built-in formulas keep their documented constants (EPS): NDVI of 0/0 is 0
    assert INDICES["NDVI"].compute({"nir": np.float32(0), "red": np.float32(0)}) == 0


def test_evi_and_savi_need_reflectance_not_digital_numbers():
    """EVI's L = 1 and SAVI's L = 0.5 are reflectance units: on Maxar Open Data's 8-bit DNs
    (rule "none") EVI of nir 200, red 100, blue 80 would be 2.5 * 100 / 201 = 1.24, a number
    that means nothing, so they are skipped with the reason; NDVI (a ratio) is kept."""
    wanted = [INDICES["NDVI"], INDICES["EVI"], INDICES["SAVI"]]
    usable, skipped = indices_for(wanted, bands.MAXAR_OPEN_DATA, "queensland-storms")
    assert [index.name for index in usable] == ["NDVI"]
    assert skipped["EVI"] == ("EVI needs surface reflectance and queensland-storms's values "
                              "are digital numbers: use NDVI")
    assert set(skipped) == {"EVI", "SAVI"}
    usable, skipped = indices_for(wanted, bands.PLANETARY_COMPUTER_S2, "sentinel-2-l2a")
    assert len(usable) == 3 and not skipped


def test_sentinel1_composites_in_linear_units_and_zero_power_is_nan(tmp_path):
    vv_a = np.kron(np.array([[0.1, 0.2], [-32768, 0.0]], "float32"), np.ones((2, 2)))
    vv_b = np.kron(np.array([[0.3, 0.4], [0.05, 0.0]], "float32"), np.ones((2, 2)))
    items = [sentinel1(tmp_path, "s1a", 3, vv_a), sentinel1(tmp_path, "s1b", 10, vv_b)]
    profile = bands.SENTINEL1_RTC
    loaded = load.load_scenes(items, load.LoadSpec(
        profile, ("vh", "vv"), load.choose_grid(items, corner(), profile)))
    for method in ("mean", "median"):
        out = period_composites(loaded.values, loaded.clear, indices=[INDICES["VV"]],
                                method=method)
        vv = out["VV"].values[::2, ::2]
        # linear mean (a median of two is their mean), then dB; the nodata scene left out
        expected = 10 * np.log10(np.array([[0.2, 0.3], [0.05, np.nan]]))
        np.testing.assert_allclose(vv[:, :], expected, rtol=1e-5)
        assert np.isnan(vv[1, 1]) and not np.isinf(out["VV"].values).any()
        np.testing.assert_array_equal(out["clear_count"].values[::2, ::2], [[2, 2], [1, 2]])


# --- Planetary Computer Sentinel-2: processing baselines, SCL, one solar day -----------------

def planetary_s2(folder: Path, item_id: str, when: datetime, baseline, dn: dict,
                 scl: np.ndarray) -> pystac.Item:
    """Planetary Computer sentinel-2-l2a: raw DNs (no raster:bands), asset keys B02/B04/B08,
    SCL at 20 m; ``s2:processing_baseline`` left out when ``baseline`` is None."""
    def transform(res):
        return {"proj:transform": [res, 0, X0, 0, -res, Y0]}

    assets = {key: (cog(folder, f"{item_id}_{key}", dn[key], 10, "uint16", 0), transform(10))
              for key in ("B02", "B03", "B04", "B08")}
    assets["SCL"] = (cog(folder, f"{item_id}_SCL", scl, 20, "uint8", 0), transform(20))
    properties = {} if baseline is None else {"s2:processing_baseline": baseline}
    return scene(item_id, when, properties, assets, "sentinel-2-l2a")


def reflectance_dns(red: float, nir: float, blue: float, offset: int, shape=(4, 12)) -> dict:
    """DNs of a flat surface, with the +1000 DN offset of baseline >= 04.00 when asked."""
    def dn(value):
        return np.full(shape, round(value * 10000) + offset)

    return {"B02": dn(blue), "B03": dn(blue), "B04": dn(red), "B08": dn(nir)}


# every SCL class once (20 m pixels, 2 x 2 of the 10 m grid each): 0..11
SCL_ALL = np.array([[0, 1, 2, 3, 4, 5], [6, 7, 8, 9, 10, 11]])
SCL_CLEAR_BY_DEFAULT = ~np.isin(SCL_ALL, [0, 1, 3, 8, 9, 10])  # README "Cloud masks"


def test_planetary_computer_baselines_missing_baselines_and_scl_classes(tmp_path):
    july = [datetime(2025, 7, d, tzinfo=timezone.utc) for d in (3, 10, 17, 24)]
    items = [
        planetary_s2(tmp_path, "new", july[0], "05.11", reflectance_dns(.04, .30, .03, 1000),
                     SCL_ALL),
        planetary_s2(tmp_path, "old", july[1], "03.01", reflectance_dns(.06, .34, .03, 0),
                     SCL_ALL),
        # no s2:processing_baseline: the pixels decide (the first still carries the offset,
        # the second's dark blue DNs 300 say it has none)
        planetary_s2(tmp_path, "unknown-new", july[2], None,
                     reflectance_dns(.05, .26, .03, 1000), SCL_ALL),
        planetary_s2(tmp_path, "unknown-old", july[3], None, reflectance_dns(.07, .38, .03, 0),
                     SCL_ALL),
    ]
    profile = bands.PLANETARY_COMPUTER_S2
    geobox = load.choose_grid(items, Geometry(box(X0, Y0 - 40, X0 + 120, Y0), crs=CRS),
                              profile)
    assert geobox.shape == (4, 12)
    loaded = load.load_scenes(items, load.LoadSpec(profile, ("blue", "nir", "red"), geobox))
    clear = np.kron(SCL_CLEAR_BY_DEFAULT, np.ones((2, 2), bool))  # SCL resampled nearest
    np.testing.assert_array_equal(loaded.clear.values, np.stack([clear] * 4))
    red = loaded.values["red"].values
    for t, expected in enumerate((.04, .06, .05, .07)):  # (DN - 1000) / 10000 or DN / 10000
        np.testing.assert_allclose(red[t][clear], expected, atol=1e-6)
        assert np.isnan(red[t][~clear]).all()
    np.testing.assert_allclose(loaded.offsets.values, [-0.1, 0.0, -0.1, 0.0])
    assert loaded.rules[0] == "DN/10000 - 0.1 (baseline 05.11)"
    assert loaded.rules[1] == "DN/10000 (baseline 03.01)"
    assert "no processing baseline: pixel test" in loaded.rules[2]
    out = period_composites(loaded.values, loaded.clear, indices=[INDICES["NDVI"],
                            INDICES["EVI"]], method="median")
    nir, red_, blue = np.array([.30, .34, .26, .38]), np.array([.04, .06, .05, .07]), .03
    ndvi = np.median((nir - red_) / (nir + red_ + 1e-10))
    evi = np.median(2.5 * (nir - red_) / (nir + 6 * red_ - 7.5 * blue + 1 + 1e-10))
    np.testing.assert_allclose(out["NDVI"].values[clear], ndvi, rtol=1e-5)
    np.testing.assert_allclose(out["EVI"].values[clear], evi, rtol=1e-5)
    assert np.isnan(out["NDVI"].values[~clear]).all()
    np.testing.assert_array_equal(out["clear_count"].values, np.where(clear, 4, 0))


def test_one_solar_day_mixing_baselines_gets_each_scenes_rule(tmp_path):
    """Two tiles of one overpass (the same solar day), one at 05.11 and one at 03.01 (or a
    reprocessed duplicate), each covering half the area: one time step, each half with its
    own rule (the day used to take its first scene's rule for every pixel)."""
    morning = datetime(2025, 7, 5, 0, 0, tzinfo=timezone.utc)
    west = reflectance_dns(.04, .30, .03, 1000)
    east = reflectance_dns(.08, .28, .03, 0)
    for key in west:
        west[key][:, 6:] = 0  # nodata outside each tile
        east[key][:, :6] = 0
    scl = np.full((2, 6), 4)
    items = [planetary_s2(tmp_path, "west", morning, "05.11", west, scl),
             planetary_s2(tmp_path, "east", morning.replace(minute=1), "03.01", east, scl)]
    profile = bands.PLANETARY_COMPUTER_S2
    geobox = load.choose_grid(items, Geometry(box(X0, Y0 - 40, X0 + 120, Y0), crs=CRS),
                              profile)
    loaded = load.load_scenes(items, load.LoadSpec(profile, ("nir", "red"), geobox))
    assert loaded.scene_ids == [["west", "east"]]
    assert loaded.rules == ["DN/10000 - 0.1 (baseline 05.11) | DN/10000 (baseline 03.01)"]
    expected_red = np.where(np.arange(12) < 6, .04, .08)
    np.testing.assert_allclose(loaded.values["red"].values[0], np.tile(expected_red, (4, 1)),
                               atol=1e-6)
    assert loaded.clear.values.all() and loaded.valid.values.all()
    out = period_composites(loaded.values, loaded.clear, indices=[INDICES["NDVI"]],
                            method="median")
    np.testing.assert_array_equal(out["clear_count"].values, np.ones((4, 12)))


# --- Earth Search v1: sentinel-2-c1-l2a and the older sentinel-2-l2a --------------------------

def earth_search_s2(folder: Path, item_id: str, day: int, properties: dict, dn: dict,
                    collection: str) -> pystac.Item:
    """Earth Search v1 Sentinel-2: common-name asset keys, raster:bands scale 0.0001 / offset
    -0.1 on the reflectance bands (also on sentinel-2-l2a scenes whose pixels had the offset
    removed: earth-search issue 71), scl at 20 m, aot tagged "reflectance" too."""
    def fields(res, **extra):
        return dict({"proj:transform": [res, 0, X0, 0, -res, Y0]}, **extra)

    scaled = {"raster:bands": [{"scale": 0.0001, "offset": -0.1, "nodata": 0}]}
    assets = {key: (cog(folder, f"{item_id}_{key}", dn[key], 10, "uint16", 0),
                    fields(10, **scaled)) for key in ("blue", "green", "red", "nir")}
    assets["scl"] = (cog(folder, f"{item_id}_scl", np.full((2, 6), 4), 20, "uint8", 0),
                     fields(20))
    assets["aot"] = (cog(folder, f"{item_id}_aot", np.full((2, 6), 120), 20, "uint16", 0),
                     fields(20, roles=["data", "reflectance"]))
    return scene(item_id, datetime(2025, 7, day, tzinfo=timezone.utc), properties, assets,
                 collection)


def common_name_dns(red: float, blue: float, offset: int) -> dict:
    dns = reflectance_dns(red, .30, blue, offset)
    return {"blue": dns["B02"], "green": dns["B03"], "red": dns["B04"], "nir": dns["B08"]}


def test_earth_search_offsets_are_applied_once_whatever_the_flag_says(tmp_path):
    area = Geometry(box(X0, Y0 - 40, X0 + 120, Y0), crs=CRS)
    c1 = [earth_search_s2(tmp_path, "c1", 3, {"s2:processing_baseline": "05.11"},
                          common_name_dns(.04, .03, 1000), "sentinel-2-c1-l2a")]
    profile = bands.profile_for("earth-search", "sentinel-2-c1-l2a")
    loaded = load.load_scenes(c1, load.LoadSpec(profile, ("nir", "red"),
                                                load.choose_grid(c1, area, profile)))
    np.testing.assert_allclose(loaded.values["red"].values, 1400 * 1e-4 - 0.1, atol=1e-6)

    def l2a(item_id, day, baseline, flag, red, blue, offset):
        properties = {"s2:processing_baseline": baseline}
        if flag is not None:
            properties["earthsearch:boa_offset_applied"] = flag
        return earth_search_s2(tmp_path, item_id, day, properties,
                               common_name_dns(red, blue, offset), "sentinel-2-l2a")

    items = [l2a("flag-true-offset-still-in", 3, "05.11", True, .04, .03, 1000),  # issue 66
             l2a("flag-false-offset-removed", 10, "05.11", False, .04, .03, 0),   # issue 33
             l2a("no-flag-offset-in", 17, "05.11", None, .04, .03, 1000),
             # before 04.00 no offset was ever added: bright DNs (no blue below 500) must not
             # be taken for DNs still carrying one
             l2a("old-and-bright", 24, "03.01", False, .08, .06, 0)]
    profile = bands.profile_for("earth-search", "sentinel-2-l2a")
    loaded = load.load_scenes(items, load.LoadSpec(profile, ("nir", "red"),
                                                   load.choose_grid(items, area, profile)))
    red = loaded.values["red"].values
    for t, expected in enumerate((.04, .04, .04, .08)):
        np.testing.assert_allclose(red[t], expected, atol=1e-6)
    np.testing.assert_allclose(loaded.offsets.values, [-0.1, 0.0, -0.1, 0.0])
    assert loaded.rules[0].startswith("pixel test: BOA offset removed when")
    assert loaded.rules[3] == "DN/10000 (baseline 03.01, before the +1000 DN offset)"


# --- Landsat Collection 2 Level-2 ------------------------------------------------------------

def test_landsat_scale_qa_bits_gaps_and_the_odd_15_m_grid(tmp_path):
    """Landsat C2 L2 (Planetary Computer / Earth Search): reflectance DN * 0.0000275 - 0.2
    from raster:bands, nodata 0; qa_pixel bits 0 fill, 1 dilated cloud, 2 cirrus, 3 cloud,
    4 shadow, 5 snow, 6 clear (set together with cirrus or shadow in real words), nodata 1;
    scene corners at odd multiples of 15 m. Every pixel has its own DN, so a half-pixel shift
    or a resampling would show."""
    corner_x, corner_y = X0 + 15, Y0 + 15  # odd multiples of 15 m

    def band(name, values, dtype, nodata, extra):
        path = tmp_path / f"{name}.tif"
        with rasterio.open(path, "w", driver="GTiff", width=4, height=3, count=1, dtype=dtype,
                           crs=CRS, nodata=nodata,
                           transform=Affine(30, 0, corner_x, 0, -30, corner_y)) as out:
            out.write(values.astype(dtype), 1)
        return str(path), extra

    red = 8000 + np.arange(12).reshape(3, 4) * 100
    nir = 16000 + np.arange(12).reshape(3, 4) * 50
    red[:, 2] = nir[:, 2] = 0  # a Landsat 7 scan-line gap: no data, qa fill
    clear_bit = 1 << 6
    qa = np.full((3, 4), clear_bit)
    qa[:, 2] = 1
    qa[0, 0] = clear_bit | 1 << 2   # cirrus with "clear" set
    qa[0, 1] = clear_bit | 1 << 4   # shadow with "clear" set
    qa[0, 3] = 1 << 1               # dilated cloud
    qa[1, 0] = 1 << 3               # cloud
    qa[1, 1] = 1 << 5               # snow: kept unless chosen
    scaled = {"raster:bands": [{"scale": 2.75e-05, "offset": -0.2, "nodata": 0}]}
    item = scene("LC09_L2SP_089079_20250703_20250705_02_T1",
                 datetime(2025, 7, 3, tzinfo=timezone.utc),
                 {"platform": "landsat-9",
                  "proj:transform": [30, 0, corner_x, 0, -30, corner_y]},
                 {"red": band("red", red, "uint16", 0, scaled),
                  "nir08": band("nir08", nir, "uint16", 0, scaled),
                  "qa_pixel": band("qa_pixel", qa, "uint16", 1, {})}, "landsat-c2-l2")
    profile = bands.profile_for("planetary-computer", "landsat-c2-l2")
    area = Geometry(box(corner_x + 5, corner_y - 85, corner_x + 115, corner_y - 5), crs=CRS)
    geobox = load.choose_grid([item], area, profile)
    assert (geobox.affine.c, geobox.affine.f, geobox.shape) == (corner_x, corner_y, (3, 4))
    loaded = load.load_scenes([item], load.LoadSpec(profile, ("nir", "red"), geobox))
    clear = np.ones((3, 4), bool)
    clear[:, 2] = False
    clear[0, [0, 1, 3]] = clear[1, 0] = False
    np.testing.assert_array_equal(loaded.clear.values[0], clear)
    np.testing.assert_array_equal(loaded.valid.values[0], red != 0)
    np.testing.assert_allclose(loaded.values["red"].values[0][clear],
                               (red * 0.0000275 - 0.2)[clear], rtol=1e-5)
    out = period_composites(loaded.values, loaded.clear, indices=[INDICES["NDVI"]],
                            method="median")
    r, n = red * 0.0000275 - 0.2, nir * 0.0000275 - 0.2
    np.testing.assert_allclose(out["NDVI"].values[clear], ((n - r) / (n + r))[clear],
                               rtol=1e-5)
    np.testing.assert_array_equal(out["clear_count"].values, clear.astype(int))
    with_snow = load.load_scenes([item], load.LoadSpec(
        profile, ("red",), geobox, mask_classes=load.masks.DEFAULT_MASK_CLASSES | {"snow"}))
    assert not with_snow.clear.values[0, 1, 1] and loaded.clear.values[0, 1, 1]


def test_earth_search_c1_run_skips_stub_items_and_records_the_rule(tmp_path, stac_api,
                                                                   file_server):
    """A composite run over a loopback Earth Search: a search answer holding a stub item (no
    assets, as Earth Search returns some) beside a real sentinel-2-c1-l2a scene; NDVI from
    the raster:bands scale/offset applied once, computed here from the DNs."""
    import json

    import geopandas as gpd

    from raster_collect_plugin.core.composites.pipeline import run_composites
    from raster_collect_plugin.core.composites.requests import CompositeRequest, Source
    from raster_collect_plugin.core.sources.providers import EarthSearchProvider

    dns = common_name_dns(.04, .03, 1000)
    dns["nir"] = np.full((4, 12), 4000)  # reflectance 0.3
    real = earth_search_s2(tmp_path, "S2B_T56JNS_20250703_L2A", 3,
                           {"s2:processing_baseline": "05.11", "eo:cloud_cover": 1.0}, dns,
                           "sentinel-2-c1-l2a").to_dict()
    files = file_server(tmp_path)
    for asset in real["assets"].values():  # served over loopback HTTP, as the API's are
        asset["href"] = f"{files.url}/{Path(asset['href']).name}"
    stub = json.loads(json.dumps(real))
    stub["id"], stub["assets"] = "S2B_T56JNS_20250704_L2A-stub", {}
    stub["properties"]["datetime"] = "2025-07-04T00:00:00Z"
    api = stac_api({"c1": {"type": "FeatureCollection", "features": [real, stub]}})
    forests = gpd.GeoDataFrame({"forest_id": [1]}, geometry=[box(X0, Y0 - 40, X0 + 120, Y0)],
                               crs=CRS)
    forests.to_file(tmp_path / "forests.gpkg")
    result = run_composites(CompositeRequest(
        aoi=tmp_path / "forests.gpkg", sources=[Source(EarthSearchProvider(url=api.url),
                                                       ("sentinel-2-c1-l2a",))],
        start=datetime(2025, 7, 1).date(), end=datetime(2025, 7, 31).date(),
        output_dir=tmp_path / "out", indices=("NDVI",)))
    assert not result.errors
    [collection] = result.collections
    with rasterio.open(collection.index_paths["NDVI"]) as dataset:
        ndvi = dataset.read(1)
    red, nir = 1400 * 1e-4 - 0.1, 4000 * 1e-4 - 0.1
    np.testing.assert_allclose(ndvi, (nir - red) / (nir + red), rtol=1e-5)
    metadata = json.loads(collection.metadata_path.read_text())
    assert metadata["item_ids"] == ["S2B_T56JNS_20250703_L2A"]
    assert [scene["reflectance_rule"] for scene in metadata["scenes"]] == [
        "raster:bands scale 0.0001 offset -0.1"]
