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
from raster_collect_plugin.core.pixels.indices import INDICES, get_index

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
