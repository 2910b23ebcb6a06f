"""The disturbance scenario (disturbance_scenario.py) written as real scenes: Sentinel-2 L2A and
Landsat C2 L2 COGs with their providers' band layouts, encodings and masks (SCL, QA_PIXEL), STAC
items, a static STAC catalog, the compartments and reference polygons as GeoPackages and the
per-pixel truth as COGs, so the whole pipeline can run on it through the command line.

How to call::

    from raster_collect_plugin.core.sample.disturbance_catalog import write_scenario
    files = write_scenario("/tmp/scenario")            # ScenarioSpec() by default
    files.catalog       # static STAC catalog.json (collections sentinel-2-l2a, landsat-c2-l2)
    files.compartments  # compartments.gpkg, layer "compartments" (forest_id, name)
    files.references    # references.gpkg, layer "references" (reference_id, forest_id, event,
                        # date, end_date, area_ha)
    files.truth_date    # truth_date.tif: int32 days since 1970-01-01 of each pixel's event,
                        # -1 where undisturbed (10 m grid)
    files.truth_type    # truth_type.tif: uint8 index into EVENT_TYPES (0 none)

Sentinel-2 scenes are shaped like Planetary Computer's (B02..B12 raw DNs with the +1000 offset
of processing baseline 05.11, SCL at 20 m); Landsat like Collection 2 L2 (scale 2.75e-5, offset
-0.2, QA_PIXEL bits). Landsat's 30 m grid is aligned with the 10 m grid here (real Landsat
pixels sit on odd multiples of 15 m; the storm sample does that).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from ..outputs.files import write_cog, write_json
from .catalog import _asset, _qa_pixel_asset, write_static_catalog
from .disturbance_scenario import (
    EVENT_TYPES,
    LANDSAT,
    Field,
    ScenarioScene,
    ScenarioSpec,
    cloud_masks,
    compartments_frame,
    field_on,
    observed,
    references_frame,
    scenes_of,
)
from .scenes import (
    COG_MEDIA_TYPE,
    LANDSAT_COLLECTION,
    QA_WORD_CLEAR,
    QA_WORD_CLOUD,
    QA_WORD_DILATED,
    QA_WORD_SHADOW,
    S2_COLLECTION,
    _apply_clouds,
    landsat_digital_numbers,
    s2_digital_numbers,
)

S2_ASSETS = {"B02": ("blue", 10), "B03": ("green", 10), "B04": ("red", 10),
             "B05": ("rededge1", 20), "B08": ("nir", 10), "B8A": ("nir08", 20),
             "B11": ("swir16", 20), "B12": ("swir22", 20)}
LANDSAT_BANDS = ("blue", "green", "red", "nir08", "swir16", "swir22")
S2_BASELINE = "05.11"


@dataclass
class ScenarioFiles:
    """Where ``write_scenario`` put things."""

    root: Path
    catalog: Path
    compartments: Path
    references: Path
    truth_date: Path
    truth_type: Path
    spec: ScenarioSpec
    items: Dict[str, List[dict]]


def _bbox_wgs84(crs: str, surface: Field):
    from pyproj import Transformer

    to_wgs84 = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    t = surface.transform
    left, top = t.c, t.f
    right, bottom = left + surface.width * t.a, top + surface.height * t.e
    lons, lats = to_wgs84.transform([left, right, right, left], [top, top, bottom, bottom])
    ring = [[lon, lat] for lon, lat in zip(lons, lats)] + [[lons[0], lats[0]]]
    return [min(lons), min(lats), max(lons), max(lats)], {"type": "Polygon", "coordinates": [ring]}


def _item(spec: ScenarioSpec, item_id: str, collection: str, scene: ScenarioScene,
          surface: Field, properties: dict, assets: dict) -> dict:
    bbox, geometry = _bbox_wgs84(spec.crs, surface)
    props = {"datetime": scene.when.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
             "platform": (f"Sentinel-2{scene.platform[-1].upper()}"
                          if scene.platform.startswith("sentinel") else scene.platform),
             "proj:epsg": int(spec.crs.split(":")[1])}
    props.update(properties)
    return {"type": "Feature", "stac_version": "1.0.0", "id": item_id, "collection": collection,
            "stac_extensions": [
                "https://stac-extensions.github.io/eo/v1.0.0/schema.json",
                "https://stac-extensions.github.io/projection/v1.1.0/schema.json",
                "https://stac-extensions.github.io/raster/v1.1.0/schema.json"],
            "bbox": bbox, "geometry": geometry, "properties": props, "assets": assets,
            "links": []}


def _cover(surface: Field, scene: ScenarioScene) -> float:
    core, edge, _ = cloud_masks(surface, scene.clouds)
    return round(100.0 * float((core | edge).mean()), 2)


class _SceneWriter:
    def __init__(self, root: Path, spec: ScenarioSpec):
        self.root, self.spec = root, spec
        self.fields = {res: field_on(spec, res) for res in (10, 20, 30)}

    def sentinel2(self, scene: ScenarioScene) -> dict:
        letter = scene.platform[-1].upper()
        item_id = f"S2{letter}_MSIL2A_{scene.when:%Y%m%dT%H%M%S}_R008_T32ULU"
        folder = Path(S2_COLLECTION) / item_id
        assets = {}
        for key, (band, resolution) in S2_ASSETS.items():
            surface = self.fields[resolution]
            value = observed(self.spec, surface, scene, band)
            value = _apply_clouds(value, band, *cloud_masks(surface, scene.clouds))
            dn = s2_digital_numbers(value, "planetary-computer", S2_BASELINE)
            href = f"{folder}/{key}.tif"
            write_cog(self.root / href, dn, transform=surface.transform, crs=self.spec.crs,
                      nodata=0)
            assets[key] = _asset(href, surface.transform, surface.width, surface.height,
                                 ["data", "reflectance"],
                                 **{"eo:bands": [{"name": key, "common_name": band}]})
        twenty = self.fields[20]
        core, edge, shadow = cloud_masks(twenty, scene.clouds)
        scl = np.where(twenty.forest_index >= 0, 4, 5).astype("uint8")
        scl[shadow], scl[edge], scl[core] = 3, 8, 9
        href = f"{folder}/SCL.tif"
        write_cog(self.root / href, scl, transform=twenty.transform, crs=self.spec.crs, nodata=0)
        assets["SCL"] = _asset(href, twenty.transform, twenty.width, twenty.height, ["data"])
        props = {"eo:cloud_cover": _cover(self.fields[10], scene), "s2:mgrs_tile": "32ULU",
                 "s2:processing_baseline": S2_BASELINE, "constellation": "Sentinel 2",
                 "instruments": ["msi"]}
        return _item(self.spec, item_id, S2_COLLECTION, scene, self.fields[10], props, assets)

    def landsat(self, scene: ScenarioScene) -> dict:
        surface = self.fields[30]
        item_id = f"LC0{scene.platform[-1]}_L2SP_196026_{scene.when:%Y%m%d}_02_T1"
        folder = Path(LANDSAT_COLLECTION) / item_id
        masks = cloud_masks(surface, scene.clouds)
        assets = {}
        for band in LANDSAT_BANDS:
            # OLI band 5 is what the model (and make_scenario) calls Landsat's "nir"
            value = observed(self.spec, surface, scene, "nir" if band == "nir08" else band,
                             self.fields[10])
            dn = landsat_digital_numbers(_apply_clouds(value, band, *masks))
            href = f"{folder}/{band}.tif"
            write_cog(self.root / href, dn, transform=surface.transform, crs=self.spec.crs,
                      nodata=0)
            assets[band] = _asset(href, surface.transform, surface.width, surface.height,
                                  ["data", "reflectance"],
                                  **{"eo:bands": [{"name": band, "common_name": band}],
                                     "raster:bands": [{"scale": 2.75e-05, "nodata": 0,
                                                       "offset": -0.2, "data_type": "uint16",
                                                       "spatial_resolution": 30}]})
        core, edge, shadow = masks
        qa = np.full(core.shape, QA_WORD_CLEAR, "uint16")
        qa[shadow], qa[edge], qa[core] = QA_WORD_SHADOW, QA_WORD_DILATED, QA_WORD_CLOUD
        href = f"{folder}/qa_pixel.tif"
        write_cog(self.root / href, qa, transform=surface.transform, crs=self.spec.crs, nodata=1)
        assets["qa_pixel"] = _qa_pixel_asset(href, surface)
        props = {"eo:cloud_cover": _cover(surface, scene), "gsd": 30,
                 "landsat:wrs_path": "196", "landsat:wrs_row": "026",
                 "instruments": ["oli", "tirs"]}
        return _item(self.spec, item_id, LANDSAT_COLLECTION, scene, surface, props, assets)


def write_scenario(root, spec: Optional[ScenarioSpec] = None) -> ScenarioFiles:
    """Write the scenario's scenes, catalog, compartments, references and truth under ``root``
    (reused when a complete copy of the same spec is there already)."""
    from .catalog import SampleFolderError
    from .manifests import DISTURBANCE, other_sample_in

    root = Path(root)
    taken = other_sample_in(root, DISTURBANCE)
    if taken:
        raise SampleFolderError(taken)
    spec = spec or ScenarioSpec()
    manifest = root / "scenario.json"
    paths = dict(catalog=root / "catalog.json", compartments=root / "compartments.gpkg",
                 references=root / "references.gpkg", truth_date=root / "truth_date.tif",
                 truth_type=root / "truth_type.tif")
    if manifest.exists():
        saved = json.loads(manifest.read_text())
        if saved.get("fingerprint") == repr(spec):
            return ScenarioFiles(root, spec=spec, items=saved["items"], **paths)
    writer = _SceneWriter(root, spec)
    items: Dict[str, List[dict]] = {S2_COLLECTION: [], LANDSAT_COLLECTION: []}
    for scene in scenes_of(spec):
        if scene.sensor == LANDSAT:
            items[LANDSAT_COLLECTION].append(writer.landsat(scene))
        else:
            items[S2_COLLECTION].append(writer.sentinel2(scene))
    write_static_catalog(root, items, None, catalog_id="raster-collect-disturbance-scenario")
    catalog = json.loads(paths["catalog"].read_text())
    catalog["description"] = ("Synthetic Sentinel-2 and Landsat scenes of the raster-collect "
                              "disturbance scenario (windthrow, clear-fell, dieback).")
    write_json(paths["catalog"], catalog)
    for key, frame, layer in (("compartments", compartments_frame(spec), "compartments"),
                              ("references", references_frame(spec), "references")):
        if paths[key].exists():
            paths[key].unlink()
        frame.to_file(paths[key], layer=layer, driver="GPKG")
    _write_truth(spec, writer.fields[10], paths["truth_date"], paths["truth_type"])
    write_json(manifest, {"fingerprint": repr(spec), "items": items,
                          "media_type": COG_MEDIA_TYPE})
    return ScenarioFiles(root, spec=spec, items=items, **paths)


def _write_truth(spec: ScenarioSpec, surface: Field, date_path: Path, type_path: Path) -> None:
    days = np.full((surface.height, surface.width), -1, "int32")
    kinds = np.zeros((surface.height, surface.width), "uint8")
    for number, event in enumerate(spec.events):
        hit = surface.event_index == number
        days[hit] = (np.datetime64(event.start, "D") - np.datetime64("1970-01-01", "D")).astype(int)
        kinds[hit] = EVENT_TYPES.index(event.kind)
    write_cog(date_path, days, transform=surface.transform, crs=spec.crs, nodata=-1,
              tags={"units": "days since 1970-01-01", "meaning": "event date (dieback: onset)"})
    write_cog(type_path, kinds, transform=surface.transform, crs=spec.crs,
              tags={"classes": json.dumps(list(EVENT_TYPES))})
