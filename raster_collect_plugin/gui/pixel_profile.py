"""Click a pixel on the map -> its time series from the run's composites: every index and, when
the run made colour composites, every band, for all sensors. Values are read by QGIS's own
raster provider (``dataProvider().sample``) from the COGs the run wrote; nothing is computed
again and no wheel is loaded in QGIS."""

from __future__ import annotations

from collections import defaultdict
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from osgeo import gdal
from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsPointXY,
    QgsProject,
    QgsRasterLayer,
)
from qgis.gui import QgsMapToolEmitPoint
from qgis.PyQt.QtCore import pyqtSignal
from qgis.PyQt.QtWidgets import QDialog, QLabel, QToolButton, QVBoxLayout

from ..core.outputs import period_start
from .chart import draw_series, figure_canvas

# (name, collection) -> [(period, value)] in date order; name is an index or a band
Profile = Dict[Tuple[str, str], List[Tuple[str, Optional[float]]]]


def _sample(path: str, point: QgsPointXY, crs: QgsCoordinateReferenceSystem,
            bands: Sequence[int]) -> Optional[List[Optional[float]]]:
    """The values of ``bands`` at ``point`` (None outside the raster or where nodata/NaN)."""
    layer = QgsRasterLayer(path, "pixel", "gdal")
    if not layer.isValid():
        return None
    where = QgsCoordinateTransform(crs, layer.crs(), QgsProject.instance()).transform(point)
    if not layer.extent().contains(where):
        return None
    provider = layer.dataProvider()
    values = []
    for band in bands:
        value, ok = provider.sample(where, band)
        values.append(float(value) if ok and value == value else None)
    return values


def _ordered(profile: Profile) -> Profile:
    return {key: sorted(points, key=lambda p: str(period_start(p[0]) or p[0]))
            for key, points in sorted(profile.items())}


def pixel_profile(collections: Sequence[Mapping], point: QgsPointXY,
                  crs: QgsCoordinateReferenceSystem) -> Tuple[Profile, Profile]:
    """(indices, bands) at ``point`` from a run's collections (``result["collections"]``:
    index COGs with one band per period, colour composites one file per period)."""
    indices: Profile = defaultdict(list)
    bands: Profile = defaultdict(list)
    for collection in collections:
        name, periods = collection["collection"], list(collection.get("periods") or [])
        for index, path in (collection.get("indices") or {}).items():
            values = _sample(path, point, crs, range(1, len(periods) + 1))
            if values is not None:
                indices[(index, name)] += list(zip(periods, values))
        for _key, files in (collection.get("colour_composites") or {}).items():
            for period, path in files.items():
                dataset = gdal.Open(path)
                names = (dataset.GetMetadataItem("bands") or "").split(",") if dataset else []
                values = _sample(path, point, crs, range(1, len(names) + 1)) if names else None
                for band, value in zip(names, values or []):
                    if (period, value) not in bands[(band, name)]:
                        bands[(band, name)].append((period, value))
    return _ordered(indices), _ordered(bands)


class PixelProfileDialog(QDialog):
    """One plot per index (a line per sensor) and one of the bands (a line per band and
    sensor) of one pixel."""

    def __init__(self, parent=None):
        super().__init__(parent)
        from matplotlib.figure import Figure

        self.setWindowTitle("Raster Collect: pixel time series")
        self.figure = Figure(figsize=(6.5, 5.5), dpi=90, layout="constrained")
        self.canvas = figure_canvas(self.figure)
        self.canvas.setMinimumSize(420, 360)
        self.heading = QLabel(self)
        layout = QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addWidget(self.canvas, 1)
        self.indices: Profile = {}
        self.bands: Profile = {}

    def show_profile(self, indices: Profile, bands: Profile, where: str, event_date=None
                     ) -> int:
        """Draw the profile; returns the number of lines drawn (0: the pixel is outside)."""
        self.indices, self.bands = indices, bands
        self.figure.clear()
        names = sorted({name for name, _ in indices})
        plots = len(names) + (1 if bands else 0)
        self.heading.setText(f"Pixel at {where}" if plots else
                             f"Pixel at {where}: outside the run's composites")
        lines = 0
        for number, index in enumerate(names, start=1):
            series = {("pixel", collection): [(p, v, v is not None) for p, v in points]
                      for (name, collection), points in indices.items() if name == index}
            draw_series(self.figure.add_subplot(plots, 1, number), series, index=index,
                        event_date=event_date, title=f"{index} of this pixel per sensor")
            lines += len(series)
        if bands:
            from .chart import _when

            axes = self.figure.add_subplot(plots, 1, plots)
            for (band, collection), points in bands.items():
                good = [(_when(p), v) for p, v in points if v is not None]
                axes.plot([d for d, _ in good], [v for _, v in good], marker="o",
                          markersize=3, label=f"{band} ({collection})")
                lines += 1
            axes.set_title("bands of this pixel (colour composites)", fontsize=8)
            axes.tick_params(labelsize=7)
            axes.grid(alpha=0.3)
            axes.legend(fontsize=6, ncol=2)
        self.canvas.draw_idle()
        return lines


class PixelPickTool(QgsMapToolEmitPoint):
    """The next clicks on the map give pixels (in the canvas's CRS)."""

    pixel_picked = pyqtSignal(QgsPointXY)

    def canvasReleaseEvent(self, event) -> None:  # noqa: N802 (Qt API name)
        self.pixel_picked.emit(self.toMapCoordinates(event.pos()))


def show_pixel(dock, point: QgsPointXY, crs: QgsCoordinateReferenceSystem
               ) -> Optional[PixelProfileDialog]:
    """The dock's last run at ``point``: the profile window (None before a run)."""
    run = getattr(dock, "_last_run", None)
    if run is None:
        dock.show_error("Fetch & compute first: the pixel profile reads the run's composites.")
        return None
    indices, bands = pixel_profile(run[1].get("collections") or [], point, crs)
    if getattr(dock, "_pixel_dialog", None) is None:
        dock._pixel_dialog = PixelProfileDialog(dock)
    dialog = dock._pixel_dialog
    where = f"{point.x():.1f}, {point.y():.1f} ({crs.authid()})"
    lines = dialog.show_profile(indices, bands, where, dock._run_context.get("event_date"))
    dock.set_status(f"Pixel {where}: {lines} series" if lines else
                    f"Pixel {where} is outside the run's composites")
    dialog.show()
    dialog.raise_()
    return dialog


def add_pixel_button(dock, parent) -> QToolButton:
    """A checkable button arming the pixel tool on the map canvas (enabled after a run)."""
    button = QToolButton(parent)
    button.setText("Pixel…")
    button.setToolTip("Click a pixel on the map to see its index and band time series for "
                      "every sensor of the run")
    button.setCheckable(True)
    button.setEnabled(False)
    dock.job_finished.connect(lambda _kind: button.setEnabled(
        getattr(dock, "_last_run", None) is not None))

    def toggled(on: bool) -> None:
        canvas = dock.iface.mapCanvas() if dock.iface is not None else None
        if canvas is None:
            return
        tool = getattr(dock, "_pixel_tool", None)
        if not on:
            if tool is not None and canvas.mapTool() is tool:
                canvas.unsetMapTool(tool)
            return
        tool = PixelPickTool(canvas)
        tool.pixel_picked.connect(
            lambda point: show_pixel(dock, point, canvas.mapSettings().destinationCrs()))
        tool.deactivated.connect(lambda: button.setChecked(False))
        dock._pixel_tool = tool
        canvas.setMapTool(tool)
        dock.set_status("Click a pixel on the map (Esc or another tool to stop)")

    button.toggled.connect(toggled)
    return button
