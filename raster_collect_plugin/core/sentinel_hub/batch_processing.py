"""Batch Processing (V2): index rasters of large areas and long periods computed by the
service, tile by tile on a predefined tiling grid, delivered as COGs to the user's bucket.

Sources (CDSE documentation, APIs/SentinelHub/…): BatchV2.qmd (workflow and statuses, tiling
grids table, feature manifest written during analysis, output layout, Copernicus Service
account), BatchV2/Examples.qmd (request shape), Overview/ProcessingUnit.qmd "BatchV2
Processing API" (minimum 100 PU; x 1/3 for tiles larger than 10,000 px), Batch.qmd "Cost
estimate" (ORBIT/TILE mosaicking: one sample every three days assumed), ApiReference
openapi.v1.yaml (``BatchV2ProcessTask``, ``BatchV2RasterOutput.delivery`` template
``<requestId>/<tileName>/<outputId>.<format>``).
"""

from __future__ import annotations

# BatchV2.qmd "Tiling Grid": id -> name, tile size, resolutions, unit
TILING_GRIDS = {
    0: {"name": "UTM 20km grid", "tile": 20040.0, "resolutions": (10.0, 20.0, 30.0, 60.0),
        "unit": "m"},
    1: {"name": "UTM 10km grid", "tile": 10000.0, "resolutions": (10.0, 20.0), "unit": "m"},
    2: {"name": "UTM 100km grid", "tile": 100080.0,
        "resolutions": (30.0, 60.0, 120.0, 240.0, 360.0), "unit": "m"},
    3: {"name": "WGS84 1 degree grid", "tile": 1.0, "resolutions": (0.0001, 0.0002),
        "unit": "deg"},
    6: {"name": "LAEA 100km grid", "tile": 100000.0, "resolutions": (40.0, 50.0, 100.0),
        "unit": "m"},
    7: {"name": "LAEA 20km grid", "tile": 20000.0, "resolutions": (10.0, 20.0), "unit": "m"},
}
DEFAULT_GRID = 1
