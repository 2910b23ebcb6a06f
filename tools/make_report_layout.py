"""Write the print layout template the plugin ships (``resources/report_layout.qpt``).

The template is the layout's design (A4 landscape: title, map with north arrow and scale bar,
legend, ranked table, chart, sources and dates); ``gui/print_layout.py`` fills it with a run's
layers and texts through layout variables (``@rc_title``...). Edit this script, run it
(``python tools/make_report_layout.py``) and commit the template; or edit the template in QGIS's
layout designer and save it over the file (keep the item ids).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "resources" / "report_layout.qpt"


def design(layout) -> None:
    """Put the items on an empty A4 landscape page (positions in millimetres)."""
    from qgis.core import (
        QgsLayoutFrame,
        QgsLayoutItemAttributeTable,
        QgsLayoutItemLabel,
        QgsLayoutItemLegend,
        QgsLayoutItemMap,
        QgsLayoutItemPicture,
        QgsLayoutItemScaleBar,
        QgsLayoutMultiFrame,
        QgsLayoutPoint,
        QgsLayoutSize,
        QgsLayoutTableColumn,
        QgsLegendStyle,
        QgsRectangle,
    )
    from qgis.PyQt.QtGui import QColor, QFont

    def place(item, item_id, x, y, width, height):
        item.setId(item_id)
        layout.addLayoutItem(item)
        item.attemptMove(QgsLayoutPoint(x, y))
        item.attemptResize(QgsLayoutSize(width, height))
        return item

    def label(item_id, text, x, y, width, height, size, bold=False, colour="#263238"):
        item = QgsLayoutItemLabel(layout)
        item.setText(text)
        item.setFont(QFont("DejaVu Sans", size, QFont.Weight.Bold if bold else
                           QFont.Weight.Normal))
        item.setFontColor(QColor(colour))
        return place(item, item_id, x, y, width, height)

    label("title", "[% @rc_title %]", 10, 6, 277, 9, 16, bold=True)
    label("subtitle", "[% @rc_subtitle %]", 10, 15, 277, 6, 10, colour="#546e7a")

    map_item = QgsLayoutItemMap(layout)
    map_item.setFrameEnabled(True)
    map_item.setKeepLayerSet(True)
    place(map_item, "map", 10, 23, 170, 118)
    map_item.setExtent(QgsRectangle(0, 0, 170, 118))  # a valid extent to zoom from

    north = QgsLayoutItemPicture(layout)
    north.setPicturePath("arrows/NorthArrow_02.svg")
    north.setLinkedMap(map_item)
    north.setBackgroundEnabled(True)
    north.setBackgroundColor(QColor(255, 255, 255, 200))
    place(north, "north_arrow", 167, 25, 11, 14)

    scale = QgsLayoutItemScaleBar(layout)
    scale.setStyle("Single Box")
    scale.setLinkedMap(map_item)
    scale.applyDefaultSize()
    scale.setUnitLabel("km")
    scale.setNumberOfSegments(2)
    scale.setNumberOfSegmentsLeft(0)
    scale.setBackgroundEnabled(True)
    scale.setBackgroundColor(QColor(255, 255, 255, 210))
    place(scale, "scale_bar", 12, 125, 55, 10)

    legend = QgsLayoutItemLegend(layout)
    legend.setTitle("")  # set by the plugin (a legend title takes no expression)
    legend.setLinkedMap(map_item)
    legend.setAutoUpdateModel(False)
    legend.setColumnCount(2)
    legend.setSplitLayer(True)
    legend.setSymbolWidth(6)
    legend.setSymbolHeight(4)
    legend.setBackgroundEnabled(False)
    for style, size, weight in ((QgsLegendStyle.Style.Title, 10, QFont.Weight.Bold),
                                (QgsLegendStyle.Style.Subgroup, 8, QFont.Weight.Bold),
                                (QgsLegendStyle.Style.SymbolLabel, 8, QFont.Weight.Normal)):
        legend.rstyle(style).setFont(QFont("DejaVu Sans", size, weight))
    place(legend, "legend", 185, 23, 102, 30)

    table = QgsLayoutItemAttributeTable.create(layout)
    table.setResizeMode(QgsLayoutMultiFrame.ResizeMode.UseExistingFrames)
    table.setColumns([QgsLayoutTableColumn("id")])
    table.setMaximumNumberOfFeatures(12)
    table.setHeaderFontColor(QColor("#263238"))
    font = QFont("DejaVu Sans", 7)
    table.setContentFont(font)
    table.setHeaderFont(QFont("DejaVu Sans", 7, QFont.Weight.Bold))
    table.setCellMargin(0.8)
    layout.addMultiFrame(table)
    frame = QgsLayoutFrame(layout, table)
    place(frame, "ranked_table", 185, 60, 102, 81)
    table.addFrame(frame)
    label("table_title", "[% @rc_table_title %]", 185, 55, 102, 5, 8, bold=True)

    chart = QgsLayoutItemPicture(layout)
    chart.setFrameEnabled(True)
    place(chart, "chart", 10, 144, 170, 60)

    label("sources", "[% @rc_sources %]", 185, 144, 102, 60, 7, colour="#37474f")


def main(destination: Path = TEMPLATE) -> Path:
    from qgis.core import QgsApplication, QgsPrintLayout, QgsProject, QgsReadWriteContext

    app = QgsApplication([], False)
    app.initQgis()
    layout = QgsPrintLayout(QgsProject.instance())
    layout.initializeDefaults()  # one A4 page
    from qgis.core import QgsLayoutSize

    layout.pageCollection().page(0).setPageSize(QgsLayoutSize(297, 210))
    layout.setName("raster-collect report")
    design(layout)
    if not layout.saveAsTemplate(str(destination), QgsReadWriteContext()):
        raise OSError(f"cannot write {destination}")
    return destination


if __name__ == "__main__":
    print(main(Path(sys.argv[1]) if len(sys.argv) > 1 else TEMPLATE))
