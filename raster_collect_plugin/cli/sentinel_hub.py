"""``sentinel-hub``: statistics or index rasters from the Copernicus Data Space (Sentinel Hub)."""

from __future__ import annotations

import sys
from datetime import date, timedelta
from pathlib import Path

from .common import (
    BadInput,
    add_aoi_arguments,
    forest_ids,
    load_aoi_from_args,
    parse_date,
    progress_bar,
)


def _cmd_sentinel_hub(args) -> dict:
    """Statistics from the Copernicus Data Space (credentials: SH_CLIENT_ID/SH_CLIENT_SECRET)."""
    from ..core.jobs import run_job
    from ..core.providers.copernicus import (
        CopernicusSettings,
        batch_statistical_payload,
        estimate_processing_units,
        redacted,
        submit_batch_statistical,
    )

    indices = [i.strip() for i in args.indices.split(",") if i.strip()]
    settings = CopernicusSettings(base_url=args.base_url, token_url=args.token_url)
    if args.batch_features or args.batch_output:
        if not (args.batch_features and args.batch_output):
            raise BadInput("batch statistics need both --batch-features and --batch-output "
                           "(s3:// URLs)")
        payload = batch_statistical_payload(features_s3_url=args.batch_features,
                                            output_s3_url=args.batch_output, indices=indices,
                                            start=args.start, end=args.end, settings=settings,
                                            resolution=args.resolution,
                                            iam_role_arn=args.s3_role_arn)
        aoi = load_aoi_from_args(args)
        bounds = aoi.frame.total_bounds
        months = (args.end.year - args.start.year) * 12 + args.end.month - args.start.month + 1
        estimate = estimate_processing_units(
            width_px=int((bounds[2] - bounds[0]) / args.resolution) + 1,
            height_px=int((bounds[3] - bounds[1]) / args.resolution) + 1, bands=4,
            dates=months * 6)
        if args.dry_run:
            return {"dry_run": True, "estimated_processing_units": estimate,
                    "request": redacted(payload)}
        return {"batch_request_id": submit_batch_statistical(payload, settings),
                "estimated_processing_units": estimate}
    aoi = load_aoi_from_args(args)
    if args.raster:
        from ..core.providers.copernicus import process_index_raster

        epsg = aoi.frame.crs.to_epsg()
        destination = Path(args.output) / (f"sentinel-hub_{'-'.join(indices)}_"
                                           f"{args.start}_{args.end}.tif")
        outcome = process_index_raster(aoi.union(), crs_epsg=epsg, indices=indices,
                                       start=args.start, end=args.end, settings=settings,
                                       destination=destination, resolution=args.resolution,
                                       cache_dir=Path(args.output) / ".sentinel-hub-cache")
        return {"raster": str(outcome.path), "tiles": outcome.tiles,
                "estimated_processing_units": outcome.estimated_pu, "errors": {}}
    spec = {"kind": "sentinel-hub-statistics", "aoi": args.gpkg, "layer": args.layer,
            "id_field": args.id_field, "ids": forest_ids(args), "indices": indices,
            "start": args.start.isoformat(), "end": args.end.isoformat(),
            "resolution": args.resolution, "max_cloud_cover": args.max_cloud,
            "min_clear_fraction": args.min_clear, "output_dir": args.output,
            "base_url": args.base_url, "token_url": args.token_url}
    progress = progress_bar(args, "sentinel hub")
    try:
        result = run_job(spec, progress=progress)
    finally:
        progress.close()
    if result["errors"]:
        print(f"raster-collect: {'; '.join(result['errors'].values())}", file=sys.stderr)
    return result


def register(commands) -> None:
    """Add the sentinel-hub subcommand(s)."""
    from ..core.providers.copernicus import CDSE_BASE_URL, CDSE_TOKEN_URL

    hub = commands.add_parser("sentinel-hub", help="statistics per forest from the Copernicus "
                                                  "Data Space Statistical API")
    add_aoi_arguments(hub)
    today = date.today()
    hub.add_argument("--start", type=parse_date, default=today - timedelta(days=365))
    hub.add_argument("--end", type=parse_date, default=today)
    hub.add_argument("--indices", default="NDVI", help="indices, comma separated")
    hub.add_argument("--resolution", type=float, default=10.0, help="metres (default 10)")
    hub.add_argument("--max-cloud", type=float, default=100.0, help="scene cloud limit (%%)")
    hub.add_argument("--min-clear", type=float, default=0.5, help="minimum clear fraction")
    hub.add_argument("--base-url", default=CDSE_BASE_URL, help="Sentinel Hub deployment")
    hub.add_argument("--token-url", default=CDSE_TOKEN_URL, help="OAuth token URL")
    hub.add_argument("--output", default="outputs/sentinel-hub", help="output folder")
    hub.add_argument("--batch-features", help="s3:// GeoPackage of polygons: Batch "
                                              "Statistical API instead of one request each")
    hub.add_argument("--batch-output", help="s3:// folder for the batch results")
    hub.add_argument("--raster", action="store_true",
                     help="Process API: the indices as a cloud-masked mosaic COG of the period "
                          "over the forests (tiled if large) instead of statistics")
    hub.add_argument("--s3-role-arn", help="IAM role Sentinel Hub assumes to read/write the "
                                           "bucket (else AWS_ACCESS_KEY_ID/...SECRET...)")
    hub.add_argument("--dry-run", action="store_true",
                     help="show the batch request and its cost estimate, submit nothing")
    hub.set_defaults(handler=_cmd_sentinel_hub)
