"""The dock's time-series chart: one index per selected compartment over the periods."""

from __future__ import annotations

from collections import defaultdict
from typing import Dict, Iterable, List, Tuple

from qgis.core import QgsFeatureRequest, QgsVectorLayer
from qgis.PyQt.QtWidgets import QSizePolicy, QVBoxLayout, QWidget


class TimeSeriesChart(QWidget):
    """A matplotlib canvas showing the usable monthly values of the selected forests."""

    def __init__(self, parent=None):
        super().__init__(parent)
        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
        from matplotlib.figure import Figure

        self.figure = Figure(figsize=(4, 2.6), dpi=90)
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.canvas.setMinimumHeight(180)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.canvas)
        self.series: Dict[Tuple[str, str], List[Tuple[str, float]]] = {}

    def show_series(self, table: QgsVectorLayer, id_field: str, forest_ids: Iterable,
                    index: str, statistic: str = "median") -> int:
        """Plot ``index`` for ``forest_ids`` from the statistics table; returns lines drawn."""
        wanted = {str(i) for i in forest_ids}
        self.series = defaultdict(list)
        if table is not None and table.isValid() and wanted:
            request = QgsFeatureRequest().setFilterExpression(f'"index" = \'{index}\'')
            for feature in table.getFeatures(request):
                if str(feature[id_field]) in wanted and feature["usable"]:
                    key = (str(feature[id_field]), str(feature["collection"]))
                    self.series[key].append((str(feature["period"]), float(feature[statistic])))
        self.figure.clear()
        axes = self.figure.add_subplot(1, 1, 1)
        for (forest, collection), points in sorted(self.series.items()):
            points.sort()
            axes.plot([p for p, _ in points], [v for _, v in points], marker="o",
                      markersize=3, label=f"{forest} ({collection})")
        axes.set_title(f"{index} {statistic}, cloud-free periods", fontsize=9)
        axes.tick_params(labelsize=7)
        for label in axes.get_xticklabels():
            label.set_rotation(45)
        if self.series:
            axes.legend(fontsize=6)
        self.figure.tight_layout()
        self.canvas.draw_idle()
        return len(self.series)
