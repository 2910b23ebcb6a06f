"""Putting a run's results in front of the user: footprints, styled layers in one group, the
temporal controller set to the run's period and step, and the before/after change layer.

Driven with plain job results (no dock form), so tests and other doors can use it."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Dict, List, Optional

from qgis.core import (
    NULL,
    QgsDateTimeRange,
    QgsFeature,
    QgsFeatureRequest,
    QgsField,
    QgsLayerTreeGroup,
    QgsProject,
    QgsTemporalNavigationObject,
    QgsVectorFileWriter,
    QgsVectorLayer,
)
from qgis.PyQt.QtCore import QDateTime, QMetaType, QTime

from ..core.areas import HEX_ID_FIELD
from ..core.outputs import before_after_change, period_end, period_start
from ..qgis_compat import new_field, qgis_enum
from .hexagon_change import hexagon_inputs, place_hexagon_change
from .imagery import add_colour_composite_layers
from .layers import (
    PERIOD_MONTHS,
    add_composite_layers,
    add_zonal_layers,
    frame_interval,
    latest_field,
    outline_renderer_symbol,
    qdate,
    style_change_layer,
)
from .project_state import register_transformations, remember_temporal
from .run_layers import (
    mark_group_outputs,
    mark_output,
    new_run_group,
    remove_tagged,
    replace_previous_runs,
    tidy_run,
)
from .temporal_focus import temporal_controller

KIND = "zonal"  # the run kind a compute run's group and layers are tagged with
FOOTPRINTS = "footprints"


@dataclass
class RunLayers:
    """What one run put on the map."""

    group: Optional[QgsLayerTreeGroup] = None
    table: Optional[QgsVectorLayer] = None
    latest: Optional[QgsVectorLayer] = None
    change: Optional[QgsVectorLayer] = None
    hexagon_change: Optional[QgsVectorLayer] = None
    rasters: List = field(default_factory=list)
    replaced: int = 0
    periods: List[str] = field(default_factory=list)


def configure_temporal(controller: QgsTemporalNavigationObject, periods: List[str],
                       period: str) -> Optional[QgsDateTimeRange]:
    """Range = the run's periods, step = one composite period, animated navigation showing
    the latest period (one composite at a time). Returns the range set."""
    starts = sorted({s for s in (period_start(p) for p in periods) if s is not None})
    ends = [e for e in (period_end(p) for p in periods) if e is not None]
    if controller is None or not starts or not ends:
        return None
    step = frame_interval(period)
    begin = QDateTime(qdate(starts[0]), QTime(0, 0))
    last = QDateTime(qdate(starts[-1]), QTime(0, 0))
    # QGIS counts frames as ceil(extent / step) with a 30-day month: end the extent inside
    # the last period so the count is the number of periods (frames themselves follow the
    # calendar, so each frame is exactly one composite period)
    months = (starts[-1].year - starts[0].year) * 12 + starts[-1].month - starts[0].month
    frames = months // PERIOD_MONTHS.get(period, 1) + 1
    end = min(QDateTime(qdate(max(ends)), QTime(0, 0)).addSecs(-1),
              begin.addSecs(int(frames * step.seconds()) - 1))
    extent = QgsDateTimeRange(begin, max(end, last))
    controller.setNavigationMode(qgis_enum("Qgis.TemporalNavigationMode.Animated"))
    controller.setTemporalExtents(extent)
    controller.setFrameDuration(step)
    controller.setCurrentFrameNumber(controller.findBestFrameNumberForFrameStart(last))
    return extent


def table_points(table: QgsVectorLayer, id_field: str, index: str,
                 statistic: str = "median") -> Dict[tuple, List[tuple]]:
    """{(forest, collection): [(period, value, usable), ...]} of one index from the
    statistics table layer."""
    series: Dict[tuple, List[tuple]] = defaultdict(list)
    if table is None or not table.isValid():
        return series
    request = QgsFeatureRequest().setFilterExpression(f"\"index\" = '{index}'")
    for feature in table.getFeatures(request):
        value = feature[statistic]
        series[(str(feature[id_field]), str(feature["collection"]))].append(
            (str(feature["period"]), None if value is None or value == NULL else float(value),
             bool(feature["usable"])))
    for points in series.values():
        points.sort(key=lambda p: period_start(p[0]) or date.min)
    return series


def change_layer(latest: QgsVectorLayer, table: QgsVectorLayer, id_field: str, index: str,
                 event: date) -> Optional[QgsVectorLayer]:
    """A memory copy of the forests with ``<index>_before``, ``_after`` and ``_change``
    (mean of usable medians before vs after the event's period), styled by change class.
    One collection (sensor) for all forests, so values compare: the one giving a change for
    the most forests (then: the most usable values). None if no forest has both sides."""
    series = table_points(table, id_field, index)
    by_collection: Dict[str, Dict[str, tuple]] = defaultdict(dict)
    usable: Dict[str, int] = defaultdict(int)
    for (forest, collection), points in series.items():
        usable[collection] += sum(1 for p in points if p[2])
        outcome = before_after_change([(p, v) for p, v, ok in points if ok], event)
        if outcome is not None:
            by_collection[collection][forest] = outcome
    if not by_collection:
        return None
    collection = max(by_collection, key=lambda c: (len(by_collection[c]), usable[c],
                                                   "sentinel-2" in c))
    changes = by_collection[collection]
    sensor = f" ({collection})" if len(usable) > 1 else ""
    layer = QgsVectorLayer(f"MultiPolygon?crs={latest.crs().authid()}",
                           f"forests: {index} change since {event.isoformat()}{sensor}",
                           "memory")
    layer.setCustomProperty("raster_collect/collection", collection)
    source_field = latest.fields().field(id_field)
    fields = [QgsField(id_field, source_field.type(), source_field.typeName()),
              new_field(f"{index}_before", QMetaType.Type.Double),
              new_field(f"{index}_after", QMetaType.Type.Double),
              new_field(f"{index}_change", QMetaType.Type.Double)]
    layer.dataProvider().addAttributes(fields)
    layer.updateFields()
    features = []
    for source in latest.getFeatures():
        outcome = changes.get(str(source[id_field]))
        feature = QgsFeature(layer.fields())
        feature.setGeometry(source.geometry())
        feature.setAttributes([source[id_field], *(outcome or (None, None, None))])
        features.append(feature)
    layer.dataProvider().addFeatures(features)
    layer.updateExtents()
    style_change_layer(layer, f"{index}_change")
    return layer


def local_folder(folder: Optional[str]) -> Optional[str]:
    """``folder`` made if needed, when it is a local path (None for an object store or when
    it cannot be made)."""
    import os

    if not folder or "://" in str(folder):
        return None
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError:
        return None
    return str(folder)


def saved_beside_run(layer: QgsVectorLayer, folder: Optional[str],
                     name: str, layer_name: str = "change") -> QgsVectorLayer:
    """The layer written as a GeoPackage into the run's folder (to a temporary name, then
    renamed) and reopened from there, so it survives saving and reopening the project; the
    memory layer itself where there is no local folder (an object-store output)."""
    import os

    if not folder or "://" in str(folder) or not os.path.isdir(folder):
        return layer
    target = os.path.join(folder, name)
    temporary = os.path.join(folder, f".{name}.partial-{os.getpid()}.gpkg")
    options = QgsVectorFileWriter.SaveVectorOptions()
    options.driverName = "GPKG"
    options.layerName = layer_name
    written = QgsVectorFileWriter.writeAsVectorFormatV3(
        layer, temporary, QgsProject.instance().transformContext(), options)
    try:
        if written[0] != QgsVectorFileWriter.WriterError.NoError:
            return layer
        os.replace(temporary, target)
    except OSError:  # the previous file still in use (Windows): keep the memory layer
        return layer
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    saved = QgsVectorLayer(f"{target}|layername={layer_name}", layer.name(), "ogr")
    if not saved.isValid():
        return layer
    for key in layer.customPropertyKeys():
        saved.setCustomProperty(key, layer.customProperty(key))
    saved.setRenderer(layer.renderer().clone())
    return saved


class ResultsPresenter:
    """Adds search and compute results to the project and the canvas."""

    def __init__(self, iface):
        self.iface = iface
        self.footprints: Optional[QgsVectorLayer] = None
        self.run = RunLayers()

    def canvas(self):
        return self.iface.mapCanvas() if self.iface is not None else None

    def show_footprints(self, path: str, *, visible: bool = True,
                        folder: Optional[str] = None) -> Optional[QgsVectorLayer]:
        """Scene footprints as an outline-only layer (replacing the previous one), saved as
        ``scene_footprints.gpkg`` in ``folder`` so a saved project keeps them and QGIS does
        not warn about a temporary layer on exit; ``visible=False`` removes them."""
        project = QgsProject.instance()
        remove_tagged(FOOTPRINTS)  # one footprints layer per project, whoever added it
        self.footprints = None
        if not visible or not path:
            return None
        source = QgsVectorLayer(f"{path}|layername=footprints", "scene footprints", "ogr")
        if not source.isValid() or source.featureCount() <= 0:
            return None  # no scene found: no (geometry-less) empty layer
        # in memory: the job's scratch folder is removed once the task ends
        memory = source.materialize(QgsFeatureRequest())
        memory.setName("scene footprints")
        if memory.renderer() is not None:
            memory.renderer().setSymbol(outline_renderer_symbol())
        layer = saved_beside_run(memory, folder, "scene_footprints.gpkg", "footprints")
        if layer is memory:  # no local folder: at least no "temporary layers" prompt on exit
            memory.setCustomProperty("skipMemoryLayersCheck", 1)
        project.addMapLayer(mark_output(layer, FOOTPRINTS))
        self.footprints = layer
        return layer

    def show_run(self, spec: Dict, result: Dict, *,
                 event_date: Optional[date] = None, keep: bool = True) -> RunLayers:
        """Composites, statistics table, latest values (and change since the event, per forest
        and per hexagon) in one group at the top of the layer tree, one index of the finest
        sensor shown (the rest collapsed); the temporal controller shows one period. Unless
        ``keep``, the previous run's group and layers go."""
        canvas = self.canvas()
        if canvas is not None:
            canvas.freeze(True)
        try:
            run = RunLayers(group=new_run_group(KIND, spec.get("run_name") or "raster-collect"))
            for collection in result.get("collections", []):
                run.rasters += add_composite_layers(run.group, collection)
                run.rasters += add_colour_composite_layers(run.group, collection)
                run.periods += [p for p in collection["periods"] if p not in run.periods]
            indices = spec.get("indices", [])
            for layer in add_zonal_layers(run.group, result.get("files", {}), indices):
                if layer.name() == "zonal statistics":
                    run.table = layer
                elif layer.name() == "forests: latest statistics":
                    run.latest = layer
            if event_date is not None and run.latest is not None and run.table is not None:
                run.change = self._add_change(run, spec, event_date)
            if event_date is not None:
                run.hexagon_change = self._add_hexagon_change(run, spec, result, event_date)
            tidy_run(run.group, result.get("collections", []), spec.get("indices", []))
            mark_group_outputs(run.group, KIND)
            if not keep:
                run.replaced = replace_previous_runs(KIND, run.group)
        finally:
            if canvas is not None:
                canvas.freeze(False)
        if canvas is not None:
            controller = temporal_controller(canvas)
            if configure_temporal(controller, run.periods, spec.get("period", "month")):
                remember_temporal(controller, QgsProject.instance())
            canvas.refresh()
        if run.group is not None:  # one datum transformation, chosen now, kept in the project
            register_transformations(
                [QgsProject.instance().crs()]
                + [layer.crs() for layer in QgsProject.instance().mapLayers().values()],
                QgsProject.instance())
        self.run = run
        return run

    def _add_change(self, run: RunLayers, spec: Dict, event: date) -> Optional[QgsVectorLayer]:
        found = latest_field(run.latest, spec.get("indices", []))
        if found is None:
            return None
        layer = change_layer(run.latest, run.table, spec.get("id_field") or "forest_id",
                             found[1], event)
        if layer is None:
            return None
        layer = saved_beside_run(layer, spec.get("output_dir"), "forests_change.gpkg")
        from .storm_layers import label_layer, title_expression

        label_layer(layer, f"{title_expression(layer, spec.get('id_field') or 'forest_id')}"
                           f" || '\\n' || format_number(\"{found[1]}_change\", 2)")
        QgsProject.instance().addMapLayer(layer, False)
        run.group.insertLayer(0, layer)
        node = run.group.findLayer(run.latest.id())
        if node is not None:
            node.setItemVisibilityChecked(False)  # one polygon style at a time
        return layer

    def _add_hexagon_change(self, run: RunLayers, spec: Dict, result: Dict,
                            event: date) -> Optional[QgsVectorLayer]:
        """The hexagons' change since the event, like the forests' (one sensor for all)."""
        inputs = hexagon_inputs(run, spec, result)
        if inputs is None:
            return None
        latest, table, index = inputs
        layer = change_layer(latest, table, HEX_ID_FIELD, index, event)
        if layer is None:
            return None
        layer.setName(layer.name().replace("forests:", "hexagons:", 1))
        layer = saved_beside_run(layer, spec.get("output_dir"), "hexagons_change.gpkg")
        return place_hexagon_change(run, layer, latest, index)
