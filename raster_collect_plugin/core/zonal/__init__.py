"""Zonal: statistics per zone (forest, hexagon) over composites or any raster: coverage,
reading, the compiled reduction, dask tasks, tables, and the zonal pipeline.

The names below are this folder's public face for the doors (cli/, gui/, processing/, engine/);
the rest is private. A name loads its module when first used, so QGIS can read the light
modules without importing the heavy ones. Modules inside core/ import from modules, not faces.
"""

from importlib import import_module

_FACE = {
    "ZonalRequest": "pipeline",
    "ZonalResult": "pipeline",
    "run_zonal": "pipeline",
    "RasterZonalRequest": "of_raster",
    "parse_bands": "of_raster",
    "run_zonal_raster": "of_raster",
    "zonal_statistics": "statistics",
    "zonal_statistics_of_file": "statistics",
    "STATISTICS": "reduce",
    "COVERAGE_MODES": "coverage",
}
__all__ = sorted(_FACE)


def __getattr__(name: str):
    if name in _FACE:
        return getattr(import_module(f"{__name__}.{_FACE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
