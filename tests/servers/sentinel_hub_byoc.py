"""The loopback Sentinel Hub fixture (tests/servers/sentinel_hub.py) with BYOC, following the
documented shapes rather than the project's model:

- ``POST /api/v1/byoc/collections`` (body ``name``, ``s3Bucket``, ``additionalData.bands``;
  answer under ``data`` with ``id``): CDSE ``APIs/SentinelHub/Byoc/Examples.qmd`` "Creating a
  collection", ``Byoc.qmd`` "Configuring collections"; sentinelhub-py 3.12
  ``sentinelhub/api/byoc.py`` ``create_collection`` (``extract_key="data"``).
- ``POST …/collections/{id}/tiles`` (``path`` with ``(BAND)``, ``sensingTime``,
  ``coverGeometry``) and ``GET …/tiles/{tileId}`` whose ``status`` moves WAITING -> QUEUED ->
  INGESTING -> INGESTED or FAILED as it is polled, a failure giving
  ``additionalData.failedIngestionCause`` (Examples.qmd "Checking the tile ingestion status").
  Ingestion reads each band's file (``(BAND)`` replaced by the band ``source``, Byoc.qmd
  "Ingesting the tiles") from the S3 endpoint (moto) and checks the documented constraints
  (projection list, 256-2048 px internal tiles, bucket policy granting Sentinel Hub's
  principal when ``require_bucket_policy``).
- ``POST /api/v1/statistics`` with data type ``byoc-<collectionId>`` (``Data/Byoc.qmd``):
  SIMPLE mosaicking, most recent tile first, a sample taken from the first tile whose cover
  geometry contains it (Byoc.qmd "A note about cover geometries"), NaN and the band no-data
  value read as no data (``dataMask`` 0); tiles sensed within each interval.
- HTTP 403 for accounts that are not Copernicus Service accounts (Byoc.qmd, first line).
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime, timedelta, timezone
from typing import Dict, List

import numpy as np
import shapely
from shapely.geometry import shape

from .sentinel_hub import (
    SentinelHubServer,
    ServiceError,
    _error,
    _parse_time,
    _run_evalscript,
    _statistics,
    aggregation_intervals,
)

BYOC_EPSG = {4326, 3857, 3035, 6933, *range(32601, 32661), *range(32701, 32761)}
SENTINEL_HUB_PRINCIPAL = "arn:aws:iam::ddf4c98b5e6647f0a246f0624c8341d9:root"  # Byoc.qmd
STATES = ("WAITING", "QUEUED", "INGESTING")


class ByocServer(SentinelHubServer):
    def __init__(self, sample, *, s3_endpoint: str, byoc_allowed: bool = True,
                 require_bucket_policy: bool = False, **options):
        super().__init__(sample, **options)
        self.s3_endpoint, self.byoc_allowed = s3_endpoint, byoc_allowed
        self.require_bucket_policy = require_bucket_policy
        self.collections: Dict[str, dict] = {}
        self.tiles: Dict[str, Dict[str, dict]] = {}
        self.rasters: Dict[str, Dict[str, dict]] = {}  # tile id -> band -> array, transform

    def _handler(self):
        base = super()._handler()
        server = self

        class Handler(base):
            def _byoc(self, method: str, body: bytes = b""):
                path = self.path.split("?")[0]
                with server.lock:
                    server.log.append({"method": method, "path": path,
                                       "body": body.decode(errors="replace"),
                                       "headers": dict(self.headers)})
                if not self._authorised():
                    return None
                try:
                    status, payload = server.byoc(method, path, json.loads(body or b"{}"))
                except ServiceError as error:
                    return self._reply(error.status, error.body)
                return self._reply(status, payload)

            def do_GET(self):  # noqa: N802
                if self.path.startswith("/api/v1/byoc/"):
                    return self._byoc("GET")
                return super().do_GET()

            def do_POST(self):  # noqa: N802
                if self.path.startswith("/api/v1/byoc/"):
                    length = int(self.headers.get("Content-Length", 0))
                    return self._byoc("POST", self.rfile.read(length))
                return super().do_POST()

        return Handler

    # ------------------------------------------------------------------ BYOC API

    def byoc(self, method: str, path: str, body: dict):
        if not self.byoc_allowed:
            raise ServiceError(403, _error(403, "Forbidden", "Bring Your Own COG API is only "
                                           "available for Copernicus Service accounts",
                                           "COMMON_FORBIDDEN"))
        if method == "POST" and path == "/api/v1/byoc/collections":
            if not body.get("name") or not body.get("s3Bucket"):
                raise ServiceError(400, _error(400, "Bad Request", "name and s3Bucket are "
                                               "required", "COMMON_BAD_PAYLOAD"))
            collection_id = str(uuid.uuid4())
            self.collections[collection_id] = dict(body, id=collection_id)
            self.tiles[collection_id] = {}
            return 201, {"data": self.collections[collection_id]}
        match = re.fullmatch(r"/api/v1/byoc/collections/([0-9a-f-]+)(?:/tiles(?:/([0-9a-f-]+))?)?",
                             path)
        if not match or match.group(1) not in self.collections:
            raise ServiceError(404, _error(404, "Not Found", path, "COMMON_NOT_FOUND"))
        collection_id, tile_id = match.group(1), match.group(2)
        if method == "POST" and path.endswith("/tiles"):
            if "(BAND)" not in body.get("path", ""):
                raise ServiceError(400, _error(400, "Bad Request", "path needs (BAND)",
                                               "COMMON_BAD_PAYLOAD"))
            tile_id = str(uuid.uuid4())
            self.tiles[collection_id][tile_id] = dict(body, id=tile_id, status="WAITING")
            return 201, {"data": self._tile_view(collection_id, tile_id)}
        if method == "GET" and tile_id in self.tiles[collection_id]:
            tile = self.tiles[collection_id][tile_id]
            if tile["status"] in STATES[:-1]:
                tile["status"] = STATES[STATES.index(tile["status"]) + 1]
            elif tile["status"] == "INGESTING":
                self._ingest(collection_id, tile)
            return 200, {"data": self._tile_view(collection_id, tile_id)}
        if method == "GET" and tile_id is None and not path.endswith("/tiles"):
            return 200, {"data": self.collections[collection_id]}
        raise ServiceError(404, _error(404, "Not Found", path, "COMMON_NOT_FOUND"))

    def _tile_view(self, collection_id: str, tile_id: str) -> dict:
        return dict(self.tiles[collection_id][tile_id])

    def _ingest(self, collection_id: str, tile: dict) -> None:
        import boto3
        import rasterio
        from rasterio.io import MemoryFile

        collection = self.collections[collection_id]
        bucket = collection["s3Bucket"]
        s3 = boto3.client("s3", endpoint_url=self.s3_endpoint, aws_access_key_id="testing",
                          aws_secret_access_key="testing", region_name="us-east-1")
        try:
            if self.require_bucket_policy:
                try:
                    policy = s3.get_bucket_policy(Bucket=bucket)["Policy"]
                except s3.exceptions.ClientError:  # NoSuchBucketPolicy
                    policy = ""
                if SENTINEL_HUB_PRINCIPAL not in policy:
                    raise ValueError("Access Denied: the bucket policy does not let Sentinel "
                                     "Hub read it")
            rasters = {}
            for band, spec in collection["additionalData"]["bands"].items():
                key = tile["path"].replace("(BAND)", spec["source"])
                try:
                    raw = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
                except s3.exceptions.NoSuchKey:
                    raise ValueError(f"File {key} not found") from None
                with MemoryFile(raw) as memory, memory.open() as dataset:
                    if dataset.crs.to_epsg() not in BYOC_EPSG:
                        raise ValueError(f"{key}: unsupported CRS {dataset.crs}")
                    rows, cols = dataset.block_shapes[0]
                    if not dataset.profile.get("tiled") or min(rows, cols) < 256:
                        raise ValueError(f"{key}: not tiled 256-2048 px")
                    rasters[band] = {"array": dataset.read(spec.get("bandIndex", 1)),
                                     "transform": dataset.transform,
                                     "nodata": dataset.nodata}
        except (ValueError, rasterio.errors.RasterioIOError) as error:
            tile.update(status="FAILED", additionalData={"failedIngestionCause": str(error)})
            return
        self.rasters[tile["id"]] = rasters
        tile["status"] = "INGESTED"

    # ------------------------------------------------------------------ statistics

    def statistics(self, payload: dict) -> dict:
        data_spec = payload["input"]["data"][0]
        kind = data_spec.get("type", "")
        if not kind.startswith("byoc-"):
            return super().statistics(payload)
        collection_id = kind[len("byoc-"):]
        if collection_id not in self.collections:
            raise ServiceError(400, _error(400, "Bad Request", f"unknown collection {kind}",
                                           "COMMON_BAD_PAYLOAD"))
        aggregation = payload["aggregation"]
        time_range = aggregation["timeRange"]
        duration = aggregation["aggregationInterval"]["of"]
        behaviour = aggregation["aggregationInterval"].get("lastIntervalBehavior", "SKIP")
        grid = self._sample_grid(payload["input"]["bounds"], aggregation)
        data = []
        for begin, end in aggregation_intervals(_parse_time(time_range["from"]),
                                                _parse_time(time_range["to"]), duration,
                                                behaviour):
            tiles = self._tiles_between(collection_id, begin, end)
            if not tiles:
                continue
            setup, outputs = self._evaluate_byoc(aggregation["evalscript"], tiles, grid)
            data.append({"interval": {"from": _format(begin), "to": _format(end)},
                         "outputs": _statistics(setup, outputs,
                                                payload.get("calculations") or {})})
        return {"data": data, "status": "OK"}

    def process(self, payload: dict):
        """``POST /api/v1/process`` on a BYOC collection: SIMPLE mosaic of the tiles sensed in
        the time range, the evalscript's ``default`` output as a FLOAT32 TIFF."""
        data_spec = payload["input"]["data"][0]
        kind = data_spec.get("type", "")
        if not kind.startswith("byoc-"):
            return super().process(payload)
        output = payload["output"]
        grid = self._sample_grid(payload["input"]["bounds"],
                                 {"width": output["width"], "height": output["height"]})
        time_range = data_spec["dataFilter"]["timeRange"]
        tiles = self._tiles_between(kind[len("byoc-"):], _parse_time(time_range["from"]),
                                    _parse_time(time_range["to"]) + timedelta(seconds=1))
        _, outputs = self._evaluate_byoc(payload["evalscript"], tiles, grid)
        return np.moveaxis(outputs["default"], 0, -1).astype("float32")

    def _tiles_between(self, collection_id: str, begin: datetime, end: datetime) -> List[dict]:
        chosen = [t for t in self.tiles[collection_id].values() if t["status"] == "INGESTED"
                  and ("sensingTime" not in t or begin <= _parse_time(t["sensingTime"]) < end)]
        return sorted(chosen, key=lambda t: t.get("sensingTime", ""), reverse=True)

    def _evaluate_byoc(self, evalscript: str, tiles: List[dict], grid):
        transform, width, height, inside = grid
        setup = _run_evalscript(evalscript, {}, 0)["setup"]
        wanted = [b for b in setup["input"][0]["bands"] if b != "dataMask"]
        cols, rows = np.meshgrid(np.arange(width), np.arange(height))
        xs, ys = transform * (cols + 0.5, rows + 0.5)
        bands = {name: np.zeros((height, width)) for name in wanted}
        mask = np.zeros((height, width), bool)
        taken = np.zeros((height, width), bool)
        for tile in tiles:  # most recent first; the first cover containing a sample decides
            cover = shape(tile["coverGeometry"])
            covered = shapely.contains_xy(cover, xs, ys) & ~taken
            ok = covered.copy()
            for name in wanted:
                raster = self.rasters[tile["id"]][name]
                values = _nearest(raster["array"], raster["transform"], xs, ys)
                bad = ~np.isfinite(values)
                if raster["nodata"] is not None and np.isfinite(raster["nodata"]):
                    bad |= values == raster["nodata"]
                ok &= ~bad
                bands[name][covered] = np.where(bad, 0.0, values)[covered]
            mask |= ok & inside
            taken |= covered
        flat = {name: values.ravel().tolist() for name, values in bands.items()}
        flat["dataMask"] = mask.astype(float).ravel().tolist()
        result = _run_evalscript(evalscript, flat, width * height)
        outputs = {key: np.array([[float(v) for v in band] for band in values]
                                 ).reshape(len(values), height, width)
                   for key, values in result["outputs"].items()}
        return result["setup"], outputs


def _nearest(array: np.ndarray, transform, xs, ys) -> np.ndarray:
    cols = np.floor((xs - transform.c) / transform.a).astype(int)
    rows = np.floor((ys - transform.f) / transform.e).astype(int)
    ok = (rows >= 0) & (rows < array.shape[0]) & (cols >= 0) & (cols < array.shape[1])
    out = np.full(xs.shape, np.nan)
    out[ok] = array[rows[ok], cols[ok]]
    return out


def _format(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

