"""A compute run with hexagons and an event: the hexagons' change since the event, like the
forests' (mean of the usable periods after the event's period minus those before it, one
sensor for all cells), saved beside the run (main thread only)."""

from __future__ import annotations

from typing import Dict, Optional, Tuple

from qgis.core import QgsProject, QgsVectorLayer

from .layers import latest_field
from .storm_layers import HEXAGON_LABELS_FROM, label_layer

HEXAGONS_LATEST = "hexagons: latest statistics"


def _named(group, name: str) -> Optional[QgsVectorLayer]:
    for node in group.findLayers():
        if node.name() == name and isinstance(node.layer(), QgsVectorLayer):
            return node.layer()
    return None


def hexagon_inputs(run, spec: Dict, result: Dict) -> Optional[Tuple]:
    """(hexagons' latest layer, hexagon statistics table, index) for the change layer; None
    when the run has no hexagon table (no hexagons, or a large run written as Parquet only)."""
    files = result.get("files") or {}
    latest = _named(run.group, HEXAGONS_LATEST)
    if latest is None or "hexagons_gpkg" not in files:
        return None
    table = QgsVectorLayer(f"{files['hexagons_gpkg']}|layername=zonal_statistics",
                           "hexagon statistics", "ogr")
    found = latest_field(latest, spec.get("indices", []))
    if not table.isValid() or found is None:
        return None
    return latest, table, found[1]


def place_hexagon_change(run, layer: QgsVectorLayer, latest: QgsVectorLayer,
                         index: str) -> QgsVectorLayer:
    """Under the forests' change layer, hidden (one polygon style shown at a time), labelled
    with the change from 1:15 000 in; the hexagons' latest values hidden too."""
    label_layer(layer, f"format_number(\"{index}_change\", 2)", HEXAGON_LABELS_FROM)
    QgsProject.instance().addMapLayer(layer, False)
    node = run.group.insertLayer(1 if run.change is not None else 0, layer)
    node.setItemVisibilityChecked(False)
    hexagons = run.group.findLayer(latest.id())
    if hexagons is not None:
        hexagons.setItemVisibilityChecked(False)
    return layer


def hexagon_note(run) -> str:
    """' and 42 hexagons' for a run's status line (empty without hexagons)."""
    latest = _named(run.group, HEXAGONS_LATEST) if run.group is not None else None
    return f" and {latest.featureCount()} hexagons" if latest is not None else ""
