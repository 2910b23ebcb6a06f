"""The loopback Sentinel Hub deployment (tests/servers/sentinel_hub.py) with the batch APIs as
the CDSE documentation describes them, reading and writing a real S3 API (moto_server on
loopback) as the service reads and writes the user's bucket.

Batch Statistical (APIs/SentinelHub/BatchStatistical.qmd; BatchStatistical/Examples.qmd;
ApiReference/openapi.v1.yaml ``/api/v1/statistics/batch…``, ``S3BucketInfo``):

- ``POST /api/v1/statistics/batch`` -> 201, status CREATED; ``input.features.s3`` and
  ``output.s3`` may hold only ``url``, ``accessKey``, ``secretAccessKey``, ``region`` (the
  documented keys; anything else, e.g. ``iamRoleARN``, is a 400 here).
- ``POST …/{id}/analyse`` -> 204, ANALYSING; the next status read finishes the analysis:
  ANALYSIS_DONE, or FAILED when the GeoPackage cannot be read (no keys and no bucket-policy
  statement for the Sentinel Hub principal of "Bucket settings", wrong region), its CRS is
  not in the documented list (Process/Crs.qmd) or it has no ``identifier`` column.
- ``POST …/{id}/start`` -> 204 (from CREATED the analysis runs first, "If the user chooses to
  directly start processing, the system still executes the analysis"); PROCESSING; the next
  status read processes every feature as a Statistical request over the feature's geometry
  and writes ``<output.s3.url>/<requestId>/<id>.json`` ({"id", "identifier", "response"}, as
  sentinelhub-py's recorded tests/TestInputs/batch_stat_results.json), then DONE with
  ``costPu`` by Overview/ProcessingUnit.qmd (per feature: bbox px / 512² (>= 0.01) x input
  bands / 3 x intervals with data; at least 100 PU a request).
- ``POST …/{id}/stop`` -> 204, STOPPED.
- ``GET …/{id}/status`` and ``GET …/{id}``.

Stated choices where the documentation is silent: the state advances one step per status
read (no clocks); a feature's sample matrix is its own bounds at resx/resy (the fixture's
Statistical rule); the deployment's bucket region is ``waw3-1``.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import Dict, Optional

from .sentinel_hub import (
    SUPPORTED_EPSG,
    SentinelHubServer,
    ServiceError,
    _error,
    _run_evalscript,
    processing_units,
)

# BatchStatistical.qmd "Bucket settings"
SENTINEL_HUB_PRINCIPAL = "arn:aws:iam::ddf4c98b5e6647f0a246f0624c8341d9:root"
S3_KEYS = ("url", "accessKey", "secretAccessKey", "region")  # openapi S3BucketInfo
DEPLOYMENT_REGION = "waw3-1"


def _s3_parts(url: str):
    match = re.fullmatch(r"s3://([^/]+)/?(.*)", url)
    if not match:
        raise ServiceError(400, _error(400, "Bad Request", f"not an S3 URL: {url}",
                                       "COMMON_BAD_PAYLOAD"))
    return match.group(1), match.group(2)


class AccessDenied(Exception):
    pass


class BatchStatisticalServer(SentinelHubServer):
    """``SentinelHubServer`` plus Batch Statistical against ``s3_endpoint`` (moto)."""

    def __init__(self, sample, *, s3_endpoint: str, s3_keys=("testing", "testing"),
                 **options):
        super().__init__(sample, **options)
        self.s3_endpoint, self.s3_keys = s3_endpoint, tuple(s3_keys)
        self.written: Dict[str, list] = {}

    # ------------------------------------------------------------------ storage

    def _s3(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.s3_endpoint, region_name="us-east-1",
                            aws_access_key_id=self.s3_keys[0],
                            aws_secret_access_key=self.s3_keys[1])

    def check_access(self, spec: dict) -> None:
        """The service reaches a bucket with the request's keys, or through a bucket policy
        that grants its principal access."""
        bucket, _ = _s3_parts(spec["url"])
        if spec.get("region", DEPLOYMENT_REGION) != DEPLOYMENT_REGION:
            raise AccessDenied(f"bucket {bucket} not found in region {spec['region']}")
        if "accessKey" in spec:
            if (spec["accessKey"], spec.get("secretAccessKey")) != self.s3_keys:
                raise AccessDenied(f"access to bucket {bucket} denied: invalid keys")
            return
        try:
            policy = json.loads(self._s3().get_bucket_policy(Bucket=bucket)["Policy"])
        except Exception:  # noqa: BLE001 - no policy at all
            policy = {"Statement": []}
        for statement in policy.get("Statement", []):
            principal = (statement.get("Principal") or {}).get("AWS")
            principals = principal if isinstance(principal, list) else [principal]
            if statement.get("Effect") == "Allow" and SENTINEL_HUB_PRINCIPAL in principals \
                    and f"arn:aws:s3:::{bucket}/*" in statement.get("Resource", []):
                return
        raise AccessDenied(f"access to bucket {bucket} denied: no keys were given and its "
                           "policy does not grant Sentinel Hub access")

    def read_features(self, spec: dict):
        import geopandas as gpd

        self.check_access(spec)
        bucket, key = _s3_parts(spec["url"])
        body = self._s3().get_object(Bucket=bucket, Key=key)["Body"].read()
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "features.gpkg"
            path.write_bytes(body)
            return gpd.read_file(path)

    def write_json(self, spec: dict, key: str, payload: dict) -> None:
        self.check_access(spec)
        bucket, prefix = _s3_parts(spec["url"])
        name = f"{prefix.rstrip('/')}/{key}" if prefix else key
        self._s3().put_object(Bucket=bucket, Key=name, Body=json.dumps(payload).encode())
        self.written.setdefault(bucket, []).append(name)

    # ------------------------------------------------------------------ batch statistical

    def batch_create(self, payload: dict) -> dict:
        if not self.batch_allowed:
            raise ServiceError(403, _error(
                403, "Forbidden", "The Batch Statistical API is only available for "
                "Copernicus Service accounts", "COMMON_FORBIDDEN"))
        for where, spec in (("input.features.s3", payload["input"]["features"].get("s3")),
                            ("output.s3", payload["output"].get("s3"))):
            unknown = sorted(set(spec or {}) - set(S3_KEYS))
            if not spec or "url" not in spec or unknown:
                raise ServiceError(400, _error(400, "Bad Request", f"{where}: unknown or "
                                               f"missing fields {unknown or ['url']}",
                                               "COMMON_BAD_PAYLOAD"))
        aggregation = payload["aggregation"]
        for key in ("timeRange", "aggregationInterval", "evalscript"):
            if key not in aggregation:
                raise ServiceError(400, _error(400, "Bad Request", f"aggregation.{key} is "
                                               "required", "COMMON_BAD_PAYLOAD"))
        return self._new_batch(payload)

    def _batch(self, request_id: str) -> dict:
        batch = self.batches.get(request_id)
        if batch is None:
            raise ServiceError(404, _error(404, "Not Found", request_id, "COMMON_NOT_FOUND"))
        return batch

    def batch_analyse(self, request_id: str) -> None:
        batch = self._batch(request_id)
        if batch["status"] == "CREATED":
            batch.update(status="ANALYSING", userAction="ANALYSE")

    def batch_start(self, request_id: str) -> None:
        batch = self._batch(request_id)
        if batch["status"] not in ("CREATED", "ANALYSIS_DONE"):
            raise ServiceError(409, _error(409, "Conflict", f"cannot start a request in "
                                           f"status {batch['status']}", "COMMON_CONFLICT"))
        batch.update(userAction="START",
                     status="ANALYSING" if batch["status"] == "CREATED" else "PROCESSING")

    def batch_stop(self, request_id: str) -> None:
        batch = self._batch(request_id)
        if batch["status"] in ("ANALYSING", "ANALYSIS_DONE", "PROCESSING"):
            batch.update(status="STOPPED", userAction="STOP", stoppedStatusReason="USER_ACTION")

    def batch_status(self, request_id: str, *, full: bool) -> dict:
        batch = self.batches[request_id]
        if batch["status"] == "ANALYSING":
            self._analyse(batch)
        elif batch["status"] == "PROCESSING":
            self._process(batch)
        return self._batch_view(request_id, full=full)

    def _analyse(self, batch: dict) -> None:
        try:
            features = self.read_features(batch["request"]["input"]["features"]["s3"])
            epsg = features.crs.to_epsg() if features.crs is not None else None
            if epsg not in SUPPORTED_EPSG:
                raise AccessDenied(f"the features' CRS {features.crs} is not supported")
            if "identifier" not in features.columns:
                raise AccessDenied("the GeoPackage has no identifier column")
            setup = _run_evalscript(batch["request"]["aggregation"]["evalscript"], {}, 0)
            assert "setup" in setup
        except AccessDenied as error:
            batch.update(status="FAILED", error=str(error))
            return
        batch["features"] = features
        batch["status"] = "PROCESSING" if batch["userAction"] == "START" else "ANALYSIS_DONE"

    def _process(self, batch: dict) -> None:
        request = batch["request"]
        features = batch.get("features")
        if features is None:
            self._analyse(batch)
            if batch["status"] == "FAILED":
                return
            features = batch["features"]
        epsg = features.crs.to_epsg()
        aggregation = request["aggregation"]
        evalscript = aggregation["evalscript"]
        cost = 0.0
        for n, row in enumerate(features.itertuples(), start=1):
            from shapely.geometry import mapping

            single = {"input": {"bounds": {"geometry": mapping(row.geometry), "properties": {
                "crs": f"http://www.opengis.net/def/crs/EPSG/0/{epsg}"}},
                "data": request["input"]["data"]}, "aggregation": aggregation,
                "calculations": request.get("calculations")}
            result: dict = {"id": n, "identifier": str(row.identifier)}
            try:
                response = self.statistics(single)
                result["response"] = response
                xmin, ymin, xmax, ymax = row.geometry.bounds
                pixels = round((xmax - xmin) / aggregation["resx"]) * \
                    round((ymax - ymin) / aggregation["resy"])
                with_data = sum(1 for item in response["data"] if "outputs" in item)
                cost += processing_units(evalscript, pixels, with_data)
            except ServiceError as error:
                result["error"] = {"type": error.body["error"]["code"]}
            self.write_json(request["output"]["s3"], f"{batch['id']}/{n}.json", result)
        batch.update(status="DONE", completionPercentage=100,
                     costPu=round(max(100.0, cost), 6))

    def _batch_view(self, request_id: str, *, full: bool) -> dict:
        batch = {k: v for k, v in self.batches[request_id].items()
                 if k not in ("polls", "features", "manifest", "epsg", "root")}
        if not full:
            batch.pop("request")
            batch.pop("userAction")
        return batch

    # ------------------------------------------------------------------ routing

    def _handler(self):
        base = super()._handler()
        server = self

        class Handler(base):
            def _ours(self, method: str) -> Optional[tuple]:
                path = self.path.split("?")[0]
                match = re.fullmatch(r"/api/v1/statistics/batch/([0-9a-f-]+)/(analyse|stop)",
                                     path)
                if method == "POST" and match:
                    return ("statistics", match.group(1), match.group(2))
                if path.startswith("/api/v2/batch/"):
                    return ("v2", path, method)
                return None

            def _handle(self, method: str, ours: tuple):
                length = int(self.headers.get("Content-Length", 0) or 0)
                raw = self.rfile.read(length) if length else b""
                path = self.path.split("?")[0]
                with server.lock:
                    server.log.append({"method": method, "path": path,
                                       "body": raw.decode(errors="replace"),
                                       "headers": dict(self.headers)})
                if not self._authorised():
                    return None
                try:
                    if ours[0] == "statistics":
                        getattr(server, f"batch_{ours[2]}")(ours[1])
                        return self._reply(204)
                    status, body = server.v2(method, path, json.loads(raw or b"{}"))
                    return self._reply(status, body)
                except ServiceError as error:
                    return self._reply(error.status, error.body)

            def do_POST(self):  # noqa: N802
                ours = self._ours("POST")
                return self._handle("POST", ours) if ours else super().do_POST()

            def do_GET(self):  # noqa: N802
                ours = self._ours("GET")
                return self._handle("GET", ours) if ours else super().do_GET()

        return Handler

    def v2(self, method: str, path: str, payload: dict):
        """Batch Processing V2: ``sentinel_hub_batch_v2.BatchSentinelHubServer``."""
        raise ServiceError(404, _error(404, "Not Found", path, "COMMON_NOT_FOUND"))
