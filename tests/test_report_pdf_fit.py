"""The storm report's page fits its content: with 1 to 6 damage classes every legend label is
whole, inside the page and the legend's box, and the legend, map, table title, table and sources
do not overlap (the legend once ran 15-118 mm off an A4 page)."""

import shutil
from pathlib import Path

import numpy as np
import pytest
from qgis.core import QgsProject, QgsVectorLayer
from qgis.PyQt.QtCore import QRectF
from qgis.PyQt.QtGui import QColor

from raster_collect_plugin.core.storm import class_legend
from raster_collect_plugin.gui.print_layout import export_pdf, fill_layout, load_template
from raster_collect_plugin.gui.report_content import storm_content
from raster_collect_plugin.gui.report_fit import item_rect, wrap_label
from tests.test_report_pdf import page_pixels, storm_folder  # noqa: F401 (fixture)

DPI = 100  # page_pixels' resolution
ALL_SIX = ["severe", "moderate", "light", "none", "unknown", "not stocked before event"]


def with_classes(storm_folder: Path, target: Path, classes) -> Path:  # noqa: F811
    """A copy of the storm result whose forests, in rank order, have ``classes``."""
    target.mkdir(parents=True, exist_ok=True)
    for name in ("storm_damage.gpkg", "storm_metadata.json"):
        shutil.copy(storm_folder / name, target / name)
    layer = QgsVectorLayer(f"{target / 'storm_damage.gpkg'}|layername=storm_damage", "s", "ogr")
    position = layer.fields().names().index("damage_class")
    ranked = sorted(layer.getFeatures(), key=lambda f: f["rank"])
    assert layer.dataProvider().changeAttributeValues(
        {f.id(): {position: c} for f, c in zip(ranked, classes)})
    del layer
    return target / "storm_damage.gpkg"


def overlap(a: QRectF, b: QRectF) -> bool:
    both = a.intersected(b)
    return both.width() > 0.01 and both.height() > 0.01


def test_wrapped_labels_break_at_spaces_and_keep_numbers_with_their_units():
    label = "moderate: 10 % - 50 % damaged (or 5 % - 10 % with trees down: mean NDVI loss >= 0.3)"
    lines = wrap_label(label, 20).split("\n")
    assert " ".join(lines) == label and all(len(line) <= 20 for line in lines)
    assert not any(line.endswith(("10", "5", ">=")) or line.startswith("%") for line in lines)
    assert wrap_label("severe", 3) == "severe"  # a long word is never cut


@pytest.mark.parametrize("classes", [["moderate"] * 6, None, ALL_SIX],
                         ids=["1 class", "2 classes", "6 classes"])
def test_every_item_lies_inside_the_page_and_nothing_overlaps(
        storm_folder, tmp_path, qgis_new_project, classes):  # noqa: F811
    source = storm_folder / "storm_damage.gpkg"
    if classes:
        source = with_classes(storm_folder, tmp_path / "storm", classes)
    layer = QgsVectorLayer(f"{source}|layername=storm_damage", "storm damage", "ogr")
    present = {str(f["damage_class"]) for f in layer.getFeatures()}
    assert len(present) == len(set(classes or ["severe", "none"]))
    template = load_template(QgsProject.instance())
    box = item_rect(template.itemById("legend"))  # the legend's column: 185-287 mm
    layout = load_template(QgsProject.instance())
    shown = fill_layout(layout, storm_content(layer, None))
    pdf = export_pdf(layout, tmp_path / "storm.pdf")  # the legend takes its size when drawn
    # the subtitle counts every class present, "unknown" and "not stocked" included
    subtitle = layout.itemById("subtitle").currentText()
    for name in present:
        count = sum(1 for f in layer.getFeatures() if f["damage_class"] == name)
        assert f"{count} {name}" in subtitle, subtitle

    page = layout.pageCollection().page(0)
    page_rect = page.mapRectToScene(page.rect())
    assert (page_rect.width(), page_rect.height()) == (297, 210)
    rects = {i: item_rect(layout.itemById(i)) for i in
             ("title", "subtitle", "map", "north_arrow", "scale_bar", "legend",
              "table_title", "ranked_table", "sources")}
    for item_id, rect in rects.items():
        assert page_rect.contains(rect), f"{item_id} {rect} runs off the page"
    for item_id in ("legend", "table_title", "ranked_table"):
        rect = rects[item_id]
        assert box.left() <= rect.left() and rect.right() <= box.right() + 0.01, \
            f"{item_id} {rect} leaves its box {box}"
    for first, second in (("legend", "map"), ("legend", "table_title"),
                          ("legend", "ranked_table"), ("legend", "sources"),
                          ("table_title", "ranked_table"), ("ranked_table", "sources"),
                          ("ranked_table", "map"), ("subtitle", "legend")):
        assert not overlap(rects[first], rects[second]), f"{first} overlaps {second}"
    # every ranked forest is in the table's frame: none cut off by the legend above it
    table = layout.itemById("ranked_table").multiFrame()
    assert len(table.contents()) == 6 and table.totalHeight() <= rects["ranked_table"].height()

    # the legend lists each class shown, its whole label (wrapped, not cut)
    legend = layout.itemById("legend")
    node = legend.model().rootGroup().findLayer(shown)
    labels = [n.data(0).replace("\n", " ") for n in legend.model().layerLegendNodes(node)]
    assert labels == [label for name, label, _ in class_legend() if name in present]
    # ... drawn inside the legend's rectangle: each class's colour is in it on the page
    _, pixels = page_pixels(pdf, tmp_path / "page.png")
    legend_rect = rects["legend"]
    inside = pixels[int(legend_rect.top() * DPI / 25.4):int(legend_rect.bottom() * DPI / 25.4),
                    int(legend_rect.left() * DPI / 25.4):int(legend_rect.right() * DPI / 25.4)]
    for name, _, colour in class_legend():
        if name in present:
            rgb = np.array(QColor(colour).getRgb()[:3])
            close = np.all(np.abs(inside.astype(int) - rgb) <= 12, axis=2)
            assert close.sum() > 50, f"no {name} patch inside the legend"


def test_the_sources_note_is_left_aligned_not_justified(qgis_new_project):
    """Justified, its wrapped lines spread 'Outputs:' and a long path a third of the page
    apart ('Outputs:          /root/Documents/...')."""
    from qgis.PyQt.QtCore import Qt

    layout = load_template(QgsProject.instance())
    assert layout.itemById("sources").hAlign() == Qt.AlignmentFlag.AlignLeft
