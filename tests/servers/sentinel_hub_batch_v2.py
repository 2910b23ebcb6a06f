"""The loopback deployment with Batch Processing V2 as the CDSE documentation describes it
(APIs/SentinelHub/BatchV2.qmd, BatchV2/Examples.qmd, ApiReference/openapi.v1.yaml
``/api/v2/batch/process…``, ``BatchV2ProcessTask``, ``BatchV2RasterOutput``), on top of the
Batch Statistical server (sentinel_hub_batch.py) and the same S3 API (moto):

- ``POST /api/v2/batch/process`` -> 201 ``BatchV2ProcessTask`` (CREATED); the input must be a
  documented tiling grid with one of its resolutions, the output ``raster`` with
  ``delivery.s3`` holding only the documented keys; 403 for other accounts.
- ``POST …/{taskId}/analyse|start|stop`` -> 204; ``GET …/{taskId}`` advances one step:
  ANALYSING writes ``featureManifest-<taskId>.gpkg`` (table ``feature_<epsg>``: outputId,
  identifier, path, width, height, geometry) to the root of the delivery path, then
  ANALYSIS_DONE (or PROCESSING after START); PROCESSING writes one COG per tile and output to
  ``<url>/<taskId>/<tileName>/<outputId>.tif`` (the documented default layout), then DONE with
  ``costPU`` by Overview/ProcessingUnit.qmd "BatchV2" (Process rules, FLOAT32 x 2, x 1/3 for
  tiles over 10,000 px, at least 100 PU).
- ``GET /api/v2/batch/tilinggrids``: the grids table of BatchV2.qmd.

Stated choices where the documentation is silent: tiles are tile-size squares from the CRS
origin of the area's UTM zone, named ``<epsg>_<col>_<row>``; the evalscript runs only on the
pixels the sample's scenes cover (elsewhere every pixel has ``dataMask`` 0, for which the
project's scripts return NaN).
"""

from __future__ import annotations

import math
import re
import tempfile
import uuid
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .sentinel_hub import (
    SCENE_EPSG,
    ServiceError,
    _error,
    _format_time,
    _parse_time,
    _run_evalscript,
)
from .sentinel_hub_batch import S3_KEYS, AccessDenied, BatchStatisticalServer, _s3_parts

# BatchV2.qmd "Tiling Grid": id -> name, tile size, resolutions
TILING_GRIDS = {
    0: {"name": "UTM 20km grid", "tile": 20040.0, "resolutions": [10.0, 20.0, 30.0, 60.0],
        "unit": "METRE"},
    1: {"name": "UTM 10km grid", "tile": 10000.0, "resolutions": [10.0, 20.0], "unit": "METRE"},
    2: {"name": "UTM 100km grid", "tile": 100080.0,
        "resolutions": [30.0, 60.0, 120.0, 240.0, 360.0], "unit": "METRE"},
    3: {"name": "WGS84 1 degree grid", "tile": 1.0, "resolutions": [0.0001, 0.0002],
        "unit": "DEGREE"},
    6: {"name": "LAEA 100km grid", "tile": 100000.0, "resolutions": [40.0, 50.0, 100.0],
        "unit": "METRE"},
    7: {"name": "LAEA 20km grid", "tile": 20000.0, "resolutions": [10.0, 20.0], "unit": "METRE"},
}


def _cog(array, transform, epsg: int) -> bytes:
    """A FLOAT32 COG of one tile (BatchV2.qmd: ``cogOutput`` true), in the tile's CRS."""
    import rasterio
    from rasterio.shutil import copy as rio_copy

    crs = f"EPSG:{epsg}"
    with tempfile.TemporaryDirectory() as folder:
        plain, cog = Path(folder) / "plain.tif", Path(folder) / "tile.tif"
        with rasterio.open(plain, "w", driver="GTiff", width=array.shape[2],
                           height=array.shape[1], count=array.shape[0], dtype="float32",
                           crs=crs, transform=transform, nodata=float("nan")) as dataset:
            dataset.write(array)
        rio_copy(plain, cog, driver="COG")
        return cog.read_bytes()


class BatchSentinelHubServer(BatchStatisticalServer):
    """Batch Statistical and Batch Processing V2 against ``s3_endpoint`` (moto)."""

    def v2(self, method: str, path: str, payload: dict):
        """``/api/v2/batch/process`` (create: 201), ``…/{taskId}`` (GET), ``…/{taskId}/
        analyse|start|stop`` (204), ``/api/v2/batch/tilinggrids`` (openapi.v1.yaml)."""
        if path.rstrip("/") == "/api/v2/batch/tilinggrids" and method == "GET":
            return 200, {"data": [{"id": key, "name": grid["name"], "properties": {
                "tileWidth": grid["tile"], "tileHeight": grid["tile"],
                "resolutions": list(grid["resolutions"]), "unit": grid["unit"]}}
                for key, grid in TILING_GRIDS.items()]}
        if path == "/api/v2/batch/process" and method == "POST":
            return 201, self.v2_create(payload)
        match = re.fullmatch(r"/api/v2/batch/process/([0-9a-f-]+)(?:/(analyse|start|stop))?",
                             path)
        if not match or match.group(1) not in self.batches:
            raise ServiceError(404, _error(404, "Not Found", path, "COMMON_NOT_FOUND"))
        task_id, action = match.groups()
        if action and method == "POST":
            getattr(self, f"batch_{action}")(task_id)
            return 204, None
        task = self.batches[task_id]
        if task["status"] == "ANALYSING":
            self._v2_analyse(task)
        elif task["status"] == "PROCESSING":
            self._v2_process(task)
        return 200, self._batch_view(task_id, full=True)

    def v2_create(self, payload: dict) -> dict:
        if not self.batch_allowed:
            raise ServiceError(403, _error(403, "Forbidden", "The BatchV2 API is only available "
                                           "for Copernicus Service accounts",
                                           "COMMON_FORBIDDEN"))
        grid = TILING_GRIDS.get((payload.get("input") or {}).get("id"))
        if (payload.get("input") or {}).get("type") != "tiling-grid" or grid is None or \
                payload["input"].get("resolution") not in grid["resolutions"]:
            raise ServiceError(400, _error(400, "Bad Request", "input: a tiling grid id and one "
                                           "of its resolutions", "COMMON_BAD_PAYLOAD"))
        output = payload.get("output") or {}
        s3 = (output.get("delivery") or {}).get("s3") or {}
        unknown = sorted(set(s3) - set(S3_KEYS))
        if output.get("type") != "raster" or "url" not in s3 or unknown:
            raise ServiceError(400, _error(400, "Bad Request", "output: type raster and "
                                           f"delivery.s3 with a url ({unknown})",
                                           "COMMON_BAD_PAYLOAD"))
        process = payload.get("processRequest") or {}
        if not process.get("evalscript") or "bounds" not in process.get("input", {}):
            raise ServiceError(400, _error(400, "Bad Request", "processRequest needs an "
                                           "evalscript and input.bounds (tiling grid input)",
                                           "COMMON_BAD_PAYLOAD"))
        task_id = str(uuid.uuid4())
        self.batches[task_id] = {"id": task_id, "request": payload, "status": "CREATED",
                                 "domainAccountId": str(uuid.UUID(int=7)),
                                 "userAction": "NONE", "completionPercentage": 0,
                                 "created": _format_time(datetime.now(timezone.utc))}
        return self._batch_view(task_id, full=True)

    def _v2_tiles(self, task: dict) -> list:
        from shapely.geometry import box, shape

        request = task["request"]
        bounds = request["processRequest"]["input"]["bounds"]
        epsg = int(re.search(r"EPSG/0/(\d+)$", bounds["properties"]["crs"]).group(1))
        area = shape(bounds["geometry"])
        grid = TILING_GRIDS[request["input"]["id"]]
        size, resolution = grid["tile"], request["input"]["resolution"]
        xmin, ymin, xmax, ymax = area.bounds
        tiles = []
        for col in range(math.floor(xmin / size), math.floor(xmax / size) + 1):
            for row in range(math.floor(ymin / size), math.floor(ymax / size) + 1):
                cell = box(col * size, row * size, (col + 1) * size, (row + 1) * size)
                if cell.intersects(area):  # "processed in its entirety" (BatchV2.qmd)
                    tiles.append({"name": f"{epsg}_{col}_{row}", "geometry": cell,
                                  "epsg": epsg, "px": int(round(size / resolution))})
        return tiles

    def _v2_analyse(self, task: dict) -> None:
        import geopandas as gpd

        delivery = task["request"]["output"]["delivery"]["s3"]
        root = delivery["url"].split("<", 1)[0].rstrip("/")
        tiles = self._v2_tiles(task)
        outputs = [r["identifier"] for r in
                   task["request"]["processRequest"]["output"]["responses"]]
        rows = [{"outputId": output, "identifier": tile["name"],
                 "path": f"{root}/{task['id']}/{tile['name']}/{output}.tif",
                 "width": tile["px"], "height": tile["px"], "geometry": tile["geometry"]}
                for tile in tiles for output in outputs]
        try:
            with tempfile.TemporaryDirectory() as folder:
                local = Path(folder) / "manifest.gpkg"
                gpd.GeoDataFrame(rows, crs=f"EPSG:{tiles[0]['epsg']}").to_file(
                    local, layer=f"feature_{tiles[0]['epsg']}", driver="GPKG")
                self.put_file(delivery, f"featureManifest-{task['id']}.gpkg",
                              local.read_bytes())
        except AccessDenied as error:
            task.update(status="FAILED", error=str(error))
            return
        task["manifest"], task["epsg"], task["root"] = rows, tiles[0]["epsg"], root
        task["status"] = "PROCESSING" if task["userAction"] == "START" else "ANALYSIS_DONE"

    def _v2_process(self, task: dict) -> None:
        """Each tile: the evalscript over the pixels the sample's scenes cover (elsewhere
        the script's output for dataMask 0, NaN), written as a COG to its manifest path."""
        from affine import Affine

        if "manifest" not in task:
            self._v2_analyse(task)
            if task["status"] == "FAILED":
                return
        request = task["request"]
        process = request["processRequest"]
        data_spec = process["input"]["data"][0]
        time_range = data_spec["dataFilter"]["timeRange"]
        scenes = self._scenes_between(_parse_time(time_range["from"]),
                                      _parse_time(time_range["to"]), data_spec)
        resolution = request["input"]["resolution"]
        setup = _run_evalscript(process["evalscript"], {}, 0)["setup"]
        bands = setup["input"][0]["bands"] if isinstance(setup["input"][0], dict) \
            else setup["input"]
        counted = len([b for b in bands if b != "dataMask"] or bands)
        covered = self._scene_extent()
        cost = 0.0
        for row in task["manifest"]:
            x0, y0, x1, y1 = row["geometry"].bounds
            size = row["width"]
            window = row["geometry"].intersection(covered)
            declared = setup["output"][0]["bands"]
            count = len(declared) if isinstance(declared, list) else int(declared)
            tile = np.full((count, size, size), np.nan, "float32")
            if not window.is_empty:
                wx0, wy0, wx1, wy1 = window.bounds
                col0 = int(math.floor((wx0 - x0) / resolution))
                col1 = int(math.ceil((wx1 - x0) / resolution))
                row0 = int(math.floor((y1 - wy1) / resolution))
                row1 = int(math.ceil((y1 - wy0) / resolution))
                width, height = col1 - col0, row1 - row0
                transform = Affine(resolution, 0, x0 + col0 * resolution, 0, -resolution,
                                   y1 - row0 * resolution)
                grid = (transform, width, height, np.ones((height, width), bool))
                _, outputs = self._evaluate(process["evalscript"], scenes, grid, data_spec)
                tile[:, row0:row1, col0:col1] = outputs[row["outputId"]]
            self.put_file(request["output"]["delivery"]["s3"],
                          row["path"][len(task["root"]) + 1:],
                          _cog(tile, Affine(resolution, 0, x0, 0, -resolution, y1),
                               task["epsg"]))
            units = max(0.01, size * size / 512 ** 2) * counted / 3 * 2  # FLOAT32 output
            cost += units / 3 if size * size > 10_000 else units
        task.update(status="DONE", completionPercentage=100, costPU=round(max(100.0, cost), 6))

    def _scene_extent(self):
        import geopandas as gpd
        from shapely.geometry import shape
        from shapely.ops import unary_union

        area = unary_union([shape(item["geometry"]) for item in self._scenes()])
        return gpd.GeoSeries([area], crs=4326).to_crs(SCENE_EPSG).iloc[0]

    def put_file(self, spec: dict, key: str, body: bytes) -> None:
        self.check_access(spec)
        bucket, prefix = _s3_parts(spec["url"].split("<", 1)[0])
        name = f"{prefix.rstrip('/')}/{key}" if prefix else key
        self._s3().put_object(Bucket=bucket, Key=name, Body=body)
        self.written.setdefault(bucket, []).append(name)
