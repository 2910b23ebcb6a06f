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

import math
import re
from datetime import date
from typing import Dict, List, Optional, Sequence, Tuple

from ..sources.providers.base import ProviderError
from . import rules as rules
from .bucket import CDSE_S3_REGION, s3_access
from .client import PROVIDER_NAME, CopernicusSettings

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
# the grids this tool can use: the ones in metres (its areas, resolutions and sizes are metric)
USABLE_GRIDS = {key: grid for key, grid in TILING_GRIDS.items() if grid["unit"] == "m"}
DEFAULT_GRID = 1
TILE_DISCOUNT_PX = 10_000  # ProcessingUnit.qmd: x 1/3 "if processed tiles is bigger than 10.000 px"
REVISIT_DAYS = 3  # Batch.qmd "Cost estimate": one sample every three days (ORBIT/TILE)
OUTPUT_ID = "default"
PU_MIN_BATCH = 100.0  # ProcessingUnit.qmd "BatchV2 Processing API": minimal cost of a request


class UnsupportedGrid(ProviderError):
    """A tiling grid or resolution the service does not offer: the user's to change (exit 2,
    before anything is sent), not a failure of the service."""

    exit_kind = "bad_input"  # errors.classify


def check_grid(grid_id: int, resolution: float) -> Dict:
    """The grid's definition; a grid or resolution the service does not offer is refused with
    the choices."""
    grid = TILING_GRIDS.get(int(grid_id))
    if grid is None:
        raise UnsupportedGrid(f"{PROVIDER_NAME}: tiling grid {grid_id} does not exist; choose "
                              f"one of {sorted(USABLE_GRIDS)}")
    if grid["unit"] != "m":
        raise UnsupportedGrid(f"{PROVIDER_NAME}: grid {grid_id} ({grid['name']}) is in "
                              "degrees; this tool works in metres: choose a UTM or LAEA grid")
    if float(resolution) not in grid["resolutions"]:
        choices = ", ".join(f"{r:g}" for r in grid["resolutions"])
        raise UnsupportedGrid(f"{PROVIDER_NAME}: grid {grid_id} ({grid['name']}) offers "
                              f"{choices} m, not {resolution:g} m: change --resolution or "
                              "--tiling-grid")
    return grid


def grid_epsg(frame, grid_id: int) -> int:
    """The CRS a grid's tiles over this area are delivered in: the area's UTM zone, or
    EPSG:3035 for the LAEA grids (BatchV2.qmd "output CRS")."""
    return 3035 if int(grid_id) in (6, 7) else rules.request_epsg(frame.to_crs(4326))


def samples_per_pixel(evalscript: str, start: date, end: date) -> int:
    """Samples the estimate counts: 1 for SIMPLE mosaicking; for ORBIT/TILE one every three
    days of the period, as the service's own estimate assumes (Batch.qmd)."""
    if re.search(r"mosaicking:\s*(Mosaicking\.)?\"?(ORBIT|TILE)", evalscript):
        return max(1, math.ceil(((end - start).days + 1) / REVISIT_DAYS))
    return 1


def tiles_pu(sizes: Sequence[Tuple[int, int]], *, input_bands: Sequence[str],
             samples: int) -> float:
    """Batch Processing cost of tiles (width, height px): the Process rules with FLOAT32
    output, x 1/3 for tiles over 10,000 px, at least 100 PU a request."""
    total = 0.0
    for width, height in sizes:
        units = rules.process_pu(width_px=width, height_px=height, input_bands=input_bands,
                                 samples=samples)
        total += units / 3 if width * height > TILE_DISCOUNT_PX else units
    return max(PU_MIN_BATCH, total)


def planned_tiles(frame, grid_id: int, resolution: float) -> List[Tuple[float, ...]]:
    """The grid cells the forests touch, as this tool estimates them before the service's
    analysis: tile-size squares from the CRS origin (the service's exact tiles come with its
    feature manifest)."""
    import shapely

    size = check_grid(grid_id, resolution)["tile"]
    area = shapely.union_all(list(frame.to_crs(grid_epsg(frame, grid_id)).geometry))
    xmin, ymin, xmax, ymax = area.bounds
    tiles = []
    for col in range(math.floor(xmin / size), math.floor(xmax / size) + 1):
        for row in range(math.floor(ymin / size), math.floor(ymax / size) + 1):
            cell = (col * size, row * size, (col + 1) * size, (row + 1) * size)
            if area.intersects(shapely.box(*cell)):
                tiles.append(cell)
    return tiles


def batch_processing_payload(frame, *, indices: Sequence[str], start: date, end: date,
                             settings: CopernicusSettings, output_s3_url: str,
                             grid_id: int = DEFAULT_GRID, resolution: float = 10.0,
                             max_cloud_cover: Optional[float] = None,
                             region: Optional[str] = CDSE_S3_REGION,
                             send_keys: bool = False) -> Dict:
    """A Batch Processing V2 request (BatchV2/Examples.qmd "Option 1"): ``processRequest``
    (the forests' outline as ``input.bounds`` — only tiles touching it are processed and
    charged — the Process evalscript, one ``default`` TIFF response), ``input`` (the tiling
    grid and resolution), ``output`` (raster COGs delivered to the bucket)."""
    import shapely

    from .evalscripts import HARMONIZE_VALUES, process_evalscript

    check_grid(grid_id, resolution)
    epsg = rules.request_epsg(frame)
    outline = shapely.union_all(list(frame.to_crs(epsg).geometry))
    begin, stop = rules.time_range(start, end)
    data_filter: Dict = {"timeRange": {"from": begin.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                       "to": stop.strftime("%Y-%m-%dT%H:%M:%SZ")},
                         "mosaickingOrder": "mostRecent"}
    if max_cloud_cover is not None and max_cloud_cover < 100:
        data_filter["maxCloudCoverage"] = float(max_cloud_cover)
    return {
        "processRequest": {
            "input": {"bounds": {"geometry": shapely.geometry.mapping(outline),
                                 "properties": {"crs": rules_crs_url(epsg)}},
                      "data": [{"type": "sentinel-2-l2a", "dataFilter": data_filter,
                                "processing": {"harmonizeValues": HARMONIZE_VALUES}}]},
            "output": {"responses": [{"identifier": OUTPUT_ID,
                                      "format": {"type": "image/tiff"}}]},
            "evalscript": process_evalscript(indices)},
        "input": {"type": "tiling-grid", "id": int(grid_id), "resolution": float(resolution)},
        "output": {"type": "raster", "cogOutput": True,
                   "delivery": s3_access(output_s3_url, region=region, send_keys=send_keys)},
        "description": f"raster-collect {'-'.join(indices)} {start}..{end}",
    }


def rules_crs_url(epsg: int) -> str:
    return f"http://www.opengis.net/def/crs/EPSG/0/{epsg}"


def batch_processing_estimate(frame, *, indices: Sequence[str], start: date, end: date,
                              grid_id: int = DEFAULT_GRID, resolution: float = 10.0) -> Dict:
    """The cost before anything is sent, from this tool's own tiling of the area."""
    from .evalscripts import input_bands, process_evalscript

    grid = check_grid(grid_id, resolution)
    tiles = planned_tiles(frame, grid_id, resolution)
    side = int(round(grid["tile"] / resolution))
    samples = samples_per_pixel(process_evalscript(indices), start, end)
    pu = tiles_pu([(side, side)] * len(tiles), input_bands=input_bands(indices),
                  samples=samples)
    return {"tiling_grid": int(grid_id), "grid": grid["name"], "resolution": resolution,
            "tiles": len(tiles), "tile_px": [side, side], "samples_per_pixel": samples,
            "estimated_processing_units": pu, "minimum_pu": PU_MIN_BATCH,
            "pu_reserve_needed": rules.BATCH_PU_RESERVE,
            "account": "Batch Processing needs a Copernicus Service account (other CDSE "
                       "accounts get HTTP 403) and at least 1000 PU available to create it"}
