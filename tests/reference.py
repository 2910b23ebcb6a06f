"""Independent reference computations from the providers' documented conventions, used to
check the pipeline's outputs pixel by pixel (read the DN files directly, apply the rule)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio

SCL_INVALID = (0, 1, 3, 8, 9, 10)
QA_INVALID_BITS = (1 << 0) | (1 << 1) | (1 << 2) | (1 << 3) | (1 << 4)


def read_asset(root: Path, item: dict, key: str):
    with rasterio.open(Path(root) / item["assets"][key]["href"]) as dataset:
        return dataset.read(1), dataset.transform


def crop_to(array, native_transform, output_transform, shape):
    """The part of a native-grid array under the output grid (same CRS and resolution)."""
    col = int(round((output_transform.c - native_transform.c) / native_transform.a))
    row = int(round((output_transform.f - native_transform.f) / native_transform.e))
    return array[row:row + shape[0], col:col + shape[1]]


def sentinel2(root, item, shape_name, output_transform, shape):
    """(red, nir, blue reflectance, clear) on the output grid for one Sentinel-2 item."""
    keys = ({"red": "B04", "nir": "B08", "blue": "B02", "scl": "SCL"}
            if shape_name == "planetary-computer" else
            {"red": "red", "nir": "nir", "blue": "blue", "scl": "scl"})
    baseline = float(item["properties"]["s2:processing_baseline"])
    if shape_name == "planetary-computer":
        offset = 0.1 if baseline >= 4 else 0.0  # documented +1000 DN since baseline 04.00
    elif shape_name == "earth-search-c1":
        offset = 0.1  # raster:bands offset -0.1
    else:
        offset = 0.0  # Element84 removed the offset from the pixels
    bands, valid = {}, None
    for name in ("red", "nir", "blue"):
        dn, transform = read_asset(root, item, keys[name])
        dn = crop_to(dn, transform, output_transform, shape).astype("float64")
        valid = (dn != 0) if valid is None else valid & (dn != 0)
        bands[name] = dn / 10000 - offset
    scl, scl_transform = read_asset(root, item, keys["scl"])
    scl10 = np.repeat(np.repeat(scl, 2, axis=0), 2, axis=1)  # nearest 20 m -> 10 m
    from affine import Affine

    scl10_transform = Affine(10, 0, scl_transform.c, 0, -10, scl_transform.f)
    scl10 = crop_to(scl10, scl10_transform, output_transform, shape)
    clear = valid & ~np.isin(scl10, SCL_INVALID)
    return bands, clear


def landsat(root, item, output_transform, shape):
    bands, valid = {}, None
    for name, key in (("red", "red"), ("nir", "nir08"), ("blue", "blue")):
        dn, transform = read_asset(root, item, key)
        dn = crop_to(dn, transform, output_transform, shape).astype("float64")
        valid = (dn != 0) if valid is None else valid & (dn != 0)
        bands[name] = dn * 0.0000275 - 0.2
    qa, transform = read_asset(root, item, "qa_pixel")
    qa = crop_to(qa, transform, output_transform, shape)
    return bands, valid & ((qa & QA_INVALID_BITS) == 0)


def ndvi(bands):
    return (bands["nir"] - bands["red"]) / (bands["nir"] + bands["red"] + 1e-10)


def evi(bands, G=2.5, C1=6.0, C2=7.5, L=1.0):  # noqa: N803 (the seed's constant names)
    return G * (bands["nir"] - bands["red"]) / (
        bands["nir"] + C1 * bands["red"] - C2 * bands["blue"] + L + 1e-10)


def monthly(values_by_scene, clear_by_scene, method="median"):
    """Composite of per-scene arrays with masked pixels excluded; (composite, clear count)."""
    stack = np.stack([np.where(c, v, np.nan) for v, c in zip(values_by_scene, clear_by_scene)])
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            reduced = np.nanmedian(stack, 0) if method == "median" else np.nanmean(stack, 0)
    return reduced, np.isfinite(stack).sum(0)
