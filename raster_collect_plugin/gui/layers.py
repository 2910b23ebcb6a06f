"""Turning job outputs into styled QGIS layers (main thread only).

Every index has one fixed display (``core.display``): rasters get a fixed colour ramp (no
per-layer stretch, so no statistics are computed when they load), statistics layers get fixed,
ordered classes with a semi-transparent fill so the rasters beneath stay visible.
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import date
from typing import Dict, List, Optional, Sequence, Tuple

from qgis.core import (
    QgsColorRampShader,
    QgsContrastEnhancement,
    QgsDateTimeRange,
    QgsFillSymbol,
    QgsGradientColorRamp,
    QgsGradientStop,
    QgsGraduatedSymbolRenderer,
    QgsInterval,
    QgsLayerTreeGroup,
    QgsProject,
    QgsRasterLayer,
    QgsRasterShader,
    QgsRendererRange,
    QgsSettings,
    QgsSingleBandGrayRenderer,
    QgsSingleBandPseudoColorRenderer,
    QgsVectorLayer,
)
from qgis.PyQt.QtCore import QDate, QDateTime, QTime
from qgis.PyQt.QtGui import QColor

from ..core.outputs import DISPLAY, change_classes, classes, index_display, period_end, period_start
from ..qgis_compat import qgis_enum

GPKG_WARNING_OPTION = "GPKG_WARN_UNRECOGNIZED_APPLICATION_ID"


def accept_newer_geopackages() -> None:
    """The engine writes GeoPackage 1.4 (its own, newer GDAL); QGIS 3.22's GDAL reads it
    fine but warns "may only be partially supported" at every open. Silence that one warning
    unless the user configured it."""
    from osgeo import gdal

    if gdal.GetConfigOption(GPKG_WARNING_OPTION) is None:
        gdal.SetConfigOption(GPKG_WARNING_OPTION, "NO")


accept_newer_geopackages()

FILL_ALPHA = 110  # of 255: the composite beneath stays readable through the polygons
PERIOD_MONTHS = {"month": 1, "quarter": 3, "year": 12}


def ramp(colours: Sequence[str]) -> QgsGradientColorRamp:
    """A gradient through ``colours`` at equal steps."""
    stops = len(colours) - 1
    gradient = QgsGradientColorRamp(QColor(colours[0]), QColor(colours[-1]))
    gradient.setStops([QgsGradientStop(i / stops, QColor(c)) for i, c in
                       enumerate(colours[1:-1], start=1)])
    return gradient


def style_index_raster(layer: QgsRasterLayer, band: int, index: str) -> None:
    """Pseudocolour over the index's fixed range (e.g. NDVI 0..1, red to green)."""
    display = index_display(index)
    low, high = display.raster_range
    gradient = ramp(display.colours)
    steps = len(display.colours) - 1
    pseudocolour(layer, band, low, high, [gradient.color(k / steps) for k in range(steps + 1)],
                 source_ramp=gradient)


def pseudocolour(layer: QgsRasterLayer, band: int, low: float, high: float,
                 colours: Sequence[QColor], label: str = "{:.2f}", *,
                 source_ramp: Optional[QgsGradientColorRamp] = None) -> None:
    """A linear pseudocolour renderer over ``low..high``, one legend stop per colour (evenly
    spaced, labelled with ``label``) and the range fixed, so no statistics are computed; values
    outside the range take the end colours (no clipping)."""
    function = QgsColorRampShader(low, high)
    function.setColorRampType(qgis_enum("Qgis.ShaderInterpolationMethod.Linear"))
    function.setClip(False)
    if source_ramp is not None:
        function.setSourceColorRamp(source_ramp)
    steps = len(colours) - 1
    function.setColorRampItemList([
        QgsColorRampShader.ColorRampItem(low + (high - low) * k / steps, colours[k],
                                         label.format(low + (high - low) * k / steps))
        for k in range(steps + 1)])
    shader = QgsRasterShader()
    shader.setRasterShaderFunction(function)
    renderer = QgsSingleBandPseudoColorRenderer(layer.dataProvider(), band, shader)
    renderer.setClassificationMin(low)
    renderer.setClassificationMax(high)
    layer.setRenderer(renderer)


def style_count_raster(layer: QgsRasterLayer, band: int, maximum: float = 6.0) -> None:
    """Greyscale for clear-observation counts (fixed 0..maximum: no statistics needed)."""
    renderer = QgsSingleBandGrayRenderer(layer.dataProvider(), band)
    enhancement = QgsContrastEnhancement(layer.dataProvider().dataType(band))
    enhancement.setContrastEnhancementAlgorithm(
        QgsContrastEnhancement.ContrastEnhancementAlgorithm.StretchToMinimumMaximum)
    enhancement.setMinimumValue(0)
    enhancement.setMaximumValue(maximum)
    renderer.setContrastEnhancement(enhancement)
    layer.setRenderer(renderer)


def _fill(colour: str, outline_width: float = 0.5) -> QgsFillSymbol:
    fill = QColor(colour)
    fill.setAlpha(FILL_ALPHA)
    return QgsFillSymbol.createSimple({
        "color": f"{fill.red()},{fill.green()},{fill.blue()},{fill.alpha()}",
        "outline_color": QColor(colour).darker(140).name(),
        "outline_width": str(outline_width)})


def class_renderer(field: str, rows: Sequence[Tuple[float, float, str, str]], *,
                   outline_width: float = 0.5) -> QgsGraduatedSymbolRenderer:
    """A graduated renderer with exactly these (lower, upper, label, colour) classes."""
    ranges = [QgsRendererRange(lower, upper, _fill(colour, outline_width), label)
              for lower, upper, label, colour in rows]
    renderer = QgsGraduatedSymbolRenderer(field, ranges)
    renderer.setClassAttribute(field)
    return renderer


def style_latest_layer(layer: QgsVectorLayer, field: str, index: str) -> None:
    """Fixed, ordered, index-aware classes (NDVI: red = bare ... green = healthy)."""
    values = [] if index.upper() in DISPLAY else [f[field] for f in layer.getFeatures()]
    layer.setRenderer(class_renderer(field, classes(index_display(index, values))))


def style_change_layer(layer: QgsVectorLayer, field: str) -> None:
    """Before/after change classes: a large drop red ... gain green."""
    layer.setRenderer(class_renderer(field, change_classes(), outline_width=1.0))


def outline_renderer_symbol(colour: str = "#1f78b4") -> QgsFillSymbol:
    """Outline only (scene footprints): the map beneath stays visible."""
    return QgsFillSymbol.createSimple({"style": "no", "outline_color": colour,
                                       "outline_width": "0.3"})


def qdate(value: date) -> QDate:
    return QDate(value.year, value.month, value.day)


def period_range(label: str) -> Optional[QgsDateTimeRange]:
    """The period of a '2025-11' / '2025-Q4' / '2025' label as a temporal range."""
    start, end = period_start(label), period_end(label)
    if start is None or end is None:
        return None
    return QgsDateTimeRange(QDateTime(qdate(start), QTime(0, 0)),
                            QDateTime(qdate(end).addDays(-1), QTime(23, 59, 59)))


@contextmanager
def quiet_gdal():
    """Silence GDAL while QGIS opens a raster: its default renderer samples statistics of
    the first bands, which GDAL reports as errors for all-NaN or constant bands ("no valid
    pixels", "dfMax should be strictly greater than dfMin") though nothing is wrong: the
    renderer set right after uses a fixed range and no statistics."""
    from osgeo import gdal

    gdal.PushErrorHandler("CPLQuietErrorHandler")
    try:
        yield
    finally:
        gdal.PopErrorHandler()


STRETCH_LIMIT_KEYS = [f"Raster/defaultContrastEnhancementLimits/{kind}" for kind in
                      ("singleBand", "multiBandSingleByte", "multiBandMultiByte")]


@contextmanager
def no_default_stretch():
    """While opening rasters we style ourselves, tell QGIS not to compute the default
    stretch: it samples a histogram of the first bands of every layer (about 1 s for each
    of 48 monthly layers, and GDAL errors on all-NaN or constant bands). The user's own
    settings are restored right after."""
    store = QgsSettings()
    saved = {key: store.value(key) for key in STRETCH_LIMIT_KEYS if store.contains(key)}
    for key in STRETCH_LIMIT_KEYS:
        store.setValue(key, "None")
    try:
        with quiet_gdal():
            yield
    finally:
        for key in STRETCH_LIMIT_KEYS:
            if key in saved:
                store.setValue(key, saved[key])
            else:
                store.remove(key)


def open_raster(path: str, name: str) -> QgsRasterLayer:
    """A raster layer without the default style lookup, default stretch or GDAL noise."""
    options = QgsRasterLayer.LayerOptions()
    options.loadDefaultStyle = False
    with no_default_stretch():
        return QgsRasterLayer(path, name, "gdal", options)


def add_composite_layers(group: QgsLayerTreeGroup, collection: Dict) -> List[QgsRasterLayer]:
    """One raster layer per index and period (band), styled, with temporal properties; the
    layers are added to the project in one call (one layer-tree update, not one a band)."""
    made: List[Tuple[QgsLayerTreeGroup, QgsRasterLayer]] = []
    for index, path in collection["indices"].items():
        subgroup = group.addGroup(f"{collection['collection']} {index}")
        subgroup.setExpanded(False)
        for band, label in enumerate(collection["periods"], start=1):
            layer = open_raster(path, f"{index} {label}")
            if not layer.isValid():
                continue
            style_index_raster(layer, band, index)
            span = period_range(label)
            if span is not None:
                temporal = layer.temporalProperties()
                temporal.setIsActive(True)
                temporal.setFixedTemporalRange(span)
            made.append((subgroup, layer))
    counts = open_raster(collection["clear_count"],
                         f"{collection['collection']} clear observations (latest period)")
    if counts.isValid():
        style_count_raster(counts, counts.bandCount())
        made.append((group, counts))
    QgsProject.instance().addMapLayers([layer for _, layer in made], False)
    for parent, layer in made:
        node = parent.addLayer(layer)
        if layer is counts:
            node.setItemVisibilityChecked(False)
    return [layer for _, layer in made]


def add_zonal_layers(group: QgsLayerTreeGroup, files: Dict[str, str], indices: List[str]
                     ) -> List[QgsVectorLayer]:
    """The statistics table, and the forests (and hexagons, if computed) joined to their
    latest usable statistics, styled by the first index's fixed classes."""
    project = QgsProject.instance()
    added = []
    table = QgsVectorLayer(f"{files.get('forests_gpkg', '')}|layername=zonal_statistics",
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
        found = latest_field(latest, indices)
        if found:
            style_latest_layer(latest, *found)
        project.addMapLayer(latest, False)
        group.insertLayer(0, latest)
        added.append(latest)
    return added


def latest_field(layer: QgsVectorLayer, indices: Sequence[str],
                 statistic: str = "mean") -> Optional[Tuple[str, str]]:
    """(column, index) of the latest values to style by: the first of ``indices`` that has a
    ``statistic`` column (``NDVI_mean``, or ``<collection>_NDVI_mean`` when several
    collections were used; Sentinel-2 first); with no ``indices``, any index."""
    names = [n for n in layer.fields().names() if n.endswith(f"_{statistic}")
             and len(n.split("_")) >= 2]
    names.sort(key=lambda n: "sentinel-2" not in n)
    for index in list(indices) or sorted({n.split("_")[-2] for n in names}):
        wanted = [n for n in names if n.split("_")[-2] == index]
        if wanted:
            return wanted[0], index
    return None


def frame_interval(period: str) -> QgsInterval:
    """The temporal controller's step for a composite period."""
    months = PERIOD_MONTHS.get(period, 1)
    if months == 12:
        return QgsInterval(1, qgis_enum("Qgis.TemporalUnit.Years"))
    return QgsInterval(months, qgis_enum("Qgis.TemporalUnit.Months"))
