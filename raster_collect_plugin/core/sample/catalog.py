"""Writing the sample: scene COGs with STAC items and a static catalog, the forest compartments
as GeoPackage/GeoJSON, all under one root (make_sample)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple
from urllib.parse import urlsplit

import numpy as np
from affine import Affine

from ..outputs.files import write_cog, write_json
from ..runs.storage import REMOTE_SCHEMES
from .scenes import (
    COG_MEDIA_TYPE,
    FOREST_CRS,
    LANDSAT_ASSETS,
    LANDSAT_COLLECTION,
    MAXAR_EVENT,
    S1_COLLECTION,
    S2_COLLECTION,
    S2_ES_KEYS,
    S2_PC_ASSETS,
    S2_SHAPES,
    SAR,
    SCENE_CRS,
    WORLDVIEW_BANDS,
    Sample,
    SampleSpec,
    Scene,
    _apply_clouds,
    _cloud_cover,
    _cloud_masks,
    _nodata_mask,
    _Surface,
    _surface,
    default_scenes,
    forest_grid,
    landsat_digital_numbers,
    qa_pixel_layer,
    reflectance,
    s2_digital_numbers,
    scl_layer,
    storm_damage,
)


def _bbox_wgs84(transform: Affine, width: int, height: int):
    from pyproj import Transformer

    to_wgs84 = Transformer.from_crs(SCENE_CRS, "EPSG:4326", always_xy=True)
    left, top = transform.c, transform.f
    right, bottom = left + width * transform.a, top + height * transform.e
    lons, lats = to_wgs84.transform([left, right, right, left], [top, top, bottom, bottom])
    ring = [[lon, lat] for lon, lat in zip(lons, lats)] + [[lons[0], lats[0]]]
    return [min(lons), min(lats), max(lons), max(lats)], {"type": "Polygon", "coordinates": [ring]}


def _qa_pixel_asset(href: str, surface) -> dict:
    """The Landsat ``qa_pixel`` asset (cloud and shadow bits, nodata 1) on ``surface``'s grid."""
    return _asset(href, surface.transform, surface.width, surface.height,
                  ["cloud", "cloud-shadow"],
                  **{"raster:bands": [{"unit": "bit index", "nodata": 1, "data_type": "uint16"}]})


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
            write_cog(self.root / href, dn, transform=surface.transform, crs=SCENE_CRS, nodata=0,
                      blocksize=self.spec.s2_tile_size)
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
                  crs=SCENE_CRS, nodata=0, blocksize=self.spec.s2_tile_size)
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
        assets["qa_pixel"] = _qa_pixel_asset(href, surface)
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


class SampleFolderError(ValueError):
    """The sample's (or demo's) folder cannot be used: a file in the way, another run's
    results in it (bad input, exit 2)."""

    exit_kind = "bad_input"


def make_sample(root, spec: Optional[SampleSpec] = None,
                scenes: Optional[Sequence[Scene]] = None) -> Sample:
    """Generate the sample under ``root`` (reused if already complete for the same spec)."""
    if urlsplit(str(root)).scheme in REMOTE_SCHEMES:  # a FileNotFoundError traceback
        raise SampleFolderError("the sample is written to a local folder: choose a local "
                                "--output (job spec 'output_dir'), not an object-store URL")
    root = Path(root)
    blocking = next((p for p in (root, *root.parents) if p.exists() and not p.is_dir()), None)
    if blocking is not None:  # before any scene is written, not a traceback half-way
        raise SampleFolderError(f"the sample folder {root} cannot be made: {blocking} is a "
                                "file; choose another --output")
    from .manifests import STORM, other_sample_in

    taken = other_sample_in(root, STORM)
    if taken:
        raise SampleFolderError(taken)
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
