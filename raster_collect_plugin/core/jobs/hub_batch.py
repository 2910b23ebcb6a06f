"""Jobs for the Sentinel Hub batch APIs: Batch Statistical (statistics per forest computed by
the service from and to the user's bucket, written as the local engine's tables) and Batch
Processing (index COGs per grid tile in the bucket, mosaicked and reduced per forest).
Credentials come from the environment, never the spec."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict

from ..runs.defaults import DEFAULT_HUB_INDICES
from ..sentinel_hub.job_options import budget_from_spec as _budget
from ..sentinel_hub.job_options import settings_from_spec as _settings
from .spec import JobError

BATCH_STATISTICAL_KEYS = ("batch_output", "batch_features", "s3_region", "s3_send_keys",
                          "poll_seconds")


def _aoi(spec: Dict[str, Any]):
    from ..areas.aoi import load_aoi

    return load_aoi(spec["aoi"], id_field=spec.get("id_field") or "forest_id",
                    layer=spec.get("layer"), ids=spec.get("ids"))


def batch_statistics_plan(spec: Dict[str, Any]) -> Dict[str, Any]:
    """What a Batch Statistical job would do and cost; nothing is written or sent."""
    from datetime import date

    from ..sentinel_hub.batch import batch_estimate, batch_statistical_payload, redacted
    from ..sentinel_hub.bucket import CDSE_S3_REGION, bucket_policy, join

    aoi = _aoi(spec)
    output = str(spec["batch_output"])
    features = spec.get("batch_features") or join(output, "forests.gpkg")
    start, end = (date.fromisoformat(str(spec[k])[:10]) for k in ("start", "end"))
    indices = spec.get("indices") or list(DEFAULT_HUB_INDICES)
    resolution = float(spec.get("resolution") or 10)
    estimate = batch_estimate(aoi.frame, indices=indices, start=start, end=end,
                              interval=spec.get("interval", "P1M"), resolution=resolution)
    payload = batch_statistical_payload(
        features_s3_url=features, output_s3_url=output, indices=indices, start=start, end=end,
        settings=_settings(spec), interval=spec.get("interval", "P1M"), resolution=resolution,
        max_cloud_cover=spec.get("max_cloud_cover"),
        region=spec.get("s3_region", CDSE_S3_REGION),
        send_keys=bool(spec.get("s3_send_keys")))
    bucket = output[len("s3://"):].split("/", 1)[0]
    return {"aoi": aoi, "features_url": features, "estimate": estimate, "payload": payload,
            "request": redacted(payload), "bucket_policy": bucket_policy(bucket)}


def dry_run_budget_notes(spec: Dict[str, Any], estimated_pu: float) -> list:
    """What a batch dry run says of the budget, as the Statistical and Process dry runs do:
    what is left this month and, when the estimate does not fit, that the run would stop
    (it said nothing: a run refused at once looked fine in its dry run)."""
    budget = _budget(spec)
    pu_left, requests_left = budget.left()
    reason = budget.check(pu=estimated_pu, requests=1)
    return [f"left this month: {pu_left:.2f} PU, {requests_left} requests",
            *([f"would stop: {reason}"] if reason else [])]


def batch_statistics_job(spec: Dict[str, Any], progress, cancel) -> Dict[str, Any]:
    """Write the forests to the bucket, check the estimate against the budget, create, analyse,
    start and follow the request, read the results back into ``zonal_forests.*`` and
    ``forests_latest.gpkg`` (the local engine's files), and record the cost the service
    reported beside the estimate."""
    from ..outputs.tables import write_zone_outputs
    from ..sentinel_hub.batch import run_batch_statistical
    from ..sentinel_hub.batch_results import batch_statistics_table, results_prefix
    from ..sentinel_hub.bucket import write_features
    from ..sentinel_hub.client import PROVIDER_NAME
    from ..sentinel_hub.usage import record_batch_cost
    from ..sources.providers.base import ProviderError

    if not str(spec.get("batch_output", "")).startswith("s3://"):
        raise JobError("'batch_output' must be an s3:// folder for the batch results")
    plan = batch_statistics_plan(spec)
    aoi, estimate = plan["aoi"], plan["estimate"]
    budget = _budget(spec)
    estimated = estimate["estimated_processing_units"]
    reason = budget.check(pu=estimated, requests=1)
    if reason:
        raise ProviderError(f"{PROVIDER_NAME}: {reason}")
    _settings(spec).sh_config()  # no credentials: exit 2 before the forests are written
    epsg, identifiers = write_features(aoi.frame, aoi.id_field, plan["features_url"])
    outcome = run_batch_statistical(plan["payload"], _settings(spec),
                                    poll_seconds=float(spec.get("poll_seconds", 30.0)),
                                    progress=progress, cancel=cancel)
    record_batch_cost(budget.ledger, outcome.request_id, api="batch-statistical",
                      estimated_pu=estimated, cost_pu=outcome.cost_pu, status=outcome.status,
                      started=bool(outcome.analysis) and
                      outcome.analysis.get("status") == "ANALYSIS_DONE")
    output = Path(spec["output_dir"])
    result: Dict[str, Any] = {
        "output_dir": str(output), "batch_request_id": outcome.request_id,
        "status": outcome.status, "results": outcome.results_url,
        "features": plan["features_url"], "crs": f"EPSG:{epsg}",
        "estimated_processing_units": estimated, "cost_pu": outcome.cost_pu,
        "files": {}, "rows": 0, "errors": {}}
    if outcome.status not in ("DONE", "PARTIAL"):
        hint = "" if spec.get("s3_send_keys") else (
            " (no keys were sent: the bucket policy must grant Sentinel Hub access, see "
            "README: Batch APIs)")
        result["errors"] = {"batch": f"{outcome.status}: {outcome.error}{hint}"}
        return result
    table, errors = batch_statistics_table(
        results_prefix(outcome.results_url), aoi.frame.to_crs(epsg), identifiers,
        id_field=aoi.id_field, indices=spec.get("indices") or list(DEFAULT_HUB_INDICES),
        resolution=float(spec.get("resolution") or 10),
        min_clear_fraction=float(spec.get("min_clear_fraction", 0.5)),
        interval=spec.get("interval", "P1M"))
    output.mkdir(parents=True, exist_ok=True)
    if len(table):
        result["files"] = {k: str(v) for k, v in
                           write_zone_outputs(table, aoi.frame, aoi.id_field, output).items()}
    result.update(rows=int(len(table)), errors=errors)
    return result


def batch_processing_plan(spec: Dict[str, Any]) -> Dict[str, Any]:
    """What a Batch Processing job would do and cost (this tool's own tiling of the area);
    nothing is written or sent."""
    from datetime import date

    from ..sentinel_hub.batch import redacted
    from ..sentinel_hub.batch_processing import (
        DEFAULT_GRID,
        batch_processing_estimate,
        batch_processing_payload,
    )
    from ..sentinel_hub.bucket import CDSE_S3_REGION

    aoi = _aoi(spec)
    start, end = (date.fromisoformat(str(spec[k])[:10]) for k in ("start", "end"))
    indices = spec.get("indices") or list(DEFAULT_HUB_INDICES)
    resolution = float(spec.get("resolution") or 10)
    grid = int(spec.get("tiling_grid", DEFAULT_GRID))
    estimate = batch_processing_estimate(aoi.frame, indices=indices, start=start, end=end,
                                         grid_id=grid, resolution=resolution)
    payload = batch_processing_payload(
        aoi.frame, indices=indices, start=start, end=end, settings=_settings(spec),
        output_s3_url=str(spec["batch_output"]), grid_id=grid, resolution=resolution,
        max_cloud_cover=spec.get("max_cloud_cover"),
        region=spec.get("s3_region", CDSE_S3_REGION), send_keys=bool(spec.get("s3_send_keys")))
    return {"aoi": aoi, "estimate": estimate, "payload": payload, "request": redacted(payload),
            "start": start, "end": end, "indices": indices}


def batch_processing_job(spec: Dict[str, Any], progress, cancel) -> Dict[str, Any]:
    """Batch Processing end to end: estimate checked first (ours, then the one from the
    service's tile list after its analysis), start, follow, record the reported cost beside the
    estimate, download the delivered COGs, mosaic them per index and compute the forests'
    statistics on them with the zonal engine (``zonal_<INDEX>/zonal_forests.*``)."""
    from ..sentinel_hub.batch_processing import grid_epsg
    from ..sentinel_hub.batch_tiles import mosaic_tiles, run_batch_processing
    from ..sentinel_hub.client import PROVIDER_NAME
    from ..sentinel_hub.evalscripts import input_bands
    from ..sentinel_hub.usage import record_batch_cost
    from ..sources.providers.base import ProviderError
    from ..zonal.of_raster import RasterZonalRequest, run_zonal_raster

    plan = batch_processing_plan(spec)
    aoi, estimate = plan["aoi"], plan["estimate"]
    budget = _budget(spec)
    reason = budget.check(pu=estimate["estimated_processing_units"], requests=1)
    if reason:
        raise ProviderError(f"{PROVIDER_NAME}: {reason}")
    outcome = run_batch_processing(
        plan["payload"], _settings(spec), input_bands=input_bands(plan["indices"]),
        start=plan["start"], end=plan["end"],
        check=lambda pu: budget.check(pu=pu, requests=1),
        poll_seconds=float(spec.get("poll_seconds", 30.0)), progress=progress, cancel=cancel)
    estimated = outcome.estimated_pu if outcome.estimated_pu is not None else \
        estimate["estimated_processing_units"]
    record_batch_cost(budget.ledger, outcome.request_id, api="batch-processing",
                      estimated_pu=estimated, cost_pu=outcome.cost_pu, status=outcome.status,
                      started=outcome.estimated_pu is not None)
    output = Path(spec["output_dir"])
    result: Dict[str, Any] = {
        "output_dir": str(output), "batch_request_id": outcome.request_id,
        "status": outcome.status, "tiles": len(outcome.tiles),
        "estimated_processing_units_before": estimate["estimated_processing_units"],
        "estimated_processing_units": estimated, "cost_pu": outcome.cost_pu,
        "rasters": {}, "zonal": {}, "errors": {}}
    if outcome.status != "DONE":
        result["errors"] = {"batch": f"{outcome.status}: {outcome.error}"}
        return result
    epsg = grid_epsg(aoi.frame, int(plan["payload"]["input"]["id"]))  # the grid's output CRS
    other = sorted({t["epsg"] for t in outcome.tiles} - {epsg})
    if other:
        result["errors"]["tiles"] = (f"tiles delivered in {', '.join(f'EPSG:{e}' for e in other)}"
                                     f" were left out of the EPSG:{epsg} mosaic")
    stem = f"sentinel-hub-batch_{plan['start']}_{plan['end']}"
    rasters = mosaic_tiles(outcome.tiles, output, indices=plan["indices"], epsg=epsg, stem=stem,
                           tags={"provider": PROVIDER_NAME, "batch_request_id":
                                 outcome.request_id})
    result["rasters"] = {index: str(path) for index, path in rasters.items()}
    for index, path in rasters.items():
        zonal = run_zonal_raster(RasterZonalRequest(
            aoi=aoi, raster=path, output_dir=output / f"zonal_{index}",
            min_clear_fraction=float(spec.get("min_clear_fraction", 0.5))), cancel=cancel)
        result["zonal"][index] = zonal["files"]
    return result
