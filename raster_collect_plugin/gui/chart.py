"""The time-series chart: one line per forest (and sensor) over the periods, in date order, the
event date marked, a fixed y range per index, cloud-free periods solid and flagged ones hollow;
exports PNG and CSV."""

from __future__ import annotations

import csv
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Tuple

from qgis.core import QgsVectorLayer
from qgis.PyQt.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from ..core.outputs import before_after_change, index_display, period_placement, period_start
from .results import table_points

LINE_STYLES = ("-", "--", ":", "-.")
# (forest, collection) -> [(period label, value, usable)] in date order
Series = Dict[Tuple[str, str], List[Tuple[str, Optional[float], bool]]]


def figure_canvas(figure):
    """A matplotlib Qt canvas whose idle redraw is safe when Qt has already deleted the
    widget (a resize queues a redraw; a dock closing first must not raise in a slot)."""
    from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg

    class SafeCanvas(FigureCanvasQTAgg):
        def _draw_idle(self):
            try:
                super()._draw_idle()
            except RuntimeError:  # "wrapped C/C++ object ... has been deleted"
                pass

    return SafeCanvas(figure)


def chart_figure():
    """A small constrained-layout figure and its expanding canvas, as the docks' charts use."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(4, 2.8), dpi=90, layout="constrained")
    canvas = figure_canvas(figure)
    canvas.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
    canvas.setMinimumHeight(220)
    return figure, canvas


def style_time_axes(axes, index: str) -> None:
    """Index label, light grid and year-month date ticks shared by the time-series charts."""
    import matplotlib.dates as mdates

    axes.set_ylabel(index, fontsize=8)
    axes.grid(alpha=0.3)
    axes.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m"))
    axes.tick_params(labelsize=7)
    for tick in axes.get_xticklabels():
        tick.set_rotation(45)


class TimeSeriesChart(QWidget):
    """A matplotlib canvas with an index choice and PNG / CSV export."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.figure, self.canvas = chart_figure()
        self.index_combo = QComboBox(self)
        self.index_combo.setToolTip("Index shown in the chart")
        self.png_button = QPushButton("PNG…", self)
        self.csv_button = QPushButton("CSV…", self)
        for button, tip in ((self.png_button, "Save the chart as a PNG image"),
                            (self.csv_button, "Save the plotted values as CSV")):
            button.setToolTip(tip)
            button.setEnabled(False)
        header = QHBoxLayout()
        header.addWidget(self.index_combo, 1)
        header.addWidget(self.png_button)
        header.addWidget(self.csv_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(header)
        layout.addWidget(self.canvas)
        self.series: Series = {}
        self.index = ""
        self.statistic = "median"
        self.event_date: Optional[date] = None
        self._source: Optional[tuple] = None
        self.index_combo.currentTextChanged.connect(self._index_chosen)
        self.png_button.clicked.connect(lambda: self._ask_and_export("png"))
        self.csv_button.clicked.connect(lambda: self._ask_and_export("csv"))

    def show_series(self, table: QgsVectorLayer, id_field: str, forest_ids: Iterable,
                    index: str, statistic: str = "median",
                    event_date: Optional[date] = None,
                    indices: Iterable[str] = ()) -> int:
        """Plot ``index`` for ``forest_ids`` from the statistics table; returns lines drawn."""
        wanted = [str(i) for i in forest_ids]
        self._source = (table, id_field, wanted)
        self.statistic, self.event_date = statistic, event_date
        choices = list(dict.fromkeys([*indices, index]))
        if choices != [self.index_combo.itemText(i) for i in range(self.index_combo.count())]:
            self.index_combo.blockSignals(True)
            self.index_combo.clear()
            self.index_combo.addItems(choices)
            self.index_combo.blockSignals(False)
        self.index_combo.blockSignals(True)
        self.index_combo.setCurrentText(index)
        self.index_combo.blockSignals(False)
        return self._draw(index)

    def _index_chosen(self, index: str) -> None:
        if index and self._source is not None:
            self._draw(index)

    def _draw(self, index: str) -> int:
        table, id_field, wanted = self._source
        everything = table_points(table, id_field, index, self.statistic)
        self.series = {key: points for key, points in everything.items() if key[0] in wanted}
        self.index = index
        plot_series(self.figure, self.series, index=index, statistic=self.statistic,
                    event_date=self.event_date)
        self.canvas.draw()
        for button in (self.png_button, self.csv_button):
            button.setEnabled(bool(self.series))
        return len(self.series)

    def plotted_dates(self) -> Dict[Tuple[str, str], List[datetime]]:
        """The x values of each line, as drawn (cloud-free periods, at mid-period)."""
        return {key: [_when(p) for p, v, ok in points if ok and v is not None]
                for key, points in self.series.items()}

    def export_png(self, path: str) -> Path:
        self.figure.savefig(path, format="png", dpi=150)
        return Path(path)

    def export_csv(self, path: str) -> Path:
        """One row per forest, sensor and period: the value and whether it was cloud-free."""
        with open(path, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["forest", "collection", "period", "period_start", "index",
                             self.statistic, "usable"])
            for (forest, collection), points in sorted(self.series.items()):
                for label, value, usable in points:
                    start = period_start(label)
                    writer.writerow([forest, collection, label,
                                     start.isoformat() if start else "", self.index,
                                     "" if value is None else value, int(usable)])
        return Path(path)

    def _ask_and_export(self, kind: str) -> None:
        name = f"{self.index or 'chart'}_timeseries.{kind}"
        path, _ = QFileDialog.getSaveFileName(self, f"Save the chart as {kind.upper()}", name,
                                              f"{kind.upper()} (*.{kind})")
        if path:
            (self.export_png if kind == "png" else self.export_csv)(path)


def plot_series(figure, series: Series, *, index: str, statistic: str = "median",
                event_date: Optional[date] = None) -> None:
    """Draw ``series`` on ``figure`` (one axes)."""
    figure.clear()
    draw_series(figure.add_subplot(1, 1, 1), series, index=index, statistic=statistic,
                event_date=event_date)


def draw_series(axes, series: Series, *, index: str, statistic: str = "median",
                event_date: Optional[date] = None, title: Optional[str] = None,
                annotate_change: bool = False) -> None:
    """Draw ``series`` on ``axes``: colour per forest, line style per collection, usable
    periods joined by a line with filled markers, flagged (cloudy) periods hollow; with
    ``annotate_change``, each line's before/after-event change is written on the plot."""
    import matplotlib.dates as mdates

    forests = sorted({forest for forest, _ in series}, key=_natural)
    collections = sorted({collection for _, collection in series})
    colours = _palette(len(forests))
    for (forest, collection), points in sorted(series.items(), key=lambda kv: (
            _natural(kv[0][0]), kv[0][1])):
        colour = colours[forests.index(forest)]
        style = LINE_STYLES[collections.index(collection) % len(LINE_STYLES)]
        good = [(_when(p), v) for p, v, ok in points if ok and v is not None]
        flagged = [(_when(p), v) for p, v, ok in points if not ok and v is not None]
        label = forest if len(collections) == 1 else f"{forest} ({collection})"
        if good:
            axes.plot([d for d, _ in good], [v for _, v in good], linestyle=style, marker="o",
                      markersize=4, color=colour, label=label)
        if flagged:
            axes.plot([d for d, _ in flagged], [v for _, v in flagged], linestyle="none",
                      marker="o", markersize=5, markerfacecolor="none", color=colour,
                      label=None if good else label)
    low, high = index_display(index).chart_range
    axes.set_ylim(low, high)
    placed = {p: period_placement(p, event_date) for points in series.values()
              for p, _, _ in points}
    periods = sorted((q for q in placed.values() if q is not None), key=lambda q: q.start)
    if periods:
        first, last = periods[0].start, periods[-1].end
        span = (last.year - first.year) * 12 + last.month - first.month
        axes.xaxis.set_major_locator(mdates.MonthLocator(interval=max(1, (span + 5) // 6)))
        pad = timedelta(days=3)
        axes.set_xlim(first - pad, last + pad)
    if event_date is not None:
        moment = datetime(event_date.year, event_date.month, event_date.day)
        axes.axvline(moment, color="#37474f", linestyle="--", linewidth=1)
        left, right = axes.get_xlim()
        late = mdates.date2num(moment) > (left + right) / 2  # label on the roomier side
        axes.annotate(f"event {event_date.isoformat()}", (moment, high),
                      xytext=(-3 if late else 3, -10), textcoords="offset points",
                      ha="right" if late else "left", fontsize=7, color="#37474f")
    for period in {q for q in periods if q.straddles_event}:
        # its value mixes both sides of the event: show the whole period it stands for
        axes.axvspan(period.start, period.end, color="#ffcc80", alpha=0.25, linewidth=0)
        axes.annotate("composite spans the event", (period.middle, low),
                      xytext=(0, 3), textcoords="offset points", ha="center", fontsize=6,
                      color="#8d5a00")
    if annotate_change and event_date is not None:
        notes = []
        for (_forest, collection), points in sorted(series.items()):
            change = before_after_change([(p, v) for p, v, ok in points if ok], event_date)
            if change is not None:
                notes.append(f"{collection}: {change[0]:.2f} → {change[1]:.2f} "
                             f"(Δ {change[2]:+.2f})")
        if notes:
            axes.text(0.99, 0.03, "\n".join(notes), transform=axes.transAxes, ha="right",
                      va="bottom", fontsize=7, color="#263238",
                      bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "#b0bec5"})
    axes.set_title(title or f"{index} {statistic} per forest (hollow: cloudy)", fontsize=8)
    style_time_axes(axes, index)
    if series:
        # longer handles: each sensor's line style shows beside the marker (a short one is
        # covered by it: Landsat and Sentinel-2 of one forest looked the same); tighter
        # padding keeps the two-column legend inside a 300-pixel dock's plot
        axes.legend(fontsize=6, ncol=2 if len(series) > 4 else 1, loc="lower left",
                    handlelength=3, handletextpad=0.4, columnspacing=1.0)


def _when(label: str) -> datetime:
    """Where a period's value is drawn: mid-period (``core.display.period_placement``)."""
    placed = period_placement(label)
    return placed.middle if placed is not None else datetime.min


def _natural(text: str):
    return (0, int(text), "") if str(text).isdigit() else (1, 0, str(text))


def _palette(count: int) -> List[str]:
    base = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d",
            "#666666"]
    return [base[k % len(base)] for k in range(max(count, 1))]
