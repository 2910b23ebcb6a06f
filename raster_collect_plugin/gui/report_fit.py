"""Fitting a filled report page into the template's boxes, as a layout designer would: the
legend's labels wrapped (at word boundaries, a number kept with its unit) so the legend fits
its box's width in one column (two when that makes it much shorter); the ranked table moved
below the legend's real height; the table's widest columns wrapped so it fits its box's width.

Sizes are measured by QGIS itself (the legend is drawn once, then sized to its content), so
what is measured is what the PDF shows."""

from __future__ import annotations

import re
import textwrap
from typing import List, Optional, Tuple

from qgis.core import (
    QgsCategorizedSymbolRenderer,
    QgsGraduatedSymbolRenderer,
    QgsLayoutExporter,
    QgsLayoutFrame,
    QgsLayoutItem,
    QgsLayoutItemLegend,
    QgsLayoutPoint,
    QgsLayoutSize,
    QgsLayoutTable,
    QgsPrintLayout,
    QgsVectorLayer,
)
from qgis.PyQt.QtCore import QRectF, QSize

GAP = 2.0  # mm between the legend and the table's title, as the template has them
MIN_WRAP = 12  # characters: narrower legend lines would be harder to read than a taller legend
# two legend columns only when they make the legend this much shorter: one entry a line reads
# better
SHORTER = 0.75
MEASURE_DPI = 50  # the legend is drawn once at this resolution to learn its size
MIN_COLUMN = 15.0  # mm: a narrowed table column still holds a 10-letter word at 7 pt
_KEEP_TOGETHER = re.compile(r"(?<=\d) (?=%)|(?<=[<>=≥≤]) (?=\d)")  # "10 %", ">= 50"
_NBSP = "\u00a0"  # textwrap breaks at ASCII spaces only


def item_rect(item: QgsLayoutItem) -> QRectF:
    """The item's rectangle on the layout (mm from the page's top left corner)."""
    return item.mapRectToScene(item.rect())


def wrap_label(label: str, width: int) -> str:
    """``label`` in lines of at most ``width`` characters, broken at spaces only and never
    between a number and its unit or after a comparison sign; existing line breaks kept."""
    lines = []
    for line in _KEEP_TOGETHER.sub(_NBSP, label).split("\n"):
        lines += textwrap.wrap(line, width, break_long_words=False,
                               break_on_hyphens=False) or [""]
    return "\n".join(lines).replace(_NBSP, " ")


def class_labels(layer: QgsVectorLayer) -> List[str]:
    """The legend labels of the layer's categorised or graduated classes ([] otherwise)."""
    renderer = layer.renderer()
    if isinstance(renderer, QgsCategorizedSymbolRenderer):
        return [category.label() for category in renderer.categories()]
    if isinstance(renderer, QgsGraduatedSymbolRenderer):
        return [row.label() for row in renderer.ranges()]
    return []


def _set_class_labels(layer: QgsVectorLayer, labels: List[str]) -> None:
    renderer = layer.renderer()
    for position, label in enumerate(labels):
        if isinstance(renderer, QgsCategorizedSymbolRenderer):
            renderer.updateCategoryLabel(position, label)
        else:
            renderer.updateRangeLabel(position, label)


def legend_size(layout: QgsPrintLayout, legend: QgsLayoutItemLegend) -> Tuple[float, float]:
    """(width, height) of the legend sized to its content. QGIS sizes a legend only once it
    has been drawn (it needs the map's scale), so it is drawn once, small, first."""
    QgsLayoutExporter(layout).renderRegionToImage(item_rect(legend), QSize(), MEASURE_DPI)
    legend.adjustBoxSize()
    return legend.rect().width(), legend.rect().height()


def fit_legend(layout: QgsPrintLayout, legend: QgsLayoutItemLegend,
               layer: QgsVectorLayer) -> None:
    """Wrap the labels of ``layer``'s classes (the page's own copy) so the legend fits the
    width of its box in the template, in one column (two when that makes it a quarter
    shorter); the legend is then sized to its content (its height grows downwards)."""
    box_width = legend.rect().width()
    legend.setResizeToContents(True)
    node = legend.model().rootGroup().findLayer(layer)
    originals = class_labels(layer)
    if node is None or not originals:
        legend_size(layout, legend)
        return
    best: Optional[Tuple[float, int, int]] = None  # (height, columns, wrap width)
    for columns in (1, 2):
        legend.setColumnCount(columns)
        width = max(len(line) for label in originals for line in label.split("\n"))
        while True:
            _set_class_labels(layer, [wrap_label(label, width) for label in originals])
            legend.model().refreshLayerLegend(node)
            fitted_width, height = legend_size(layout, legend)
            if fitted_width <= box_width or width <= MIN_WRAP:
                break
            width = max(MIN_WRAP, min(width - 1, int(width * box_width / fitted_width)))
        if fitted_width <= box_width and (best is None or height < SHORTER * best[0]):
            best = (height, columns, width)
    _, columns, width = best or (0.0, 1, MIN_WRAP)
    legend.setColumnCount(columns)
    _set_class_labels(layer, [wrap_label(label, width) for label in originals])
    legend.model().refreshLayerLegend(node)
    legend_size(layout, legend)


def table_below(legend: QgsLayoutItem, title: QgsLayoutItem, frame: QgsLayoutFrame) -> None:
    """Move the table's title and frame down to ``GAP`` below the legend when the legend
    reaches them; the frame keeps its bottom edge (it loses height, never grows off its box)."""
    shift = item_rect(legend).bottom() + GAP - item_rect(title).top()
    if shift <= 0:
        return
    for item in (title, frame):
        rect = item_rect(item)
        item.attemptMove(QgsLayoutPoint(rect.left(), rect.top() + shift))
    rect = item_rect(frame)
    frame.attemptResize(QgsLayoutSize(rect.width(), max(rect.height() - shift, 0.0)))


def fit_table_width(table: QgsLayoutTable, width: float) -> None:
    """Narrow the table's widest column (then the next, never below ``MIN_COLUMN``), its text
    wrapped at spaces, when the table is wider than ``width`` mm (its box)."""
    table.refresh()
    if table.totalWidth() <= width:
        return
    columns = table.columns()
    total = table.totalWidth()
    natural = []  # each column's own text width: the table's width less it, set to 1 mm
    for column in columns:
        column.setWidth(1.0)
        table.setColumns(columns)
        natural.append(total - table.totalWidth() + 1.0)
        column.setWidth(0.0)
    excess = total - width
    fixed = [0.0] * len(columns)  # 0: the column keeps its own width
    for position in sorted(range(len(columns)), key=lambda p: -natural[p]):
        if excess <= 0 or natural[position] <= MIN_COLUMN:
            break
        fixed[position] = max(MIN_COLUMN, natural[position] - excess)
        excess -= natural[position] - fixed[position]
    table.setWrapBehavior(QgsLayoutTable.WrapBehavior.WrapText)
    for column, width_mm in zip(columns, fixed):
        column.setWidth(width_mm)
    table.setColumns(columns)
    table.refresh()
