"""Raster Collect QGIS plugin: entry point.

QGIS calls :func:`classFactory`. The plugin always loads: QGIS's own Python needs nothing
beyond QGIS. The work runs in a separate Python (the engine, see ``engine/``); whether that
Python is ready is checked by the engine's doctor in a background task, and every door that
needs it says so with the fix.
"""


def classFactory(iface):  # noqa: N802 (QGIS API name)
    from .plugin import RasterCollectPlugin

    return RasterCollectPlugin(iface)
