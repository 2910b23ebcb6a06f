"""What a forester reads: legend classes, chart, temporal controller, change layer, raster
styles (pytest-qgis, offscreen, small layers built from values)."""

from datetime import date, datetime

import numpy as np
import pytest
from qgis.core import (
    NULL,
    QgsFeature,
    QgsGeometry,
    QgsInterval,
    QgsProject,
    QgsRasterLayer,
    QgsVectorLayer,
)
from qgis.PyQt.QtCore import QDate, QDateTime, QMetaType, QTime

from raster_collect_plugin.core.outputs.display import DISPLAY, before_after_change, period_start
from raster_collect_plugin.gui.layers import (
    open_raster,
    style_index_raster,
    style_latest_layer,
)
from raster_collect_plugin.gui.results import (
    change_layer,
    configure_temporal,
    temporal_controller,
)
from raster_collect_plugin.qgis_compat import new_field, qgis_enum


def polygons(values, field="NDVI_mean"):
    """Square forests 1..n carrying ``field`` values."""
    layer = QgsVectorLayer("Polygon?crs=EPSG:32756", "latest", "memory")
    layer.dataProvider().addAttributes([new_field("forest_id", QMetaType.Type.Int),
                                        new_field(field, QMetaType.Type.Double)])
    layer.updateFields()
    features = []
    for n, value in enumerate(values, start=1):
        feature = QgsFeature(layer.fields())
        feature.setGeometry(QgsGeometry.fromWkt(
            f"POLYGON(({n * 100} 0, {n * 100 + 90} 0, {n * 100 + 90} 90, {n * 100} 90, "
            f"{n * 100} 0))"))
        feature.setAttributes([n, value])
        features.append(feature)
    layer.dataProvider().addFeatures(features)
    return layer


def statistics_table(rows):
    """A zonal statistics table layer from (forest, collection, period, median, usable[,
    index]) rows (index NDVI unless given)."""
    layer = QgsVectorLayer("None", "zonal statistics", "memory")
    layer.dataProvider().addAttributes([
        new_field("forest_id", QMetaType.Type.Int), new_field("collection", QMetaType.Type.QString),
        new_field("index", QMetaType.Type.QString), new_field("period", QMetaType.Type.QString),
        new_field("median", QMetaType.Type.Double), new_field("usable", QMetaType.Type.Bool)])
    layer.updateFields()
    features = []
    for forest, collection, period, value, usable, *index in rows:
        feature = QgsFeature(layer.fields())
        feature.setAttributes([forest, collection, (index or ["NDVI"])[0], period, value,
                               usable])
        features.append(feature)
    layer.dataProvider().addFeatures(features)
    return layer


@pytest.mark.parametrize("index", sorted(DISPLAY))
def test_legend_classes_are_ascending_and_do_not_overlap(qgis_app, index):
    layer = polygons([0.79, 0.8051, 0.7913, 0.81])  # 4 healthy forests (the case)
    style_latest_layer(layer, "NDVI_mean", index)
    ranges = layer.renderer().ranges()
    assert len(ranges) == 5
    for lower, upper in zip(ranges, ranges[1:]):
        assert lower.lowerValue() < lower.upperValue() <= upper.lowerValue() < upper.upperValue()
    labels = [r.label() for r in ranges]
    assert len(set(labels)) == len(labels)
    for r in ranges:  # semi-transparent fill: the rasters beneath stay visible
        assert 0 < r.symbol().color().alpha() < 255


def test_healthy_ndvi_is_green_not_red(qgis_app):
    layer = polygons([0.79, 0.8051, 0.7913, 0.81, 0.15])
    style_latest_layer(layer, "NDVI_mean", "NDVI")
    renderer = layer.renderer()
    by_value = {}
    for feature in layer.getFeatures():
        value = feature["NDVI_mean"]
        [match] = [r for r in renderer.ranges() if r.lowerValue() < value <= r.upperValue()]
        by_value[value] = match
    for value in (0.79, 0.7913, 0.8051, 0.81):
        colour = by_value[value].symbol().color()
        assert colour.green() > colour.red(), value
    bare = by_value[0.15].symbol().color()
    assert bare.red() > bare.green()
    assert by_value[0.79].label() == "healthy" and by_value[0.81].label() == "dense, healthy"


def test_chart_runs_forward_in_time_with_fixed_y_and_event(qgis_app, tmp_path):
    from raster_collect_plugin.gui.chart import TimeSeriesChart

    # stored out of order, as the table was ("2025-10, 2025-12, 2025-11")
    table = statistics_table([
        (1, "sentinel-2-l2a", "2025-10", 0.81, True), (1, "sentinel-2-l2a", "2025-12", 0.52, True),
        (1, "sentinel-2-l2a", "2025-11", 0.78, True), (2, "sentinel-2-l2a", "2025-12", 0.80, True),
        (2, "sentinel-2-l2a", "2025-10", 0.82, True), (2, "sentinel-2-l2a", "2025-11", 0.30, False),
        (3, "sentinel-2-l2a", "2025-11", 0.7, True)])
    chart = TimeSeriesChart()
    lines = chart.show_series(table, "forest_id", [1, 2], "NDVI",
                              event_date=date(2025, 11, 13))
    assert lines == 2  # one line per selected forest; forest 3 is not selected
    dates = chart.plotted_dates()  # each month's value at mid-month
    assert dates[("1", "sentinel-2-l2a")] == [datetime(2025, 10, 16, 12), datetime(2025, 11, 16),
                                              datetime(2025, 12, 16, 12)]
    assert dates[("2", "sentinel-2-l2a")] == [datetime(2025, 10, 16, 12),
                                              datetime(2025, 12, 16, 12)]
    axes = chart.figure.axes[0]
    assert axes.get_ylim() == (-0.2, 1.0)
    solid = [line for line in axes.get_lines() if line.get_linestyle() == "-"]
    for line in solid:
        xs = list(line.get_xdata())
        assert xs == sorted(xs)
    hollow = [line for line in axes.get_lines() if line.get_markerfacecolor() == "none"]
    assert [list(line.get_ydata()) for line in hollow] == [[0.30]]  # the cloudy month
    event = [line for line in axes.get_lines() if line.get_linestyle() == "--"]
    assert len(event) == 1 and "2025-11-13" in axes.texts[0].get_text()

    csv_path = chart.export_csv(str(tmp_path / "chart.csv"))
    rows = csv_path.read_text().splitlines()
    assert rows[0] == "forest,collection,period,period_start,index,median,usable"
    assert rows[1:4] == ["1,sentinel-2-l2a,2025-10,2025-10-01,NDVI,0.81,1",
                         "1,sentinel-2-l2a,2025-11,2025-11-01,NDVI,0.78,1",
                         "1,sentinel-2-l2a,2025-12,2025-12-01,NDVI,0.52,1"]
    assert "2,sentinel-2-l2a,2025-11,2025-11-01,NDVI,0.3,0" in rows
    png = chart.export_png(str(tmp_path / "chart.png"))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_temporal_controller_shows_one_period_at_a_time(qgis_app):
    from qgis.gui import QgsMapCanvas

    canvas = QgsMapCanvas()
    controller = temporal_controller(canvas)
    assert canvas.temporalController() is controller
    extent = configure_temporal(controller, ["2025-10", "2025-12", "2025-11"], "month")
    assert extent.begin().date() == QDate(2025, 10, 1)
    assert QDate(2025, 12, 1) <= extent.end().date() <= QDate(2025, 12, 31)
    assert controller.temporalExtents() == extent
    assert controller.frameDuration() == QgsInterval(1, qgis_enum("Qgis.TemporalUnit.Months"))
    assert controller.totalFrameCount() == 3
    assert controller.currentFrameNumber() == 2  # the latest month
    frames = [controller.dateTimeRangeForFrameNumber(n) for n in range(3)]
    assert [f.begin() for f in frames] == [QDateTime(QDate(2025, m, 1), QTime(0, 0))
                                           for m in (10, 11, 12)]
    assert frames[2].end() == QDateTime(QDate(2026, 1, 1), QTime(0, 0))
    assert controller.navigationMode() == controller.NavigationMode.Animated

    # four years of months (the 48 layers): still one frame per month
    months = [f"{2022 + k // 12}-{k % 12 + 1:02d}" for k in range(48)]
    configure_temporal(controller, months, "month")
    assert controller.totalFrameCount() == 48 and controller.currentFrameNumber() == 47
    assert controller.dateTimeRangeForFrameNumber(47).begin().date() == QDate(2025, 12, 1)

    configure_temporal(controller, ["2025-Q1", "2025-Q2"], "quarter")
    assert controller.frameDuration() == QgsInterval(3, qgis_enum("Qgis.TemporalUnit.Months"))
    assert controller.totalFrameCount() == 2


def test_change_layer_is_after_minus_before_the_event(qgis_app):
    latest = polygons([0.5, 0.8, 0.8])
    table = statistics_table([
        (1, "s2", "2025-09", 0.80, True), (1, "s2", "2025-10", 0.82, True),
        (1, "s2", "2025-11", 0.60, True),  # the event's month: left out
        (1, "s2", "2025-12", 0.45, True), (1, "s2", "2026-01", 0.50, False),  # cloudy: out
        (2, "s2", "2025-10", 0.80, True), (2, "s2", "2025-12", 0.79, True),
        (3, "s2", "2025-10", 0.80, True)])  # no value after the event: no change
    layer = change_layer(latest, table, "forest_id", "NDVI", date(2025, 11, 13))
    values = {f["forest_id"]: f.attribute("NDVI_change") for f in layer.getFeatures()}
    assert values[1] == pytest.approx(0.45 - 0.81)
    assert values[2] == pytest.approx(-0.01)
    assert values[3] in (None, NULL)
    labels = {}
    for r in layer.renderer().ranges():
        labels.update({k: r.label() for k, v in values.items()
                       if v not in (None, NULL) and r.lowerValue() < v <= r.upperValue()})
    assert labels[1] == "drop > 0.30" and labels[2].startswith("stable")
    # the damage-class words are the storm classes' alone (core/storm/classes.py)
    assert not {"severe", "moderate", "light"} & {w for r in layer.renderer().ranges()
                                                   for w in r.label().split()}
    assert before_after_change([("2025-Q3", 0.8), ("2025-Q4", 0.5), ("2026-Q1", 0.6)],
                               date(2025, 11, 13)) == pytest.approx((0.8, 0.6, -0.2))
    assert period_start("2025-Q4") == date(2025, 10, 1)


def test_rasters_get_a_fixed_ramp_and_no_gdal_noise(qgis_app, tmp_path, capfd):
    from osgeo import gdal, osr

    path = str(tmp_path / "ndvi.tif")
    dataset = gdal.GetDriverByName("GTiff").Create(path, 16, 16, 3, gdal.GDT_Float32)
    dataset.SetGeoTransform([500000, 10, 0, 7000000, 0, -10])
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32756)
    dataset.SetProjection(srs.ExportToWkt())
    dataset.GetRasterBand(1).WriteArray(np.full((16, 16), np.nan, np.float32))  # all clouded
    dataset.GetRasterBand(2).WriteArray(np.full((16, 16), 0.8, np.float32))  # constant
    dataset.GetRasterBand(3).WriteArray(np.linspace(0, 1, 256, dtype=np.float32).reshape(16, 16))
    for band in (1, 2, 3):
        dataset.GetRasterBand(band).SetNoDataValue(float("nan"))
    dataset = None
    capfd.readouterr()
    layer = open_raster(path, "NDVI 2025-11")
    assert isinstance(layer, QgsRasterLayer) and layer.isValid()
    style_index_raster(layer, 2, "NDVI")
    err = capfd.readouterr().err
    assert "dfMax" not in err and "ERROR" not in err
    renderer = layer.renderer()
    assert (renderer.classificationMin(), renderer.classificationMax()) == (0.0, 1.0)
    items = renderer.shader().rasterShaderFunction().colorRampItemList()
    assert [round(i.value, 2) for i in items] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert QColorTuple(items[0].color) == (165, 0, 38) and QColorTuple(items[-1].color) == (
        0, 104, 55)
    QgsProject.instance().removeAllMapLayers()


def QColorTuple(colour):  # noqa: N802
    return colour.red(), colour.green(), colour.blue()


def test_opening_rasters_leaves_the_users_stretch_settings_alone(qgis_app, small_sample):
    from qgis.core import QgsSettings

    from raster_collect_plugin.gui.layers import STRETCH_LIMIT_KEYS

    store = QgsSettings()
    store.setValue(STRETCH_LIMIT_KEYS[0], "MinMax")
    for key in STRETCH_LIMIT_KEYS[1:]:
        store.remove(key)
    [cog] = [p for p in small_sample.catalog_path.parent.rglob("*.tif")][:1]
    layer = open_raster(str(cog), "scene")
    assert layer.isValid()
    assert store.value(STRETCH_LIMIT_KEYS[0]) == "MinMax"
    assert not any(store.contains(key) for key in STRETCH_LIMIT_KEYS[1:])
    store.remove(STRETCH_LIMIT_KEYS[0])


def test_a_clicked_forest_shows_every_index_and_sensor(qgis_app, qgis_canvas):
    from raster_collect_plugin.gui.forest_series import ForestPickTool, ForestSeriesDialog

    table = statistics_table([
        (1, "sentinel-2-l2a", "2025-10", 0.81, True), (1, "sentinel-2-l2a", "2025-12", 0.45, True),
        (1, "sentinel-2-l2a", "2025-11", 0.20, False), (1, "landsat-c2-l2", "2025-10", 0.78, True),
        (1, "landsat-c2-l2", "2025-12", 0.50, True), (2, "sentinel-2-l2a", "2025-10", 0.8, True),
        (1, "sentinel-2-l2a", "2025-10", 0.5, True, "EVI")])
    forests = polygons([0.5, 0.8])
    tool = ForestPickTool(qgis_canvas, forests, "forest_id")
    dialog = ForestSeriesDialog()
    picked = []
    tool.forest_picked.connect(picked.append)
    tool.forest_picked.connect(lambda forest: dialog.show_forest(
        table, "forest_id", forest, event_date=date(2025, 11, 13)))
    tool.featureIdentified.emit(next(forests.getFeatures()))  # what a click on forest 1 does
    assert picked == [1]
    assert sorted(dialog.series) == ["EVI", "NDVI"]
    assert sorted(dialog.series["NDVI"]) == [("1", "landsat-c2-l2"), ("1", "sentinel-2-l2a")]
    ndvi_axes = dialog.figure.axes[1]
    hollow = [line for line in ndvi_axes.get_lines() if line.get_markerfacecolor() == "none"]
    assert [list(line.get_ydata()) for line in hollow] == [[0.20]]
    note = ndvi_axes.texts[-1].get_text()
    assert "sentinel-2-l2a: 0.81 → 0.45 (Δ -0.36)" in note
    assert "landsat-c2-l2: 0.78 → 0.50 (Δ -0.28)" in note
    assert "forest_id 1" in dialog.heading.text()



def test_change_uses_the_sensor_that_sees_both_sides_of_the_event(qgis_app):
    latest = polygons([0.5, 0.8])
    table = statistics_table([  # landsat: more values, but none after the storm
        (1, "landsat", "2025-09", 0.8, True), (1, "landsat", "2025-10", 0.8, True),
        (2, "landsat", "2025-09", 0.8, True), (2, "landsat", "2025-10", 0.8, True),
        (1, "s2", "2025-10", 0.80, True), (1, "s2", "2025-12", 0.40, True),
        (2, "s2", "2025-10", 0.80, True), (2, "s2", "2025-12", 0.78, True)])
    layer = change_layer(latest, table, "forest_id", "NDVI", date(2025, 11, 13))
    assert layer.customProperty("raster_collect/collection") == "s2"
    assert layer.name() == "forests: NDVI change since 2025-11-13 (s2)"
    values = {f["forest_id"]: f["NDVI_change"] for f in layer.getFeatures()}
    assert values == {1: pytest.approx(-0.40), 2: pytest.approx(-0.02)}


def test_latest_column_found_with_one_or_several_collections(qgis_app):
    from raster_collect_plugin.gui.layers import latest_field

    one = polygons([0.8], field="NDVI_mean")
    assert latest_field(one, ["EVI", "NDVI"]) == ("NDVI_mean", "NDVI")
    several = polygons([0.8], field="landsat-c2-l2_NDVI_mean")
    several.dataProvider().addAttributes([
        new_field("sentinel-2-l2a_NDVI_mean", QMetaType.Type.Double),
        new_field("sentinel-2-l2a_NDVI_period", QMetaType.Type.QString)])
    several.updateFields()
    assert latest_field(several, ["NDVI"]) == ("sentinel-2-l2a_NDVI_mean", "NDVI")
    assert latest_field(several, ["NDVI"], "period") == ("sentinel-2-l2a_NDVI_period", "NDVI")
    assert latest_field(several, []) == ("sentinel-2-l2a_NDVI_mean", "NDVI")
    assert latest_field(several, ["EVI"]) is None


def _x_dates(axes):
    import matplotlib.dates as mdates

    return [[mdates.num2date(x).replace(tzinfo=None) for x in mdates.date2num(line.get_xdata())]
            for line in axes.get_lines() if line.get_linestyle() != "--"]


def _assert_november_after_the_storm(axes):
    """The November composite (storm on 13 November) sits after the event line and its
    period is marked as spanning the event."""
    import matplotlib.dates as mdates

    [event] = [line for line in axes.get_lines() if line.get_linestyle() == "--"]
    event_x = mdates.num2date(mdates.date2num(event.get_xdata()[0])).replace(tzinfo=None)
    assert event_x == datetime(2025, 11, 13)
    xs = sorted({x for line in _x_dates(axes) for x in line})
    november = [x for x in xs if x.month == 11]
    assert november and all(x > event_x for x in november), november
    spans = [patch for patch in axes.patches if patch.get_alpha() == 0.25]
    assert len(spans) == 1
    left, right = sorted({v[0] for v in spans[0].get_xy()})
    assert (mdates.num2date(left).date(), mdates.num2date(right).date()) == (
        date(2025, 11, 1), date(2025, 12, 1))
    assert any(t.get_text() == "composite spans the event" for t in axes.texts)


def test_a_composite_is_drawn_mid_period_and_the_event_period_is_marked(qgis_app, tmp_path):
    """Dock chart, Pick a forest and the HTML report place periods by one rule."""
    from raster_collect_plugin.core.outputs.display import period_placement
    from raster_collect_plugin.gui.chart import TimeSeriesChart
    from raster_collect_plugin.gui.forest_series import ForestSeriesDialog
    from raster_collect_plugin.gui.results import RunLayers
    from raster_collect_plugin.gui.run_report import chart_png

    placed = period_placement("2025-11", date(2025, 11, 13))
    assert (placed.start, placed.middle, placed.end) == (
        datetime(2025, 11, 1), datetime(2025, 11, 16), datetime(2025, 12, 1))
    assert placed.straddles_event
    assert not period_placement("2025-12", date(2025, 11, 13)).straddles_event
    assert period_placement("2025-Q4").middle == datetime(2025, 11, 16)  # 92 days

    rows = [(1, "sentinel-2-l2a", "2025-10", 0.81, True),
            (1, "sentinel-2-l2a", "2025-11", 0.40, True),
            (1, "sentinel-2-l2a", "2025-12", 0.42, True)]
    storm = date(2025, 11, 13)
    chart = TimeSeriesChart()
    chart.show_series(statistics_table(rows), "forest_id", [1], "NDVI", event_date=storm)
    _assert_november_after_the_storm(chart.figure.axes[0])

    dialog = ForestSeriesDialog()
    dialog.show_forest(statistics_table(rows), "forest_id", 1, event_date=storm)
    _assert_november_after_the_storm(dialog.figure.axes[0])

    import matplotlib.figure

    drawn = []
    real_savefig = matplotlib.figure.Figure.savefig

    def savefig(figure, *args, **kwargs):
        drawn.append(figure)
        return real_savefig(figure, *args, **kwargs)

    matplotlib.figure.Figure.savefig = savefig
    try:
        assert chart_png(RunLayers(table=statistics_table(rows)), "forest_id", "NDVI", [1],
                         storm)
    finally:
        matplotlib.figure.Figure.savefig = real_savefig
    _assert_november_after_the_storm(drawn[0].axes[0])
