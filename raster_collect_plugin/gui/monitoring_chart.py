"""The monitoring section's time-series chart: for the chosen compartment, the mean clear index
of every monitored scene, the fitted model's expectation over the same pixels, and the scenes
where most of its clear pixels were anomalous, marked (data: ``monitoring_series.csv``)."""

from __future__ import annotations

import csv
import textwrap
from datetime import datetime
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional

from qgis.PyQt.QtWidgets import QComboBox, QVBoxLayout, QWidget

from ..core.outputs import index_display
from .chart import _natural, chart_figure, style_time_axes

# a scene is marked on the compartment's line when at least this share of its clear pixels
# was anomalous (a mean over the compartment: a few anomalous pixels barely move it)
ANOMALY_SHARE = 0.5
SENSOR_MARKERS = {"sentinel-2": "o", "landsat": "s"}
SENSOR_NAMES = {"sentinel-2": "Sentinel-2", "landsat": "Landsat"}  # the series' ids, as shown
TITLE_CHARACTERS = 40  # a line of the 8 pt title: about 220 px
# the legend's top below the axes, in points: the ticks and their "2025-05" labels, 7 pt
# rotated 45°, reach about 35 pt down (fixed sizes, so a fixed offset clears them)
LEGEND_DROP = 40


class Point(NamedTuple):
    """One scene of one compartment (a row of monitoring_series.csv)."""

    when: datetime
    sensor: str
    observed: float
    expected: float
    anomalous_fraction: float


def read_series(path: Path, id_field: str) -> Dict[str, List[Point]]:
    """Compartment id (as text) -> its scenes in time order."""
    series: Dict[str, List[Point]] = {}
    with open(path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            series.setdefault(str(row[id_field]), []).append(Point(
                datetime.fromisoformat(row["time"]), row["sensor"], float(row["observed"]),
                float(row["expected"]), float(row["anomalous_fraction"])))
    for points in series.values():
        points.sort(key=lambda p: p.when)
    return series


def draw_monitoring(axes, points: List[Point], *, index: str, compartment: str) -> None:
    """Observed means (marker per sensor), the model's expectation (line) and the anomalous
    scenes (red crosses) of one compartment."""

    times = [p.when for p in points]
    axes.plot(times, [p.expected for p in points], color="#607d8b", linewidth=1.2,
              label="model", gid="expected")
    for sensor in sorted({p.sensor for p in points}):
        mine = [p for p in points if p.sensor == sensor]
        axes.plot([p.when for p in mine], [p.observed for p in mine], linestyle="none",
                  marker=SENSOR_MARKERS.get(sensor, "^"), markersize=3, color="#1b9e77",
                  label=SENSOR_NAMES.get(sensor, sensor), gid=f"observed:{sensor}")
    anomalous = [p for p in points if p.anomalous_fraction >= ANOMALY_SHARE]
    if anomalous:
        axes.plot([p.when for p in anomalous], [p.observed for p in anomalous],
                  linestyle="none", marker="x", markersize=6, color="#d73027",
                  label=f"anomalous (≥ {ANOMALY_SHARE:.0%})", gid="anomalies")
    low, high = index_display(index, [p.observed for p in points]).chart_range
    axes.set_ylim(low, high)
    # short (the legend names the lines) and broken into lines when an id is long: the dock's
    # chart is about 260 px wide at its narrowest (matplotlib's wrap=True is not given room)
    axes.set_title(textwrap.fill(f"{index}, compartment {compartment}", TITLE_CHARACTERS),
                   fontsize=8)
    style_time_axes(axes, index)
    if points:
        # below the plot, two short entries a line: inside, it hid a quarter of a 300 px
        # dock's plot (constrained layout makes room for it)
        from matplotlib.transforms import ScaledTranslation

        drop = ScaledTranslation(0, -LEGEND_DROP / 72, axes.figure.dpi_scale_trans)
        axes.legend(fontsize=6, loc="upper center", ncol=2, bbox_to_anchor=(0.5, 0),
                    bbox_transform=axes.transAxes + drop, handletextpad=0.4,
                    columnspacing=1.0, borderaxespad=0, frameon=False)


class MonitoringChart(QWidget):
    """A compartment choice above a matplotlib canvas."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.figure, self.canvas = chart_figure()
        self.compartment_combo = QComboBox(self)
        self.compartment_combo.setToolTip("Compartment shown in the chart")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.compartment_combo)
        layout.addWidget(self.canvas)
        self.series: Dict[str, List[Point]] = {}
        self.index = ""
        self.compartment_combo.currentTextChanged.connect(self.show_compartment)

    def load(self, path: Path, id_field: str, index: str,
             select: Optional[str] = None) -> int:
        """Read ``path`` and show ``select`` (default: the first compartment); returns the
        number of compartments with a series."""
        self.series = read_series(Path(path), id_field) if Path(path).exists() else {}
        self.index = index
        names = sorted(self.series, key=_natural)
        self.compartment_combo.blockSignals(True)
        self.compartment_combo.clear()
        self.compartment_combo.addItems(names)
        if select is not None and str(select) in self.series:
            self.compartment_combo.setCurrentText(str(select))
        self.compartment_combo.blockSignals(False)
        self.show_compartment(self.compartment_combo.currentText())
        return len(names)

    def show_compartment(self, compartment: str) -> None:
        self.figure.clear()
        points = self.series.get(compartment, [])
        draw_monitoring(self.figure.add_subplot(1, 1, 1), points, index=self.index,
                        compartment=compartment)
        self.canvas.draw()

    def plotted(self) -> Dict[str, tuple]:
        """What is drawn, by line: {gid: (x datetimes, y values)}."""
        import matplotlib.dates as mdates

        lines = {}
        for axes in self.figure.axes:
            for line in axes.get_lines():
                x = [mdates.num2date(v).replace(tzinfo=None) if not isinstance(v, datetime)
                     else v for v in line.get_xdata()]
                lines[line.get_gid()] = (x, [float(v) for v in line.get_ydata()])
        return lines
