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
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
from affine import Affine
from rasterio import features

from ..outputs.files import write_cog, write_json

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


def _bbox_wgs84(transform: Affine, width: int, height: int):
    from pyproj import Transformer

    to_wgs84 = Transformer.from_crs(SCENE_CRS, "EPSG:4326", always_xy=True)
    left, top = transform.c, transform.f
    right, bottom = left + width * transform.a, top + height * transform.e
    lons, lats = to_wgs84.transform([left, right, right, left], [top, top, bottom, bottom])
    ring = [[lon, lat] for lon, lat in zip(lons, lats)] + [[lons[0], lats[0]]]
    return [min(lons), min(lats), max(lons), max(lats)], {"type": "Polygon", "coordinates": [ring]}


def _asset(href: str, transform: Affine, width: int, height: int, roles, **extra) -> dict:
    six_coefficients = [transform.a, transform.b, transform.c, transform.d, transform.e,
                        transform.f]
    asset = {"href": href, "type": COG_MEDIA_TYPE, "roles": list(roles),
             "proj:shape": [height, width], "proj:transform": six_coefficients,
             "gsd": transform.a}
    asset.update(extra)
    return asset


def _item(item_id, collection, scene, transform, width, height, properties, assets) -> dict:
    bbox, geometry = _bbox_wgs84(transform, width, height)
    props = {"datetime": scene.when.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "platform": scene.platform,
             "proj:epsg": int(SCENE_CRS.split(":")[1])}
    props.update(properties)
    return {
        "type": "Feature", "stac_version": "1.0.0", "id": item_id, "collection": collection,
        "stac_extensions": [
            "https://stac-extensions.github.io/eo/v1.0.0/schema.json",
            "https://stac-extensions.github.io/projection/v1.1.0/schema.json",
            "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
        ],
        "bbox": bbox, "geometry": geometry, "properties": props, "assets": assets, "links": [],
    }


class _Writer:
    """Writes the scenes' COGs and items under ``root``."""

    def __init__(self, root: Path, spec: SampleSpec, ids, rings, damage):
        self.root, self.spec = root, spec
        self.surfaces: Dict[Tuple[float, float], _Surface] = {}
        self.model = (ids, rings, damage)

    def surface(self, resolution: float, shift: float = 0.0) -> _Surface:
        key = (resolution, shift)
        if key not in self.surfaces:
            self.surfaces[key] = _surface(self.spec, *self.model, resolution, shift)
        return self.surfaces[key]

    def _rng(self, scene: Scene, band: str) -> np.random.Generator:
        token = f"{scene.collection}{scene.when.isoformat()}{band}".encode()
        return np.random.default_rng([self.spec.seed, *token[-24:]])

    def optical(self, scene: Scene, band: str, surface: _Surface) -> np.ndarray:
        core, edge, shadow = _cloud_masks(surface, scene.clouds)
        value = reflectance(surface, scene, band, self.spec.storm_date, self._rng(scene, band))
        return _apply_clouds(value, band, core, edge, shadow)

    def sentinel2(self, scene: Scene, shape: str) -> dict:
        tile = "56JNS"
        stamp = scene.when.strftime("%Y%m%dT%H%M%S")
        item_id = f"S2{scene.platform[-1]}_MSIL2A_{stamp}_R016_T{tile}"
        folder = Path(S2_COLLECTION) / item_id
        assets, ten = {}, self.surface(10)
        for key, (band, resolution) in S2_PC_ASSETS.items():
            surface = self.surface(resolution)
            dn = s2_digital_numbers(self.optical(scene, band, surface), shape, scene.baseline)
            dn[_nodata_mask(surface, scene)] = 0
            asset_key = key if shape == "planetary-computer" else S2_ES_KEYS[band]
            href = f"{folder}/{asset_key}.tif"
            write_cog(self.root / href, dn, transform=surface.transform, crs=SCENE_CRS, nodata=0)
            extra = {"eo:bands": [{"name": key, "common_name": band}]}
            if shape != "planetary-computer":
                extra["raster:bands"] = [{"nodata": 0, "data_type": "uint16",
                                          "spatial_resolution": resolution, "scale": 0.0001,
                                          "offset": -0.1}]
            assets[asset_key] = _asset(href, surface.transform, surface.width, surface.height,
                                       ["data", "reflectance"], **extra)
        twenty = self.surface(20)
        scl_key = "SCL" if shape == "planetary-computer" else "scl"
        href = f"{folder}/{scl_key}.tif"
        write_cog(self.root / href, scl_layer(twenty, scene), transform=twenty.transform,
                  crs=SCENE_CRS, nodata=0)
        scl_extra = {} if shape == "planetary-computer" else {
            "raster:bands": [{"nodata": 0, "data_type": "uint8", "spatial_resolution": 20}]}
        assets[scl_key] = _asset(href, twenty.transform, twenty.width, twenty.height, ["data"],
                                 **scl_extra)
        props = {"eo:cloud_cover": _cloud_cover(ten, scene), "s2:mgrs_tile": tile,
                 "s2:processing_baseline": scene.baseline, "constellation": "Sentinel 2",
                 "instruments": ["msi"]}
        if shape == "earth-search-l2a":
            props["earthsearch:boa_offset_applied"] = float(scene.baseline) >= 4.0
        return _item(item_id, S2_COLLECTION if shape != "earth-search-c1" else
                     "sentinel-2-c1-l2a", scene, ten.transform, ten.width, ten.height, props,
                     assets)

    def landsat(self, scene: Scene) -> dict:
        surface = self.surface(30, shift=15.0)  # Landsat pixel corners sit on odd multiples of 15 m
        number = "09" if scene.platform.endswith("9") else "08"
        item_id = f"LC{number}_L2SP_089079_{scene.when:%Y%m%d}_02_T1"
        folder = Path(LANDSAT_COLLECTION) / item_id
        assets = {}
        nodata = _nodata_mask(surface, scene)
        for band in LANDSAT_ASSETS:
            dn = landsat_digital_numbers(self.optical(scene, band, surface))
            dn[nodata] = 0
            href = f"{folder}/{band}.tif"
            write_cog(self.root / href, dn, transform=surface.transform, crs=SCENE_CRS, nodata=0)
            assets[band] = _asset(href, surface.transform, surface.width, surface.height,
                                  ["data", "reflectance"],
                                  **{"eo:bands": [{"name": band, "common_name": band}],
                                     "raster:bands": [{"scale": 2.75e-05, "nodata": 0,
                                                       "offset": -0.2, "data_type": "uint16",
                                                       "spatial_resolution": 30}]})
        href = f"{folder}/qa_pixel.tif"
        write_cog(self.root / href, qa_pixel_layer(surface, scene), transform=surface.transform,
                  crs=SCENE_CRS, nodata=1)
        assets["qa_pixel"] = _asset(href, surface.transform, surface.width, surface.height,
                                    ["cloud", "cloud-shadow"],
                                    **{"raster:bands": [{"unit": "bit index", "nodata": 1,
                                                         "data_type": "uint16"}]})
        props = {"eo:cloud_cover": _cloud_cover(surface, scene), "gsd": 30,
                 "landsat:wrs_path": "089", "landsat:wrs_row": "079",
                 "instruments": ["oli", "tirs"]}
        return _item(item_id, LANDSAT_COLLECTION, scene, surface.transform, surface.width,
                     surface.height, props, assets)

    def worldview(self, scene: Scene) -> dict:
        """A WorldView-3 acquisition as Maxar Open Data publishes it: 8-band ``ms_analytic``
        (uint16) and 3-band ``visual`` (uint8) COGs, licence CC BY-NC 4.0."""
        surface = self.surface(4)
        item_id = f"WV03_{scene.when:%Y%m%d}_10300100ABCDEF00"
        folder = Path("maxar") / MAXAR_EVENT / item_id
        reflect = {band: self.optical(scene, band, surface) for band in WORLDVIEW_BANDS}
        ms = np.stack([np.clip(np.round(reflect[b] * 10_000), 1, 65535) for b in WORLDVIEW_BANDS])
        visual = np.stack([np.clip(np.round(reflect[b] * 255 * 3), 1, 255)
                           for b in ("red", "green", "blue")])
        assets = {}
        for key, data, dtype, names in (("ms_analytic", ms, "uint16", WORLDVIEW_BANDS),
                                        ("visual", visual, "uint8", ("red", "green", "blue"))):
            href = f"{folder}/{key}.tif"
            write_cog(self.root / href, data.astype(dtype), transform=surface.transform,
                      crs=SCENE_CRS, nodata=0)
            assets[key] = _asset(href, surface.transform, surface.width, surface.height,
                                 ["data"], **{
                                     "eo:bands": [{"name": n, "common_name": n} for n in names],
                                     "raster:bands": [{"data_type": dtype, "nodata": 0}]
                                     * len(names)})
        props = {"platform": "WV03", "gsd": 4.0, "eo:cloud_cover": _cloud_cover(surface, scene),
                 "view:off_nadir": 12.0, "license": "CC-BY-NC-4.0"}
        item = _item(item_id, MAXAR_EVENT, scene, surface.transform, surface.width,
                     surface.height, props, assets)
        item["properties"]["platform"] = "WV03"
        return item

    def sentinel1(self, scene: Scene) -> dict:
        surface = self.surface(10)
        item_id = f"S1A_IW_GRDH_1SDV_{scene.when:%Y%m%dT%H%M%S}_rtc"
        folder = Path(S1_COLLECTION) / item_id
        in_forest = surface.forest_index >= 0
        damaged_now = surface.damaged & (scene.day >= self.spec.storm_date)
        assets = {}
        for polarisation, column in (("vv", 0), ("vh", 1)):
            value = np.where(in_forest, SAR["healthy"][column], SAR["bare"][column])
            value = np.where(damaged_now, SAR["damaged"][column], value)
            speckle = self._rng(scene, polarisation).gamma(4.0, 0.25, value.shape)
            linear = (value * speckle).astype("float32")
            href = f"{folder}/{polarisation}.tif"
            write_cog(self.root / href, linear, transform=surface.transform, crs=SCENE_CRS,
                      nodata=-32768)
            assets[polarisation] = _asset(
                href, surface.transform, surface.width, surface.height, ["data"],
                **{"raster:bands": [{"nodata": -32768, "data_type": "float32"}],
                   "description": f"Terrain-corrected gamma0 backscatter ({polarisation.upper()})"})
        props = {"sar:instrument_mode": "IW", "sar:polarizations": ["VV", "VH"],
                 "sar:frequency_band": "C", "sat:orbit_state": "descending",
                 "constellation": "Sentinel-1"}
        return _item(item_id, S1_COLLECTION, scene, surface.transform, surface.width,
                     surface.height, props, assets)


def write_forests(root: Path, ids, rings, damage) -> Tuple[Path, Path]:
    """The compartments as GeoPackages in MGA zone 56 and in WGS 84."""
    import geopandas as gpd
    from shapely.geometry import Polygon

    frame = gpd.GeoDataFrame(
        {"forest_id": ids,
         "name": [f"Compartment {i}" for i in ids],
         "plantation": ["Beerburrum West" if n % 5 < 3 else "Beerburrum East"
                        for n in range(len(ids))],
         "species": ["Pinus caribaea x elliottii"] * len(ids)},
        geometry=[Polygon(ring) for ring in rings], crs=FOREST_CRS)
    projected = root / "forests.gpkg"
    geographic = root / "forests_wgs84.gpkg"
    for path, data in ((projected, frame), (geographic, frame.to_crs("EPSG:4326"))):
        if path.exists():
            path.unlink()
        data.to_file(path, layer="forests", driver="GPKG")
    return projected, geographic


def write_static_catalog(root: Path, items: Dict[str, List[dict]], spec: SampleSpec, *,
                         licence: str = "CC-BY-4.0", catalog_id: str = "raster-collect-sample"
                         ) -> Path:
    """A self-contained static STAC catalog (relative links) over the generated items."""
    catalog = {"type": "Catalog", "stac_version": "1.0.0", "id": catalog_id,
               "description": "Synthetic imagery over Beerburrum forest compartments "
                              "(raster-collect embedded sample).",
               "links": [{"rel": "root", "href": "./catalog.json", "type": "application/json"}]}
    for collection, collection_items in items.items():
        if not collection_items:
            continue
        bboxes = np.array([item["bbox"] for item in collection_items])
        times = sorted(item["properties"]["datetime"] for item in collection_items)
        collection_doc = {
            "type": "Collection", "stac_version": "1.0.0", "id": collection,
            "description": f"Synthetic {collection} scenes", "license": licence,
            "extent": {"spatial": {"bbox": [[*bboxes[:, :2].min(0), *bboxes[:, 2:].max(0)]]},
                       "temporal": {"interval": [[times[0], times[-1]]]}},
            "links": [{"rel": "root", "href": "../catalog.json"},
                      {"rel": "parent", "href": "../catalog.json"}],
        }
        for item in collection_items:
            doc = json.loads(json.dumps(item))
            for asset in doc["assets"].values():
                asset["href"] = "./" + Path(asset["href"]).name
            doc["links"] = [{"rel": "root", "href": "../../catalog.json"},
                            {"rel": "parent", "href": "../collection.json"},
                            {"rel": "collection", "href": "../collection.json"}]
            write_json(root / collection / item["id"] / f"{item['id']}.json", doc)
            collection_doc["links"].append(
                {"rel": "item", "href": f"./{item['id']}/{item['id']}.json",
                 "type": "application/geo+json"})
        write_json(root / collection / "collection.json", collection_doc)
        catalog["links"].append({"rel": "child", "href": f"./{collection}/collection.json",
                                 "type": "application/json"})
    return write_json(root / "catalog.json", catalog)


def make_sample(root, spec: Optional[SampleSpec] = None,
                scenes: Optional[Sequence[Scene]] = None) -> Sample:
    """Generate the sample under ``root`` (reused if already complete for the same spec)."""
    root = Path(root)
    spec = spec or SampleSpec()
    if spec.s2_shape not in S2_SHAPES:
        raise ValueError(f"s2_shape must be one of {S2_SHAPES}, not {spec.s2_shape!r}")
    ids, rings = forest_grid(spec)
    damage = storm_damage(spec, ids)
    scenes = list(scenes) if scenes is not None else default_scenes(spec)
    manifest = root / "sample.json"
    fingerprint = repr((spec, [(s.collection, s.when.isoformat(), s.clouds, s.baseline,
                                s.nodata_west_fraction) for s in scenes]))
    writer = _Writer(root, spec, ids, rings, damage)
    if manifest.exists():
        saved = json.loads(manifest.read_text())
        if saved.get("fingerprint") == fingerprint:
            return Sample(root, spec, root / "forests.gpkg", root / "forests_wgs84.gpkg",
                          root / "catalog.json", {int(k): v for k, v in saved["truth"].items()},
                          scenes, saved["items"])
    items: Dict[str, List[dict]] = {}
    for scene in scenes:
        if scene.collection == S2_COLLECTION:
            item = writer.sentinel2(scene, spec.s2_shape)
        elif scene.collection == LANDSAT_COLLECTION:
            item = writer.landsat(scene)
        elif scene.collection == S1_COLLECTION:
            item = writer.sentinel1(scene)
        elif scene.collection == MAXAR_EVENT:
            item = writer.worldview(scene)
        else:
            raise ValueError(f"unknown sample collection {scene.collection!r}")
        items.setdefault(item["collection"], []).append(item)
    forests, forests_wgs84 = write_forests(root, ids, rings, damage)
    catalog = write_static_catalog(root, {k: v for k, v in items.items() if k != MAXAR_EVENT},
                                   spec)
    if MAXAR_EVENT in items:
        write_static_catalog(root / "maxar", {MAXAR_EVENT: items[MAXAR_EVENT]}, spec,
                             licence="CC-BY-NC-4.0", catalog_id="maxar-open-data-events")
    write_json(manifest, {"fingerprint": fingerprint, "truth": damage, "items": items,
                          "storm_date": spec.storm_date.isoformat()})
    return Sample(root, spec, forests, forests_wgs84, catalog, damage, scenes, items)


def small_spec(**overrides) -> SampleSpec:
    """A quick sample for tests: 3 x 2 compartments, three months, as little data as possible."""
    base = SampleSpec(start=date(2025, 10, 1), months=3, columns=3, rows=2, margin_m=120.0)
    return replace(base, **overrides)
