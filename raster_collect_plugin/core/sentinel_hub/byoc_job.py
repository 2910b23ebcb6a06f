"""The ``sentinel-hub-byoc`` job: a COG (the project's composite or a user's) uploaded to S3,
registered as a BYOC collection and ingested; with an ``aoi``, ``start`` and ``end``, its
statistics read back through the Statistical API and written like the local engine's tables.
Credentials: SH_CLIENT_ID / SH_CLIENT_SECRET and the usual AWS variables, never the spec."""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path
from typing import Any, Callable, Dict, Optional

from . import byoc as byoc
from .job_options import budget_from_spec as _budget
from .job_options import settings_from_spec as _settings


def run_byoc_job(spec: Dict[str, Any], progress: Optional[Callable[[float, str], None]] = None,
                 cancel: Optional[Callable[[], bool]] = None, *,
                 dry_run: bool = False) -> Dict[str, Any]:
    """Plan, upload, register and follow the ingestion; then the optional read-back.
    ``dry_run``: the plan (bands, tiles, S3 keys, collection body) and nothing sent."""
    raster = Path(spec["raster"])
    bucket = spec["bucket"]
    prefix = spec.get("prefix") or f"raster-collect/byoc/{raster.stem}"
    name = spec.get("collection_name") or raster.stem
    with tempfile.TemporaryDirectory(prefix="raster-collect-byoc-") as work:
        plan = byoc.plan_cog(raster, Path(work))
        if dry_run:
            return {"dry_run": True, "kind": plan.kind, "tiles": [t.name for t in plan.tiles],
                    "uploads": [f"s3://{bucket}/{prefix}/{t.name}/{s}.tif"
                                for t in plan.tiles for s in t.files],
                    "collection": byoc.collection_payload(name, bucket, plan.bands),
                    "bucket_policy_statement": byoc.read_statement(bucket),
                    "account": byoc.ACCOUNT_NOTE, "errors": {}}
        # no upload (nor bucket policy change) that missing credentials or budget would strand
        byoc.check_registration(plan, settings=_settings(spec),
                                collection_id=spec.get("collection_id"), budget=_budget(spec))
        # first: a policy this account may not change uploads nothing
        granted = bool(spec.get("grant_read")) and byoc.grant_sentinel_hub_read(bucket)
        if progress is not None:
            progress(0.0, f"uploading {len(plan.tiles)} tiles to s3://{bucket}/{prefix}")
        paths = byoc.upload_tiles(plan, bucket=bucket, prefix=prefix)
        outcome = byoc.register_collection(
            plan, paths, name=name, bucket=bucket, settings=_settings(spec),
            collection_id=spec.get("collection_id"),
            poll_seconds=float(spec.get("poll_seconds", 10.0)), budget=_budget(spec),
            progress=progress, cancel=cancel)
    notes = outcome.notes + ([f"bucket policy of {bucket}: Sentinel Hub may now read it"]
                             if granted else [])
    result: Dict[str, Any] = {
        "collection_id": outcome.collection_id, "data_type": outcome.data_type,
        "tiles": outcome.tiles, "notes": notes,
        "errors": {f"tile {k}": f"ingestion failed: {v}" for k, v in outcome.failures.items()},
        "grid": {"resolution": plan.resolution, "crs": f"EPSG:{plan.epsg}",
                 "origin": list(plan.origin)}}
    if spec.get("aoi") and outcome.ingested and spec.get("start") and spec.get("end"):
        result.update(_read_back(spec, plan, outcome.collection_id, cancel))
    return result


def _read_back(spec: Dict[str, Any], plan: byoc.ByocPlan, collection_id: str,
               cancel) -> Dict[str, Any]:
    from ..areas.aoi import load_aoi
    from ..outputs.tables import write_zone_outputs
    from .byoc_read import byoc_statistics

    aoi = load_aoi(spec["aoi"], id_field=spec.get("id_field") or "forest_id",
                   layer=spec.get("layer"), ids=spec.get("ids"))
    statistics = byoc_statistics(
        aoi.frame, collection_id=collection_id, bands=list(plan.bands),
        start=date.fromisoformat(str(spec["start"])), end=date.fromisoformat(str(spec["end"])),
        settings=_settings(spec), resolution=plan.resolution, epsg=plan.epsg,
        origin=plan.origin, id_field=aoi.id_field, interval=spec.get("interval", "P1M"),
        min_clear_fraction=float(spec.get("min_clear_fraction", 0.5)), budget=_budget(spec),
        cancel=cancel)
    output = Path(spec.get("output_dir") or ".")
    output.mkdir(parents=True, exist_ok=True)
    files = {}
    if len(statistics.table):
        files = {k: str(v) for k, v in write_zone_outputs(
            statistics.table, aoi.frame, aoi.id_field, output, name="byoc").items()}
    return {"files": files, "rows": int(len(statistics.table)),
            "requests": statistics.requests,
            "estimated_processing_units": statistics.estimated_pu,
            "statistics_errors": statistics.errors}
