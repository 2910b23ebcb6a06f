"""A storm run on the map, explaining itself: the forests by damage class with id, name and
damaged hectares as labels, on top; the hexagons beneath (hidden); the finest optical sensor's
NDVI change raster under them and every other raster in a collapsed, hidden group. The ranked
table opens as the damage layer's attribute table (sorted by rank, "zoom to" built in) and a
selection there selects the same forests on the dock's layer, so the map and the chart follow.

Driven with plain job results (no dock form), so tests and other doors can use it."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

from qgis.core import QgsProject, QgsRasterLayer, QgsVectorLayer

from ..core.areas import HEX_ID_FIELD
from ..core.storm import CLASS_ORDER, FLAGGED_CLASSES
from .layers import open_raster
from .run_layers import mark_group_outputs, move_to_more, new_run_group, replace_previous_runs
from .storm_layers import HEXAGON_LABELS_FROM, style_change_raster, style_damage_layer
from .trusted_results import trusted

KIND = "storm"
FILL_ALPHA = 170  # of 255: the change raster beneath shows through a class's colour


@dataclass
class StormLayers:
    """What one storm run put on the map."""

    group: object = None
    damage: Optional[QgsVectorLayer] = None
    hexagons: Optional[QgsVectorLayer] = None
    change: Optional[QgsRasterLayer] = None
    rasters: List[QgsRasterLayer] = field(default_factory=list)
    replaced: int = 0


def _sensors(files: Dict[str, str]) -> Dict[str, str]:
    """collection -> sensor, from the run's storm_metadata.json."""
    try:
        metadata = json.loads(Path(files["metadata"]).read_text(encoding="utf-8"))
        return {s["collection"]: s["sensor"] for s in metadata.get("sensors", [])}
    except (KeyError, OSError, ValueError, TypeError):
        return {}


def _band(layer: QgsRasterLayer, name: str) -> int:
    """The band whose description is ``name`` (QGIS names it 'Band 1: dNDVI'), else 0."""
    for band in range(1, layer.bandCount() + 1):
        if layer.bandName(band).split(": ")[-1] == name:
            return band
    return 0


def _vector(path: str, name: str) -> Optional[QgsVectorLayer]:
    layer = QgsVectorLayer(f"{path}|layername=storm_damage", name, "ogr")
    return layer if layer.isValid() else None


def show_storm_run(spec: Dict, result: Dict, *, keep: bool = False) -> StormLayers:
    """Add a finished storm job's layers (only files its manifest lists) in a new group at
    the top of the layer tree; the previous storm run is replaced unless ``keep``."""
    from ..core.pixels import sensor_resolution

    result = trusted(result)
    files = result.get("files") or {}
    changes = trusted({"output_dir": result.get("output_dir"),
                       "files": result.get("change_rasters") or {}})["files"]
    project = QgsProject.instance()
    event = spec.get("event_date", "")
    run = StormLayers(group=new_run_group(KIND, f"storm {event} · {spec.get('run_name', '')}"))
    id_field = spec.get("id_field") or "forest_id"
    thresholds = _thresholds(spec)
    if "damage_layer" in files:
        run.damage = _vector(files["damage_layer"], "forests: storm damage class")
    if "hexagon_damage_layer" in files:
        run.hexagons = _vector(files["hexagon_damage_layer"],
                               f"hexagons: storm damage (change since {event})")
    for layer, key, scale in ((run.damage, id_field, None),
                              (run.hexagons, HEX_ID_FIELD, HEXAGON_LABELS_FROM)):
        if layer is None:
            continue
        style_damage_layer(layer, key, thresholds=thresholds, opacity=FILL_ALPHA / 255,
                           **({"from_scale": scale} if scale else {}))
        project.addMapLayer(layer, False)
        run.group.addLayer(layer)
    if run.hexagons is not None:
        run.group.findLayer(run.hexagons.id()).setItemVisibilityChecked(False)
    sensors = _sensors(files)
    optical = sorted((c for c in changes if c != "combined" and sensors.get(c) != "sentinel-1"),
                     key=lambda c: sensor_resolution(sensors.get(c, "")))
    added = []
    for collection in optical + [c for c in changes if c not in optical]:
        label = ("all sensors: storm evidence (damaged pixels)" if collection == "combined"
                 else f"{collection}: NDVI change (after - before)"
                 if sensors.get(collection) != "sentinel-1"
                 else f"{collection}: VH change dB (after - before)")
        layer = open_raster(changes[collection], label)
        if not layer.isValid():
            continue
        band = _band(layer, "damaged" if collection == "combined" else
                     "dVH_dB" if sensors.get(collection) == "sentinel-1" else "dNDVI") or 1
        style_change_raster(layer, band, (0.0, 1.0) if collection == "combined" else
                            (-6.0, 6.0) if sensors.get(collection) == "sentinel-1" else None)
        project.addMapLayer(layer, False)
        run.group.addLayer(layer)
        added.append(layer)
    run.rasters = added
    if optical:
        run.change = next((r for r in added if r.name().startswith(f"{optical[0]}:")), None)
    move_to_more(run.group, [run.group.findLayer(r.id()) for r in added if r is not run.change])
    mark_group_outputs(run.group, KIND)
    run.group.setExpanded(True)  # the classes' legend in view; the rest stays collapsed
    if run.damage is not None:
        run.group.findLayer(run.damage.id()).setExpanded(True)
    if not keep:
        run.replaced = replace_previous_runs(KIND, run.group)
    return run


def _thresholds(spec: Dict):
    from ..core.storm import DamageThresholds

    try:
        return DamageThresholds.from_mapping(spec.get("thresholds"))
    except (TypeError, ValueError):
        return None


def storm_summary(result: Dict, run: StormLayers) -> str:
    """'Storm: 2 severe, 1 moderate, 3 none of 6 forests; 14 of 80 hexagons flagged'."""
    counts = Counter(row.get("damage_class") for row in result.get("ranking") or [])
    parts = [f"{counts[name]} {name}" for name in CLASS_ORDER if counts.get(name)]
    text = f"Storm: {', '.join(parts) or 'no forest'} of {sum(counts.values())} forests"
    if run.hexagons is not None:
        hexagons = [f["damage_class"] for f in run.hexagons.getFeatures()]
        flagged = sum(1 for c in hexagons if c in FLAGGED_CLASSES)
        text += f"; {flagged} of {len(hexagons)} hexagons moderate or severe"
    return text
