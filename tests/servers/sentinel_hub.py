"""A loopback Sentinel Hub deployment that follows the CDSE documentation (not the project's
own model) and serves the synthetic sample's Sentinel-2 scenes.

What it does as the documented service does:

- ``POST /oauth/token``: client credentials -> bearer token; tokens live 10 minutes
  (``expires_in`` 600) unless a test asks otherwise.
- ``POST /api/v1/catalog/1.0.0/search``: STAC item search, paged with ``context.next``:
  10 features per page by default, ``limit`` above 100 is a 400.
- ``POST /api/v1/statistics``: the evalscript the client sent is **executed** with a real
  JavaScript engine (node, ``evalscript_runner.js``) over inputs shaped as the service delivers
  them: harmonised Sentinel-2 L2A values (``harmonizeValues`` true by default: the +1000 DN
  offset of baseline >= 04.00 already removed, negatives clamped), mosaicked as the script's
  ``setup()`` asks (``Evalscript/V3.qmd`` "Mosaicking" and "samples"/"scenes"): SIMPLE (one
  most-recent mosaic per interval, ``scenes`` an empty object) or ORBIT (an array with one
  sample per acquisition day of the interval, ``scenes.orbits`` beside it,
  ``preProcessScenes`` honoured), a sample matrix over the request's bounding
  box at ``resx``/``resy`` whose pixels outside the polygon have input ``dataMask`` 0 and are
  counted in ``sampleCount`` (and in ``noDataCount`` when the output ``dataMask`` is 0), time
  intervals counted from ``timeRange.from`` with ``lastIntervalBehavior`` SKIP by default,
  intervals without data left out, per-interval ``error`` objects with top-level
  ``status: PARTIAL``, CRS limited to the documented list.
- ``POST /api/v1/process``: the evalscript executed on the requested bbox/size, FLOAT32 TIFF.
- Batch Statistical: ``POST /api/v1/statistics/batch`` (201, status CREATED), ``POST
  …/{id}/start`` (204), ``GET …/{id}/status`` (ANALYSING -> PROCESSING -> DONE); 403 for
  accounts that are not Copernicus Service accounts.
- HTTP 429 with the documented body and ``Retry-After`` in **milliseconds**.

Where the documentation is silent the fixture makes a stated choice: sample-matrix size is
``round(extent / res)``; sample centres are looked up in the source pixel that contains them
(NEAREST); ``stDev`` is the population standard deviation; NaN output values count as no data.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
import uuid
from datetime import date, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Dict, List, Optional, Tuple
from urllib.parse import parse_qs

import numpy as np
import rasterio
from affine import Affine
from rasterio import features
from shapely.geometry import box, shape

from .catalog_extensions import cql2_text_filter, trim_fields

RUNNER = Path(__file__).with_name("evalscript_runner.js")
SCENE_EPSG = 32756
# the documented CRS list (Process/Crs.qmd): WGS84, Web Mercator, UTM N/S, and named others
SUPPORTED_EPSG = {4326, 3857, *range(32601, 32661), *range(32701, 32761), 2154, 2180, 2193,
                  3003, 3004, 3005, 3006, 3031, 3035, 3161, 3346, 3413, 3416, 3578, 3580, 3765,
                  3794, 3844, 3912, 3995, 4026, 5514, 28992, 32184}
OPTICAL = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12")
MAX_SIDE_PX = 2500


def _error(status: int, reason: str, message: str, code: str) -> dict:
    return {"error": {"status": status, "reason": reason, "message": message, "code": code}}


class ServiceError(Exception):
    def __init__(self, status: int, body: dict):
        super().__init__(body)
        self.status, self.body = status, body


class SentinelHubServer:
    def __init__(self, sample, *, client_id: str, client_secret: str,
                 token_lifetime: float = 600.0, rate_limit_after: Optional[int] = None,
                 rate_limit_times: Optional[int] = None, retry_after_ms: int = 200,
                 interval_failures: Optional[Dict[str, int]] = None,
                 interval_error_as_string: bool = False, batch_allowed: bool = True,
                 report_pu: bool = False):
        self.sample, self.client_id, self.client_secret = sample, client_id, client_secret
        self.token_lifetime, self.rate_limit_after = token_lifetime, rate_limit_after
        # how many 429s to give once the limit is reached (None: every request from then on)
        self.rate_limit_times, self.retry_after_ms = rate_limit_times, retry_after_ms
        # interval start date ("2025-11-01") -> how many more times that interval fails
        self.interval_failures = dict(interval_failures or {})
        # Statistical.qmd shows ``"error": {"type": ...}``; sentinelhub-py's recorded
        # tests/TestInputs/normal_stat_partial_result.json has ``"error": "EXECUTION_ERROR"``
        self.interval_error_as_string = interval_error_as_string
        self.batch_allowed = batch_allowed
        # send x-processingunits-spent on 200 Process and Statistical answers, as Sentinel Hub
        # does (not on OAuth, Catalog or batch answers; the CDSE documentation does not list
        # the header: the clients use it only where present); ``reported`` keeps each value
        self.report_pu = report_pu
        self.reported: List[float] = []
        self.batches: Dict[str, dict] = {}
        self.tokens: Dict[str, float] = {}
        self.log: List[dict] = []
        self.lock = threading.Lock()
        self._rate_limited = 0
        self.catalog_features_returned = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/oauth/token"

    def start(self) -> SentinelHubServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def revoke_tokens(self) -> None:
        """Stop accepting every token issued so far, before its advertised expiry (401)."""
        self.tokens = dict.fromkeys(self.tokens, float("-inf"))

    def requests_to(self, path: str) -> List[dict]:
        return [entry for entry in self.log if entry["path"] == path]

    def billable_requests(self) -> List[dict]:
        """Requests that spend processing units (Overview/ProcessingUnit.qmd: Process and
        Statistical requests are charged, for 2XX answers; batch requests when they run)."""
        return [entry for entry in self.log if entry["method"] == "POST" and (
            entry["path"] in ("/api/v1/process", "/api/v1/statistics")
            or re.fullmatch(r"/api/v1/statistics/batch/[0-9a-f-]+/start", entry["path"]))]

    def bodies(self, path: str) -> List[dict]:
        return [json.loads(entry["body"]) for entry in self.requests_to(path)]

    # ------------------------------------------------------------------ handlers

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _reply(self, status: int, payload=None, headers: Optional[dict] = None):
                body = json.dumps(payload).encode() if payload is not None else b""
                self.send_response(status)
                if payload is not None:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

            def _authorised(self) -> bool:
                token = self.headers.get("Authorization", "").removeprefix("Bearer ").strip()
                expiry = server.tokens.get(token)
                if expiry is None or expiry < time.monotonic():
                    self._reply(401, _error(401, "Unauthorized", "Token expired or invalid",
                                            "COMMON_UNAUTHORIZED"))
                    return False
                return True

            def do_GET(self):  # noqa: N802
                path = self.path.split("?")[0]
                with server.lock:
                    server.log.append({"method": "GET", "path": path, "body": "",
                                       "headers": dict(self.headers)})
                if not self._authorised():
                    return None
                match = re.fullmatch(r"/api/v1/statistics/batch/([0-9a-f-]+)(/status)?", path)
                if match and match.group(1) in server.batches:
                    return self._reply(200, server.batch_status(match.group(1),
                                                                full=not match.group(2)))
                return self._reply(404, _error(404, "Not Found", path, "COMMON_NOT_FOUND"))

            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(length)
                path = self.path.split("?")[0]
                with server.lock:
                    server.log.append({"method": "POST", "path": path,
                                       "body": raw.decode(errors="replace"),
                                       "headers": dict(self.headers)})
                if path == "/oauth/token":
                    return self._token(raw)
                if not self._authorised():
                    return None
                payload = json.loads(raw or b"{}")
                try:
                    if path == "/api/v1/catalog/1.0.0/search":
                        return self._reply(200, server.catalog(payload))
                    if path == "/api/v1/statistics/batch":
                        return self._reply(201, server.batch_create(payload))
                    match = re.fullmatch(r"/api/v1/statistics/batch/([0-9a-f-]+)/start", path)
                    if match:
                        server.batch_start(match.group(1))
                        return self._reply(204)
                    if path in ("/api/v1/process", "/api/v1/statistics") and \
                            server.rate_limited(path):
                            # RateLimiting.qmd: this body, Retry-After in milliseconds
                            return self._reply(429, {
                                "status": 429, "reason": "Too Many Requests",
                                "message": "You have exceeded your rate limit",
                                "code": "RATE_LIMIT_EXCEEDED"},
                                {"Retry-After": str(server.retry_after_ms)})
                    if path == "/api/v1/process":
                        array = server.process(payload)
                        return self._tiff(array, server.spent_header(path, payload, array))
                    if path == "/api/v1/statistics":
                        answer = server.statistics(payload)
                        return self._reply(200, answer,
                                           server.spent_header(path, payload, answer))
                except ServiceError as error:
                    return self._reply(error.status, error.body)
                return self._reply(404, _error(404, "Not Found", path, "COMMON_NOT_FOUND"))

            def _tiff(self, array, headers: Optional[dict] = None):
                import io

                import tifffile

                buffer = io.BytesIO()
                tifffile.imwrite(buffer, array)
                body = buffer.getvalue()
                self.send_response(200)
                self.send_header("Content-Type", "image/tiff")
                self.send_header("Content-Length", str(len(body)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

            def _token(self, raw: bytes):
                form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
                client_id, secret = form.get("client_id"), form.get("client_secret")
                authorization = self.headers.get("Authorization", "")
                if authorization.startswith("Basic "):
                    import base64

                    client_id, secret = base64.b64decode(authorization[6:]).decode().split(":")
                if (client_id, secret) != (server.client_id, server.client_secret) or \
                        form.get("grant_type") != "client_credentials":
                    return self._reply(401, {"error": "invalid_client"})
                token = f"token-{len(server.tokens) + 1}"
                server.tokens[token] = time.monotonic() + server.token_lifetime
                return self._reply(200, {"access_token": token, "token_type": "Bearer",
                                         "expires_in": server.token_lifetime})

        return Handler

    def rate_limited(self, path: str) -> bool:
        if self.rate_limit_after is None:
            return False
        with self.lock:
            if len(self.requests_to(path)) <= self.rate_limit_after:
                return False
            if self.rate_limit_times is not None and self._rate_limited >= self.rate_limit_times:
                return False
            self._rate_limited += 1
            return True

    # ------------------------------------------------------------------ catalog

    def _scenes(self) -> List[dict]:
        return self.sample.items["sentinel-2-l2a"]

    def catalog(self, payload: dict) -> dict:
        limit = int(payload.get("limit", 10))
        if not 1 <= limit <= 100:
            raise ServiceError(400, _error(400, "Bad Request", "limit must be between 1 and 100",
                                           "COMMON_BAD_PAYLOAD"))
        start, end = payload["datetime"].split("/")
        area = box(*payload["bbox"])
        try:  # Catalog.qmd "Filter": CQL2 text, comparisons joined by "and"
            accept = cql2_text_filter(payload.get("filter"))
        except ValueError as error:
            raise ServiceError(400, _error(400, "Bad Request", str(error),
                                           "COMMON_BAD_PAYLOAD")) from None
        found = sorted((dict(item, assets={}, links=[]) for item in self._scenes()
                        if start[:10] <= item["properties"]["datetime"][:10] <= end[:10]
                        and shape(item["geometry"]).intersects(area) and accept(item)),
                       key=lambda item: item["properties"]["datetime"])
        offset = int(payload.get("next") or 0)
        page = [trim_fields(item, payload.get("fields"))
                for item in found[offset:offset + limit]]
        self.catalog_features_returned += len(page)
        context = {"limit": limit, "returned": len(page)}
        if offset + limit < len(found):
            context["next"] = offset + limit
        return {"type": "FeatureCollection", "features": page, "context": context}

    def spent_header(self, path: str, payload: dict, answer) -> dict:
        """``x-processingunits-spent`` by Overview/ProcessingUnit.qmd from what was processed:
        sample matrix / 512² (>= 0.01) x input bands / 3 (dataMask free) x samples (the
        intervals with data for Statistical; one for Process, FLOAT32 x2); {} unless
        ``report_pu``."""
        if not self.report_pu:
            return {}
        if path == "/api/v1/process":
            output = payload["output"]
            width, height, evalscript = output["width"], output["height"], payload["evalscript"]
            samples, factor = 1, 2
        else:
            aggregation = payload["aggregation"]
            _, width, height, _ = self._sample_grid(payload["input"]["bounds"], aggregation)
            evalscript, factor = aggregation["evalscript"], 1
            samples = sum(1 for item in answer["data"] if "outputs" in item)
        pu = processing_units(evalscript, width * height, samples) * factor
        with self.lock:
            self.reported.append(round(pu, 6))
        return {"x-processingunits-spent": f"{pu:.6f}"}

    # ------------------------------------------------------------------ statistics

    def statistics(self, payload: dict) -> dict:
        aggregation = payload["aggregation"]
        time_range = aggregation["timeRange"]
        intervals = aggregation_intervals(
            _parse_time(time_range["from"]), _parse_time(time_range["to"]),
            aggregation["aggregationInterval"]["of"],
            aggregation["aggregationInterval"].get("lastIntervalBehavior", "SKIP"))
        grid = self._sample_grid(payload["input"]["bounds"], aggregation)
        data_spec = payload["input"]["data"][0]
        calculations = payload.get("calculations") or {}
        data, partial = [], False
        for begin, end in intervals:
            label = {"from": _format_time(begin), "to": _format_time(end)}
            scenes = self._scenes_between(begin, end, data_spec)
            if not scenes:
                continue  # "statistics for intervals, where data is available"
            key = begin.date().isoformat()
            if self.interval_failures.get(key, 0) > 0:
                self.interval_failures[key] -= 1
                data.append({"interval": label, "error": "EXECUTION_ERROR" if
                             self.interval_error_as_string else {"type": "EXECUTION_ERROR"}})
                partial = True
                continue
            setup, outputs = self._evaluate(aggregation["evalscript"], scenes, grid, data_spec,
                                            (begin, end))
            data.append({"interval": label,
                         "outputs": _statistics(setup, outputs, calculations)})
        return {"data": data, "status": "PARTIAL" if partial else "OK"}

    def _sample_grid(self, bounds: dict, aggregation: dict):
        crs = bounds.get("properties", {}).get("crs", "")
        match = re.search(r"EPSG/0/(\d+)$", crs)
        epsg = int(match.group(1)) if match else (4326 if crs.endswith("CRS84") else None)
        if epsg not in SUPPORTED_EPSG:
            raise ServiceError(400, _error(400, "Bad Request", f"CRS {crs} is not supported",
                                           "COMMON_BAD_PAYLOAD"))
        if epsg != SCENE_EPSG:
            raise ServiceError(501, _error(501, "Not Implemented", "this loopback fixture only "
                                           "samples in EPSG:32756", "FIXTURE_LIMITATION"))
        geometry = shape(bounds["geometry"]) if "geometry" in bounds else None
        area = box(*bounds["bbox"]) if "bbox" in bounds else geometry
        if geometry is None:
            geometry = area
        xmin, ymin, xmax, ymax = area.bounds
        if "resx" in aggregation:
            width = max(1, int(round((xmax - xmin) / aggregation["resx"])))
            height = max(1, int(round((ymax - ymin) / aggregation["resy"])))
        else:
            width, height = aggregation.get("width", 256), aggregation.get("height", 256)
        if width > MAX_SIDE_PX or height > MAX_SIDE_PX:
            raise ServiceError(400, _error(
                400, "Bad Request", f"The sample matrix {width} x {height} exceeds "
                f"{MAX_SIDE_PX} x {MAX_SIDE_PX} pixels", "COMMON_BAD_PAYLOAD"))
        transform = Affine((xmax - xmin) / width, 0, xmin, 0, -(ymax - ymin) / height, ymax)
        inside = features.rasterize([(geometry.intersection(area), 1)],
                                    out_shape=(height, width), transform=transform, fill=0,
                                    dtype="uint8").astype(bool)
        return transform, width, height, inside

    def _scenes_between(self, begin: datetime, end: datetime, data_spec: dict) -> List[dict]:
        max_cc = (data_spec.get("dataFilter") or {}).get("maxCloudCoverage", 100)
        order = (data_spec.get("dataFilter") or {}).get("mosaickingOrder", "mostRecent")
        chosen = [item for item in self._scenes()
                  if begin <= _parse_time(item["properties"]["datetime"]) < end
                  and item["properties"].get("eo:cloud_cover", 0) <= max_cc]
        return sorted(chosen, key=lambda item: item["properties"]["datetime"],
                      reverse=order != "leastRecent")

    def _read(self, item: dict, key: str):
        with rasterio.open(Path(self.sample.root) / item["assets"][key]["href"]) as dataset:
            return dataset.read(1), dataset.transform

    def _lookup(self, item: dict, key: str, xs, ys) -> np.ndarray:
        """NEAREST: the source pixel that contains each sample centre (0 outside the tile)."""
        array, transform = self._read(item, key)
        cols = np.floor((xs - transform.c) / transform.a).astype(int)
        rows = np.floor((ys - transform.f) / transform.e).astype(int)
        ok = (rows >= 0) & (rows < array.shape[0]) & (cols >= 0) & (cols < array.shape[1])
        out = np.zeros(xs.shape, array.dtype)
        out[ok] = array[rows[ok], cols[ok]]
        return out

    def _scene_bands(self, item: dict, wanted, units: str, harmonise: bool, xs, ys, inside):
        """One acquisition's input bands on the sample grid and where it has data."""
        scl = self._lookup(item, "SCL", xs, ys)
        has_data = (scl > 0) & (self._lookup(item, "B04", xs, ys) > 0) & inside
        offset = 1000 if float(item["properties"]["s2:processing_baseline"]) >= 4 else 0
        values = {}
        for name in wanted:
            if name in OPTICAL:
                dn = self._lookup(item, name, xs, ys).astype(float)
                if harmonise:
                    dn = np.maximum(dn - offset, 0)
                values[name] = dn if units == "DN" else (
                    dn / 10000 if harmonise else (dn - offset) / 10000)
            elif name == "SCL":
                values[name] = scl.astype(float)
            elif name != "dataMask":
                raise ServiceError(400, _error(400, "Bad Request", f"unknown band {name}",
                                               "RENDERER_EXCEPTION"))
        return values, has_data

    def _evaluate(self, evalscript: str, scenes: List[dict], grid, data_spec: dict,
                  interval: Optional[Tuple[datetime, datetime]] = None):
        """The evalscript run by node on the scenes (most recent first) over the sample grid,
        prepared as its ``mosaicking`` asks. eu-cdse/documentation (commit f65bac21)
        APIs/SentinelHub/Evalscript/V3.qmd: "Mosaicking" line 80 (ORBIT note line 100),
        ``samples`` line 246, ``scenes`` line 261, ``preProcessScenes`` lines 541 and 565;
        APIs/SentinelHub/Statistical.qmd line 85 (data mosaicked per interval as the
        evalscript's ``mosaicking`` says, before the statistics):

        - SIMPLE: one mosaic, a pixel taking the first scene with data; ``evaluatePixel`` gets
          one sample.
        - ORBIT: one sample per orbit, and as the documentation's note says the service
          "generates a single scene for each day containing satellite data", so scenes of one
          day are mosaicked together; ``evaluatePixel`` gets the array of samples (input
          ``dataMask`` 0 where that orbit has no data) and ``scenes.orbits`` (dateFrom/dateTo
          of each day), after ``preProcessScenes`` when the script has one.
        """
        transform, width, height, inside = grid
        setup = _run_evalscript(evalscript, {}, 0)["setup"]
        wanted = list(setup["input"][0]["bands"]) if isinstance(setup["input"][0], dict) \
            else list(setup["input"])
        units = setup["input"][0].get("units", "REFLECTANCE") \
            if isinstance(setup["input"][0], dict) else "REFLECTANCE"
        harmonise = (data_spec.get("processing") or {}).get("harmonizeValues", True)
        cols, rows = np.meshgrid(np.arange(width), np.arange(height))
        xs, ys = transform * (cols + 0.5, rows + 0.5)
        days: Dict[str, List[dict]] = {}
        if setup["mosaicking"] == "SIMPLE":
            days["all"] = scenes
        elif setup["mosaicking"] == "ORBIT":
            for item in scenes:
                days.setdefault(item["properties"]["datetime"][:10], []).append(item)
        else:
            raise ServiceError(501, _error(501, "Not Implemented", "this loopback fixture "
                                           "evaluates SIMPLE and ORBIT mosaicking",
                                           "FIXTURE_LIMITATION"))
        samples = []
        for group in days.values():  # a pixel keeps the first scene of the group with data
            bands = {name: np.zeros((height, width)) for name in wanted}
            filled = np.zeros((height, width), bool)
            for item in group:
                values, has_data = self._scene_bands(item, wanted, units, harmonise, xs, ys,
                                                     inside)
                take = has_data & ~filled
                for name, value in values.items():
                    bands[name][take] = value[take]
                filled |= take
            if "dataMask" in bands:
                bands["dataMask"] = filled.astype(float)
            samples.append({name: values.ravel().tolist() for name, values in bands.items()})
        if setup["mosaicking"] == "SIMPLE":
            result = _run_evalscript(evalscript, samples[0], width * height)
        else:
            orbits = [{"dateFrom": f"{day}T00:00:00Z",
                       "dateTo": f"{(date.fromisoformat(day) + timedelta(days=1))}T00:00:00Z"}
                      for day in days]
            begin, end = interval or (None, None)
            result = _run_evalscript(evalscript, {}, width * height, orbits=samples,
                                     scenes=orbits,
                                     span=(_format_time(begin) if begin else None,
                                           _format_time(end) if end else None))
        outputs = {key: np.array([[float(v) for v in band] for band in values]
                                 ).reshape(len(values), height, width)
                   for key, values in result["outputs"].items()}
        return result["setup"], outputs

    # ------------------------------------------------------------------ process

    def process(self, payload: dict):
        """The evalscript's ``default`` output over the request bbox at the requested size."""
        bounds = payload["input"]["bounds"]
        output = payload["output"]
        aggregation = {"width": output["width"], "height": output["height"]}
        grid = self._sample_grid(bounds, aggregation)
        data_spec = payload["input"]["data"][0]
        time_range = data_spec["dataFilter"]["timeRange"]
        scenes = self._scenes_between(_parse_time(time_range["from"]),
                                      _parse_time(time_range["to"]) + timedelta(seconds=1),
                                      data_spec)
        _, outputs = self._evaluate(payload["evalscript"], scenes, grid, data_spec,
                                    (_parse_time(time_range["from"]),
                                     _parse_time(time_range["to"])))
        return np.moveaxis(outputs["default"], 0, -1).astype("float32")

    # ------------------------------------------------------------------ batch statistical

    def batch_create(self, payload: dict) -> dict:
        if not self.batch_allowed:
            raise ServiceError(403, _error(
                403, "Forbidden", "The Batch Statistical API is only available for "
                "Copernicus Service accounts", "COMMON_FORBIDDEN"))
        return self._new_batch(payload)

    def _new_batch(self, payload: dict) -> dict:
        """A batch request in status CREATED (BatchStatistical.qmd), as the service lists it."""
        request_id = str(uuid.uuid4())
        self.batches[request_id] = {"id": request_id, "status": "CREATED",
                                    "completionPercentage": 0, "request": payload,
                                    "created": _format_time(datetime.now(timezone.utc)),
                                    "userAction": "NONE", "polls": 0}
        return self._batch_view(request_id, full=True)

    def batch_start(self, request_id: str) -> None:
        batch = self.batches.get(request_id)
        if batch is None:
            raise ServiceError(404, _error(404, "Not Found", request_id, "COMMON_NOT_FOUND"))
        batch.update(status="ANALYSING", userAction="START")

    def batch_status(self, request_id: str, *, full: bool) -> dict:
        batch = self.batches[request_id]
        if batch["status"] not in ("CREATED", "DONE"):
            batch["polls"] += 1  # ANALYSING -> PROCESSING -> DONE as it is polled
            if batch["polls"] == 1:
                batch.update(status="PROCESSING", completionPercentage=50)
            else:
                batch.update(status="DONE", completionPercentage=100, costPu=100.0)
        return self._batch_view(request_id, full=full)

    def _batch_view(self, request_id: str, *, full: bool) -> dict:
        batch = {k: v for k, v in self.batches[request_id].items() if k != "polls"}
        if not full:
            batch.pop("request")
            batch.pop("userAction")
        return batch


# ---------------------------------------------------------------------- helpers

def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _format_time(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _add(moment: datetime, duration: str) -> datetime:
    match = re.fullmatch(r"P(\d+)([DWMY])", duration)
    if not match:
        raise ServiceError(400, _error(400, "Bad Request", f"unsupported interval {duration}",
                                       "COMMON_BAD_PAYLOAD"))
    count, unit = int(match.group(1)), match.group(2)
    if unit in "DW":
        return moment + timedelta(days=count * (7 if unit == "W" else 1))
    months = moment.month - 1 + count * (12 if unit == "Y" else 1)
    year, month = moment.year + months // 12, months % 12 + 1
    day = min(moment.day, [31, 29 if year % 4 == 0 else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30,
                           31][month - 1])
    return moment.replace(year=year, month=month, day=day)


def aggregation_intervals(start: datetime, end: datetime, duration: str,
                          behaviour: str = "SKIP") -> List[Tuple[datetime, datetime]]:
    """Intervals of ``duration`` counted from ``start``; the last one by ``behaviour``."""
    out, begin = [], start
    while begin < end:
        stop = _add(begin, duration)
        if stop > end:
            if behaviour == "SHORTEN":
                out.append((begin, end))
            elif behaviour == "EXTEND":
                out.append((begin, stop))
            break
        out.append((begin, stop))
        begin = stop
    return out


def _run_evalscript(evalscript: str, bands: Dict[str, list], count: int, *,
                    orbits: Optional[List[Dict[str, list]]] = None,
                    scenes: Optional[List[dict]] = None,
                    span: Tuple[Optional[str], Optional[str]] = (None, None)) -> dict:
    """Run ``evalscript`` in node on ``count`` pixels: SIMPLE inputs in ``bands``, or one
    dict of bands per orbit in ``orbits`` with their ``scenes`` (dateFrom/dateTo)."""
    job = json.dumps({"evalscript": evalscript, "bands": bands, "count": count,
                      "orbits": orbits or [], "scenes": scenes or [], "from": span[0],
                      "to": span[1]})
    done = subprocess.run(["node", str(RUNNER)], input=job, capture_output=True, text=True,
                          timeout=120)
    if done.returncode:
        raise ServiceError(400, _error(400, "Bad Request", "Failed to evaluate script: "
                                       + done.stderr.strip()[-300:], "RENDERER_EXCEPTION"))
    return json.loads(done.stdout)


def _output_masks(setup: dict, outputs: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """Which pixels each output uses: the ``dataMask`` output masks every output when it has
    one band, or the outputs it names band by band; outputs it does not name are unmasked."""
    declared = {o["id"]: o for o in setup["output"]}
    masks = {}
    mask = outputs.get("dataMask")
    names = declared.get("dataMask", {}).get("bands", 1)
    for key in outputs:
        if key == "dataMask":
            continue
        if mask is None:
            masks[key] = np.ones(outputs[key].shape[1:], bool)
        elif isinstance(names, list):
            masks[key] = mask[names.index(key)] == 1 if key in names else \
                np.ones(outputs[key].shape[1:], bool)
        else:
            masks[key] = mask[0] == 1
    return masks


def processing_units(evalscript: str, pixels: int, samples: int) -> float:
    """Overview/ProcessingUnit.qmd for what was processed: sample matrix / 512² (>= 0.01) x
    input bands / 3 (dataMask free unless alone) x samples."""
    setup = _run_evalscript(evalscript, {}, 0)["setup"]
    bands = setup["input"][0]["bands"] if isinstance(setup["input"][0], dict) \
        else setup["input"]
    counted = [b for b in bands if b != "dataMask"] or bands
    return max(0.01, pixels / 512 ** 2) * len(counted) / 3 * samples


def _statistics(setup: dict, outputs: Dict[str, np.ndarray], calculations: dict) -> dict:
    declared = {o["id"]: o for o in setup["output"]}
    masks = _output_masks(setup, outputs)
    result = {}
    for key, values in outputs.items():
        if key == "dataMask":
            continue
        spec = declared[key]
        names = spec["bands"] if isinstance(spec["bands"], list) else \
            [f"B{n}" for n in range(spec["bands"])]
        sample_type = spec.get("sampleType", "FLOAT32")
        calc = calculations.get(key) or calculations.get("default") or {}
        bands = {}
        for n, name in enumerate(names):
            band = values[n]
            if sample_type == "FLOAT32":
                band = band.astype(np.float32).astype(float)
            elif sample_type.startswith("UINT"):
                band = np.clip(np.round(band), 0, 255 if sample_type == "UINT8" else 65535)
            use = masks[key] & np.isfinite(band)
            chosen = band[use]
            stats = {"sampleCount": int(band.size), "noDataCount": int(band.size - use.sum())}
            if chosen.size:
                stats.update(min=float(chosen.min()), max=float(chosen.max()),
                             mean=float(chosen.mean()), stDev=float(chosen.std()))
                options = (calc.get("statistics") or {})
                options = options.get(name) or options.get("default") or {}
                ks = (options.get("percentiles") or {}).get("k")
                if ks:
                    stats["percentiles"] = {f"{float(k):.1f}": float(np.percentile(chosen, k))
                                            for k in ks}
            else:
                stats.update(min="NaN", max="NaN", mean="NaN", stDev="NaN")
            bands[name] = {"stats": stats}
            histograms = calc.get("histograms") or {}
            histogram = histograms.get(name) or histograms.get("default")
            if histogram:
                bands[name]["histogram"] = _histogram(chosen, histogram)
        result[key] = {"bands": bands}
    return result


def _histogram(values: np.ndarray, spec: dict) -> dict:
    """Bins [low, high) with the last one closed, as the API reference describes; the
    under/overflow key names are those of the recorded real responses."""
    low = spec.get("lowEdge", float(values.min()) if values.size else 0.0)
    high = spec.get("highEdge", float(values.max()) if values.size else 1.0)
    if "bins" in spec:
        edges = np.asarray(spec["bins"], float)
    else:
        count = spec.get("nBins") or int(round((high - low) / spec["binWidth"]))
        edges = low + (high - low) * np.arange(count + 1) / count
    counts, _ = np.histogram(values[(values >= edges[0]) & (values <= edges[-1])], edges)
    return {"bins": [{"lowEdge": float(a), "highEdge": float(b), "count": int(c)}
                     for a, b, c in zip(edges[:-1], edges[1:], counts)],
            "underflowCount": int((values < edges[0]).sum()),
            "overflowCount": int((values > edges[-1]).sum())}


def interval_count(start: str, end: str, duration: str, behaviour: str = "SKIP") -> int:
    """How many intervals the service makes of a time range (for tests)."""
    return len(aggregation_intervals(_parse_time(start), _parse_time(end), duration,
                                     behaviour))

