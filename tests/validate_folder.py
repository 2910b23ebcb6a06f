"""A monitoring folder written by hand (rasters, clear-days record, job file) on a 4 x 6 grid
of 10 m pixels, for ``validate`` tests whose numbers are counted by hand.

Compartments: ``A`` = columns 0-2, ``B`` = columns 3-5 (all 4 rows). Detected (confirmed):
(0,0), (0,1), (1,0) first anomaly 2025-03-15, confirmation 2025-03-25, and (3,5) confirmation
2025-04-01 (first anomaly 2025-03-20). Clear scenes: 2025-03-05, 03-10, 03-15, 03-20 (pixel
(0,0) cloudy), 03-25 twice (two sensors: one day), 04-01 (the last). History end 2024-12-31.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
from rasterio.transform import from_origin
from shapely.geometry import box

CRS = "EPSG:32632"
X0, Y0, SIZE = 500_000.0, 5_000_040.0, 10.0
SHAPE = (4, 6)
TRANSFORM = from_origin(X0, Y0, SIZE, SIZE)
SCENES = ("2025-03-05", "2025-03-10", "2025-03-15", "2025-03-20", "2025-03-25",
          "2025-03-25T10:00", "2025-04-01")


def cells(row0: int, col0: int, row1: int, col1: int):
    """The polygon of pixels rows row0..row1-1, columns col0..col1-1."""
    return box(X0 + col0 * SIZE, Y0 - row1 * SIZE, X0 + col1 * SIZE, Y0 - row0 * SIZE)


def compartments(ids=("A", "B"), field: str = "forest_id") -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({field: list(ids)}, geometry=[cells(0, 0, 4, 3), cells(0, 3, 4, 6)],
                            crs=CRS)


def _yyyymmdd(text: str) -> int:
    return int(text.replace("-", ""))


def write_folder(folder: Path, *, id_field: str = "forest_id", ids=("A", "B")) -> Path:
    """The monitoring folder (its compartments in ``folder/forests.gpkg``)."""
    from raster_collect_plugin.core.monitoring.clear_days import ClearDays

    folder.mkdir(parents=True, exist_ok=True)
    status = np.zeros(SHAPE, np.uint8)
    first = np.zeros(SHAPE, np.int32)
    confirmation = np.zeros(SHAPE, np.int32)
    for row, col in ((0, 0), (0, 1), (1, 0)):
        status[row, col] = 2
        first[row, col], confirmation[row, col] = _yyyymmdd("2025-03-15"), _yyyymmdd(
            "2025-03-25")
    status[3, 5], first[3, 5], confirmation[3, 5] = 2, _yyyymmdd("2025-03-20"), _yyyymmdd(
        "2025-04-01")
    for name, array in (("status", status), ("first_anomaly", first),
                        ("confirmation", confirmation)):
        with rasterio.open(folder / f"monitoring_{name}.tif", "w", driver="GTiff",
                           height=SHAPE[0], width=SHAPE[1], count=1, dtype=array.dtype,
                           crs=CRS, transform=TRANSFORM) as out:
            out.write(array, 1)
    record = ClearDays(SHAPE[0] * SHAPE[1])
    for when in SCENES:
        clear = np.ones(SHAPE, bool)
        if when == "2025-03-20":
            clear[0, 0] = False
        record(np.datetime64(when), "S2", None, _Scene(clear.reshape(-1)))
    record.append_to(folder, None)
    forests = folder / "forests.gpkg"
    compartments(ids, id_field).to_file(forests)
    (folder / "monitoring_job.json").write_text(json.dumps({
        "kind": "monitor", "aoi": str(forests), "id_field": id_field,
        "history_start": "2023-01-01", "history_end": "2024-12-31",
        "output_dir": str(folder)}))
    (folder / "monitoring_state.json").write_text(json.dumps({  # what validate reads of it
        "params": {"history_end": "2024-12-31"}, "last_time": "2025-04-01T00:00:00.000000000"}))
    return folder


class _Scene:
    def __init__(self, valid):
        self.valid = valid


def references(rows, crs: str = CRS) -> gpd.GeoDataFrame:
    """Reference polygons from (geometry, date, extra columns...) dicts."""
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=crs)
