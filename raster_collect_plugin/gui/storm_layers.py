"""How storm damage looks in every door (dock and Processing): one categorised fill per damage
class, in the words and colours of ``core/storm/classes.py``, and labels with the forest's id,
name and damaged hectares at compartment scales (main thread only)."""

from __future__ import annotations

from typing import Optional

from qgis.core import (
    QgsCategorizedSymbolRenderer,
    QgsEditorWidgetSetup,
    QgsFillSymbol,
    QgsPalLayerSettings,
    QgsRasterLayer,
    QgsRendererCategory,
    QgsTextBufferSettings,
    QgsTextFormat,
    QgsVectorLayer,
    QgsVectorLayerSimpleLabeling,
)
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtGui import QColor, QFont

from ..core.outputs import CHANGE_COLOURS
from ..core.storm import class_legend
from ..qgis_compat import qgis_enum
from .layers import pseudocolour

# labels are drawn from this scale in (1:50 000 shows a plantation block of compartments;
# further out the labels would hide the colours); hexagons are smaller: from 1:15 000
FOREST_LABELS_FROM = 50_000
HEXAGON_LABELS_FROM = 15_000
CHANGE_RANGE = (-0.5, 0.5)  # dNDVI rasters: a fixed ramp, losses red (negative), gains green


def damage_renderer(thresholds=None, opacity: float = 1.0) -> QgsCategorizedSymbolRenderer:
    """Categorised fill by ``damage_class``, legend entries saying what each class means."""
    categories = []
    for name, label, colour in class_legend(thresholds):
        symbol = QgsFillSymbol.createSimple({"color": colour, "outline_color": "#333333",
                                             "outline_width": "0.3"})
        symbol.setOpacity(opacity)
        categories.append(QgsRendererCategory(name, symbol, label))
    return QgsCategorizedSymbolRenderer("damage_class", categories)


def label_expression(layer: QgsVectorLayer, id_field: str) -> str:
    """``<id> <name>`` (name when the layer has one) over ``<damaged> ha``."""
    return (f"{title_expression(layer, id_field)} || '\\n' || if(\"damaged_ha\" IS NULL, "
            "'- ha', format_number(\"damaged_ha\", 1) || ' ha damaged')")


def label_layer(layer: QgsVectorLayer, expression: str,
                from_scale: float = FOREST_LABELS_FROM) -> None:
    """Labels of ``expression`` (white-buffered, centred) visible from ``from_scale`` (1:n)
    in, never further out (they would hide the colours)."""
    settings = halo_labels(expression)
    settings.scaleVisibility = True
    settings.minimumScale = float(from_scale)  # the most zoomed-out scale showing labels
    settings.maximumScale = 0.0  # no limit zooming in
    layer.setLabeling(QgsVectorLayerSimpleLabeling(settings))
    layer.setLabelsEnabled(True)


def halo_labels(expression: str, colour: str = "#111111", halo: float = 0.8,
                font: Optional[QFont] = None) -> QgsPalLayerSettings:
    """Centred 8 pt labels of ``expression`` in ``colour`` with a white halo (buffer) of
    ``halo`` mm, so they read over any imagery."""
    settings = QgsPalLayerSettings()
    settings.isExpression = True
    settings.fieldName = expression
    settings.placement = qgis_enum("Qgis.LabelPlacement.OverPoint")
    text = QgsTextFormat()
    if font is not None:
        text.setFont(font)
    text.setSize(8)
    text.setColor(QColor(colour))
    buffer = QgsTextBufferSettings()
    buffer.setEnabled(True)
    buffer.setSize(halo)
    buffer.setColor(QColor("#ffffff"))
    text.setBuffer(buffer)
    settings.setFormat(text)
    return settings


def label_damage_layer(layer: QgsVectorLayer, id_field: str,
                       from_scale: float = FOREST_LABELS_FROM) -> None:
    """Id and name over damaged ha, from ``from_scale`` in."""
    label_layer(layer, label_expression(layer, id_field), from_scale)


def title_expression(layer: QgsVectorLayer, id_field: str) -> str:
    """``<id> <name>`` (the name when the layer has one)."""
    title = f'"{id_field}"'
    if "name" in layer.fields().names():
        title += " || if(\"name\" IS NULL OR \"name\" = '', '', ' ' || \"name\")"
    return title


def style_damage_layer(layer: QgsVectorLayer, id_field: str, *, thresholds=None,
                       from_scale: float = FOREST_LABELS_FROM, opacity: float = 1.0) -> None:
    """Classes, labels and an attribute table sorted worst first (by rank)."""
    layer.setRenderer(damage_renderer(thresholds, opacity))
    label_damage_layer(layer, id_field, from_scale)
    if layer.fields().indexOf("rank") >= 0:
        rank_first_table(layer, id_field)
    layer.triggerRepaint()


# the ranked table's first columns, and the decimals each number is shown with
FIRST_COLUMNS = ("rank", "{id}", "name", "damage_class", "damaged_ha", "damaged_fraction",
                 "loss_ndvi", "dNDVI", "evidence", "area_ha")
DECIMALS = {"damaged_ha": 1, "area_ha": 1, "loss_ndvi": 2, "dNDVI": 2, "loss_vh_db": 1,
            "dVH_dB": 1, "pre_event_ndvi": 2, "clear_obs_before": 1, "clear_obs_after": 1,
            "radar_obs_after": 1}


def rank_first_table(layer: QgsVectorLayer, id_field: str) -> None:
    """The attribute table as the ranked table: sorted by rank, the verdict's columns first,
    numbers with sensible decimals (fractions: 2) instead of 75.4672285..."""
    config = layer.attributeTableConfig()
    config.update(layer.fields())  # a new layer's config has no columns yet
    config.setSortExpression('"rank"')
    config.setSortOrder(Qt.SortOrder.AscendingOrder)
    first = [c.format(id=id_field) for c in FIRST_COLUMNS]
    columns = config.columns()
    columns.sort(key=lambda c: first.index(c.name) if c.name in first else len(first))
    config.setColumns(columns)
    layer.setAttributeTableConfig(config)
    for index, field in enumerate(layer.fields()):
        decimals = DECIMALS.get(field.name(), 2 if field.name().endswith("fraction") else None)
        if decimals is not None:
            layer.setEditorWidgetSetup(index, QgsEditorWidgetSetup(
                "Range", {"Precision": decimals, "Min": -1e12, "Max": 1e12}))


def style_change_raster(layer: QgsRasterLayer, band: int = 1,
                        value_range: Optional[tuple] = None) -> None:
    """A change band (after minus before): fixed diverging ramp, losses (negative) red."""
    low, high = value_range or CHANGE_RANGE
    pseudocolour(layer, band, low, high, [QColor(c) for c in CHANGE_COLOURS], "{:+.2f}")
