"""A one-page HTML report of a run, the page a forest manager forwards: the map of the
forests' classes (change since the event, or latest values) over the latest composite, the
legend, the forests ranked worst first, and their time series. Self-contained (images
embedded), written atomically."""

from __future__ import annotations

import base64
import html
import io
import os
import uuid
from datetime import date, datetime
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from qgis.core import QgsMapRendererParallelJob, QgsMapSettings, QgsRectangle, QgsVectorLayer
from qgis.PyQt.QtCore import QBuffer, QByteArray, QIODevice, QSize
from qgis.PyQt.QtGui import QColor

from ..core.outputs import change_classes, classes, index_display
from .chart import draw_series
from .layers import latest_field
from .results import RunLayers, table_points

RANKED_ROWS = 25  # rows of the ranked table; the chart shows the worst few
CHART_FORESTS = 6


def _png_data(image) -> str:
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    return base64.b64encode(bytes(data)).decode("ascii")


def render_map(layers: List, extent: QgsRectangle, crs, width: int = 900,
               height: int = 620) -> str:
    """The layers (top first) rendered to a base64 PNG."""
    settings = QgsMapSettings()
    settings.setLayers(layers)
    settings.setDestinationCrs(crs)
    settings.setOutputSize(QSize(width, height))
    settings.setBackgroundColor(QColor("white"))
    settings.setExtent(extent)
    job = QgsMapRendererParallelJob(settings)
    job.start()
    job.waitForFinished()
    return _png_data(job.renderedImage())


def ranking(run: RunLayers, id_field: str, index: str, event: Optional[date]
            ) -> Tuple[List[str], List[Tuple]]:
    """(header, rows) worst first: by change since the event when there is one, else by the
    latest value."""
    if run.change is not None:
        header = [id_field, f"{index} before", f"{index} after", "change", "class"]
        rows = []
        for feature in run.change.getFeatures():
            change = feature[f"{index}_change"]
            if change is None or change != change or str(change) == "NULL":
                continue
            rows.append((feature[id_field], feature[f"{index}_before"],
                         feature[f"{index}_after"], change, _class_of(change, change_classes())))
        rows.sort(key=lambda r: r[3])
        return header, rows
    field = (latest_field(run.latest, [index]) or (None,))[0]
    period = (latest_field(run.latest, [index], "period") or (None,))[0]
    header = [id_field, "period", f"latest {index} mean", "class"]
    rows = []
    for feature in run.latest.getFeatures():
        value = feature[field] if field else None
        if value is None or str(value) == "NULL":
            continue
        rows.append((feature[id_field], feature[period] if period else "", value,
                     _class_of(value, classes(index_display(index)))))
    rows.sort(key=lambda r: r[2])
    return header, rows


def _class_of(value: float, rows) -> str:
    for lower, upper, label, _ in rows:
        if lower < value <= upper or (value == lower == rows[0][0]):
            return label
    return ""


def chart_png(run: RunLayers, id_field: str, index: str, forests: List, event: Optional[date]
              ) -> str:
    """The time series of ``forests`` (matplotlib Agg) as a base64 PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    wanted = {str(f) for f in forests}
    series = {key: points for key, points in table_points(run.table, id_field, index).items()
              if key[0] in wanted}
    figure = Figure(figsize=(9, 3.6), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    draw_series(figure.add_subplot(1, 1, 1), series, index=index, event_date=event,
                title=f"{index} median of the forests ranked first (hollow: cloudy)")
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return base64.b64encode(out.getvalue()).decode("ascii")


def write_run_report(run: RunLayers, spec: Dict, result: Dict, destination: Path, *,
                     event_date: Optional[date] = None) -> Path:
    """Write the run's one-page HTML report to ``destination``; returns its path."""
    id_field = spec.get("id_field") or "forest_id"
    index = (spec.get("indices") or ["NDVI"])[0]
    polygons: Optional[QgsVectorLayer] = run.change or run.latest
    if run.table is None or polygons is None:
        raise ValueError("the run has no statistics to report")
    header, rows = ranking(run, id_field, index, event_date if run.change else None)
    latest_raster = next((layer for layer in reversed(run.rasters)
                          if layer.name().startswith(f"{index} ")), None)
    extent = QgsRectangle(polygons.extent())
    extent.scale(1.08)
    layers = [polygons] + ([latest_raster] if latest_raster is not None else [])
    map_png = render_map(layers, extent, polygons.crs())
    legend = change_classes() if run.change is not None else classes(index_display(index))
    chart = chart_png(run, id_field, index, [r[0] for r in rows[:CHART_FORESTS]],
                      event_date if run.change else None)
    title = spec.get("run_name") or "raster-collect run"
    what = (f"{index} change since {event_date.isoformat()}" if run.change is not None
            else f"latest {index}")
    sources = ", ".join(sorted({c["collection"] for c in result.get("collections", [])}))
    table_rows = "\n".join(
        "<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>"
        for row in rows[:RANKED_ROWS])
    legend_rows = "".join(
        f'<li><span class="swatch" style="background:{colour}"></span>{html.escape(label)}</li>'
        for _, _, label, colour in legend)
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body{{font-family:sans-serif;margin:24px;color:#263238;max-width:960px}}
h1{{font-size:20px;margin:0 0 4px}} h2{{font-size:15px;margin:18px 0 6px}}
.meta{{color:#546e7a;font-size:13px}} img{{max-width:100%;border:1px solid #cfd8dc}}
table{{border-collapse:collapse;font-size:13px}} td,th{{border:1px solid #cfd8dc;padding:3px 8px;
text-align:right}} th{{background:#eceff1}} ul.legend{{list-style:none;padding:0;display:flex;
flex-wrap:wrap;gap:12px;font-size:13px}} .swatch{{display:inline-block;width:14px;height:14px;
margin-right:5px;vertical-align:middle;border:1px solid #90a4ae}}
</style></head><body>
<h1>{html.escape(title)}: {html.escape(what)}</h1>
<p class="meta">{len(rows)} forests · {html.escape(spec.get("start", ""))} to
{html.escape(spec.get("end", ""))} · {html.escape(sources)} · cloud-masked
{html.escape(spec.get("period", "month"))}ly {html.escape(spec.get("method", "median"))}
composites · written {datetime.now().strftime("%Y-%m-%d %H:%M")} by raster-collect</p>
<h2>Map: {html.escape(what)} over the latest {html.escape(index)} composite</h2>
<img alt="map" src="data:image/png;base64,{map_png}">
<ul class="legend">{legend_rows}</ul>
<h2>Forests ranked{" by change (worst first)" if run.change is not None else
" by latest value (lowest first)"}</h2>
<table><tr>{"".join(f"<th>{html.escape(h)}</th>" for h in header)}</tr>
{table_rows}</table>
<h2>Time series</h2>
<img alt="chart" src="data:image/png;base64,{chart}">
<p class="meta">Outputs: {html.escape(str(result.get("output_dir", "")))}</p>
</body></html>
"""
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    # not mkstemp (always 0600): a new file gets the mode (0666 - umask) every output has
    temporary = destination.with_name(f".report-{os.getpid()}-{uuid.uuid4().hex[:8]}.html")
    try:
        with open(temporary, "x", encoding="utf-8") as stream:
            stream.write(page)
        os.replace(temporary, destination)
    finally:
        temporary.unlink(missing_ok=True)
    return destination


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return html.escape(str(value))
