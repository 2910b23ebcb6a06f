"""The time-series chart's legend tells the sensors apart: a forest has one colour and each
sensor its own line style, so the legend's line must show that style around its marker."""

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from raster_collect_plugin.gui.chart import draw_series


def _runs(row: np.ndarray) -> int:
    """How many separate stretches of drawn (not white) pixels a row of RGBA pixels has."""
    drawn = np.any(row[:, :3] < 200, axis=1).astype(int)
    return int(np.count_nonzero(np.diff(np.concatenate([[0], drawn])) == 1))


def test_each_sensors_line_style_shows_in_the_legend():
    points = [("2025-10", 0.8, True), ("2025-11", 0.8, True), ("2025-12", 0.4, True)]
    series = {("283", "landsat-c2-l2"): points, ("283", "sentinel-2-l2a"): points}
    figure = Figure(figsize=(4, 2.8), dpi=90, layout="constrained")  # as the dock's chart
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    draw_series(axes, series, index="NDVI")
    figure.canvas.draw()
    pixels = np.asarray(figure.canvas.buffer_rgba())
    renderer = figure.canvas.get_renderer()
    legend = axes.get_legend()
    runs = {}
    for handle, text in zip(legend.legendHandles, legend.get_texts()):
        box = handle.get_window_extent(renderer)
        row = int(round(pixels.shape[0] - (box.y0 + box.y1) / 2))
        runs[text.get_text()] = _runs(pixels[row, int(box.x0):int(np.ceil(box.x1))])
    # solid: one stretch through the marker; dashed: its gaps show beside the marker
    assert runs["283 (landsat-c2-l2)"] == 1, runs
    assert runs["283 (sentinel-2-l2a)"] >= 3, runs


def test_the_legend_does_not_squeeze_the_docks_narrow_chart():
    """Four forests and two sensors in a 270-pixel dock chart: the two-column legend fits the
    plot; a wider one made constrained layout shrink the plot to half the chart."""
    points = [("2025-10", 0.8, True), ("2025-11", 0.8, True), ("2025-12", 0.4, True)]
    series = {(forest, collection): points for forest in ("281", "282", "283", "284")
              for collection in ("landsat-c2-l2", "sentinel-2-l2a")}
    figure = Figure(figsize=(3.0, 2.8), dpi=90, layout="constrained")  # the dock's width
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    draw_series(axes, series, index="NDVI")
    figure.canvas.draw()
    assert axes.get_window_extent().width >= 0.7 * 270
