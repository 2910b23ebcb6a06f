"""Turning job outputs into styled QGIS layers (main thread only)."""

from __future__ import annotations

from typing import Dict, List, Optional

from qgis.core import (
    QgsColorRampShader,
    QgsContrastEnhancement,
    QgsDateTimeRange,
    QgsGradientColorRamp,
    QgsGraduatedSymbolRenderer,
    QgsLayerTreeGroup,
    QgsProject,
    QgsRasterLayer,
    QgsRasterShader,
    QgsSingleBandGrayRenderer,
    QgsSingleBandPseudoColorRenderer,
    QgsVectorLayer,
)
from qgis.PyQt.QtCore import QDate, QDateTime, QTime
from qgis.PyQt.QtGui import QColor

# fixed display ranges so months and compartments compare at a glance
INDEX_RANGES = {"NDVI": (-0.2, 0.9), "EVI": (-0.2, 0.8), "NDMI": (-0.5, 0.6),
                "NBR": (-0.5, 0.8), "SAVI": (-0.2, 0.8), "NDWI": (-0.8, 0.4),
                "NDRE": (-0.2, 0.6), "VHVV": (0.0, 0.6), "VV": (-25.0, 0.0), "VH": (-30.0, -5.0)}
RED_YELLOW_GREEN = ("#a50026", "#fdae61", "#ffffbf", "#a6d96a", "#006837")


def ramp(colours=RED_YELLOW_GREEN) -> QgsGradientColorRamp:
    stops = len(colours) - 1
    gradient = QgsGradientColorRamp(QColor(colours[0]), QColor(colours[-1]))
    from qgis.core import QgsGradientStop

    gradient.setStops([QgsGradientStop(i / stops, QColor(c)) for i, c in
                       enumerate(colours[1:-1], start=1)])
    return gradient


def style_index_raster(layer: QgsRasterLayer, band: int, index: str) -> None:
    """Red-yellow-green pseudocolour over the index's fixed range."""
    low, high = INDEX_RANGES.get(index.upper(), (-1.0, 1.0))
    shader_function = QgsColorRampShader(low, high)
    shader_function.setColorRampType(QgsColorRampShader.Type.Interpolated)
    gradient = ramp()
    shader_function.setSourceColorRamp(gradient)
    values = [low + (high - low) * k / 4 for k in range(5)]
    items = [QgsColorRampShader.ColorRampItem(value, gradient.color(k / 4), f"{value:.2f}")
             for k, value in enumerate(values)]
    shader_function.setColorRampItemList(items)
    shader = QgsRasterShader()
    shader.setRasterShaderFunction(shader_function)
    renderer = QgsSingleBandPseudoColorRenderer(layer.dataProvider(), band, shader)
    renderer.setClassificationMin(low)
    renderer.setClassificationMax(high)
    layer.setRenderer(renderer)


def style_count_raster(layer: QgsRasterLayer, band: int, maximum: float = 6.0) -> None:
    """Greyscale for clear-observation counts."""
    renderer = QgsSingleBandGrayRenderer(layer.dataProvider(), band)
    enhancement = QgsContrastEnhancement(layer.dataProvider().dataType(band))
    enhancement.setContrastEnhancementAlgorithm(
        QgsContrastEnhancement.ContrastEnhancementAlgorithm.StretchToMinimumMaximum)
    enhancement.setMinimumValue(0)
    enhancement.setMaximumValue(maximum)
    renderer.setContrastEnhancement(enhancement)
    layer.setRenderer(renderer)


def period_range(label: str) -> Optional[QgsDateTimeRange]:
    """The month of a '2025-11' label as a temporal range (None for other period kinds)."""
    try:
        year, month = int(label[:4]), int(label[5:7])
    except ValueError:
        return None
    start = QDate(year, month, 1)
    return QgsDateTimeRange(QDateTime(start, QTime(0, 0)),
                            QDateTime(start.addMonths(1).addDays(-1), QTime(23, 59, 59)))


def add_composite_layers(group: QgsLayerTreeGroup, collection: Dict) -> List[QgsRasterLayer]:
    """One raster layer per index and period (band), styled, with temporal properties."""
    project = QgsProject.instance()
    added = []
    for index, path in collection["indices"].items():
        subgroup = group.addGroup(f"{collection['collection']} {index}")
        for band, label in enumerate(collection["periods"], start=1):
            layer = QgsRasterLayer(path, f"{index} {label}", "gdal")
            if not layer.isValid():
                continue
            style_index_raster(layer, band, index)
            span = period_range(label)
            if span is not None:
                temporal = layer.temporalProperties()
                temporal.setIsActive(True)
                temporal.setFixedTemporalRange(span)
            project.addMapLayer(layer, False)
            subgroup.addLayer(layer)
            added.append(layer)
        subgroup.setExpanded(False)
    counts = QgsRasterLayer(collection["clear_count"], f"{collection['collection']} clear "
                            "observations (latest period)", "gdal")
    if counts.isValid():
        style_count_raster(counts, counts.bandCount())
        project.addMapLayer(counts, False)
        group.addLayer(counts)
        node = group.findLayer(counts.id())
        if node is not None:
            node.setItemVisibilityChecked(False)
        added.append(counts)
    return added


def style_latest_layer(layer: QgsVectorLayer, field: str, index: str) -> None:
    """Graduated fill by the latest mean index, red (low) to green (high)."""
    renderer = QgsGraduatedSymbolRenderer(field)
    renderer.setSourceColorRamp(ramp())
    renderer.updateClasses(layer, QgsGraduatedSymbolRenderer.Mode.Jenks, 5)
    renderer.updateColorRamp(ramp())
    layer.setRenderer(renderer)


def add_zonal_layers(group: QgsLayerTreeGroup, files: Dict[str, str], indices: List[str]
                     ) -> List[QgsVectorLayer]:
    """The statistics table, and the forests (and hexagons, if computed) joined to their
    latest usable statistics."""
    project = QgsProject.instance()
    added = []
    table = QgsVectorLayer(f"{files['forests_gpkg']}|layername=zonal_statistics",
                           "zonal statistics", "ogr")
    if table.isValid():
        project.addMapLayer(table, False)
        group.addLayer(table)
        added.append(table)
    for key, name in (("hexagons_latest", "hexagons: latest statistics"),
                      ("forests_latest", "forests: latest statistics")):
        if key not in files:
            continue
        latest = QgsVectorLayer(f"{files[key]}|layername=latest", name, "ogr")
        if not latest.isValid():
            continue
        wanted = [n for n in latest.fields().names()
                  if indices and n.endswith(f"{indices[0]}_mean")]
        if wanted:
            style_latest_layer(latest, wanted[0], indices[0])
        project.addMapLayer(latest, False)
        group.insertLayer(0, latest)
        added.append(latest)
    return added

