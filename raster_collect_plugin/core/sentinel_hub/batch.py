"""Batch Statistical: large zone sets processed by the service from and to object storage,
with a PU estimate first and credentials redacted from anything written."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Callable, Dict, Optional, Sequence

from ..sources.providers.base import ProviderError
from . import rules as rules
from .bucket import CDSE_S3_REGION, s3_access
from .client import PROVIDER_NAME, CopernicusSettings, _reason, http_status
from .statistical import _plan


def batch_statistical_payload(*, features_s3_url: str, output_s3_url: str,
                              indices: Sequence[str], start: date, end: date,
                              settings: CopernicusSettings, interval: str = "P1M",
                              resolution: float = 10.0, max_cloud_cover: Optional[float] = None,
                              region: Optional[str] = CDSE_S3_REGION, send_keys: bool = False
                              ) -> Dict:
    """The Batch Statistical request a whole estate needs (BatchStatistical.qmd and
    BatchStatistical/Examples.qmd): ``input.features.s3`` (the GeoPackage ``write_features``
    wrote), ``input.data`` with ``dataFilter.maxCloudCoverage`` from ``max_cloud_cover`` (%),
    ``aggregation`` (timeRange, aggregationInterval, evalscript, resx/resy), ``output.s3``.
    Storage access is the bucket policy (no keys, the documented CDSE route) unless
    ``send_keys``; ``region`` is the bucket's (CDSE object storage by default)."""
    from sentinelhub import SentinelHubStatistical

    from .evalscripts import HARMONIZE_VALUES, statistics_evalscript
    from .statistical import _calculations

    begin, stop = rules.time_range(start, end)
    aggregation = SentinelHubStatistical.aggregation(
        evalscript=statistics_evalscript(indices), time_interval=(begin, stop),
        aggregation_interval=interval, resolution=(resolution, resolution))
    aggregation["aggregationInterval"]["lastIntervalBehavior"] = "SHORTEN"
    maxcc = None if max_cloud_cover is None or max_cloud_cover >= 100 else max_cloud_cover / 100
    return {
        "input": {"features": s3_access(features_s3_url, region=region, send_keys=send_keys),
                  "data": [SentinelHubStatistical.input_data(
                      settings.data_collection(), maxcc=maxcc,
                      other_args={"processing": {"harmonizeValues": HARMONIZE_VALUES}})]},
        "aggregation": aggregation,
        "calculations": _calculations(False),
        "output": s3_access(output_s3_url, region=region, send_keys=send_keys),
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
    """A batch request after it was created, analysed, started and followed."""

    request_id: str
    status: str
    cost_pu: Optional[float]
    results_url: str
    error: Optional[str] = None
    analysis: Optional[Dict] = None


# BatchStatistical.qmd / BatchV2.qmd workflow; PARTIAL: the Batch Statistical status enum in
# ApiReference/openapi.v1.yaml
FINISHED = ("DONE", "FAILED", "STOPPED", "PARTIAL")
ANALYSED = ("ANALYSIS_DONE", *FINISHED)


def reported_cost(status: Dict) -> Optional[float]:
    """The PU the service says a batch request cost: ``costPu`` (Batch Statistical status in
    the API reference) or ``costPU`` (Batch V2 task, sentinelhub-py's dataclasses)."""
    value = status.get("costPu", status.get("costPU"))
    return None if value is None else float(value)


def follow(get_status: Callable[[], Dict], until: Sequence[str], *, label: str,
           poll_seconds: float, deadline: float,
           progress: Optional[Callable[[float, str], None]] = None,
           cancel: Optional[Callable[[], bool]] = None,
           stop: Optional[Callable[[], object]] = None) -> Dict:
    """Poll a batch request until its status is one of ``until`` (returned), the user cancels
    (the request is stopped on the service with ``stop``: ``…/{id}/stop``) or the deadline
    passes (``status`` kept, ``_stopped_following`` says why)."""
    import time

    while True:
        if cancel is not None and cancel():
            if stop is None:
                return dict(get_status(), _stopped_following="stopped following it (the "
                            "request keeps running on the service)")
            stop()
            return dict(get_status(), _stopped_following="cancelled: the request was stopped "
                        "on the service (what it had processed is charged)")
        status = get_status()
        state = str(status.get("status"))
        if progress is not None:
            percent = float(status.get("completionPercentage") or 0)
            progress(percent / 100, f"{PROVIDER_NAME}: {label} {state}")
        if state in until:
            return status
        if time.monotonic() > deadline:
            return dict(status, _stopped_following="still running: check its status later "
                        "with the request id")
        time.sleep(poll_seconds)


def _refused(error, api: str) -> ProviderError:
    if http_status(error) == 403:
        return ProviderError(
            f"{PROVIDER_NAME}: this account may not use the {api} API (HTTP 403): it needs a "
            "Copernicus Service account. Use the Statistical or Process API instead, or ask "
            "CDSE support for a Service account.")
    return ProviderError(f"{PROVIDER_NAME}: {api} submission failed ({_reason(error)})")


def run_batch_statistical(payload: Dict, settings: CopernicusSettings, *,
                          poll_seconds: float = 30.0, timeout_seconds: float = 6 * 3600,
                          progress: Optional[Callable[[float, str], None]] = None,
                          cancel: Optional[Callable[[], bool]] = None) -> BatchOutcome:
    """Create the Batch Statistical request, ask for its analysis (``…/{id}/analyse``: the
    evalscript and the features are checked before anything is spent), start it once the
    status is ANALYSIS_DONE (a request left CREATED is deleted after 7 days and never runs),
    then poll until DONE, FAILED, STOPPED or PARTIAL. Results land in the output bucket (see
    ``results_location``). Accounts that may not use this API get a clear ProviderError.
    The caller checks the cost estimate against the budget before calling this."""
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
        raise _refused(error, "Batch Statistical") from None
    request_id = request.request_id
    where = results_location(payload["output"]["s3"]["url"], request_id)
    deadline = time.monotonic() + timeout_seconds
    options = dict(poll_seconds=poll_seconds, deadline=deadline, progress=progress,
                   cancel=cancel, label=f"batch {request_id}",
                   stop=lambda: client.stop_job(request_id))
    try:
        client.start_analysis(request_id)
        analysis = follow(lambda: client.get_status(request_id), ANALYSED, **options)
        if analysis.get("status") != "ANALYSIS_DONE":
            return BatchOutcome(request_id, str(analysis.get("status")),
                                reported_cost(analysis), where,
                                analysis.get("_stopped_following") or analysis.get("error"),
                                analysis)
        client.start_job(request_id)
        status = follow(lambda: client.get_status(request_id), FINISHED, **options)
    except DownloadFailedException as error:
        raise ProviderError(f"{PROVIDER_NAME}: batch request {request_id} was created but "
                            f"could not be analysed, started or followed ({_reason(error)}); "
                            f"results would land in {where}") from None
    return BatchOutcome(request_id, str(status.get("status")), reported_cost(status), where,
                        status.get("_stopped_following") or status.get("error")
                        or status.get("stoppedStatusReason"), analysis)


def results_location(output_url: str, request_id: str) -> str:
    """Where Sentinel Hub writes the per-feature JSON files: ``<url>/<REQUEST_ID>/<id>.json``
    for a plain S3 URL, or the template with ``<REQUEST_ID>`` filled in."""
    if "<ID>" in output_url or "<IDENTIFIER>" in output_url:
        return output_url.replace("<REQUEST_ID>", request_id)
    return f"{output_url.rstrip('/')}/{request_id}/<ID>.json"
