"""Raster Collect QGIS plugin: entry point.

QGIS calls :func:`classFactory`. If required Python packages are missing we return a small
placeholder plugin that shows one clear message instead of failing with a traceback.
"""


def classFactory(iface):  # noqa: N802 (QGIS API name)
    from .dependencies import find_problems, problems_message

    problems = find_problems()
    if problems:
        from .missing_dependencies import MissingDependenciesPlugin

        return MissingDependenciesPlugin(iface, problems_message(problems))

    from .plugin import RasterCollectPlugin

    return RasterCollectPlugin(iface)
