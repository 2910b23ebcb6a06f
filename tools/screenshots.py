"""Render the dock and a result map offscreen to PNGs (``make screenshots``).

Runs the real plugin on the small embedded sample (before/after the sample's storm): the
form as it opens at 320 x 900 (``dock.png``), the dock after search and fetch & compute
(``dock-results.png``: scenes and the time-series chart), and the map: NDVI change since the
storm over the December composite (``map.png``).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(output: Path) -> None:
    from qgis.core import (
        QgsApplication,
        QgsMapRendererParallelJob,
        QgsMapSettings,
        QgsProject,
        QgsVectorLayer,
    )
    from qgis.PyQt.QtCore import QDate, QEventLoop, QSize, Qt, QTimer
    from qgis.PyQt.QtGui import QColor
    from qgis.PyQt.QtWidgets import QMainWindow

    app = QgsApplication([], True)
    app.initQgis()
    from raster_collect_plugin.core.sample.catalog import make_sample
    from raster_collect_plugin.core.sample.scenes import small_spec
    from raster_collect_plugin.gui.dock import SOURCES, RasterCollectDock
    from tests.recording_iface import RecordingIface

    work = Path(tempfile.mkdtemp(prefix="rc-screenshots-"))
    sample = make_sample(work / "sample", small_spec())
    forests = QgsVectorLayer(f"{sample.forests_path}|layername=forests", "forests", "ogr")
    QgsProject.instance().addMapLayer(forests)
    from qgis.gui import QgsMapCanvas

    window = QMainWindow()
    canvas = QgsMapCanvas(window)
    dock = RasterCollectDock(RecordingIface(window, canvas), window)
    dock.setFloating(True)
    dock.resize(320, 900)
    dock.show()
    dock.layer_combo.setLayer(forests)
    catalog_row = [k for k, _, _ in SOURCES].index("catalog")
    dock.source_list.item(catalog_row).setCheckState(Qt.CheckState.Checked)
    dock.catalog_edit.setFilePath(str(sample.catalog_path))
    dock.custom_collections.setText("sentinel-2-l2a")
    dock.preset_combo.setCurrentText("Before/after an event")
    dock.start_date.setDate(QDate(2025, 10, 1))
    dock.end_date.setDate(QDate(2025, 12, 31))
    dock.max_cloud.setValue(100)
    dock.output_folder.setFilePath(str(work / "outputs"))
    for row in range(dock.index_list.count()):
        item = dock.index_list.item(row)
        item.setCheckState(Qt.CheckState.Checked
                           if item.data(Qt.ItemDataRole.UserRole) == "NDVI"
                           else Qt.CheckState.Unchecked)

    def run(start) -> None:
        loop = QEventLoop()
        dock.job_finished.connect(loop.quit)
        start()
        QTimer.singleShot(300_000, loop.quit)
        loop.exec()
        dock.job_finished.disconnect(loop.quit)

    output.mkdir(parents=True, exist_ok=True)
    QgsApplication.processEvents()
    dock.grab().save(str(output / "dock.png"))
    forests.selectByIds([f.id() for f in forests.getFeatures()][:4])
    run(dock.start_search)
    run(dock.start_compute)
    if dock.last_error:
        raise SystemExit(f"compute failed: {dock.last_error}")
    for section in (dock.aoi_section, dock.period_section, dock.outputs_section):
        section.setCollapsed(True)
    dock.resize(320, 900)
    QgsApplication.processEvents()
    dock.scroll.verticalScrollBar().setValue(0)
    QgsApplication.processEvents()
    dock.grab().save(str(output / "dock-results.png"))
    body = dock.scroll.widget()
    if body.minimumSizeHint().width() > dock.scroll.viewport().width():
        print(f"warning: the dock's content needs {body.minimumSizeHint().width()} px")

    [change] = [layer for layer in QgsProject.instance().mapLayers().values()
                if layer.name().startswith("forests: NDVI change")]
    december = QgsProject.instance().mapLayersByName("NDVI 2025-12")[0]
    settings = QgsMapSettings()
    settings.setLayers([change, december])
    settings.setDestinationCrs(december.crs())
    settings.setExtent(december.extent())
    settings.setOutputSize(QSize(900, 700))
    settings.setBackgroundColor(QColor("white"))
    job = QgsMapRendererParallelJob(settings)
    job.start()
    job.waitForFinished()
    with_legend(job.renderedImage(), [change, december]).save(str(output / "map.png"))
    report = dock.write_report(work / "report.html")
    print(f"wrote dock.png, dock-results.png and map.png to {output}; a run report: {report}")
    dock.shutdown()
    app.exitQgis()


def with_legend(image, layers):
    """``image`` with a legend box in its lower right: the classes of the polygon layer (its
    graduated renderer's ranges) and the raster's colour ramp."""
    from qgis.PyQt.QtCore import QRect, Qt
    from qgis.PyQt.QtGui import QColor, QFont, QLinearGradient, QPainter

    polygons, raster = layers
    ranges = polygons.renderer().ranges()
    shader = raster.renderer().shader().rasterShaderFunction()
    items = shader.colorRampItemList()
    line, width = 24, 330
    height = line * (len(ranges) + 4) + 16
    result = image.copy()
    painter = QPainter(result)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    left, top = result.width() - width - 12, result.height() - height - 12
    painter.fillRect(QRect(left, top, width, height), QColor(255, 255, 255, 235))
    painter.setPen(QColor("#90a4ae"))
    painter.drawRect(QRect(left, top, width, height))
    font = QFont()
    font.setPixelSize(14)
    painter.setFont(font)
    y = top + 8
    painter.setPen(QColor("#263238"))
    painter.drawText(QRect(left + 10, y, width - 20, line), Qt.AlignmentFlag.AlignVCenter,
                     polygons.name())
    for item in ranges:
        y += line
        colour = item.symbol().color()
        painter.fillRect(QRect(left + 14, y + 4, 26, 16), colour)
        painter.setPen(item.symbol().symbolLayer(0).strokeColor())
        painter.drawRect(QRect(left + 14, y + 4, 26, 16))
        painter.setPen(QColor("#263238"))
        painter.drawText(QRect(left + 50, y, width - 60, line), Qt.AlignmentFlag.AlignVCenter,
                         item.label())
    y += line + 8
    painter.drawText(QRect(left + 10, y, width - 20, line), Qt.AlignmentFlag.AlignVCenter,
                     f"{raster.name()} composite")
    y += line
    gradient = QLinearGradient(left + 14, 0, left + width - 60, 0)
    for n, item in enumerate(items):
        gradient.setColorAt(n / (len(items) - 1), item.color)
    painter.fillRect(QRect(left + 40, y + 4, width - 100, 16), gradient)
    painter.drawText(QRect(left + 10, y, 28, line), Qt.AlignmentFlag.AlignVCenter,
                     f"{items[0].value:g}")
    painter.drawText(QRect(left + width - 56, y, 50, line), Qt.AlignmentFlag.AlignVCenter,
                     f"{items[-1].value:g}")
    painter.end()
    return result


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshots")
