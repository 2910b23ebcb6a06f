"""Keeping a project's layer tree readable over many runs: each run one group at the top, one
index of the finest sensor visible and the rest in a collapsed group, the previous run of the
same kind replaced (unless the user keeps runs), and result layers kept out of the dock's
polygon list (main thread only)."""

from __future__ import annotations

from typing import Dict, Iterable, List, Optional, Sequence

from qgis.core import (
    QgsLayerTreeGroup,
    QgsLayerTreeLayer,
    QgsMapLayer,
    QgsProject,
    QgsRasterLayer,
)
from qgis.PyQt.QtWidgets import QCheckBox

from ..core.pixels import sensor_resolution
from .project_fields import register_field

OUTPUT = "raster_collect/output"  # on every layer a run adds (value: the run's kind)
RUN_KIND = "raster_collect/run_kind"  # on every run's group
MORE = "other indices and sensors"


def mark_output(layer: QgsMapLayer, kind: str) -> QgsMapLayer:
    """Tag a layer as a run's result (the polygon list leaves these out)."""
    layer.setCustomProperty(OUTPUT, kind)
    return layer


def remove_tagged(kind: str) -> int:
    """Remove every layer tagged as an output of ``kind`` (e.g. the scene footprints: one
    such layer per project, whichever presenter or session added it)."""
    project = QgsProject.instance()
    ids = [layer_id for layer_id, layer in project.mapLayers().items()
           if layer.customProperty(OUTPUT) == kind]
    project.removeMapLayers(ids)
    return len(ids)


def new_run_group(kind: str, name: str) -> QgsLayerTreeGroup:
    """A run's group, at the very top of the layer tree."""
    group = QgsProject.instance().layerTreeRoot().insertGroup(0, name)
    group.setCustomProperty(RUN_KIND, kind)
    return group


def run_groups(kind: Optional[str] = None) -> List[QgsLayerTreeGroup]:
    """The runs' groups in the project (of ``kind``, or all), top first."""
    root = QgsProject.instance().layerTreeRoot()
    return [g for g in root.findGroups() if g.customProperty(RUN_KIND)
            and (kind is None or g.customProperty(RUN_KIND) == kind)]


def replace_previous_runs(kind: str, keep: QgsLayerTreeGroup) -> int:
    """Remove every earlier run of ``kind`` (its group and its layers) but ``keep``; returns
    how many runs went. Files on disk stay: only the project forgets them."""
    project = QgsProject.instance()
    gone = 0
    for group in run_groups(kind):
        if group is keep:
            continue
        project.removeMapLayers(group.findLayerIds())
        parent = group.parent()
        if parent is not None:
            parent.removeChildNode(group)
        gone += 1
    return gone


def mark_group_outputs(group: QgsLayerTreeGroup, kind: str) -> None:
    """Tag every layer under ``group`` as an output of ``kind``."""
    for node in group.findLayers():
        if node.layer() is not None:
            mark_output(node.layer(), kind)


def finest_first(collections: Iterable[Dict]) -> List[Dict]:
    """Collections ordered finest sensor first (Sentinel-2 10 m before Landsat 30 m)."""
    return sorted(collections, key=lambda c: sensor_resolution(c.get("sensor", "")))


def primary(collections: Sequence[Dict], indices: Sequence[str]) -> Optional[tuple]:
    """(collection name, index) shown by default: the first requested index, from the finest
    sensor that has it."""
    for index in list(indices) or ["NDVI"]:
        for collection in finest_first(collections):
            if index in (collection.get("indices") or {}):
                return collection["collection"], index
    return None


def move_to_more(group: QgsLayerTreeGroup, nodes: Iterable) -> Optional[QgsLayerTreeGroup]:
    """Move ``nodes`` (children of ``group``) into its collapsed, hidden 'other indices and
    sensors' group, made on first use (clone first, then remove: the layers stay loaded)."""
    nodes = list(nodes)
    if not nodes:
        return None
    more = next((g for g in group.children() if isinstance(g, QgsLayerTreeGroup)
                 and g.name() == MORE), None)
    if more is None:
        more = group.addGroup(MORE)
    for node in nodes:
        copy = node.clone()
        more.addChildNode(copy)
        group.removeChildNode(node)
    more.setItemVisibilityChecked(False)
    more.setExpanded(False)
    return more


def tidy_run(group: QgsLayerTreeGroup, collections: Sequence[Dict],
             indices: Sequence[str]) -> Optional[tuple]:
    """One index of the finest sensor visible, every other raster group and layer in the
    collapsed hidden group; vector results stay where they are. Returns what stays shown."""
    shown = primary(collections, indices)
    keep = f"{shown[0]} {shown[1]}" if shown else None
    others = []
    for node in group.children():
        if isinstance(node, QgsLayerTreeGroup):
            if node.name() != keep and node.name() != MORE:
                others.append(node)
        elif isinstance(node, QgsLayerTreeLayer) and isinstance(node.layer(), QgsRasterLayer):
            others.append(node)
    move_to_more(group, others)
    return shown


def keep_runs_checkbox(section) -> QCheckBox:
    """The 'keep earlier runs' option under the outputs section's form (off: a new run
    replaces the previous run of its kind)."""
    box = QCheckBox("Keep earlier runs on the map", section)
    box.setObjectName("raster_collect_keep_runs")
    box.setToolTip("Off (default): a new run replaces the previous run's layers of the same "
                   "kind (the files stay in the output folder). On: runs pile up, each in its "
                   "own group")
    section.layout().insertRow(section.layout().rowCount() - 1, box)
    return box


register_field("runs/keep", "keep_runs")  # the choice travels with the project


class OutputsLeftOut:
    """Keeps a polygon combo from offering a run's outputs (many share names like 'forests:
    latest statistics'), up to date as layers come and go; ``refresh()`` after tagging."""

    def __init__(self, combo):
        self.combo = combo
        self.project = QgsProject.instance()
        self.project.layersAdded.connect(self.refresh)
        self.project.layersRemoved.connect(self.refresh)
        self.refresh()

    def refresh(self, *_args) -> None:
        try:
            self.combo.setExceptedLayerList([
                layer for layer in self.project.mapLayers().values()
                if layer.customProperty(OUTPUT)])
        except RuntimeError:  # the combo is gone with its dock
            self.close()

    def close(self) -> None:
        for signal in (self.project.layersAdded, self.project.layersRemoved):
            try:
                signal.disconnect(self.refresh)
            except (TypeError, RuntimeError):
                pass
