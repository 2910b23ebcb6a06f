"""Batch Statistical: large zone sets processed by the service from and to object storage,
with a PU estimate first and credentials redacted from anything written."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from typing import Callable, Dict, Optional, Sequence

from ..sources.providers.base import ProviderError
from . import rules as rules
from .client import PROVIDER_NAME, CopernicusSettings, _reason, http_status
from .statistical import _plan


def batch_statistical_payload(*, features_s3_url: str, output_s3_url: str,
                              indices: Sequence[str], start: date, end: date,
                              settings: CopernicusSettings, interval: str = "P1M",
                              resolution: float = 10.0, iam_role_arn: Optional[str] = None
                              ) -> Dict:
    """The Batch Statistical request a whole estate needs (features and results in the
    user's object storage) — what ``--dry-run`` shows before anything is submitted. Storage
    access: an IAM role ARN, or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY from the
    environment."""
    from sentinelhub import SentinelHubStatistical
    from sentinelhub.api.utils import s3_specification

    from .evalscripts import statistics_evalscript

    access = {"iam_role_arn": iam_role_arn} if iam_role_arn else {
        "access_key": os.environ.get("AWS_ACCESS_KEY_ID"),
        "secret_access_key": os.environ.get("AWS_SECRET_ACCESS_KEY")}
    if not iam_role_arn and not all(access.values()):
        raise ProviderError("batch statistics need access to your bucket: give an IAM role "
                            "ARN, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
    from .evalscripts import HARMONIZE_VALUES

    begin, stop = rules.time_range(start, end)
    aggregation = SentinelHubStatistical.aggregation(
        evalscript=statistics_evalscript(indices), time_interval=(begin, stop),
        aggregation_interval=interval, resolution=(resolution, resolution))
    aggregation["aggregationInterval"]["lastIntervalBehavior"] = "SHORTEN"
    return {
        "input": {"features": s3_specification(features_s3_url, **access),
                  "data": [SentinelHubStatistical.input_data(
                      settings.data_collection(),
                      other_args={"processing": {"harmonizeValues": HARMONIZE_VALUES}})]},
        "aggregation": aggregation,
        "calculations": {"default": {"statistics": {"default": {
            "percentiles": {"k": [10, 50, 90]}}}}},
        "output": s3_specification(output_s3_url, **access),
    }


def batch_estimate(zones, *, indices: Sequence[str], start: date, end: date,
                   interval: str = "P1M", resolution: float = 10.0) -> Dict:
    """What a Batch Statistical request over these polygons costs by the documented rules:
    each feature as a Statistical request (grid-aligned bbox, input bands without dataMask,
    one sample per expected acquisition under ORBIT mosaicking), summed, with the batch
    minimum of 100 PU; plus the account conditions (Copernicus Service account, 1000 PU
    available to create or start)."""
    from .evalscripts import input_bands

    frame = zones.to_crs(rules.request_epsg(zones))
    begin, stop = rules.time_range(start, end)
    intervals = rules.aggregation_intervals(begin, stop, interval, "SHORTEN")
    count = len(intervals)
    samples = sum(rules.acquisitions_estimate(*pair) for pair in intervals)
    per_feature = [rules.statistical_pu(width_px=p.width, height_px=p.height,
                                        input_bands=input_bands(indices), intervals=count,
                                        samples=samples)
                   for p in _plan(frame.assign(_id=range(len(frame))), "_id", resolution)]
    features_pu = float(sum(per_feature))
    return {"features": len(frame), "intervals": count, "features_pu": features_pu,
            "minimum_pu": rules.PU_MIN_BATCH_STATISTICAL,
            "estimated_processing_units": rules.batch_statistical_pu(per_feature),
            "pu_reserve_needed": rules.BATCH_PU_RESERVE,
            "account": "Batch Statistical needs a Copernicus Service account (other CDSE "
                       "accounts get HTTP 403) and at least 1000 PU available to create or "
                       "start the request",
            "crs": f"EPSG:{rules.request_epsg(zones)} (the GeoPackage's features must be in "
                   "one CRS Sentinel Hub supports)"}


def redacted(payload: Dict) -> Dict:
    """A copy of a request payload safe to print: storage secrets replaced."""
    import json
    import re

    text = json.dumps(payload)
    for key in ("secretAccessKey", "accessKey"):
        text = re.sub(rf'("{key}": )"[^"]*"', r'\1"***"', text)
    return json.loads(text)


@dataclass
class BatchOutcome:
    """A Batch Statistical request after it was created, started and followed."""

    request_id: str
    status: str
    cost_pu: Optional[float]
    results_url: str
    error: Optional[str] = None


def results_location(output_url: str, request_id: str) -> str:
    """Where Sentinel Hub writes the per-feature JSON files: ``<url>/<REQUEST_ID>/<id>.json``
    for a plain S3 URL, or the template with ``<REQUEST_ID>`` filled in."""
    if "<ID>" in output_url or "<IDENTIFIER>" in output_url:
        return output_url.replace("<REQUEST_ID>", request_id)
    return f"{output_url.rstrip('/')}/{request_id}/<ID>.json"


def run_batch_statistical(payload: Dict, settings: CopernicusSettings, *,
                          poll_seconds: float = 30.0, timeout_seconds: float = 6 * 3600,
                          progress: Optional[Callable[[float, str], None]] = None,
                          cancel: Optional[Callable[[], bool]] = None) -> BatchOutcome:
    """Create the Batch Statistical request, start it (``POST …/{id}/start``: a request left
    CREATED is deleted after 7 days and never runs), then poll its status until DONE, FAILED,
    STOPPED or PARTIAL. Results land in the output bucket (see ``results_location``).
    Accounts that may not use this API get a clear ProviderError."""
    import time

    from sentinelhub import SentinelHubBatchStatistical
    from sentinelhub.exceptions import DownloadFailedException

    client = SentinelHubBatchStatistical(config=settings.sh_config())
    try:
        request = client.create(input_features=payload["input"]["features"],
                                input_data=payload["input"]["data"],
                                aggregation=payload["aggregation"],
                                calculations=payload.get("calculations"),
                                output=payload["output"])
    except DownloadFailedException as error:
        if http_status(error) == 403:
            raise ProviderError(
                f"{PROVIDER_NAME}: this account may not use the Batch Statistical API (HTTP "
                "403): it needs a Copernicus Service account. Use the Statistical API instead "
                "(one request per polygon), or ask CDSE support for a Service account."
            ) from None
        raise ProviderError(f"{PROVIDER_NAME}: batch submission failed "
                            f"({_reason(error)})") from None
    request_id = request.request_id
    where = results_location(payload["output"]["s3"]["url"], request_id)
    try:
        client.start_job(request_id)
        deadline = time.monotonic() + timeout_seconds
        while True:
            status = client.get_status(request_id)
            state = str(status.get("status"))
            percent = float(status.get("completionPercentage") or 0)
            if progress is not None:
                progress(percent / 100, f"{PROVIDER_NAME}: batch {request_id} {state}")
            if state in ("DONE", "FAILED", "STOPPED", "PARTIAL"):
                return BatchOutcome(request_id, state, status.get("costPu"), where,
                                    status.get("error") or status.get("stoppedStatusReason"))
            if cancel is not None and cancel():
                return BatchOutcome(request_id, state, None, where,
                                    "stopped following it (the request keeps running)")
            if time.monotonic() > deadline:
                return BatchOutcome(request_id, state, None, where, "still running: check "
                                    "its status later with the request id")
            time.sleep(poll_seconds)
    except DownloadFailedException as error:
        raise ProviderError(f"{PROVIDER_NAME}: batch request {request_id} was created but "
                            f"could not be started or followed ({_reason(error)}); results "
                            f"would land in {where}") from None
