"""The embedded sample: synthetic forest compartments near Beerburrum (QLD) and a year of
Sentinel-2 L2A, Landsat C2 L2 and Sentinel-1 RTC scenes over them, with clouds and a storm.

Everything is generated (nothing downloaded): small Cloud-Optimized GeoTIFFs with the providers'
real band layouts and pixel encodings, STAC items shaped like the providers' items, a static
STAC catalog, and GeoPackages of the compartments. ``make demo`` and the tests use it.

The surface model is analytic: every grid (10 m, 20 m, 30 m) samples the same compartments,
clouds and storm at its own pixel centres, so bands of different resolutions agree.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Dict, Iterable, List, Sequence, Tuple

import numpy as np
from affine import Affine
from rasterio import features

SCENE_CRS = "EPSG:32756"  # WGS 84 / UTM 56S: what Sentinel-2 and Landsat use at Beerburrum
FOREST_CRS = "EPSG:28356"  # GDA94 / MGA zone 56: what Queensland forestry data comes in
ORIGIN = (493_560.0, 7_020_540.0)  # top-left of the forest block (multiples of 60 m)
S2_COLLECTION = "sentinel-2-l2a"
LANDSAT_COLLECTION = "landsat-c2-l2"
S1_COLLECTION = "sentinel-1-rtc"
MAXAR_EVENT = "queensland-storms-nov-2025"  # a Maxar Open Data style event collection
WORLDVIEW_BANDS = ("coastal", "blue", "green", "yellow", "red", "rededge1", "nir", "nir08")
COG_MEDIA_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"

# Surface reflectance signatures (0..1) by common band name.
BANDS = ("coastal", "blue", "green", "red", "rededge1", "nir", "nir08", "swir16", "swir22")
HEALTHY = dict(coastal=.03, blue=.025, green=.05, red=.035, rededge1=.09, nir=.30, nir08=.31,
               swir16=.15, swir22=.07)
DAMAGED = dict(coastal=.05, blue=.05, green=.07, red=.09, rededge1=.12, nir=.19, nir08=.19,
               swir16=.26, swir22=.17)
BARE = dict(coastal=.07, blue=.07, green=.09, red=.12, rededge1=.16, nir=.21, nir08=.22,
            swir16=.28, swir22=.22)
HEALTHY["yellow"], DAMAGED["yellow"], BARE["yellow"] = .045, .08, .11
CLOUD = dict(yellow=.47, coastal=.52, blue=.50, green=.48, red=.47, rededge1=.47, nir=.46,
             nir08=.46,
             swir16=.32, swir22=.24)
# Sentinel-1 RTC gamma0 (linear power)
SAR = {"healthy": (0.10, 0.025), "damaged": (0.075, 0.0115), "bare": (0.05, 0.008)}

# Planetary Computer Sentinel-2 asset key -> (common name, resolution in m)
S2_PC_ASSETS = {"B01": ("coastal", 60), "B02": ("blue", 10), "B03": ("green", 10),
                "B04": ("red", 10), "B05": ("rededge1", 20), "B08": ("nir", 10),
                "B8A": ("nir08", 20), "B11": ("swir16", 20), "B12": ("swir22", 20)}
S2_ES_KEYS = {"coastal": "coastal", "blue": "blue", "green": "green", "red": "red",
              "rededge1": "rededge1", "nir": "nir", "nir08": "nir08", "swir16": "swir16",
              "swir22": "swir22"}
LANDSAT_ASSETS = ("coastal", "blue", "green", "red", "nir08", "swir16", "swir22")
S2_SHAPES = ("planetary-computer", "earth-search-c1", "earth-search-l2a")

# Landsat QA_PIXEL words built from the documented bits
QA_FILL, QA_DILATED, QA_CIRRUS, QA_CLOUD, QA_SHADOW, QA_SNOW, QA_CLEAR, QA_WATER = range(8)
_LOW_CONF = (1 << 8) | (1 << 10) | (1 << 12) | (1 << 14)
QA_WORD_CLEAR = (1 << QA_CLEAR) | _LOW_CONF
QA_WORD_CLOUD = (1 << QA_DILATED) | (1 << QA_CLOUD) | (3 << 8) | (1 << 10) | (1 << 12) | (1 << 14)
QA_WORD_DILATED = (1 << QA_DILATED) | _LOW_CONF
QA_WORD_SHADOW = (1 << QA_SHADOW) | (1 << 8) | (3 << 10) | (1 << 12) | (1 << 14)
QA_WORD_FILL = 1 << QA_FILL


@dataclass(frozen=True)
class Cloud:
    """A round cloud (metres, scene CRS) with its shadow displaced by ``shadow_offset``."""

    x: float
    y: float
    radius: float
    shadow_offset: Tuple[float, float] = (350.0, -250.0)


@dataclass(frozen=True)
class Scene:
    """One acquisition of the synthetic sample."""

    collection: str
    when: datetime
    platform: str
    clouds: Tuple[Cloud, ...] = ()
    nodata_west_fraction: float = 0.0  # part of the scene outside the swath (no data)
    baseline: str = "05.11"

    @property
    def day(self) -> date:
        return self.when.date()


@dataclass(frozen=True)
class SampleSpec:
    """What to generate. The defaults are the embedded demo sample."""

    start: date = date(2025, 1, 1)
    months: int = 12
    columns: int = 5
    rows: int = 4
    cell_width_m: float = 840.0
    cell_height_m: float = 1020.0
    margin_m: float = 300.0
    storm_date: date = date(2025, 11, 13)
    sensors: Tuple[str, ...] = (S2_COLLECTION, LANDSAT_COLLECTION, S1_COLLECTION)
    s2_shape: str = "planetary-computer"
    first_forest_id: int = 281
    seed: int = 7
    s2_tile_size: int = 256  # the Sentinel-2 files' COG tiles (pixels a side)


@dataclass
class Sample:
    """Paths and truth of a generated sample."""

    root: Path
    spec: SampleSpec
    forests_path: Path
    forests_wgs84_path: Path
    catalog_path: Path
    truth: Dict[int, float]  # forest_id -> damaged fraction of its area after the storm
    scenes: List[Scene] = field(default_factory=list)
    items: Dict[str, List[dict]] = field(default_factory=dict)  # collection -> item dicts

    @property
    def damaged_ids(self) -> List[int]:
        return sorted(fid for fid, fraction in self.truth.items() if fraction >= 0.5)

    def item_collection(self, collection: str, base_url: str) -> dict:
        """Items of one collection as a FeatureCollection whose asset hrefs start ``base_url``
        (the sample root served over HTTP), ready for a STAC API server to load."""
        features_out = []
        for item in self.items[collection]:
            copy = json.loads(json.dumps(item))
            for asset in copy["assets"].values():
                asset["href"] = f"{base_url.rstrip('/')}/{asset['href']}"
            copy["links"] = []
            features_out.append(copy)
        return {"type": "FeatureCollection", "features": features_out}


# --------------------------------------------------------------------------------------------
# Geometry


def forest_grid(spec: SampleSpec) -> Tuple[List[int], List[List[Tuple[float, float]]]]:
    """Compartment ids and rings (scene/forest CRS metres): a jittered grid of blocks
    separated by firebreaks, like a pine plantation."""
    rng = np.random.default_rng(spec.seed)
    x0 = ORIGIN[0] + spec.margin_m
    y0 = ORIGIN[1] - spec.margin_m
    break_m = 40.0
    ids, rings = [], []
    for row in range(spec.rows):
        for col in range(spec.columns):
            left = x0 + col * spec.cell_width_m + break_m / 2
            right = left + spec.cell_width_m - break_m
            top = y0 - row * spec.cell_height_m - break_m / 2
            bottom = top - spec.cell_height_m + break_m
            jitter = rng.uniform(-35, 35, size=(4, 2))
            corners = [(left, top), (right, top), (right, bottom), (left, bottom)]
            ring = [(x + dx, y + dy) for (x, y), (dx, dy) in zip(corners, jitter)]
            mid_top = ((ring[0][0] + ring[1][0]) / 2, top + rng.uniform(-10, 40))
            ring = [ring[0], mid_top, ring[1], ring[2], ring[3], ring[0]]
            ids.append(spec.first_forest_id + row * spec.columns + col)
            rings.append(ring)
    return ids, rings


def scene_extent(spec: SampleSpec) -> Tuple[float, float, float, float]:
    """(left, bottom, right, top) of the imagery, in the scene CRS."""
    width = spec.columns * spec.cell_width_m + 2 * spec.margin_m
    height = spec.rows * spec.cell_height_m + 2 * spec.margin_m
    left, top = ORIGIN
    return left, top - height, left + width, top


def storm_damage(spec: SampleSpec, ids: Sequence[int]) -> Dict[int, float]:
    """Damaged fraction per compartment: a storm track across the north-east of the block."""
    rng = np.random.default_rng(spec.seed + 1)
    damage = {}
    for index, forest_id in enumerate(ids):
        row, col = divmod(index, spec.columns)
        on_track = (col - row) >= 2 or (row == 1 and col == 1)
        damage[forest_id] = float(rng.choice([1.0, 0.75])) if on_track else 0.0
    return damage


def _grid(spec: SampleSpec, resolution: float, shift: float = 0.0) -> Tuple[Affine, int, int]:
    left, bottom, right, top = scene_extent(spec)
    left, top = left - shift, top + shift
    width = int(math.ceil((right - left) / resolution))
    height = int(math.ceil((top - bottom) / resolution))
    return Affine(resolution, 0, left, 0, -resolution, top), width, height


def _pixel_centres(transform: Affine, width: int, height: int) -> Tuple[np.ndarray, np.ndarray]:
    cols, rows = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
    xs = transform.c + cols * transform.a
    ys = transform.f + rows * transform.e
    return xs, ys


@dataclass
class _Surface:
    """The scene-independent part of the model sampled on one grid."""

    transform: Affine
    width: int
    height: int
    forest_index: np.ndarray  # -1 outside compartments
    damaged: np.ndarray  # bool: pixel is damaged once the storm has passed
    vigour: np.ndarray
    xs: np.ndarray
    ys: np.ndarray


def _surface(spec, ids, rings, damage, resolution, shift=0.0) -> _Surface:
    transform, width, height = _grid(spec, resolution, shift)
    shapes = [({"type": "Polygon", "coordinates": [ring]}, i) for i, ring in enumerate(rings)]
    forest_index = features.rasterize(shapes, out_shape=(height, width), transform=transform,
                                      fill=-1, dtype="int32")
    xs, ys = _pixel_centres(transform, width, height)
    damaged = np.zeros((height, width), bool)
    vigour = np.ones((height, width), "float32")
    rng = np.random.default_rng(spec.seed + 2)
    vigour_by_forest = rng.uniform(0.93, 1.05, size=len(ids)).astype("float32")
    for i, ring in enumerate(rings):
        inside = forest_index == i
        vigour[inside] = vigour_by_forest[i]
        fraction = damage[ids[i]]
        if fraction > 0:
            xs_ring = [p[0] for p in ring]
            cut = min(xs_ring) + fraction * (max(xs_ring) - min(xs_ring))
            damaged |= inside & (xs <= cut) if fraction < 1 else inside
    return _Surface(transform, width, height, forest_index, damaged, vigour, xs, ys)


# --------------------------------------------------------------------------------------------
# Pixel values


def _cloud_masks(surface: _Surface, clouds: Iterable[Cloud]):
    core = np.zeros((surface.height, surface.width), bool)
    edge = np.zeros_like(core)
    shadow = np.zeros_like(core)
    for cloud in clouds:
        dist = np.hypot(surface.xs - cloud.x, surface.ys - cloud.y)
        core |= dist <= cloud.radius
        edge |= dist <= cloud.radius * 1.2
        sdist = np.hypot(surface.xs - cloud.x - cloud.shadow_offset[0],
                         surface.ys - cloud.y - cloud.shadow_offset[1])
        shadow |= sdist <= cloud.radius
    edge &= ~core
    shadow &= ~(core | edge)
    return core, edge, shadow


def _nodata_mask(surface: _Surface, scene: Scene) -> np.ndarray:
    if scene.nodata_west_fraction <= 0:
        return np.zeros((surface.height, surface.width), bool)
    left = surface.transform.c
    return surface.xs < left + scene.nodata_west_fraction * surface.width * surface.transform.a


def reflectance(surface: _Surface, scene: Scene, band: str, storm_date: date,
                rng: np.random.Generator) -> np.ndarray:
    """Surface reflectance of one band for one scene (before any clouds)."""
    in_forest = surface.forest_index >= 0
    damaged_now = surface.damaged & (scene.day >= storm_date)
    season = 1 + 0.05 * math.cos(2 * math.pi * (scene.day.timetuple().tm_yday - 15) / 365.25)
    value = np.full(surface.forest_index.shape, BARE[band], "float32")
    healthy = HEALTHY[band] * (surface.vigour * season if band.startswith("nir") else 1.0)
    value = np.where(in_forest, healthy, value)
    value = np.where(damaged_now, DAMAGED[band], value)
    value = value + rng.normal(0, 0.003, value.shape).astype("float32")
    return np.clip(value, 0.001, 1.0).astype("float32")


def _apply_clouds(value: np.ndarray, band: str, core, edge, shadow) -> np.ndarray:
    value = np.where(core, CLOUD[band], value)
    value = np.where(edge, 0.5 * (value + CLOUD[band]), value)
    return np.where(shadow, value * 0.35, value).astype("float32")


def scl_layer(surface: _Surface, scene: Scene) -> np.ndarray:
    """Sentinel-2 scene classification: 4 vegetation, 5 bare, 9/8 cloud, 3 shadow, 0 nodata."""
    core, edge, shadow = _cloud_masks(surface, scene.clouds)
    scl = np.where(surface.forest_index >= 0, 4, 5).astype("uint8")
    scl[shadow] = 3
    scl[edge] = 8
    scl[core] = 9
    scl[_nodata_mask(surface, scene)] = 0
    return scl


def qa_pixel_layer(surface: _Surface, scene: Scene) -> np.ndarray:
    """Landsat QA_PIXEL bit words for one scene."""
    core, edge, shadow = _cloud_masks(surface, scene.clouds)
    qa = np.full(core.shape, QA_WORD_CLEAR, "uint16")
    qa[shadow] = QA_WORD_SHADOW
    qa[edge] = QA_WORD_DILATED
    qa[core] = QA_WORD_CLOUD
    qa[_nodata_mask(surface, scene)] = QA_WORD_FILL
    return qa


def s2_digital_numbers(value: np.ndarray, shape: str, baseline: str) -> np.ndarray:
    """Encode reflectance as the DNs a provider serves for a Sentinel-2 L2A scene."""
    carries_offset = float(baseline) >= 4.0
    if shape == "earth-search-l2a":
        carries_offset = False  # Element84 removed the offset from the pixels themselves
    dn = np.round(value * 10_000) + (1000 if carries_offset else 0)
    return np.clip(dn, 1, 65535).astype("uint16")


def landsat_digital_numbers(value: np.ndarray) -> np.ndarray:
    """Collection 2 L2 surface reflectance DNs (scale 0.0000275, offset -0.2)."""
    return np.clip(np.round((value + 0.2) / 0.0000275), 1, 65535).astype("uint16")


# --------------------------------------------------------------------------------------------
# Scenes


def default_scenes(spec: SampleSpec) -> List[Scene]:
    """A year of acquisitions: Sentinel-2 on the 5th and 20th, Landsat on the 12th and 27th,
    Sentinel-1 every 12 days; random clouds, one fully clouded post-storm optical window."""
    rng = np.random.default_rng(spec.seed + 3)
    left, bottom, right, top = scene_extent(spec)
    scenes: List[Scene] = []
    end = _add_months(spec.start, spec.months)

    def random_clouds() -> Tuple[Cloud, ...]:
        count = int(rng.choice([0, 0, 1, 1, 2, 3]))
        return tuple(Cloud(float(rng.uniform(left, right)), float(rng.uniform(bottom, top)),
                           float(rng.uniform(250, 700))) for _ in range(count))

    overcast = (Cloud((left + right) / 2, (bottom + top) / 2,
                      1.2 * max(right - left, top - bottom)),)
    month = spec.start
    first = {S2_COLLECTION: True, LANDSAT_COLLECTION: True}
    while month < end:
        for collection, days, platforms in (
            (S2_COLLECTION, (5, 20), ("Sentinel-2A", "Sentinel-2B")),
            (LANDSAT_COLLECTION, (12, 27), ("landsat-8", "landsat-9")),
        ):
            if collection not in spec.sensors:
                continue
            for n, day in enumerate(days):
                when = datetime(month.year, month.month, day, 23, 50, tzinfo=timezone.utc)
                days_after_storm = (when.date() - spec.storm_date).days
                # the optical window just after the storm is overcast, as it was in reality
                overcast_window = (15, 25) if collection == S2_COLLECTION else (0, 20)
                if overcast_window[0] <= days_after_storm <= overcast_window[1]:
                    clouds = overcast
                else:
                    clouds = random_clouds()
                scenes.append(Scene(collection, when, platforms[n % 2], clouds,
                                    nodata_west_fraction=0.15 if first[collection] else 0.0))
                first[collection] = False
        month = _add_months(month, 1)
    if MAXAR_EVENT in spec.sensors:
        for day in (spec.storm_date - timedelta(days=16), spec.storm_date + timedelta(days=7)):
            scenes.append(Scene(MAXAR_EVENT, datetime(day.year, day.month, day.day, 0, 5,
                                                      tzinfo=timezone.utc), "WV03"))
    if S1_COLLECTION in spec.sensors:
        when = datetime(spec.start.year, spec.start.month, spec.start.day, 8, 30,
                        tzinfo=timezone.utc) + timedelta(days=2)
        while when.date() < end:
            scenes.append(Scene(S1_COLLECTION, when, "SENTINEL-1A"))
            when += timedelta(days=12)
    return sorted(scenes, key=lambda s: (s.when, s.collection))


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _cloud_cover(surface: _Surface, scene: Scene) -> float:
    core, edge, shadow = _cloud_masks(surface, scene.clouds)
    return round(100.0 * float((core | edge).mean()), 2)


# --------------------------------------------------------------------------------------------
# STAC


def small_spec(**overrides) -> SampleSpec:
    """A quick sample for tests: 3 x 2 compartments, three months, as little data as possible."""
    base = SampleSpec(start=date(2025, 10, 1), months=3, columns=3, rows=2, margin_m=120.0)
    return replace(base, **overrides)
