"""``sentinel-hub`` with the batch APIs: Batch Statistical (``--batch-output s3://…``) and
``sentinel-hub batch-processing`` (Batch Processing V2: index COGs per grid tile in a bucket,
then statistics per forest). Both need a Copernicus Service account and a bucket."""

from __future__ import annotations

import sys

from .common import BadInput, forest_ids, progress_bar

API_CHOICES = ("statistics", "batch-processing")


def add_bucket_arguments(hub) -> None:
    """Options the batch APIs share: the bucket's region and whether to send keys."""
    from ..core.sentinel_hub import CDSE_S3_REGION

    hub.add_argument("--s3-region",
                     help=f"region of the bucket (default {CDSE_S3_REGION}, CDSE object "
                          "storage; '' leaves it out: the deployment's region)")
    hub.add_argument("--s3-send-keys", action="store_true",
                     help="send AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY to Sentinel Hub with "
                          "the request (default: none; the bucket policy grants access)")


def add_batch_processing(hub) -> None:
    """``sentinel-hub batch-processing``: the Batch Processing API instead of statistics."""
    from ..core.sentinel_hub import DEFAULT_GRID, USABLE_GRIDS

    hub.add_argument("api", nargs="?", default="statistics", choices=API_CHOICES,
                     help="statistics (default: Statistical API, or Batch Statistical with "
                          "--batch-output) or batch-processing (Batch Processing API: index "
                          "COGs per grid tile delivered to --batch-output, then statistics "
                          "per forest)")
    grids = ", ".join(f"{key}: {grid['name']} ({', '.join(f'{r:g}' for r in grid['resolutions'])}"
                      f" {grid['unit']})" for key, grid in USABLE_GRIDS.items())
    # no argparse choices: check_grid names the usable grids, and why a degree grid is not one
    hub.add_argument("--tiling-grid", type=int,
                     help=f"batch-processing: the tiling grid (default {DEFAULT_GRID}); {grids}")


def _spec(args, indices, kind: str) -> dict:
    from ..core.sentinel_hub import default_usage_ledger

    return {"kind": kind, "aoi": args.gpkg, "layer": args.layer, "id_field": args.id_field,
            "ids": forest_ids(args), "indices": indices, "start": args.start.isoformat(),
            "end": args.end.isoformat(), "resolution": args.resolution,
            "max_cloud_cover": args.max_cloud, "min_clear_fraction": args.min_clear,
            "output_dir": args.output, "base_url": args.base_url, "token_url": args.token_url,
            "pu_budget": args.pu_budget, "request_budget": args.request_budget,
            "usage_ledger": args.usage_ledger or str(default_usage_ledger()),
            "batch_output": args.batch_output, "s3_send_keys": bool(args.s3_send_keys),
            "poll_seconds": args.poll_seconds,
            # '' is kept: no region sent, the deployment's (it was dropped as null, so the
            # run sent waw3-1 while the dry run showed none)
            **({"s3_region": args.s3_region} if args.s3_region is not None else {}),
            **({"batch_features": args.batch_features} if args.batch_features else {})}


def run_with_progress(spec: dict, args, label: str = "sentinel hub batch") -> dict:
    """Run a Sentinel Hub job with a progress bar; its errors on one stderr line."""
    from ..core.jobs import run_job

    progress = progress_bar(args, label)
    try:
        result = run_job(spec, progress=progress)
    finally:
        progress.close()
    if result["errors"]:
        print(f"raster-collect: {'; '.join(result['errors'].values())}", file=sys.stderr)
    return result


def batch_statistics(args, indices) -> dict:
    """Batch Statistical: the estimate and request (``--dry-run``: nothing written or sent),
    or the whole run, results in the local engine's tables."""
    if not str(args.batch_output).startswith("s3://"):
        raise BadInput("--batch-output must be an s3:// folder")
    spec = _spec(args, indices, "sentinel-hub-statistics")
    if args.dry_run:
        from ..core.jobs import batch_statistics_plan
        from ..core.jobs.hub_batch import dry_run_budget_notes

        plan = batch_statistics_plan(spec)
        return {"dry_run": True, **plan["estimate"], "features": plan["features_url"],
                "request": plan["request"], "bucket_policy": plan["bucket_policy"],
                "notes": dry_run_budget_notes(
                    spec, plan["estimate"]["estimated_processing_units"]), "errors": {}}
    return run_with_progress(spec, args)


def batch_processing(args, indices) -> dict:
    """Batch Processing: the estimate (``--dry-run``: nothing sent), or create, analyse (the
    service's tile list and the estimate from it), start, follow, download the COGs, mosaic
    them and compute statistics per forest."""
    if not str(args.batch_output or "").startswith("s3://"):
        raise BadInput("batch-processing needs --batch-output, the s3:// folder the tiles are "
                       "delivered to")
    from ..core.sentinel_hub import DEFAULT_GRID

    spec = dict(_spec(args, indices, "sentinel-hub-batch-processing"),
                tiling_grid=DEFAULT_GRID if args.tiling_grid is None else args.tiling_grid)
    if args.dry_run:
        from ..core.jobs import batch_processing_plan
        from ..core.jobs.hub_batch import dry_run_budget_notes

        plan = batch_processing_plan(spec)
        return {"dry_run": True, **plan["estimate"], "request": plan["request"],
                "notes": dry_run_budget_notes(
                    spec, plan["estimate"]["estimated_processing_units"]), "errors": {}}
    return run_with_progress(spec, args)
