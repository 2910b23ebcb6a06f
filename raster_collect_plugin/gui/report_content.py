"""What the print layout shows for a storm assessment or a monitoring run (``ReportContent``
for ``print_layout.write_report_pdf``): texts, the styled and labelled forests, the ranked
table's columns and the chart picture."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date, datetime
from pathlib import Path
from typing import Dict, List, Optional

from qgis.core import QgsCategorizedSymbolRenderer, QgsVectorLayer

from ..core.storm import CLASS_ORDER
from .print_layout import ReportContent

CHART_FORESTS = 10  # bars of the storm chart


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def damage_style(layer: QgsVectorLayer) -> None:
    """The damage classes' colours (the one renderer Processing also uses), unless the layer
    is already drawn by class."""
    renderer = layer.renderer()
    if isinstance(renderer, QgsCategorizedSymbolRenderer) and \
            renderer.classAttribute() == "damage_class":
        return
    layer.setRenderer(_damage_renderer())


def _damage_renderer():
    """The damage classes' renderer (one source: gui/storm_layers, shared with the dock and
    Processing)."""
    from .storm_layers import damage_renderer

    return damage_renderer()


def _class_colours() -> Dict[str, str]:
    """The damage classes' colours (one source: the renderer's categories)."""
    return {c.value(): c.symbol().color().name() for c in _damage_renderer().categories()}


def storm_id_field(layer: QgsVectorLayer) -> str:
    """The compartment id of a storm damage layer: its first column (the engine writes the
    forests' id first, then the forests' own columns, then the ranking's)."""
    names = [f.name() for f in layer.fields() if f.name() != "fid"]
    return names[0] if names else "fid"


def storm_metadata(layer: QgsVectorLayer) -> Dict:
    """``storm_metadata.json`` beside the layer's GeoPackage ({} when absent)."""
    path = Path(layer.source().split("|")[0]).with_name("storm_metadata.json")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def storm_chart(layer: QgsVectorLayer, id_field: str, destination: Path) -> Optional[Path]:
    """Bars of damaged hectares of the forests ranked first, in their class colours."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    colours = _class_colours()
    rows = sorted(((f["rank"], str(f[id_field]), f["damaged_ha"] or 0.0, f["damage_class"])
                   for f in layer.getFeatures() if f["rank"] is not None),
                  key=lambda r: r[0])[:CHART_FORESTS]
    if not rows:
        return None
    figure = Figure(figsize=(170 / 25.4, 60 / 25.4), dpi=200, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    axes.bar([r[1] for r in rows], [float(r[2]) for r in rows],
             color=[colours.get(str(r[3]), "#bdbdbd") for r in rows],
             edgecolor="#333333", linewidth=0.5)
    axes.set_ylabel("damaged ha", fontsize=8)
    axes.set_xlabel(id_field, fontsize=8)
    axes.tick_params(labelsize=7)
    axes.set_title("Damaged area of the forests ranked first (colour: damage class)",
                   fontsize=9)
    axes.grid(axis="y", alpha=0.3)
    figure.savefig(destination, format="png")
    return destination


def storm_content(layer: QgsVectorLayer, chart_png: Optional[Path], *,
                  title: str = "") -> ReportContent:
    """A storm damage layer (``storm_damage.gpkg``) as a page; ``chart_png`` is drawn under
    the map (``storm_chart`` makes one). The page draws a styled copy: ``layer`` keeps its
    look."""
    layer = layer.clone()
    id_field = storm_id_field(layer)
    names = layer.fields().names()
    metadata = storm_metadata(layer)
    event = metadata.get("event_date", "")
    counts = Counter(str(f["damage_class"]) for f in layer.getFeatures())
    hectares = sum(float(f["damaged_ha"] or 0.0) for f in layer.getFeatures())
    name = (f" || if({_quoted('name')} is not null, ' ' || {_quoted('name')}, '')"
            if "name" in names else "")
    label = (f"{_quoted(id_field)}{name} || if(\"damaged_ha\" > 0, '\\n' || "
             "format_number(\"damaged_ha\", 1) || ' ha', '')")
    columns = [("\"rank\"", "rank"), (_quoted(id_field), id_field)]
    if "name" in names:
        columns.append(("\"name\"", "name"))
    columns += [("\"damage_class\"", "class"),
                ("format_number(\"damaged_ha\", 1)", "damaged ha"),
                ("format_number(100 * \"damaged_fraction\", 0) || ' %'", "share")]
    windows = "; ".join(f"{w[0]} {w[1]} to {w[2]}" for w in metadata.get("windows", []))
    sensors = ", ".join(f"{s['collection']} ({s['evidence']})"
                        for s in metadata.get("sensors", []))
    thresholds = metadata.get("thresholds", {})
    classes = ", ".join(f"{counts[c]} {c}" for c in CLASS_ORDER if counts.get(c))
    sources = "\n".join(line for line in (
        f"Event: {event}" if event else "",
        f"Windows: {windows}" if windows else "",
        f"Sensors: {sensors}" if sensors else "",
        ("Classes by damaged share of the stand: light from "
         f"{thresholds['light_fraction']:.0%}, moderate from "
         f"{thresholds['moderate_fraction']:.0%}, severe from "
         f"{thresholds['severe_fraction']:.0%}") if thresholds else "",
        f"Result: {layer.source().split('|')[0]}",
        f"Made {datetime.now().strftime('%Y-%m-%d %H:%M')} by raster-collect",
    ) if line)
    damage_style(layer)
    return ReportContent(
        title=title or (f"Storm damage: event of {event}" if event else "Storm damage"),
        subtitle=f"{layer.featureCount()} forests · {classes} · {hectares:.1f} ha damaged",
        polygons=layer, label_expression=label, columns=columns,
        sort_expression="\"rank\"", table_title="Forests ranked by damage (worst first)",
        legend_title="Damage class", sources=sources, chart_png=chart_png)


def series_chart(run, id_field: str, index: str, forests: List, event: Optional[date],
                 destination: Path) -> Path:
    """The time series of ``forests`` drawn at the size of the page's chart frame
    (170 x 60 mm), so its lettering prints at its own size."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from .chart import draw_series
    from .results import table_points

    wanted = {str(f) for f in forests}
    series = {key: points for key, points in table_points(run.table, id_field, index).items()
              if key[0] in wanted}
    figure = Figure(figsize=(170 / 25.4, 60 / 25.4), dpi=200, layout="constrained")
    FigureCanvasAgg(figure)
    draw_series(figure.add_subplot(1, 1, 1), series, index=index, event_date=event,
                title=f"{index} median of the forests ranked first (hollow: cloudy)")
    figure.savefig(destination, format="png")
    return destination


def run_content(run, spec: Dict, result: Dict, event_date: Optional[date],
                chart_png: Path) -> ReportContent:
    """A monitoring run's results (``results.RunLayers``) as a page: the change since the
    event when there is one (else the latest values) over the latest composite, ranked worst
    first; the chart of the forests ranked first is written to ``chart_png``."""
    from .run_report import CHART_FORESTS as SERIES
    from .run_report import ranking

    id_field = spec.get("id_field") or "forest_id"
    index = (spec.get("indices") or ["NDVI"])[0]
    polygons = run.change or run.latest
    if run.table is None or polygons is None:
        raise ValueError("the run has no statistics to report")
    header, rows = ranking(run, id_field, index, event_date if run.change else None)
    chart_png = series_chart(run, id_field, index, [r[0] for r in rows[:SERIES]],
                             event_date if run.change else None, Path(chart_png))
    if run.change is not None:
        value = f"{index}_change"
        columns = [(_quoted(id_field), id_field),
                   (f"format_number({_quoted(f'{index}_before')}, 3)", f"{index} before"),
                   (f"format_number({_quoted(f'{index}_after')}, 3)", f"{index} after"),
                   (f"format_number({_quoted(value)}, 3)", "change")]
        what = f"{index} change since {event_date.isoformat()}" if event_date else \
            f"{index} change"
        table_title = "Forests ranked by change (worst first)"
    else:
        from .layers import latest_field

        value = (latest_field(polygons, [index]) or (f"{index}",))[0]
        columns = [(_quoted(id_field), id_field),
                   (f"format_number({_quoted(value)}, 3)", f"latest {index}")]
        what = f"latest {index}"
        table_title = "Forests ranked by latest value (lowest first)"
    latest_raster = next((layer for layer in reversed(run.rasters)
                          if layer.name().startswith(f"{index} ")), None)
    collections: List[str] = sorted({c["collection"] for c in result.get("collections", [])})
    sources = "\n".join((
        f"Period: {spec.get('start', '')} to {spec.get('end', '')}, cloud-masked "
        f"{spec.get('period', 'month')}ly {spec.get('method', 'median')} composites",
        f"Sources: {', '.join(collections) or 'n/a'}",
        f"Outputs: {result.get('output_dir', '')}",
        f"Made {datetime.now().strftime('%Y-%m-%d %H:%M')} by raster-collect"))
    return ReportContent(
        title=f"{spec.get('run_name') or 'raster-collect run'}: {what}",
        subtitle=f"{len(rows)} forests · {spec.get('start', '')} to {spec.get('end', '')}",
        polygons=polygons,
        label_expression=(f"{_quoted(id_field)} || '\\n' || "
                          f"format_number({_quoted(value)}, 2)"),
        columns=columns, sort_expression=_quoted(value), table_title=table_title,
        legend_title=what, sources=sources, chart_png=chart_png,
        background=[latest_raster] if latest_raster is not None else [],
        table_filter=f"{_quoted(value)} is not null")
