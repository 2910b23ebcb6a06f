"""A synthetic disturbance-monitoring scenario (issue 30), made by the project, not the storm
sample: forest compartments on a 10 m UTM grid, a per-pixel vegetation signal with seasonal
phenology, noise and clouds, observed by Sentinel-2 (A/B, every 5 days) and Landsat 8/9 (every
8 days combined) with their own band responses, and events on known dates: windthrow (abrupt),
a clear-fell (abrupt, to bare soil), a gradual dieback over months, and intact stands.

How to call::

    from raster_collect_plugin.core.sample.disturbance_scenario import ScenarioSpec, make_scenario
    scenario = make_scenario()               # the default spec (seeded: same result every time)
    scenario.series        # xr.DataArray (time, y, x) float32 index (NDVI by default), NaN where
                           # not clear; coords time, y, x, sensor(time) "sentinel-2"|"landsat",
                           # platform(time); attrs crs, transform, index, harmonised, resolution
    scenario.truth_date    # xr.DataArray (y, x) datetime64[ns]: event date, NaT if undisturbed
    scenario.truth_type    # xr.DataArray (y, x) str: "none"|"windthrow"|"clearfell"|"dieback"
    scenario.forest_id     # xr.DataArray (y, x) int: compartment id, -1 outside compartments
    scenario.compartments  # GeoDataFrame: forest_id, name, geometry (spec.crs)
    scenario.references    # GeoDataFrame: reference_id, forest_id, event, date, end_date,
                           # area_ha, geometry (the disturbed extent)

``make_scenario(spec, index="NDVI", harmonised=True, resolution=10)``: ``harmonised`` brings
Sentinel-2 bands to Landsat OLI with the HLS v2.0 bandpass adjustment (core/series/bandpass.py)
and uses B8A as Sentinel-2's NIR, exactly as ``core.series`` does for real scenes; False gives
each sensor's own values (B08 as NIR). ``resolution`` is 10 or 30 m. In memory every band is
simulated at 10 m (Sentinel-2) or 30 m (Landsat, the 10 m model averaged), B8A included; the
written scenes keep the providers' 20 m bands and 20 m SCL, as real ones do. Scene COGs and a static
STAC catalog of the same scenario: ``disturbance_catalog.write_scenario(root, spec)``.

The truth date of a dieback is its onset (the decline then runs ``ramp_days``; ``end_date``).
The surface model is analytic: every grid (10, 20, 30 m) samples the same compartments, events
and clouds at its own pixel centres. Sentinel-2A is taken as the "true" MSI response; Landsat
sees ``slope * msi + offset`` (the HLS v2.0 MSI->OLI table) and Sentinel-2B the inverse of its
own row applied to that, so harmonising with the published table recovers one series.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import xarray as xr
from affine import Affine

from ..pixels.indices import get_index
from ..series.bandpass import adjust
from .scenes import BARE, DAMAGED, HEALTHY, Cloud

SENTINEL2, LANDSAT = "sentinel-2", "landsat"
EVENT_TYPES = ("none", "windthrow", "clearfell", "dieback")
DIEBACK = dict(coastal=.04, blue=.04, green=.06, yellow=.065, red=.07, rededge1=.11, nir=.21,
               nir08=.22, swir16=.22, swir22=.13)
TARGET = {"windthrow": DAMAGED, "clearfell": BARE, "dieback": DIEBACK}
B08_OVER_B8A = 0.985  # the broad NIR (B08) sees slightly less of the NIR plateau than B8A


@dataclass(frozen=True)
class Event:
    """A disturbance in one compartment (by its index in the layout).

    ``extent``: "all", "west:<fraction>", "east:<fraction>" or "disc:<radius m>" (around the
    compartment's centre). ``ramp_days`` > 0: a linear decline over that many days (dieback)."""

    forest_index: int
    kind: str
    start: date
    extent: str = "all"
    ramp_days: int = 0


DEFAULT_EVENTS = (
    Event(1, "windthrow", date(2025, 3, 14)),
    Event(2, "windthrow", date(2025, 3, 14), "west:0.6"),
    Event(4, "clearfell", date(2025, 6, 10)),
    Event(5, "dieback", date(2025, 5, 1), "disc:110", ramp_days=150),
    Event(6, "windthrow", date(2025, 8, 22), "east:0.5"),
)


@dataclass(frozen=True)
class ScenarioSpec:
    """What to simulate. The defaults: 8 compartments (3 intact), 2023-2025, events in 2025
    (a forester's stable history is 2023-2024)."""

    seed: int = 30
    start: date = date(2023, 1, 1)
    end: date = date(2025, 12, 31)
    columns: int = 4
    rows: int = 2
    cell_m: float = 300.0  # compartment pitch; firebreaks of 30 m between compartments
    margin_m: float = 60.0
    crs: str = "EPSG:32632"  # WGS 84 / UTM 32N (the Vosges: spruce, bark-beetle dieback)
    origin: Tuple[float, float] = (372_000.0, 5_352_000.0)  # top-left, multiples of 60 m
    events: Tuple[Event, ...] = DEFAULT_EVENTS
    noise: float = 0.004  # per-pixel reflectance noise (1 sigma)
    scene_bias: float = 0.002  # per-scene, per-band residual atmospheric error (1 sigma)
    s2_revisit_days: int = 5
    landsat_revisit_days: int = 8
    overcast_probability: float = 0.25  # mean over the year; more in winter
    partly_cloudy_probability: float = 0.35
    first_forest_id: int = 101


@dataclass(frozen=True)
class ScenarioScene:
    """One acquisition: sensor, platform (``sentinel-2a``, ``landsat-9``...), time, clouds."""

    sensor: str
    platform: str
    when: datetime
    clouds: Tuple[Cloud, ...] = ()

    @property
    def day(self) -> date:
        return self.when.date()


@dataclass
class Scenario:
    """The simulated series and its truth (see the module docstring)."""

    spec: ScenarioSpec
    series: xr.DataArray
    truth_date: xr.DataArray
    truth_type: xr.DataArray
    forest_id: xr.DataArray
    compartments: object  # GeoDataFrame
    references: object  # GeoDataFrame
    scenes: List[ScenarioScene] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# Layout


def extent(spec: ScenarioSpec) -> Tuple[float, float, float, float]:
    """(left, bottom, right, top) of the imagery in ``spec.crs``."""
    left, top = spec.origin
    width = spec.columns * spec.cell_m + 2 * spec.margin_m
    height = spec.rows * spec.cell_m + 2 * spec.margin_m
    return left, top - height, left + width, top


def stable_history(spec: ScenarioSpec) -> Tuple[date, date]:
    """The history a forester would choose: from the first scene to the end of the year before
    the first event (2023-01-01 .. 2024-12-31 by default)."""
    first_event = min((e.start for e in spec.events), default=spec.end)
    return spec.start, date(first_event.year - 1, 12, 31)


def grid(spec: ScenarioSpec, resolution: float) -> Tuple[Affine, int, int]:
    """Transform, width and height of the scenario's grid at ``resolution`` (10, 20, 30 m)."""
    left, bottom, right, top = extent(spec)
    width = int(round((right - left) / resolution))
    height = int(round((top - bottom) / resolution))
    return Affine(resolution, 0, left, 0, -resolution, top), width, height


def compartment_polygons(spec: ScenarioSpec) -> List[object]:
    """Shapely polygons of the compartments, row by row (odd ones lose a corner)."""
    from shapely.geometry import Polygon

    left0, _, _, top0 = extent(spec)
    polygons = []
    for row in range(spec.rows):
        for col in range(spec.columns):
            # edges on the 30 m grid: Landsat pixels are pure inside a compartment
            left = left0 + spec.margin_m + col * spec.cell_m + 30
            top = top0 - spec.margin_m - row * spec.cell_m - 30
            right, bottom = left + spec.cell_m - 30, top - spec.cell_m + 30
            if (row * spec.columns + col) % 2:
                ring = [(left, top), (right - 60, top), (right, top - 60), (right, bottom),
                        (left, bottom)]
            else:
                ring = [(left, top), (right, top), (right, bottom), (left, bottom)]
            polygons.append(Polygon(ring))
    return polygons


def event_polygon(event: Event, compartment) -> object:
    """The extent of ``event`` inside its compartment (a shapely polygon)."""
    from shapely.geometry import box

    left, bottom, right, top = compartment.bounds
    kind, _, value = event.extent.partition(":")
    if kind == "all":
        return compartment
    if kind == "west":
        return compartment.intersection(box(left, bottom, left + float(value) * (right - left),
                                            top))
    if kind == "east":
        return compartment.intersection(box(right - float(value) * (right - left), bottom,
                                            right, top))
    if kind == "disc":
        return compartment.intersection(compartment.centroid.buffer(float(value), 64))
    raise ValueError(f"unknown event extent {event.extent!r}: all, west:f, east:f or disc:r")


def compartments_frame(spec: ScenarioSpec):
    """The compartments as a GeoDataFrame (forest_id, name, geometry)."""
    import geopandas as gpd

    polygons = compartment_polygons(spec)
    ids = [spec.first_forest_id + i for i in range(len(polygons))]
    return gpd.GeoDataFrame({"forest_id": ids, "name": [f"Compartment {i}" for i in ids]},
                            geometry=polygons, crs=spec.crs)


def references_frame(spec: ScenarioSpec):
    """Reference polygons of disturbance: one row per event, with its date and extent."""
    import geopandas as gpd
    import pandas as pd

    polygons = compartment_polygons(spec)
    rows, shapes = [], []
    for number, event in enumerate(spec.events, start=1):
        shape = event_polygon(event, polygons[event.forest_index])
        rows.append({"reference_id": number,
                     "forest_id": spec.first_forest_id + event.forest_index,
                     "event": event.kind, "date": pd.Timestamp(event.start),
                     "end_date": pd.Timestamp(event.start + timedelta(days=event.ramp_days)),
                     "area_ha": round(shape.area / 10_000, 4)})
        shapes.append(shape)
    return gpd.GeoDataFrame(rows, geometry=shapes, crs=spec.crs)


# --------------------------------------------------------------------------------------------
# The surface on one grid


@dataclass
class Field:
    """The scene-independent model sampled on one grid."""

    transform: Affine
    width: int
    height: int
    forest_index: np.ndarray  # -1 outside compartments
    event_index: np.ndarray  # index into spec.events, -1 where nothing happens
    vigour: np.ndarray
    xs: np.ndarray
    ys: np.ndarray


def field_on(spec: ScenarioSpec, resolution: float) -> Field:
    """Compartments, events and vigour sampled at the pixel centres of one grid."""
    from rasterio import features

    transform, width, height = grid(spec, resolution)
    polygons = compartment_polygons(spec)
    forest_index = features.rasterize([(p, i) for i, p in enumerate(polygons)],
                                      out_shape=(height, width), transform=transform, fill=-1,
                                      dtype="int32")
    shapes = [(event_polygon(event, polygons[event.forest_index]), number)
              for number, event in enumerate(spec.events)]
    shapes = [(shape, number) for shape, number in shapes if not shape.is_empty]
    event_index = np.full((height, width), -1, "int32")
    if shapes:  # burnt in order: a later event overrides an earlier one
        event_index = features.rasterize(shapes, out_shape=(height, width),
                                         transform=transform, fill=-1, dtype="int32")
    cols, rows = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
    xs, ys = transform.c + cols * transform.a, transform.f + rows * transform.e
    per_forest = np.random.default_rng(spec.seed).uniform(0.94, 1.06, len(polygons))
    texture = 1 + 0.03 * np.sin(xs / 47.0) * np.cos(ys / 61.0)
    vigour = np.where(forest_index >= 0, per_forest[np.maximum(forest_index, 0)], 1.0) * texture
    return Field(transform, width, height, forest_index, event_index,
                 vigour.astype("float32"), xs, ys)


def season(day: date) -> Tuple[float, float]:
    """Annual and semi-annual harmonics of the phenology (peak mid-July, northern)."""
    phase = 2 * math.pi * (day.timetuple().tm_yday - 196) / 365.25
    return math.cos(phase), math.cos(2 * phase)


def healthy(band: str, day: date, vigour: np.ndarray) -> np.ndarray:
    """A healthy stand's reflectance in one band on ``day``."""
    annual, semi = season(day)
    if band.startswith("nir"):
        factor = (1 + 0.12 * annual + 0.03 * semi) * vigour
    elif band.startswith("swir"):
        factor = 1 - 0.10 * annual + 0 * vigour
    else:
        factor = 1 - 0.25 * annual + 0 * vigour
    return (HEALTHY[band] * factor).astype("float32")


def event_weights(spec: ScenarioSpec, event_index: np.ndarray, day: date) -> np.ndarray:
    """How far each pixel has gone from healthy to its event's target (0..1) on ``day``."""
    per_event = np.zeros(len(spec.events) + 1, "float32")  # the last: no event (index -1)
    for number, event in enumerate(spec.events):
        elapsed = (day - event.start).days
        if elapsed >= 0:
            per_event[number] = 1.0 if event.ramp_days <= 0 else min(1.0,
                                                                        elapsed / event.ramp_days)
    return per_event[event_index]


def msi_reflectance(spec: ScenarioSpec, surface: Field, band: str, day: date,
                    rng: np.random.Generator, *, noise: bool = True) -> np.ndarray:
    """Surface reflectance in Sentinel-2A MSI terms (``nir`` = B8A's response), no clouds;
    ``noise`` False: the per-scene bias only (the caller adds pixel noise)."""
    name = "nir08" if band == "nir" else band
    forest = surface.forest_index >= 0
    value = np.where(forest, healthy(name, day, surface.vigour), np.float32(BARE[name]))
    weights = event_weights(spec, surface.event_index, day)
    hit = weights > 0
    if hit.any():
        targets = np.array([TARGET[e.kind][name] for e in spec.events] + [0.0], "float32")
        target = targets[surface.event_index[hit]]
        value[hit] = (1 - weights[hit]) * value[hit] + weights[hit] * target
    value = value + rng.normal(0, spec.scene_bias)
    if noise:
        value = value + rng.normal(0, spec.noise, value.shape)
    return np.clip(value, 0.001, 1.0).astype("float32")


def observed(spec: ScenarioSpec, surface: Field, scene: ScenarioScene, band: str,
             fine: Optional[Field] = None) -> np.ndarray:
    """What ``scene``'s sensor measures in ``band`` on ``surface``'s grid (Sentinel-2 ``nir``
    is B08, ``nir08`` B8A; Landsat ``nir`` is OLI band 5), before clouds. A coarser grid
    (Landsat's 30 m) averages the model over ``fine`` (10 m) pixels, then adds its noise."""
    rng = scene_rng(spec, scene, band)
    name = "nir08" if band == "nir" else band
    if fine is not None and fine.transform.a < surface.transform.a:
        msi = _regrid(msi_reflectance(spec, fine, name, scene.day, rng, noise=False), fine,
                      surface)
        msi = msi + rng.normal(0, spec.noise, msi.shape).astype("float32")
    else:
        msi = msi_reflectance(spec, surface, name, scene.day, rng)
    if scene.sensor == LANDSAT:
        return np.clip(adjust(msi, band, "sentinel-2a"), 0.001, 1.0).astype("float32")
    if scene.platform != "sentinel-2a":
        msi = adjust(adjust(msi, band, "sentinel-2a"), band, scene.platform, inverse=True)
    if band == "nir":
        msi = msi * B08_OVER_B8A
    return np.clip(msi, 0.001, 1.0).astype("float32")


def scene_rng(spec: ScenarioSpec, scene: ScenarioScene, band: str) -> np.random.Generator:
    token = f"{scene.sensor}{scene.when.isoformat()}{band}".encode()
    return np.random.default_rng([spec.seed, *token])


def cloud_masks(surface: Field, clouds: Sequence[Cloud]):
    """(core, edge, shadow) boolean masks of ``clouds`` on one grid."""
    core = np.zeros((surface.height, surface.width), bool)
    edge, shadow = np.zeros_like(core), np.zeros_like(core)
    for cloud in clouds:
        dist = np.hypot(surface.xs - cloud.x, surface.ys - cloud.y)
        core |= dist <= cloud.radius
        edge |= dist <= cloud.radius * 1.2
        shadow |= np.hypot(surface.xs - cloud.x - cloud.shadow_offset[0],
                           surface.ys - cloud.y - cloud.shadow_offset[1]) <= cloud.radius
    edge &= ~core
    shadow &= ~(core | edge)
    return core, edge, shadow


# --------------------------------------------------------------------------------------------
# Acquisitions


def scenes_of(spec: ScenarioSpec) -> List[ScenarioScene]:
    """Every acquisition between ``spec.start`` and ``spec.end``, time-ordered, with clouds."""
    acquisitions = []
    plan = ((SENTINEL2, ("sentinel-2a", "sentinel-2b"), spec.s2_revisit_days, 1, (10, 30)),
            (LANDSAT, ("landsat-8", "landsat-9"), spec.landsat_revisit_days, 3, (10, 10)))
    for sensor, platforms, step, first, (hour, minute) in plan:
        day, n = spec.start + timedelta(days=first), 0
        while day <= spec.end:
            when = datetime(day.year, day.month, day.day, hour, minute, tzinfo=timezone.utc)
            acquisitions.append((sensor, platforms[n % 2], when))
            day, n = day + timedelta(days=step), n + 1
    acquisitions.sort(key=lambda a: a[2])
    left, bottom, right, top = extent(spec)
    scenes = []
    for sensor, platform, when in acquisitions:
        rng = np.random.default_rng([spec.seed, 99, int(when.timestamp())])
        winter = (1 - season(when.date())[0]) / 2  # 0 in July, 1 in January
        overcast = spec.overcast_probability * (0.5 + winter)
        draw = rng.random()
        if draw < overcast:
            clouds = (Cloud((left + right) / 2, (top + bottom) / 2, 2 * (right - left + top
                                                                         - bottom)),)
        elif draw < overcast + spec.partly_cloudy_probability:
            clouds = tuple(Cloud(float(rng.uniform(left, right)), float(rng.uniform(bottom, top)),
                                 float(rng.uniform(60, 260)), (180.0, -120.0))
                           for _ in range(int(rng.integers(1, 4))))
        else:
            clouds = ()
        scenes.append(ScenarioScene(sensor, platform, when, clouds))
    return scenes


# --------------------------------------------------------------------------------------------
# The series and its truth


def make_scenario(spec: Optional[ScenarioSpec] = None, *, index: str = "NDVI",
                  harmonised: bool = True, resolution: float = 10) -> Scenario:
    """Simulate the scenario's index series on the 10 m or 30 m grid (see the module doc)."""
    spec = spec or ScenarioSpec()
    if resolution not in (10, 30):
        raise ValueError("resolution must be 10 or 30 (m)")
    formula = get_index(index)
    scenes = scenes_of(spec)
    fine, coarse = field_on(spec, 10), field_on(spec, 30)
    target = fine if resolution == 10 else coarse
    layers = []
    for scene in scenes:
        surface = fine if scene.sensor == SENTINEL2 else coarse
        bands: Dict[str, np.ndarray] = {}
        for band in formula.bands:
            read = "nir08" if (band == "nir" and harmonised and scene.sensor == SENTINEL2) \
                else band
            value = observed(spec, surface, scene, read, fine)
            if harmonised and scene.sensor == SENTINEL2:
                value = adjust(value, band, scene.platform)
            bands[band] = _regrid(value, surface, target)
        core, edge, shadow = cloud_masks(surface, scene.clouds)
        clear = _regrid(~(core | edge | shadow), surface, target) > 0.5
        layers.append(np.where(clear, formula.compute(bands), np.nan).astype("float32"))
    ys = target.transform.f + (np.arange(target.height) + 0.5) * target.transform.e
    xs = target.transform.c + (np.arange(target.width) + 0.5) * target.transform.a
    times = np.array([np.datetime64(s.when.replace(tzinfo=None), "ns") for s in scenes])
    attrs = {"crs": spec.crs, "transform": tuple(target.transform)[:6], "index": formula.name,
             "harmonised": int(harmonised), "resolution": float(resolution)}
    series = xr.DataArray(
        np.stack(layers), dims=("time", "y", "x"),
        coords={"time": times, "y": ys, "x": xs,
                "sensor": ("time", [s.sensor for s in scenes]),
                "platform": ("time", [s.platform for s in scenes])},
        name=formula.name, attrs=attrs)
    truth_date, truth_type = _truth(spec, target)
    coords = {"y": ys, "x": xs}
    forest_ids = np.where(target.forest_index >= 0, target.forest_index + spec.first_forest_id,
                          -1)
    return Scenario(
        spec, series,
        xr.DataArray(truth_date, dims=("y", "x"), coords=coords, name="truth_date"),
        xr.DataArray(truth_type, dims=("y", "x"), coords=coords, name="truth_type"),
        xr.DataArray(forest_ids, dims=("y", "x"), coords=coords, name="forest_id"),
        compartments_frame(spec), references_frame(spec), scenes)


def _truth(spec: ScenarioSpec, surface: Field) -> Tuple[np.ndarray, np.ndarray]:
    dates = np.full(surface.event_index.shape, np.datetime64("NaT"), "datetime64[ns]")
    kinds = np.full(surface.event_index.shape, "none", dtype="<U9")
    for number, event in enumerate(spec.events):
        hit = surface.event_index == number
        dates[hit] = np.datetime64(event.start, "ns")
        kinds[hit] = event.kind
    return dates, kinds


def _regrid(values: np.ndarray, source: Field, target: Field) -> np.ndarray:
    """Nested grids only: 30 m -> 10 m repeats each pixel, 10 m -> 30 m averages 3 x 3."""
    factor = source.transform.a / target.transform.a
    if factor == 1:
        return values
    if factor > 1:
        n = int(round(factor))
        return np.repeat(np.repeat(values, n, axis=0), n, axis=1)
    n = int(round(1 / factor))
    h, w = values.shape
    return values.reshape(h // n, n, w // n, n).astype("float32").mean(axis=(1, 3))
