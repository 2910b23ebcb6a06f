"""The monitoring chart's title fits the dock's chart at its narrowest (a 300-320 px dock leaves
the canvas about 264 px): short, and broken into lines when a compartment's id is long."""

from datetime import datetime

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from raster_collect_plugin.gui.monitoring_chart import Point, draw_monitoring

POINTS = [Point(datetime(2025, month, 1), "sentinel-2", 0.8, 0.8, 0.0) for month in range(1, 13)]


@pytest.mark.parametrize("compartment", ["102", "Beerburrum West plantation block 12a north"])
def test_the_title_fits_a_narrow_dock(compartment):
    width, height = 264, 251  # the canvas in a 310 px dock (QGIS 3.22, screenshot)
    figure = Figure(figsize=(width / 90, height / 90), dpi=90, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    draw_monitoring(axes, POINTS, index="NDVI", compartment=compartment)
    figure.canvas.draw()
    box = axes.title.get_window_extent()
    assert 0 <= box.x0 and box.x1 <= width and box.y1 <= height, box
    assert axes.title.get_text().replace("\n", " ") == f"NDVI, compartment {compartment}"


def _mixed_series():
    """Two sensors over two years, the second year anomalous and far below the first."""
    points = []
    for month in range(24):
        when = datetime(2024 + month // 12, month % 12 + 1, 5)
        sensor = "landsat" if month % 3 == 0 else "sentinel-2"
        observed, fraction = (0.3, 0.9) if month >= 12 else (0.8, 0.0)
        points.append(Point(when, sensor, observed, 0.8, fraction))
    return points


@pytest.mark.parametrize("width, height", [(264, 251), (400, 300)])
def test_the_legend_hides_no_data_in_a_narrow_dock(width, height):
    figure = Figure(figsize=(width / 90, height / 90), dpi=90, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    draw_monitoring(axes, _mixed_series(), index="NDVI", compartment="102")
    figure.canvas.draw()
    legend = axes.get_legend().get_window_extent()
    plot = axes.get_window_extent()
    labels = axes.xaxis.get_tightbbox(figure.canvas.get_renderer())
    # below the plot and its date labels, whole inside the figure
    assert legend.y1 <= labels.y0 and legend.y1 <= plot.y0, (legend, labels, plot)
    assert 0 <= legend.x0 and legend.x1 <= width and legend.y0 >= 0, legend
    # the plot keeps most of the height, every series named
    assert plot.height >= 0.4 * height, plot
    texts = [t.get_text() for t in axes.get_legend().get_texts()]
    assert texts == ["model", "Landsat", "Sentinel-2", "anomalous (≥ 50%)"]
