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
