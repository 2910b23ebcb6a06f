"""Loading analysis-ready pixels: odc-stac windowed COG reads onto one grid, digital numbers
turned into physical values (each provider's rule applied exactly once), cloud masks applied.

Everything stays lazy (dask) until the caller computes; the caller loads one period at a time so
memory is bounded by a period, not by the whole stack.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta, timezone
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import odc.stac
import pystac
import xarray as xr
from odc.geo.geobox import GeoBox
from odc.geo.geom import Geometry

from ..compute.gdal_env import configure_gdal
from . import masks
from .bands import CollectionProfile, baseline_of, boa_offset_flag
from .errors import LoadError
from .tile_grid import SceneTiles, spatial_chunks
from .time_steps import fuse_days, split_days

S2_OFFSET_BASELINE = 4.0
S2_BOA_OFFSET = -0.1  # 1000 DN at scale 1e-4
PIXEL_TEST_BANDS = ("blue", "green", "red")
PIXEL_TEST_LOW_DN = 500  # reflectance -0.05 if the +1000 offset were still in the pixels
PIXEL_TEST_FRACTION = 0.01


@dataclass(frozen=True)
class LoadSpec:
    """What to load for one collection: bands by common name, grid, masking."""

    profile: CollectionProfile
    bands: Tuple[str, ...]
    geobox: GeoBox
    mask_classes: frozenset = masks.DEFAULT_MASK_CLASSES
    chunk_size: int = 1024
    cloud_buffer_m: float = 0.0  # grow the cloud/shadow mask by this distance (cloud_buffer.py)
    tiles: Optional[SceneTiles] = None  # the scenes' COG tiles: chunks follow them

    @property
    def spatial_chunks(self) -> Tuple[Tuple[int, ...], Tuple[int, ...]]:
        """The (rows, columns) chunks of every loaded array."""
        return spatial_chunks(self.geobox.shape, self.chunk_size, self.tiles)


@dataclass
class LoadedScenes:
    """Physical values per band (NaN where not clear) plus masks, dims (time, y, x)."""

    values: Dict[str, xr.DataArray]
    valid: xr.DataArray  # data present (not nodata)
    clear: xr.DataArray  # valid and not masked as cloud
    scene_ids: List[List[str]]  # item ids fused into each time step
    rules: List[str] = field(default_factory=list)  # reflectance rule per time step (lazy-safe)
    offsets: Optional[xr.DataArray] = None  # offset applied per time step (pixel-test rule)
    saturation_masked: bool = False  # Landsat QA_RADSAT applied


def choose_grid(items: Sequence[pystac.Item], aoi_geometry: Geometry, profile: CollectionProfile,
                *, crs: Optional[str] = None, resolution: Optional[float] = None) -> GeoBox:
    """One grid for a stack: the scenes' (most common) CRS unless ``crs`` is given, the sensor's
    resolution unless overridden, aligned to the scenes' own pixel grid when that is possible
    (no half-pixel shift of Landsat's odd-15 m grid)."""
    native_epsg = Counter(_item_epsg(item) for item in items).most_common(1)[0][0]
    target_crs = crs or (f"EPSG:{native_epsg}" if native_epsg else str(aoi_geometry.crs))
    res = float(resolution or profile.resolution or _native_resolution(items[0], profile))
    anchor = "default"
    transform = _native_transform(items[0], profile, res)
    if transform is not None and target_crs == f"EPSG:{native_epsg}":
        from odc.geo import xy_

        anchor = xy_((transform[2] / res) % 1.0, (transform[5] / res) % 1.0)
    bounds = aoi_geometry.to_crs(target_crs).boundingbox
    return GeoBox.from_bbox(bounds, target_crs, resolution=res, anchor=anchor)


def _item_epsg(item: pystac.Item) -> Optional[int]:
    """The scene's EPSG code from the item's or (when only there) its assets' proj fields."""
    for fields in (item.properties, *(a.extra_fields for a in item.assets.values())):
        code = fields.get("proj:epsg")
        if code is None and isinstance(fields.get("proj:code"), str):
            code = fields["proj:code"].split(":")[-1]
        if code is not None:
            return int(code)
    return None


def _proj_transform(item: pystac.Item, asset_key: str):
    """An asset's ``proj:transform``, else the item's (STAC projection fields may sit on either:
    Earth Search's Landsat items carry it on the item only)."""
    asset = item.assets.get(asset_key.split(".")[0])
    if asset is not None and asset.extra_fields.get("proj:transform"):
        return asset.extra_fields["proj:transform"]
    return item.properties.get("proj:transform")


def _native_resolution(item: pystac.Item, profile: CollectionProfile) -> float:
    asset = item.assets[profile.assets[profile.optical_bands[0]].split(".")[0]]
    transform = _proj_transform(item, profile.assets[profile.optical_bands[0]])
    if transform:
        return abs(float(transform[0]))
    gsd = asset.extra_fields.get("gsd") or item.properties.get("gsd")
    if not gsd:
        raise LoadError(f"{item.id}: no resolution in its metadata; choose a resolution")
    return float(gsd)


def _native_transform(item: pystac.Item, profile: CollectionProfile, res: float):
    for band in profile.optical_bands:
        if profile.assets[band].split(".")[0] not in item.assets:
            continue
        transform = _proj_transform(item, profile.assets[band])
        if transform and abs(transform[0] - res) < 1e-9:
            return transform
    return None


def _stac_cfg(profile: CollectionProfile, collection: str, asset_keys: Iterable[str]) -> dict:
    """Tell odc-stac each asset's data type and nodata (Planetary Computer S2 items carry no
    raster:bands)."""
    assets = {}
    for key in asset_keys:
        if "." in key:  # a band of a multi-band asset: described by the item's raster:bands
            continue
        if profile.mask_band and key == profile.assets[profile.mask_band]:
            dtype = "uint8" if profile.mask_band == "scl" else "uint16"
            nodata = profile.mask_nodata if profile.mask_nodata is not None else 0
        elif profile.rule == "linear":
            dtype, nodata = "float32", profile.nodata
        else:
            dtype, nodata = ("uint8" if profile.sensor == "worldview" else "uint16"), profile.nodata
        assets[key] = {"data_type": dtype, "nodata": nodata}
    return {collection: {"assets": assets}, "*": {"assets": assets}}


def _raster_scale_offset(item: pystac.Item, asset_key: str, profile: CollectionProfile):
    asset = item.assets.get(asset_key)
    bands = (asset.extra_fields.get("raster:bands") if asset is not None else None) or [{}]
    return float(bands[0].get("scale", profile.scale)), float(bands[0].get("offset",
                                                                           profile.offset))


def _group_by_solar_day(items: Sequence[pystac.Item], geobox) -> List[List[pystac.Item]]:
    """The items odc-stac fuses into each time step with groupby='solar_day' when loading
    onto ``geobox``, in its order. Its rule: the UTC time plus one hour per whole 15° of the
    grid's centre longitude (not each item's own, nor minutes: a scene at 13:50 UTC over
    Queensland is on its UTC day, one at 14:05 on the next), items by time then id."""
    ((longitude, _),) = geobox.extent.centroid.to_crs("epsg:4326").points
    offset = timedelta(hours=int(longitude / 15))
    groups: Dict[str, List[pystac.Item]] = {}
    for item in sorted(items, key=lambda i: (i.datetime, i.id)):
        day = (item.datetime.astimezone(timezone.utc) + offset).date()
        groups.setdefault(day.isoformat(), []).append(item)
    return [groups[key] for key in sorted(groups)]


def _dn_key(item: pystac.Item, profile: CollectionProfile) -> str:
    """What, beside its collection, decides an item's digital-number rule: scenes of one solar
    day whose keys differ are loaded apart, each with its own rule, then fused
    (``time_steps.py``)."""
    if profile.rule in ("s2-baseline", "s2-pixel-test"):
        return str(_known_offset(item.properties, profile.rule))
    if profile.rule == "s2-item-properties":
        return str(_item_properties_offset(item.properties)[0])
    if profile.rule == "raster-bands":
        return repr([_raster_scale_offset(item, key, profile) for key in profile.assets.values()
                     if key in item.assets and key != profile.assets.get(profile.mask_band)])
    return ""


def _without_baseline(items: Sequence[pystac.Item], profile: CollectionProfile) -> bool:
    """Planetary Computer Sentinel-2 scenes without ``s2:processing_baseline``: their pixels
    decide whether the +1000 DN offset is in them (``pixel_test_offsets``)."""
    return profile.rule == "s2-baseline" and any(baseline_of(i.properties) is None
                                                 for i in items)


def load_scenes(items: Sequence[pystac.Item], spec: LoadSpec, *,
                patch_url: Optional[Callable[[str], str]] = None) -> LoadedScenes:
    """Lazily load ``items`` of one collection onto ``spec.geobox`` as physical values."""
    profile = spec.profile
    missing = [b for b in spec.bands if b not in profile.assets]
    if missing:
        raise LoadError(f"{profile.sensor} has no {missing} band(s); bands available: "
                        f"{sorted(profile.optical_bands)}")
    if not items:
        raise LoadError("no scenes to load")
    configure_gdal()
    wanted = list(spec.bands)
    test_bands = ()
    if profile.rule == "s2-pixel-test" or _without_baseline(items, profile):
        test_bands = tuple(b for b in PIXEL_TEST_BANDS if all(
            profile.assets[b] in item.assets for item in items)) or ("red",)
        wanted += [b for b in test_bands if b not in wanted]
    asset_keys = [profile.assets[b] for b in wanted]
    if profile.mask_band:
        asset_keys.append(profile.assets[profile.mask_band])
    radsat = saturation_asset(items, profile, spec.mask_classes)
    if radsat:
        asset_keys.append(radsat)
    asset_keys = list(dict.fromkeys(asset_keys))
    collection = items[0].collection_id or "*"
    geobox, chunks = spec.geobox, {"time": 1, "x": spec.chunk_size, "y": spec.chunk_size}
    if spec.tiles is not None:  # chunk edges on tile edges: pad, load, slice the padding off
        geobox = spec.tiles.padded(spec.geobox)
        rows, columns = spec.tiles.step(spec.chunk_size)
        chunks = {"time": 1, "x": columns, "y": rows}
    groups, day_of_step = split_days(_group_by_solar_day(items, geobox),
                                     lambda item: _dn_key(item, profile))
    step_of = {item.id: n for n, group in enumerate(groups) for item in group}
    from .asset_reader import NamingRioDriver

    try:
        data = odc.stac.load(items, bands=asset_keys, geobox=geobox,
                             groupby=lambda item, _parsed, _n: step_of[item.id],
                             chunks=chunks, resampling="nearest", fail_on_error=True,
                             stac_cfg=_stac_cfg(profile, collection, asset_keys),
                             patch_url=patch_url, driver=NamingRioDriver())
    except ValueError as error:
        raise LoadError(f"cannot load {collection}: {error}") from None
    if spec.tiles is not None:
        data = data.isel(y=slice(spec.tiles.row_padding, None),
                         x=slice(spec.tiles.column_padding, None))
    if data.sizes["time"] != len(groups):
        groups = [[item] for item in sorted(items, key=lambda i: i.datetime)]
        day_of_step = list(range(len(groups)))

    first_band = data[asset_keys[0]]
    valid = xr.ones_like(first_band, dtype=bool)
    for band in wanted:
        valid = valid & _present(data[profile.assets[band]], profile)
    clear = valid
    mask_clear = None  # what the mask bands alone leave clear
    if profile.mask_band == "scl":
        mask_clear = masks.clear_from_scl(data[profile.assets["scl"]], spec.mask_classes)
    elif profile.mask_band == "qa_pixel":
        mask_clear = masks.clear_from_qa_pixel(data[profile.assets["qa_pixel"]],
                                               spec.mask_classes)
    if radsat:
        radsat_clear = masks.clear_from_qa_radsat(data[radsat], spec.mask_classes)
        mask_clear = radsat_clear if mask_clear is None else mask_clear & radsat_clear
    if mask_clear is not None:
        clear = clear & mask_clear
    if spec.cloud_buffer_m and profile.mask_band:
        from .cloud_buffer import dilate_lazy

        # grown from the pixels the mask bands mark where the mask band has data, which the
        # mask bands alone decide: the buffer across a chunk's edge then needs only the mask
        # bands of the neighbouring chunks, not every band (a band of chunk rows re-reads
        # less: composites/scratch_store.py)
        has_data = masks.mask_has_data(profile.mask_band,
                                       data[profile.assets[profile.mask_band]])
        masked = dilate_lazy(has_data & ~mask_clear, spec.cloud_buffer_m,
                             abs(spec.geobox.resolution.x))
        clear = clear & ~masked

    values: Dict[str, xr.DataArray] = {}
    rules: List[str] = []
    offsets = None
    if profile.rule == "s2-pixel-test" or _without_baseline(items, profile):
        offsets = pixel_test_offsets(data, profile, clear, test_bands)
    if offsets is not None:  # scenes whose baseline says it keep their rule
        known = [_known_offset(g[0].properties, profile.rule) for g in groups]
        offsets = xr.where(xr.DataArray(np.isnan(np.array(known, "float32")), dims="time",
                                        coords={"time": data.time}),
                           offsets, xr.DataArray(np.array(known, "float32"), dims="time",
                                                 coords={"time": data.time}))
    for band in spec.bands:
        raw = data[profile.assets[band]]
        physical, rules = _to_physical(raw, band, groups, profile, offsets)
        values[band] = physical.where(clear).astype("float32")
    valid, clear, values, scene_ids, rules, offsets = fuse_days(
        day_of_step, valid, clear, values, [[i.id for i in g] for g in groups], rules, offsets)
    return LoadedScenes(values, valid, clear, scene_ids, rules, offsets,
                        saturation_masked=bool(radsat))


def _known_offset(properties, rule: str) -> float:
    """The offset a scene's processing baseline settles, NaN where its pixels decide.
    ``s2-baseline`` (raw DNs): -0.1 for baseline >= 04.00, 0 before, NaN without one.
    ``s2-pixel-test`` (Earth Search sentinel-2-l2a): 0 before 04.00 (no offset was ever
    added, whatever the pixels look like), else NaN."""
    baseline = baseline_of(properties)
    if baseline is None:
        return float("nan")
    if baseline < S2_OFFSET_BASELINE:
        return 0.0
    return S2_BOA_OFFSET if rule == "s2-baseline" else float("nan")


def _item_properties_offset(properties) -> Tuple[float, str]:
    """The ``s2-item-properties`` rule: -0.1 when the baseline is >= 04.00 and the item's
    ``*:boa_offset_applied`` flag is not true; and the rule in words."""
    baseline = baseline_of(properties)
    applied = boa_offset_flag(properties)
    subtract = baseline is not None and baseline >= S2_OFFSET_BASELINE and not applied
    return (S2_BOA_OFFSET if subtract else 0.0,
            f"DN/10000{' - 0.1' if subtract else ''} (item properties: baseline "
            f"{'unknown' if baseline is None else f'{baseline:05.2f}'}, "
            f"boa_offset_applied {applied})")


def saturation_asset(items: Sequence[pystac.Item], profile: CollectionProfile,
                     classes) -> Optional[str]:
    """Landsat's QA_RADSAT asset key when saturation is masked and every scene has it."""
    if profile.sensor != "landsat" or not masks.qa_radsat_invalid_bits(classes):
        return None
    key = masks.QA_RADSAT_ASSET
    return key if items and all(key in item.assets for item in items) else None


def _present(raw: xr.DataArray, profile: CollectionProfile) -> xr.DataArray:
    if profile.rule == "linear":
        return (raw != profile.nodata) & np.isfinite(raw)
    return raw != profile.nodata


def _to_physical(raw, band, groups, profile, offsets) -> Tuple[xr.DataArray, List[str]]:
    """Apply the collection's DN rule once. Returns the values and the rule used per scene."""
    asset_key = profile.assets[band]
    if profile.rule in ("linear", "none"):
        return raw.astype("float32"), [profile.rule] * len(groups)
    if profile.rule == "s2-baseline":
        baselines = [baseline_of(g[0].properties) for g in groups]
        offset = [_known_offset(g[0].properties, profile.rule) for g in groups]
        rules = [f"DN/10000{' - 0.1' if o else ''} (baseline {b:05.2f})" if b is not None else
                 "DN/10000, minus 0.1 when the pixels still carry the offset (no processing "
                 f"baseline: pixel test, >{PIXEL_TEST_FRACTION:.0%} of clear visible DNs < "
                 f"{PIXEL_TEST_LOW_DN} means removed)" for o, b in zip(offset, baselines)]
        offset_da = offsets if offsets is not None else xr.DataArray(
            np.array(offset, "float32"), dims="time", coords={"time": raw.time})
        return raw.astype("float32") * np.float32(profile.scale) + offset_da, rules
    if profile.rule == "raster-bands":
        pairs = [_raster_scale_offset(g[0], asset_key, profile) for g in groups]
        scale = xr.DataArray(np.array([p[0] for p in pairs], "float32"), dims="time",
                             coords={"time": raw.time})
        offset = xr.DataArray(np.array([p[1] for p in pairs], "float32"), dims="time",
                              coords={"time": raw.time})
        rules = [f"raster:bands scale {s:g} offset {o:g}" for s, o in pairs]
        return raw.astype("float32") * scale + offset, rules
    if profile.rule == "s2-item-properties":
        offset, rules = [], []
        for group in groups:
            value, rule = _item_properties_offset(group[0].properties)
            offset.append(value)
            rules.append(rule)
        offset_da = xr.DataArray(np.array(offset, "float32"), dims="time",
                                 coords={"time": raw.time})
        return raw.astype("float32") * np.float32(profile.scale) + offset_da, rules
    if profile.rule == "s2-pixel-test":
        rule = (f"pixel test: BOA offset removed when >{PIXEL_TEST_FRACTION:.0%} of clear "
                f"visible DNs < {PIXEL_TEST_LOW_DN}")
        baselines = [baseline_of(g[0].properties) for g in groups]
        rules = [f"DN/10000 (baseline {b:05.2f}, before the +1000 DN offset)"
                 if b is not None and b < S2_OFFSET_BASELINE else rule for b in baselines]
        return raw.astype("float32") * np.float32(profile.scale) + offsets, rules
    raise LoadError(f"unknown reflectance rule {profile.rule!r}")


def pixel_test_offsets(data, profile: CollectionProfile, usable,
                       test_bands: Sequence[str] = PIXEL_TEST_BANDS) -> xr.DataArray:
    """Per scene: -0.1 if its pixels still carry the +1000 DN offset, else 0.

    A scene that still carries the offset has a visible-band DN below ``PIXEL_TEST_LOW_DN``
    (500) only where the reflectance would be below -0.05, which Sen2Cor does not produce
    beyond noise: dark water and shadow sit just around 1000 (reflectance near 0, slightly
    negative allowed), so "below 1000" is no test. A scene whose offset was removed has such
    DNs wherever anything is dark (vegetation in blue/red, water, shadow): more than
    ``PIXEL_TEST_FRACTION`` (1 %) of its usable visible DNs. Only usable (cloud-free) pixels
    count, so bright clouds do not dilute the dark ones. ``test_bands``: the visible bands
    every scene has."""
    low = None
    for band in test_bands:
        raw = data[profile.assets[band]]
        band_low = (raw < PIXEL_TEST_LOW_DN) & usable
        low = band_low if low is None else (low | band_low)
    fraction = low.sum(("y", "x")) / usable.sum(("y", "x")).clip(min=1)
    return xr.where(fraction > PIXEL_TEST_FRACTION, np.float32(0.0), np.float32(S2_BOA_OFFSET))


def aoi_mask(geobox: GeoBox, geometry: Geometry) -> np.ndarray:
    """True for pixels whose centre lies inside the AOI."""
    from odc.geo.xr import rasterize

    return np.asarray(rasterize(geometry.to_crs(geobox.crs), geobox).values, dtype=bool)
