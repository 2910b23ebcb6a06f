"""A clicked pixel's index and band time series for every sensor of the run (issue 32), read by
QGIS's raster provider from the run's COGs."""

import pytest
from osgeo import gdal
from qgis.core import QgsCoordinateTransform, QgsPointXY, QgsProject

from raster_collect_plugin.gui.pixel_profile import pixel_profile
from tests.test_dock import dock, forests, wait_for_job  # noqa: F401 (fixtures)


def gdal_value(path, band, point, crs):
    """The pixel under ``point`` read with GDAL directly (the expected value)."""
    dataset = gdal.Open(path)
    from qgis.core import QgsCoordinateReferenceSystem

    target = QgsCoordinateReferenceSystem()
    target.createFromWkt(dataset.GetProjection())
    where = QgsCoordinateTransform(crs, target, QgsProject.instance()).transform(point)
    left, width, _, top, _, height = dataset.GetGeoTransform()
    column, row = int((where.x() - left) / width), int((where.y() - top) / height)
    return float(dataset.GetRasterBand(band).ReadAsArray(column, row, 1, 1)[0, 0])


def test_a_clicked_pixel_gives_every_index_band_and_sensor(dock, forests,  # noqa: F811
                                                           qgis_iface):
    dock.custom_collections.setText("sentinel-2-l2a,landsat-c2-l2")
    dock.colour_check.setChecked(True)
    assert not dock.pixel_button.isEnabled()
    dock.start_compute()
    assert wait_for_job(dock) == "zonal", dock.last_error
    assert dock.pixel_button.isEnabled()
    collections = dock._last_run[1]["collections"]
    crs = forests.crs()
    centre = {f["forest_id"]: f.geometry().pointOnSurface().asPoint()
              for f in forests.getFeatures()}

    indices, bands = pixel_profile(collections, QgsPointXY(centre[285]), crs)
    assert sorted(indices) == [("NDVI", "landsat-c2-l2"), ("NDVI", "sentinel-2-l2a")]
    s2 = indices[("NDVI", "sentinel-2-l2a")]
    assert [p for p, _ in s2] == ["2025-10", "2025-11", "2025-12"]
    # forest 285 was flattened by the 13 November storm: NDVI falls by more than 0.3
    assert s2[0][1] > 0.7 and s2[-1][1] < s2[0][1] - 0.3
    [s2_file] = [c["indices"]["NDVI"] for c in collections
                 if c["collection"] == "sentinel-2-l2a"]
    for band, (_, value) in enumerate(s2, start=1):
        assert value == pytest.approx(gdal_value(s2_file, band, QgsPointXY(centre[285]),
                                                 crs), abs=1e-6)
    # colour composites: red, green and blue of both sensors, one value per month
    assert {name for name, _ in bands} == {"red", "green", "blue"}
    assert {collection for _, collection in bands} == {"sentinel-2-l2a", "landsat-c2-l2"}
    assert all(len(points) == 3 for points in bands.values())
    assert all(0 < v < 1 for points in bands.values() for _, v in points if v is not None)
    # an intact forest keeps its NDVI
    intact, _ = pixel_profile(collections, QgsPointXY(centre[281]), crs)
    values = [v for _, v in intact[("NDVI", "sentinel-2-l2a")]]
    assert min(values) > 0.7

    # from the map: the button arms the tool, a click opens the window
    canvas = qgis_iface.mapCanvas()
    canvas.setDestinationCrs(crs)
    dock.pixel_button.setChecked(True)
    assert canvas.mapTool() is dock._pixel_tool
    dock._pixel_tool.pixel_picked.emit(QgsPointXY(centre[285]))
    dialog = dock._pixel_dialog
    assert dialog.isVisible() and dialog.indices == indices
    assert len(dialog.figure.axes) == 2  # NDVI, then the bands
    assert len(dialog.figure.axes[1].lines) == 6
    assert dock.status_text().startswith("Pixel ") and "8 series" in dock.status_text()
    far = QgsPointXY(centre[285].x() + 50_000, centre[285].y())
    dock._pixel_tool.pixel_picked.emit(far)
    assert dock.status_text().endswith("is outside the run's composites")
    dock.pixel_button.setChecked(False)
    assert canvas.mapTool() is not dock._pixel_tool
    dialog.close()

    # a click in a view by date gives the same series
    from raster_collect_plugin.gui.date_views import DateViewsDialog

    [forest] = [f for f in forests.getFeatures() if f["forest_id"] == 285]
    views = DateViewsDialog([{"id": "a", "datetime": "2025-10-05", "renderings": []}],
                            forest.geometry(), crs, open_layer=lambda *args: None,
                            on_pixel=dock.scene_table._pixel)
    assert views.canvases[0].mapTool() is views.pixel_tools[0]
    views.pixel_tools[0].pixel_picked.emit(QgsPointXY(centre[285]))
    assert dialog.isVisible() and dialog.indices == indices
    views.close()
    dialog.close()
