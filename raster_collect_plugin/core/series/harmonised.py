"""One optical index series from Landsat 8/9 and Sentinel-2 on one grid, with the sensor
recorded per observation; harmonised by the HLS v2.0 bandpass adjustment (bandpass.py) or,
option off, each sensor's own values (today's separate series, in one array).

How to call::

    from raster_collect_plugin.core.series.harmonised import (
        load_index_series, search_index_series, split_by_sensor)
    series = search_index_series(sources, forests, start, end, index="NDVI", resolution=10)
    # or, with items already found (collection id -> pystac items):
    series = load_index_series({"sentinel-2-l2a": s2_items, "landsat-c2-l2": ls_items},
                               forests, index="NDVI", resolution=30, harmonise=True)
    series           # lazy xr.DataArray (time, y, x) float32, NaN where not clear; coords
                     # sensor(time) "sentinel-2"|"landsat", platform(time), collection(time),
                     # scene_id(time); attrs: index, formula, harmonised, bandpass, crs,
                     # transform, resolution, masks, not_done
    split_by_sensor(series)  # {"sentinel-2": ..., "landsat": ...}

``sources``: ``(provider, collections)`` pairs or ``composites.requests.Source`` objects;
``forests``: a GeoDataFrame (any CRS) or an ``areas.aoi.Aoi``. Everything goes through the
project's own search (``sources.search``), load and masks (``pixels.load``, ``pixels.masks``)
and index formulas (``pixels.indices``); nothing here re-implements them.

Harmonised (``harmonise=True``): Landsat OLI is the reference (HLS v2.0); each Sentinel-2
band of the index is adjusted with its platform's row (``slope * msi + offset``) before the
index is computed, and Sentinel-2's NIR is B8A (the band the table was fitted for; B08 is
broader and HLS leaves it unadjusted), so a 10 m series has a 20 m NIR; Landsat scenes of other
missions than 8/9 (7 ETM+, 4/5 TM: not the table's reference) are left out and counted in
``attrs["skipped"]``, kept without harmonisation. Not done: BRDF / NBAR
normalisation (see the README: view-angle effects of a few per cent of reflectance remain).
On the 30 m grid Sentinel-2 is read at 10 m and averaged 3 x 3 (HLS averages MSI's 10 m bands
and area-weights its 20 m ones; here a 20 m band is first sampled at 10 m, which amounts to the
same weights); a 30 m pixel with any cloudy 10 m pixel is left out.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import pystac
import xarray as xr
from odc.geo.geobox import GeoBox
from odc.geo.geom import Geometry

from ..pixels import masks
from ..pixels.bands import CollectionProfile, profile_for, scenes_with_bands
from ..pixels.errors import LoadError
from ..pixels.indices import SpectralIndex, get_index
from ..pixels.load import LoadSpec, choose_grid, load_scenes
from . import bandpass

OPTICAL = ("sentinel-2", "landsat")
OLI_MISSIONS = (8, 9)  # Landsat 8 OLI and 9 OLI-2: the HLS v2.0 reference
NOT_DONE = "BRDF/NBAR view-angle normalisation is not applied"


class NoScenesError(LoadError):
    """The search found no scene at all, and no source failed: the period or the sources are
    wrong (bad input), not a source that could not be read."""

    exit_kind = "bad_input"


@dataclass
class Stack:
    """One collection's scenes and how to read them."""

    collection: str
    profile: CollectionProfile
    items: List[pystac.Item]


def search_index_series(sources, forests, start: date, end: date, *,
                        max_cloud_cover: Optional[float] = None, **options) -> xr.DataArray:
    """Search ``sources`` over the forests' bounding box and period, then
    ``load_index_series`` (``options``: its keyword arguments). Providers that fail are
    listed in the series' ``attrs["search_errors"]``."""
    frame = _frame(forests)
    stacks, errors = search_stacks(sources, frame, start, end, max_cloud_cover=max_cloud_cover)
    if not stacks and not errors:
        raise NoScenesError(f"no scene over the forests from {_day(start)} to {_day(end)} in "
                            "any source")
    try:
        series = load_stacks(stacks, frame, **options)
    except LoadError as error:  # "none found" would hide a source that failed
        if not errors:
            raise
        raise LoadError(f"{error}; the search failed for "
                        + "; ".join(errors.values())) from None
    series.attrs["search_errors"] = json.dumps(errors)
    return series


def search_stacks(sources, forests, start: date, end: date, *,
                  max_cloud_cover: Optional[float] = None) -> Tuple[List[Stack], Dict]:
    """The scenes ``sources`` have over the forests (their footprints meet one) in the
    period, one Stack per collection, and the providers' errors (provider name -> message)."""
    from ..sources.providers.base import SearchQuery
    from ..sources.search import refuse_unknown_collections, search_all

    frame = _frame(forests)
    start, end = _day(start), _day(end)
    pairs = [(s.provider, s.collections) if hasattr(s, "provider") else (s[0], s[1])
             for s in sources]
    query = SearchQuery(bbox=tuple(frame.to_crs("EPSG:4326").total_bounds), start=start,
                        end=end, collections=[], max_cloud_cover=max_cloud_cover)
    report = search_all(pairs, query=query)
    providers = {p.name: p for p, _ in pairs}
    # else a series silently without that sensor, and the typo kept in the fingerprint
    refuse_unknown_collections(report, list(providers.values()))
    report.keep_over(frame.to_crs("EPSG:4326").geometry.union_all())  # as composites do
    stacks = [Stack(collection, providers[name].profile(collection, items), items)
              for (name, collection), items in sorted(report.items.items()) if items]
    return stacks, report.errors


def loadable(stacks: Sequence[Stack], index: str, custom_formula: Optional[str] = None,
             harmonise: bool = True) -> List[Stack]:
    """The stacks a series of ``index`` is made of (optical, with the index's bands; when
    harmonised, Landsat 8/9 OLI scenes only)."""
    return _usable(stacks, get_index(index, custom_formula), harmonise)[0]


def load_index_series(items: Mapping[str, Sequence[pystac.Item]], forests, *,
                      provider=None, **options) -> xr.DataArray:
    """The index series of ``items`` (collection id -> items) over ``forests``; ``provider``
    (optional) gives each collection's band profile, else the band table (``pixels.bands``)
    does. ``options``: see ``load_stacks``."""
    stacks = []
    for collection, found in items.items():
        found = list(found)
        if not found:
            continue
        profile = (provider.profile(collection, found) if provider is not None else
                   profile_for("*", collection, [{"assets": i.assets, "properties":
                                                  i.properties} for i in found]))
        stacks.append(Stack(collection, profile, found))
    return load_stacks(stacks, _frame(forests), **options)


def load_stacks(stacks: Sequence[Stack], forests, *, index: str = "NDVI",
                custom_formula: Optional[str] = None, resolution: float = 10,
                harmonise: bool = True, crs: Optional[str] = None,
                mask_classes=masks.DEFAULT_MASK_CLASSES, cloud_buffer_m: float = 0.0,
                chunk_size: int = 1024, patch_url=None,
                grid: Optional[Mapping] = None) -> xr.DataArray:
    """Load every optical stack onto one grid (``resolution`` 10 or 30 m, aligned with the
    Sentinel-2 scenes at 10 m, the Landsat scenes at 30 m), mask it with the project's masks,
    adjust Sentinel-2 bands (``harmonise``) and compute the index; lazy (dask).

    ``grid`` ({"crs", "transform", "shape"}, e.g. a monitoring state's) fixes the grid instead:
    an increment whose new scenes are all of one sensor then lands on the history's pixels."""
    if resolution not in (10, 30):
        raise ValueError("resolution must be 10 or 30 (m)")
    formula = get_index(index, custom_formula)
    frame = _frame(forests)
    geometry = Geometry(frame.geometry.union_all(), crs=str(frame.crs))
    usable, skipped = _usable(stacks, formula, harmonise)
    usable, skipped_scenes = _with_bands(usable, formula, harmonise)
    if not usable:
        raise LoadError(f"no optical scenes can give {formula.name}: "
                        + ("; ".join(f"{k}: {v}" for k, v in skipped.items()) or "none found"))
    if grid is not None:
        geobox = fixed_grid(grid, resolution)
    else:
        anchor = _anchor(usable, resolution)
        geobox = choose_grid(anchor.items, geometry, anchor.profile, crs=crs,
                             resolution=resolution)
    parts, described = [], {}
    for stack in usable:
        parts.append(_stack_series(stack, formula, geobox, harmonise, mask_classes,
                                   cloud_buffer_m, chunk_size, patch_url))
        described[stack.profile.sensor] = masks.describe(stack.profile.sensor, mask_classes)
    series = xr.concat(parts, dim="time").sortby("time").astype("float32")
    series.name = formula.name
    series.attrs = {
        "index": formula.name, "formula": formula.formula, "harmonised": int(harmonise),
        "bandpass": json.dumps(bandpass.describe()) if harmonise else "",
        "sentinel2_nir": "B8A" if harmonise else "B08",
        "crs": str(geobox.crs), "transform": tuple(geobox.affine)[:6],
        "resolution": float(resolution), "masks": json.dumps(described),
        "skipped": json.dumps(skipped), "skipped_scenes": json.dumps(skipped_scenes),
        "not_done": NOT_DONE}
    return series


def fixed_grid(grid: Mapping, resolution: float) -> GeoBox:
    """The GeoBox of a saved grid ({"crs", "transform" (6 numbers), "shape" (rows, cols)})."""
    from affine import Affine

    transform = Affine(*list(grid["transform"])[:6])
    if abs(abs(transform.a) - resolution) > 1e-6:
        raise LoadError(f"the saved grid has {abs(transform.a):g} m pixels, not {resolution:g} m")
    rows, cols = (int(v) for v in grid["shape"])
    return GeoBox((rows, cols), transform, grid["crs"])


def split_by_sensor(series: xr.DataArray) -> Dict[str, xr.DataArray]:
    """The series per sensor (the separate series of a run without harmonisation)."""
    sensors = [str(s) for s in dict.fromkeys(series["sensor"].values)]
    return {s: series.isel(time=np.flatnonzero(series["sensor"].values == s)) for s in sensors}


def _day(value) -> date:
    """A date from a date, a datetime or ISO text ("2025-03-01"): text reached the search as
    a str and every source failed on it."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        raise ValueError(f"{value!r} is not a date like 2025-03-01") from None


def _frame(forests):
    return forests.frame if hasattr(forests, "frame") else forests


def _bands_to_read(stack: Stack, formula: SpectralIndex, harmonise: bool) -> Dict[str, str]:
    """Index band -> band read from the scenes (Sentinel-2's NIR is B8A when harmonised)."""
    s2 = stack.profile.sensor == "sentinel-2"
    return {b: ("nir08" if harmonise and s2 and b == "nir" else b) for b in formula.bands}


def landsat_number(item: pystac.Item) -> Optional[int]:
    """A Landsat scene's mission number, from its STAC ``platform`` (``landsat-7``) or,
    without one, its id (``LE07_L2SP_...``); None when neither tells."""
    platform = re.search(r"landsat[-_ ]?(\d+)", str(item.properties.get("platform") or ""),
                         re.IGNORECASE)
    named = platform or re.match(r"L[CEOTM]0?(\d)_", item.id or "")
    return int(named.group(1)) if named else None


def _without_other_landsats(stack: Stack) -> Tuple[Stack, Dict[int, int]]:
    """A Landsat stack's Landsat 8/9 (OLI) scenes, and how many of other missions (ETM+,
    TM: the HLS v2.0 table has no row for them, they are not its reference) were left out."""
    kept, left = [], {}
    for item in stack.items:
        number = landsat_number(item)
        if number is None or number in OLI_MISSIONS:
            kept.append(item)
        else:
            left[number] = left.get(number, 0) + 1
    return Stack(stack.collection, stack.profile, kept), left


def _usable(stacks: Sequence[Stack], formula: SpectralIndex, harmonise: bool = False
            ) -> Tuple[List[Stack], dict]:
    usable, skipped = [], {}
    for stack in stacks:
        if harmonise and stack.profile.sensor == "landsat":
            stack, left = _without_other_landsats(stack)
            if left:
                skipped[stack.collection] = (
                    ", ".join(f"{n} Landsat {m} scene(s)" for m, n in sorted(left.items()))
                    + " left out: the harmonised series is Landsat 8/9 OLI (the HLS v2.0 "
                    "reference) and Sentinel-2; without harmonisation they are kept")
            if not stack.items:
                continue
        sensor = stack.profile.sensor
        missing = [b for b in formula.bands if b not in stack.profile.assets]
        if sensor not in OPTICAL:
            skipped[stack.collection] = f"{sensor} is not an optical sensor of the series"
        elif sensor not in formula.sensors or missing:
            skipped[stack.collection] = (f"{formula.name} is not defined for {sensor}"
                                         if not missing else f"no {', '.join(missing)} band")
        else:
            usable.append(stack)
    return usable, skipped


def _with_bands(stacks: Sequence[Stack], formula: SpectralIndex, harmonise: bool
                ) -> Tuple[List[Stack], Dict[str, str]]:
    """The stacks with only their scenes that have every band the series reads (a stack's
    profile has the bands of all its scenes), and why each other scene (id) is skipped."""
    kept, skipped = [], {}
    for stack in stacks:
        items, why = scenes_with_bands(stack.items, stack.profile,
                                       list(_bands_to_read(stack, formula, harmonise).values()))
        skipped.update(why)
        if items:
            kept.append(Stack(stack.collection, stack.profile, items))
    return kept, skipped


def _anchor(stacks: Sequence[Stack], resolution: float) -> Stack:
    """The stack whose scenes' pixel grid the series follows: Sentinel-2's at 10 m,
    Landsat's at 30 m (no half-pixel shift of the finer sensor's own pixels)."""
    preferred = "sentinel-2" if resolution == 10 else "landsat"
    for stack in stacks:
        if stack.profile.sensor == preferred:
            return stack
    return stacks[0]


def _stack_series(stack: Stack, formula: SpectralIndex, geobox, harmonise: bool,
                  mask_classes, cloud_buffer_m: float, chunk_size: int,
                  patch_url) -> xr.DataArray:
    read = _bands_to_read(stack, formula, harmonise)
    items = sorted(stack.items, key=lambda i: i.datetime)
    # Sentinel-2 on the 30 m grid: read at 10 m and average 3 x 3, as HLS resamples MSI
    average = stack.profile.sensor == "sentinel-2" and abs(geobox.resolution.x) == 30
    target = GeoBox.from_bbox(geobox.boundingbox, geobox.crs, resolution=10) if average \
        else geobox
    spec = LoadSpec(stack.profile, tuple(sorted(set(read.values()))), target, mask_classes,
                    chunk_size=chunk_size, cloud_buffer_m=cloud_buffer_m)
    loaded = load_scenes(items, spec, patch_url=patch_url)
    if average:
        loaded.values = {band: _block_mean(value, geobox)
                         for band, value in loaded.values.items()}
    by_id = {item.id: item for item in items}
    platforms = [str(by_id[ids[0]].properties.get("platform", "")).lower()
                 for ids in loaded.scene_ids]
    values = {}
    for band, source in read.items():
        value = loaded.values[source]
        if harmonise and stack.profile.sensor == "sentinel-2":
            value = _adjusted(value, band, platforms)
        values[band] = value
    series = formula.compute(values)
    n = series.sizes["time"]
    return series.assign_coords(
        sensor=("time", [stack.profile.sensor] * n),
        platform=("time", platforms),
        collection=("time", [stack.collection] * n),
        scene_id=("time", ["+".join(ids) for ids in loaded.scene_ids]))


def _block_mean(value: xr.DataArray, geobox) -> xr.DataArray:
    """3 x 3 mean of a 10 m band onto the nested 30 m grid; a 30 m pixel with any cloudy
    10 m pixel stays NaN (no partly cloudy averages)."""
    coarse = value.coarsen(y=3, x=3, boundary="trim").reduce(np.mean)  # NaN stays NaN
    return coarse.assign_coords(y=geobox.coords["y"].values, x=geobox.coords["x"].values)


def _adjusted(value: xr.DataArray, band: str, platforms: Sequence[str]) -> xr.DataArray:
    """``slope * value + offset`` with each time step's platform row (NaN stays NaN)."""
    pairs = [bandpass.coefficients(band, p) for p in platforms]
    slope = xr.DataArray(np.array([p[0] for p in pairs], "float32"), dims="time",
                         coords={"time": value.time})
    offset = xr.DataArray(np.array([p[1] for p in pairs], "float32"), dims="time",
                          coords={"time": value.time})
    return value * slope + offset
