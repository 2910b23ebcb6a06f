"""Click a forest on the map -> its time series for every index and sensor of the run:
cloud-free periods solid, flagged (cloudy) periods hollow, the event date marked and the
before/after change written on each plot."""

from __future__ import annotations

import html
from datetime import date
from typing import Dict, List, Optional

from qgis.core import QgsVectorLayer
from qgis.gui import QgsMapToolIdentifyFeature
from qgis.PyQt.QtCore import pyqtSignal
from qgis.PyQt.QtWidgets import (
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
)

from .chart import Series, draw_series, figure_canvas
from .results import table_points

NOT_IN_RUN = ("this forest was not part of the run (not selected for it, or outside the "
              "imagery): tick it and Fetch & compute again")


def table_indices(table: QgsVectorLayer) -> List[str]:
    """The indices a statistics table holds, sorted."""
    position = table.fields().indexOf("index")
    return sorted(str(v) for v in table.uniqueValues(position)) if position >= 0 else []


class ForestSeriesDialog(QDialog):
    """One forest, every index (one plot each) and every sensor (one line each)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        from matplotlib.figure import Figure

        self.setWindowTitle("Raster Collect: forest time series")
        self.figure = Figure(figsize=(6.5, 5), dpi=90, layout="constrained")
        self.canvas = figure_canvas(self.figure)
        self.canvas.setMinimumSize(420, 320)
        self.heading = QLabel(self)
        self.save_button = QPushButton("Save PNG…", self)
        self.save_button.clicked.connect(self._save)
        top = QHBoxLayout()
        top.addWidget(self.heading, 1)
        top.addWidget(self.save_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.canvas, 1)
        self.forest = ""
        self.series: Dict[str, Series] = {}

    def show_forest(self, table: QgsVectorLayer, id_field: str, forest, *,
                    event_date: Optional[date] = None, statistic: str = "median"
                    ) -> Dict[str, Series]:
        """Plot every index of ``forest``; returns {index: series drawn}."""
        self.forest = str(forest)
        self.series = {}
        for index in table_indices(table):
            lines = {key: points for key, points in
                     table_points(table, id_field, index, statistic).items()
                     if key[0] == self.forest}
            if lines:
                self.series[index] = lines
        self.figure.clear()
        if not self.series:
            self.heading.setText(f"<b>{id_field} {html.escape(self.forest)}</b>: "
                                 f"{NOT_IN_RUN}")
            axes = self.figure.add_subplot(1, 1, 1)
            axes.set_axis_off()
            axes.text(0.5, 0.5, f"{id_field} {self.forest}: {NOT_IN_RUN}", ha="center",
                      va="center", wrap=True, fontsize=9, transform=axes.transAxes)
            self.canvas.draw()
            return self.series
        count = max(len(self.series), 1)
        axes_list = self.figure.subplots(count, 1, sharex=True, squeeze=False)[:, 0]
        for axes, (index, lines) in zip(axes_list, self.series.items()):
            draw_series(axes, lines, index=index, statistic=statistic, event_date=event_date,
                        title=f"{index} {statistic}", annotate_change=True)
        sensors = sorted({collection for lines in self.series.values() for _, collection in lines})
        names = ", ".join(self.series) or "no values"
        self.heading.setText(f"<b>{id_field} {self.forest}</b>: {names} from "
                             f"{', '.join(sensors) or 'no sensor'}; hollow = cloudy")
        self.canvas.draw()
        return self.series

    def _save(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save the plots", f"forest_{self.forest}.png",
                                              "PNG (*.png)")
        if path:
            self.figure.savefig(path, dpi=150)


class ForestPickTool(QgsMapToolIdentifyFeature):
    """Map tool: a click on a forest polygon emits its id."""

    forest_picked = pyqtSignal(object)

    def __init__(self, canvas, layer: QgsVectorLayer, id_field: str):
        super().__init__(canvas, layer)
        self.id_field = id_field
        self.featureIdentified.connect(self._identified)

    def _identified(self, feature) -> None:
        self.forest_picked.emit(feature[self.id_field])
