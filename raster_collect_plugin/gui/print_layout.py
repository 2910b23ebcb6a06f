"""The run's print layout: the template shipped with the plugin (``resources/report_layout.qpt``,
made by ``tools/make_report_layout.py``) filled with a storm or monitoring result and exported
to PDF, the page a forester sends to the manager.

The template's items are found by id (``map``, ``legend``, ``scale_bar``, ``north_arrow``,
``ranked_table``, ``chart``...); its texts are layout variables (``@rc_title``...), so a user
who edits the template in the layout designer keeps the filling."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

from qgis.core import (
    QgsApplication,
    QgsCategorizedSymbolRenderer,
    QgsExpressionContextUtils,
    QgsGraduatedSymbolRenderer,
    QgsLayoutExporter,
    QgsLayoutFrame,
    QgsLayoutItemAttributeTable,
    QgsLayoutItemLegend,
    QgsLayoutItemMap,
    QgsLayoutItemPicture,
    QgsLayoutItemScaleBar,
    QgsLayoutTableColumn,
    QgsLegendRenderer,
    QgsLegendStyle,
    QgsMapLayer,
    QgsPrintLayout,
    QgsProject,
    QgsReadWriteContext,
    QgsRectangle,
    QgsVectorLayer,
    QgsVectorLayerSimpleLabeling,
)
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtGui import QFont
from qgis.PyQt.QtXml import QDomDocument

from ..paths import resource_path
from .report_fit import fit_legend, fit_table_width, table_below
from .storm_layers import halo_labels

TEMPLATE_NAME = "report_layout.qpt"
ITEM_IDS = ("title", "subtitle", "map", "north_arrow", "scale_bar", "legend", "ranked_table",
            "table_title", "chart", "sources")
NORTH_ARROW = "arrows/NorthArrow_02.svg"


@dataclass
class ReportContent:
    """What one page shows. ``polygons`` is drawn on top, labelled with ``label_expression``
    and listed in the ranked table (``columns``: (expression, heading), sorted by
    ``sort_expression``); ``background`` layers are drawn under it."""

    title: str
    subtitle: str
    polygons: QgsVectorLayer
    label_expression: str
    columns: Sequence[Tuple[str, str]]
    sort_expression: str
    sort_ascending: bool = True
    table_title: str = "Forests ranked"
    legend_title: str = ""
    sources: str = ""
    chart_png: Optional[Path] = None
    background: List[QgsMapLayer] = field(default_factory=list)
    table_filter: str = ""
    max_rows: int = 12


def template_path() -> Path:
    """The shipped template (beside the plugin when packaged, ``resources/`` in a checkout)."""
    return resource_path(TEMPLATE_NAME)


def load_template(project: QgsProject) -> QgsPrintLayout:
    """A new layout made from the shipped template (not added to the project)."""
    document = QDomDocument()
    document.setContent(template_path().read_text(encoding="utf-8"))
    layout = QgsPrintLayout(project)
    _, loaded = layout.loadFromTemplate(document, QgsReadWriteContext())
    if not loaded:
        raise ValueError(f"the print layout template {template_path()} cannot be read")
    return layout


def _item(layout: QgsPrintLayout, item_id: str, kind):
    item = layout.itemById(item_id)
    if not isinstance(item, kind):
        raise ValueError(f"the print layout template has no {item_id!r} item")
    return item


def _opaque(symbol):
    """``symbol`` with opaque fills: on paper a class colour must not mix with what lies
    beneath (a half-transparent red over a green raster reads as the next class)."""
    symbol = symbol.clone()
    symbol.setOpacity(1.0)
    for position in range(symbol.symbolLayerCount()):
        fill = symbol.symbolLayer(position)
        colour = fill.color()
        colour.setAlpha(255)
        fill.setColor(colour)
    return symbol


def opaque_classes(layer: QgsVectorLayer) -> None:
    """Every class of the layer's graduated or categorised renderer drawn opaque."""
    renderer = layer.renderer()
    if isinstance(renderer, QgsGraduatedSymbolRenderer):
        for position, row in enumerate(renderer.ranges()):
            renderer.updateRangeSymbol(position, _opaque(row.symbol()))
    elif isinstance(renderer, QgsCategorizedSymbolRenderer):
        for position, category in enumerate(renderer.categories()):
            renderer.updateCategorySymbol(position, _opaque(category.symbol()))
    layer.setOpacity(1.0)


def labelled_copy(layer: QgsVectorLayer, expression: str) -> QgsVectorLayer:
    """A copy of ``layer`` (same source and style, opaque) labelled with ``expression``: the
    user's layer keeps its own look."""
    copy = layer.clone()
    opaque_classes(copy)
    settings = halo_labels(expression, "#101010", 1.0, QFont("DejaVu Sans", 8, QFont.Weight.Bold))
    copy.setLabeling(QgsVectorLayerSimpleLabeling(settings))
    copy.setLabelsEnabled(True)
    return copy


def fill_layout(layout: QgsPrintLayout, content: ReportContent) -> QgsVectorLayer:
    """Put ``content`` into the template's items; returns the labelled copy drawn on the map
    (keep a reference to it until the layout is exported)."""
    for name, value in (("rc_title", content.title), ("rc_subtitle", content.subtitle),
                        ("rc_sources", content.sources),
                        ("rc_table_title", content.table_title)):
        QgsExpressionContextUtils.setLayoutVariable(layout, name, value)
    shown = labelled_copy(content.polygons, content.label_expression)
    layers = [shown] + list(content.background)
    map_item = _item(layout, "map", QgsLayoutItemMap)
    map_item.setLayers(layers)
    map_item.setKeepLayerSet(True)
    map_item.setCrs(content.polygons.crs())
    extent = QgsRectangle(content.polygons.extent())
    extent.scale(1.1)
    map_item.zoomToExtent(extent)  # keeps the item's size (setExtent would resize it)

    north = _item(layout, "north_arrow", QgsLayoutItemPicture)
    if not Path(north.picturePath()).is_file():
        found = [Path(p) / NORTH_ARROW for p in QgsApplication.svgPaths()
                 if (Path(p) / NORTH_ARROW).is_file()]
        if found:
            north.setPicturePath(str(found[0]))
    north.setLinkedMap(map_item)
    scale = _item(layout, "scale_bar", QgsLayoutItemScaleBar)
    scale.setLinkedMap(map_item)
    scale.applyDefaultSize()  # segment sizes that suit the map's scale

    legend = _item(layout, "legend", QgsLayoutItemLegend)
    legend.setLinkedMap(map_item)
    legend.setAutoUpdateModel(False)
    legend.setTitle(content.legend_title)
    legend.setLegendFilterByMapEnabled(True)  # only the classes the map shows
    root = legend.model().rootGroup()
    root.clear()
    # the forests' classes only: the composite beneath is context, not a legend entry
    QgsLegendRenderer.setNodeLegendStyle(root.addLayer(shown), QgsLegendStyle.Style.Hidden)

    frame = _item(layout, "ranked_table", QgsLayoutFrame)
    table = frame.multiFrame()
    if not isinstance(table, QgsLayoutItemAttributeTable):
        raise ValueError("the print layout template's 'ranked_table' is not an attribute table")
    table.setVectorLayer(shown)
    columns = []
    for expression, heading in content.columns:
        column = QgsLayoutTableColumn(heading)
        column.setAttribute(expression)
        columns.append(column)
    table.setColumns(columns)
    order = QgsLayoutTableColumn("order")
    order.setAttribute(content.sort_expression)
    order.setSortOrder(Qt.SortOrder.AscendingOrder if content.sort_ascending
                       else Qt.SortOrder.DescendingOrder)
    table.setSortColumns([order])
    table.setFilterFeatures(bool(content.table_filter))
    table.setFeatureFilter(content.table_filter)
    table.setMaximumNumberOfFeatures(content.max_rows)
    table.refresh()

    chart = _item(layout, "chart", QgsLayoutItemPicture)
    chart.setPicturePath(str(content.chart_png) if content.chart_png else "")
    chart.setVisibility(content.chart_png is not None)
    layout.refresh()
    # every label whole and inside its box: the legend wrapped to its box's width, the table
    # below the legend's real height and no wider than its box
    fit_legend(layout, legend, shown)
    table_title = layout.itemById("table_title")
    table_below(legend, table_title, frame)
    fit_table_width(table, table_title.rect().width())  # the title spans the table's box
    return shown


def export_pdf(layout: QgsPrintLayout, destination: Path) -> Path:
    """The layout as a PDF (text kept as text); raises OSError when it cannot be written."""
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    settings = QgsLayoutExporter.PdfExportSettings()
    settings.dpi = 200
    settings.rasterizeWholeImage = False
    outcome = QgsLayoutExporter(layout).exportToPdf(str(destination), settings)
    if outcome != QgsLayoutExporter.ExportResult.Success or not destination.is_file():
        raise OSError(f"the PDF could not be written to {destination} (QGIS export result "
                      f"{int(outcome)})")
    return destination


def write_report_pdf(content: ReportContent, destination: Path,
                     project: Optional[QgsProject] = None) -> Path:
    """Fill the shipped template with ``content`` and export it to ``destination``."""
    layout = load_template(project or QgsProject.instance())
    shown = fill_layout(layout, content)
    try:
        return export_pdf(layout, destination)
    finally:
        del shown
