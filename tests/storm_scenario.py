"""A harder storm scenario than the embedded sample, made for the storm assessment's tests.

30 irregular compartments (touching, L-shaped, multipart across a road, one with a swamp hole)
in EPSG:28356; 8 severely damaged (69-100 % of the area), 6 with one windthrow strip over
17-33 %, 14 intact, 2 clear-felled before the event. Sentinel-2 L2A (Planetary Computer DNs
with the +1000 offset), Landsat 8/9 C2 L2 (scale/offset DNs, QA_PIXEL bits) and Sentinel-1 RTC
(linear gamma0 with speckle) from 90 days before to 45 days after the event; most post-event
optical scenes clouded, cloud shadows, hazy cloud fringes that SCL and QA_PIXEL label clear,
saturated patches (SCL 1), nodata swaths. Truth is exact (shapely areas), not rasterised.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np
from affine import Affine
from rasterio import features
from shapely import affinity
from shapely.geometry import MultiPolygon, Polygon, box

from raster_collect_plugin.core.outputs.files import write_cog
from raster_collect_plugin.core.sample import catalog as sc
from raster_collect_plugin.core.sample import scenes as sd

EVENT = date(2025, 11, 13)
FIRST_DAY, LAST_DAY = EVENT - timedelta(days=90), EVENT + timedelta(days=45)
COLUMNS, ROWS, CELL_W, CELL_H, MARGIN = 6, 5, 400.0, 360.0, 150.0
LEFT, TOP = 493_560.0, 7_020_540.0
HAZE_M = 50.0  # hazy fringe outside the cloud mask, labelled clear
S2_BANDS = {"B02": "blue", "B04": "red", "B08": "nir", "B12": "swir22"}
LANDSAT_BANDS = ("blue", "red", "nir08", "swir22")


@dataclass
class Stand:
    forest_id: int
    kind: str  # severe | patchy | intact | harvested
    geometry: object
    damage: object = None  # damaged part (shapely), None if none
    harvested_on: date = None

    @property
    def area_ha(self) -> float:
        return self.geometry.area / 10_000

    @property
    def damaged_ha(self) -> float:
        return 0.0 if self.damage is None else self.damage.area / 10_000

    @property
    def damaged_fraction(self) -> float:
        return self.damaged_ha / self.area_ha


@dataclass
class Cloud:
    x: float
    y: float
    radius: float
    shadow: Tuple[float, float] = (260.0, -180.0)


@dataclass
class Acquisition:
    collection: str
    when: datetime
    platform: str
    clouds: List[Cloud] = field(default_factory=list)
    nodata_west: float = 0.0
    saturated: List[Tuple[float, float]] = field(default_factory=list)  # patch centres


@dataclass
class Scenario:
    root: Path
    stands: List[Stand]
    forests_path: Path
    catalog_path: Path
    acquisitions: List[Acquisition]

    def truth(self) -> Dict[int, Stand]:
        return {s.forest_id: s for s in self.stands}


def _strip(stand: Polygon, fraction: float, angle: float, rng) -> Polygon:
    """One windthrow band across ``stand`` (at ``angle`` degrees) covering ``fraction`` of it."""
    if fraction >= 0.999:
        return stand
    centre = stand.centroid
    span = 4 * max(stand.bounds[2] - stand.bounds[0], stand.bounds[3] - stand.bounds[1])
    offset = rng.uniform(-0.3, 0.3) * (1 - fraction)
    low, high = 0.0, span
    for _ in range(40):  # bisect the width to hit the fraction
        width = (low + high) / 2
        band = box(-span, -width / 2, span, width / 2)
        band = affinity.translate(affinity.rotate(band, angle, origin=(0, 0)),
                                  centre.x + offset * math.cos(math.radians(angle + 90)) * 200,
                                  centre.y + offset * math.sin(math.radians(angle + 90)) * 200)
        covered = stand.intersection(band).area / stand.area
        low, high = (width, high) if covered < fraction else (low, width)
    return stand.intersection(band)


def compartments(seed: int = 21) -> List[Stand]:
    rng = np.random.default_rng(seed)
    kinds = ["severe"] * 8 + ["patchy"] * 6 + ["intact"] * 14 + ["harvested"] * 2
    kinds = list(rng.permutation(kinds))
    stands = []
    x0, y0 = LEFT + MARGIN, TOP - MARGIN
    for n in range(COLUMNS * ROWS):
        row, col = divmod(n, COLUMNS)
        left, top = x0 + col * CELL_W, y0 - row * CELL_H
        # rows 0-1 touch (no firebreak), others keep a 20 m firebreak
        gap = 0.0 if row < 2 else 10.0
        cell = box(left + gap, top - CELL_H + gap, left + CELL_W - gap, top - gap)
        shape = n % 5
        if shape == 1:  # L-shape: a dam or swamp corner cut out (concave)
            cell = cell.difference(box(left + CELL_W * 0.55, top - CELL_H * 0.45,
                                       left + CELL_W, top))
        elif shape == 2:  # multipart: a 30 m road across
            road = box(left, top - CELL_H * 0.42, left + CELL_W, top - CELL_H * 0.42 - 30)
            cell = cell.difference(road)
        elif shape == 3:  # a swamp hole
            cell = cell.difference(Polygon([(left + 150, top - 130), (left + 230, top - 120),
                                            (left + 240, top - 210), (left + 160, top - 220)]))
        elif shape == 4:  # irregular eastern edge (concave notch)
            cell = cell.difference(Polygon([(left + CELL_W, top - 80),
                                            (left + CELL_W - 120, top - 180),
                                            (left + CELL_W, top - 280)]))
        kind = kinds[n]
        stand = Stand(281 + n, kind, cell)
        if kind == "severe":
            fraction = 1.0 if n % 3 == 0 else float(rng.uniform(0.69, 0.95))
            stand.damage = _strip(cell, fraction, float(rng.uniform(0, 180)), rng)
        elif kind == "patchy":
            stand.damage = _strip(cell, float(rng.uniform(0.17, 0.33)),
                                  float(rng.uniform(0, 180)), rng)
        elif kind == "harvested":
            stand.harvested_on = EVENT - timedelta(days=95 if n % 2 else 60)
        stands.append(stand)
    return stands


def acquisitions(seed: int = 21) -> List[Acquisition]:
    rng = np.random.default_rng(seed + 1)
    width, height = COLUMNS * CELL_W + 2 * MARGIN, ROWS * CELL_H + 2 * MARGIN
    out = []

    def clouds(after: bool) -> List[Cloud]:
        if rng.random() > (0.8 if after else 0.4):
            return []
        if after and rng.random() < 0.25:  # overcast
            return [Cloud(LEFT + width / 2, TOP - height / 2, 2 * width)]
        return [Cloud(LEFT + rng.uniform(0, width), TOP - rng.uniform(0, height),
                      rng.uniform(200, 500) if after else rng.uniform(250, 600))
                for _ in range(int(rng.integers(3, 8) if after else rng.integers(1, 3)))]

    def saturated() -> List[Tuple[float, float]]:
        if rng.random() > 0.3:
            return []
        return [(LEFT + rng.uniform(0, width), TOP - rng.uniform(0, height))
                for _ in range(int(rng.integers(1, 4)))]

    day = FIRST_DAY
    n = 0
    while day <= LAST_DAY:
        when = datetime(day.year, day.month, day.day, 23, 50, tzinfo=timezone.utc)
        after = day > EVENT
        if n % 5 == 0:
            out.append(Acquisition(sd.S2_COLLECTION, when, "Sentinel-2A", clouds(after),
                                   0.2 if n % 35 == 0 else 0.0, saturated()))
        if n % 8 == 3:
            out.append(Acquisition(sd.LANDSAT_COLLECTION, when.replace(hour=23, minute=40),
                                   "landsat-9" if n % 16 == 3 else "landsat-8",
                                   clouds(after), 0.25 if n % 48 == 3 else 0.0))
        if n % 12 == 6:
            out.append(Acquisition(sd.S1_COLLECTION, when.replace(hour=8, minute=30),
                                   "SENTINEL-1A"))
        day += timedelta(days=1)
        n += 1
    return out


class _Grid:
    def __init__(self, stands: List[Stand], resolution: float, shift: float = 0.0):
        width_m, height_m = COLUMNS * CELL_W + 2 * MARGIN, ROWS * CELL_H + 2 * MARGIN
        self.transform = Affine(resolution, 0, LEFT - shift, 0, -resolution, TOP + shift)
        self.width = int(math.ceil((width_m + shift) / resolution))
        self.height = int(math.ceil((height_m + shift) / resolution))
        shape = (self.height, self.width)
        cols, rows = np.meshgrid(np.arange(self.width) + 0.5, np.arange(self.height) + 0.5)
        self.xs = self.transform.c + cols * resolution
        self.ys = self.transform.f - rows * resolution
        self.forest = features.rasterize([(s.geometry, i + 1) for i, s in enumerate(stands)],
                                         out_shape=shape, transform=self.transform, fill=0,
                                         dtype="int32") - 1
        damaged = [(s.damage, 1) for s in stands if s.damage is not None and not s.damage.is_empty]
        self.damaged = features.rasterize(damaged, out_shape=shape, transform=self.transform,
                                          fill=0, dtype="uint8").astype(bool)
        self.harvest = np.full(shape, np.datetime64("NaT"), "datetime64[D]")
        for i, stand in enumerate(stands):
            if stand.harvested_on:
                self.harvest[self.forest == i] = np.datetime64(stand.harvested_on)
        self.vigour = np.ones(shape, "float32")
        rng = np.random.default_rng(5)
        for i in range(len(stands)):
            self.vigour[self.forest == i] = rng.uniform(0.94, 1.05)

    def state(self, day: date) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(forest canopy, damaged, bare) masks on ``day``."""
        bare = (self.forest < 0) | (self.harvest <= np.datetime64(day))
        damaged = self.damaged & (day > EVENT) & ~bare
        return (~bare & ~damaged), damaged, bare

    def clouds(self, clouds: List[Cloud]):
        """(cloud mask, haze weight 0-1 outside it, shadow mask, shadow fringe)."""
        core = np.zeros(self.xs.shape, bool)
        haze = np.zeros(self.xs.shape, "float32")
        shadow = np.zeros_like(core)
        fringe = np.zeros_like(core)
        for cloud in clouds:
            dist = np.hypot(self.xs - cloud.x, self.ys - cloud.y)
            core |= dist <= cloud.radius
            weight = np.clip(0.5 * (1 - (dist - cloud.radius) / HAZE_M), 0, 0.5)
            haze = np.maximum(haze, np.where(dist > cloud.radius, weight, 0))
            sdist = np.hypot(self.xs - cloud.x - cloud.shadow[0],
                             self.ys - cloud.y - cloud.shadow[1])
            shadow |= sdist <= cloud.radius * 0.9
            fringe |= (sdist > cloud.radius * 0.9) & (sdist <= cloud.radius)
        shadow &= ~core
        fringe &= ~core & ~shadow
        return core, haze, shadow, fringe


def _reflectance(grid: _Grid, acq: Acquisition, band: str, rng) -> np.ndarray:
    canopy, damaged, bare = grid.state(acq.when.date())
    value = np.where(canopy, sd.HEALTHY[band] * (grid.vigour if band.startswith("nir")
                                                 else 1.0), sd.BARE[band])
    value = np.where(damaged, sd.DAMAGED[band], value)
    value = value + rng.normal(0, 0.004, value.shape)
    core, haze, shadow, fringe = grid.clouds(acq.clouds)
    value = np.where(core, sd.CLOUD[band], value)
    value = (1 - haze) * value + haze * sd.CLOUD[band]
    value = np.where(shadow, value * 0.35 + 0.01, value)
    value = np.where(fringe, value * 0.7 + 0.01, value)
    return np.clip(value, 0.001, 1.0).astype("float32")


def _nodata(grid: _Grid, acq: Acquisition) -> np.ndarray:
    return grid.xs < LEFT + acq.nodata_west * grid.width * grid.transform.a


def _saturated(grid: _Grid, acq: Acquisition) -> np.ndarray:
    mask = np.zeros(grid.xs.shape, bool)
    for x, y in acq.saturated:
        mask |= (np.abs(grid.xs - x) <= 40) & (np.abs(grid.ys - y) <= 40)
    return mask


def _rng(acq: Acquisition, band: str):
    token = f"{acq.collection}{acq.when.isoformat()}{band}".encode()
    return np.random.default_rng(list(token[-28:]))


def _write_s2(root: Path, acq: Acquisition, grids) -> dict:
    item_id = f"S2A_MSIL2A_{acq.when:%Y%m%dT%H%M%S}_R016_T56JNS"
    folder = Path(sd.S2_COLLECTION) / item_id
    assets = {}
    ten = grids[10]
    for key, band in S2_BANDS.items():
        grid = grids[20] if key == "B12" else ten
        dn = sd.s2_digital_numbers(_reflectance(grid, acq, band, _rng(acq, key)),
                                   "planetary-computer", "05.11")
        dn[_saturated(grid, acq)] = 65535
        dn[_nodata(grid, acq)] = 0
        write_cog(root / folder / f"{key}.tif", dn, transform=grid.transform,
                  crs=sd.SCENE_CRS, nodata=0, overviews=False)
        assets[key] = sc._asset(f"{folder}/{key}.tif", grid.transform, grid.width, grid.height,
                                ["data", "reflectance"],
                                **{"eo:bands": [{"name": key, "common_name": band}]})
    grid = grids[20]
    core, _, shadow, _ = grid.clouds(acq.clouds)
    scl = np.where(grid.forest >= 0, 4, 5).astype("uint8")
    scl[shadow] = 3
    scl[core] = 9
    scl[_saturated(grid, acq)] = 1
    scl[_nodata(grid, acq)] = 0
    write_cog(root / folder / "SCL.tif", scl, transform=grid.transform, crs=sd.SCENE_CRS,
              nodata=0, overviews=False)
    assets["SCL"] = sc._asset(f"{folder}/SCL.tif", grid.transform, grid.width, grid.height,
                              ["data"])
    props = {"eo:cloud_cover": round(100 * float(core.mean()), 2),
             "s2:processing_baseline": "05.11", "s2:mgrs_tile": "56JNS"}
    scene = sd.Scene(sd.S2_COLLECTION, acq.when, acq.platform)
    return sc._item(item_id, sd.S2_COLLECTION, scene, ten.transform, ten.width, ten.height,
                    props, assets)


def _write_landsat(root: Path, acq: Acquisition, grid: _Grid) -> dict:
    number = "09" if acq.platform.endswith("9") else "08"
    item_id = f"LC{number}_L2SP_089079_{acq.when:%Y%m%d}_02_T1"
    folder = Path(sd.LANDSAT_COLLECTION) / item_id
    nodata = _nodata(grid, acq)
    assets = {}
    for band in LANDSAT_BANDS:
        dn = sd.landsat_digital_numbers(_reflectance(grid, acq, band, _rng(acq, band)))
        dn[nodata] = 0
        write_cog(root / folder / f"{band}.tif", dn, transform=grid.transform,
                  crs=sd.SCENE_CRS, nodata=0, overviews=False)
        assets[band] = sc._asset(f"{folder}/{band}.tif", grid.transform, grid.width,
                                 grid.height, ["data", "reflectance"],
                                 **{"eo:bands": [{"name": band, "common_name": band}],
                                    "raster:bands": [{"scale": 2.75e-05, "offset": -0.2,
                                                      "nodata": 0, "data_type": "uint16"}]})
    core, _, shadow, _ = grid.clouds(acq.clouds)
    qa = np.full(core.shape, sd.QA_WORD_CLEAR, "uint16")
    qa[shadow] = sd.QA_WORD_SHADOW
    qa[core] = sd.QA_WORD_CLOUD
    qa[nodata] = sd.QA_WORD_FILL
    write_cog(root / folder / "qa_pixel.tif", qa, transform=grid.transform, crs=sd.SCENE_CRS,
              nodata=1, overviews=False)
    assets["qa_pixel"] = sc._asset(f"{folder}/qa_pixel.tif", grid.transform, grid.width,
                                   grid.height, ["cloud"],
                                   **{"raster:bands": [{"nodata": 1, "data_type": "uint16"}]})
    props = {"eo:cloud_cover": round(100 * float(core.mean()), 2), "gsd": 30}
    scene = sd.Scene(sd.LANDSAT_COLLECTION, acq.when, acq.platform)
    return sc._item(item_id, sd.LANDSAT_COLLECTION, scene, grid.transform, grid.width,
                    grid.height, props, assets)


def _write_s1(root: Path, acq: Acquisition, grid: _Grid) -> dict:
    item_id = f"S1A_IW_GRDH_1SDV_{acq.when:%Y%m%dT%H%M%S}_rtc"
    folder = Path(sd.S1_COLLECTION) / item_id
    canopy, damaged, bare = grid.state(acq.when.date())
    assets = {}
    for polarisation, column in (("vv", 0), ("vh", 1)):
        value = np.where(canopy, sd.SAR["healthy"][column], sd.SAR["bare"][column])
        value = np.where(damaged, sd.SAR["damaged"][column], value)
        linear = (value * _rng(acq, polarisation).gamma(4.4, 1 / 4.4, value.shape))
        write_cog(root / folder / f"{polarisation}.tif", linear.astype("float32"),
                  transform=grid.transform, crs=sd.SCENE_CRS, nodata=-32768, overviews=False)
        assets[polarisation] = sc._asset(f"{folder}/{polarisation}.tif", grid.transform,
                                         grid.width, grid.height, ["data"],
                                         **{"raster:bands": [{"nodata": -32768,
                                                              "data_type": "float32"}]})
    scene = sd.Scene(sd.S1_COLLECTION, acq.when, acq.platform)
    return sc._item(item_id, sd.S1_COLLECTION, scene, grid.transform, grid.width, grid.height,
                    {"sar:polarizations": ["VV", "VH"], "constellation": "Sentinel-1"}, assets)


def make_scenario(root: Path, seed: int = 21) -> Scenario:
    """Write the scenario under ``root``: compartments GeoPackage, COGs, static catalog."""
    import geopandas as gpd

    root = Path(root)
    stands = compartments(seed)
    acqs = acquisitions(seed)
    grids = {10: _Grid(stands, 10), 20: _Grid(stands, 20), 30: _Grid(stands, 30, shift=15)}
    items: Dict[str, List[dict]] = {}
    for acq in acqs:
        if acq.collection == sd.S2_COLLECTION:
            item = _write_s2(root, acq, grids)
        elif acq.collection == sd.LANDSAT_COLLECTION:
            item = _write_landsat(root, acq, grids[30])
        else:
            item = _write_s1(root, acq, grids[10])
        items.setdefault(acq.collection, []).append(item)
    frame = gpd.GeoDataFrame(
        {"forest_id": [s.forest_id for s in stands], "truth": [s.kind for s in stands]},
        geometry=[s.geometry if s.geometry.geom_type == "MultiPolygon"
                  else MultiPolygon([s.geometry]) if s.geometry.geom_type == "Polygon"
                  else s.geometry for s in stands], crs=sd.FOREST_CRS)
    forests = root / "forests.gpkg"
    frame.to_file(forests, layer="forests", driver="GPKG")
    spec = sd.SampleSpec(start=FIRST_DAY, months=5)
    catalog = sc.write_static_catalog(root, items, spec)
    return Scenario(root, stands, forests, catalog, acqs)
