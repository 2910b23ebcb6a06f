"""``sentinel-hub-byoc``: a COG (the project's composite or your own) registered on the
Copernicus Data Space as a BYOC collection, and optionally read back as statistics."""

from __future__ import annotations

from .common import BadInput, forest_ids, parse_date, progress_bar


def _cmd_byoc(args) -> dict:
    """Upload, register, follow the ingestion; with --gpkg, statistics through Sentinel Hub."""
    from ..core.jobs import run_job
    from .sentinel_hub import check_hub_options

    # named as typed (the spec's check named 'pu_budget'); the read-back dates' order too
    check_hub_options(args, ("pu_budget", "request_budget", "poll_seconds"))
    read_back = [flag for flag, given in (("--layer", args.layer), ("--forest", args.forest != "*"),
                                          ("--start", args.start), ("--end", args.end)) if given]
    if read_back and not args.gpkg:  # silently not used before
        raise BadInput(f"{' and '.join(read_back)} read the collection back as statistics: "
                       "give the polygons (--gpkg) too, or drop "
                       f"{'it' if len(read_back) == 1 else 'them'}")
    if args.gpkg and not (args.start and args.end):  # the read-back was silently skipped
        raise BadInput("reading the collection back (--gpkg) needs --start and --end: give "
                       "both dates, or drop --gpkg")
    spec = {"kind": "sentinel-hub-byoc", "raster": args.raster, "bucket": args.bucket,
            "prefix": args.prefix, "collection_name": args.name,
            "collection_id": args.collection_id, "base_url": args.base_url,
            "token_url": args.token_url, "poll_seconds": args.poll_seconds,
            "output_dir": args.output, "aoi": args.gpkg, "layer": args.layer,
            "id_field": args.id_field if args.gpkg else None,
            "ids": forest_ids(args) if args.gpkg else None,
            "start": args.start.isoformat() if args.start else None,
            "end": args.end.isoformat() if args.end else None,
            "pu_budget": args.pu_budget, "request_budget": args.request_budget,
            "usage_ledger": args.usage_ledger,
            "grant_read": args.grant_read or None}
    spec = {k: v for k, v in spec.items() if v is not None}
    if args.dry_run:
        from ..core.jobs import validate_spec
        from ..core.sentinel_hub import run_byoc_job

        validate_spec(spec)
        return run_byoc_job(spec, dry_run=True)
    progress = progress_bar(args, "byoc")
    try:
        return run_job(spec, progress=progress)
    finally:
        progress.close()


def register(commands) -> None:
    """Add the sentinel-hub-byoc subcommand."""
    from ..core.sources import CDSE_BASE_URL, CDSE_TOKEN_URL

    byoc = commands.add_parser(
        "sentinel-hub-byoc", help="register a COG on S3 as a Sentinel Hub BYOC collection "
                                  "(needs a Copernicus Service account)")
    byoc.add_argument("raster", help="the COG: a composite made by this tool (one tile per "
                                     "period) or any COG (one tile)")
    byoc.add_argument("--bucket", required=True, help="S3 bucket Sentinel Hub may read "
                                                      "(bucket policy: README)")
    byoc.add_argument("--prefix", help="folder in the bucket (default "
                                       "raster-collect/byoc/<file name>)")
    byoc.add_argument("--name", help="collection name (default: the file name)")
    byoc.add_argument("--collection-id", help="add the tiles to this existing collection")
    byoc.add_argument("--gpkg", help="polygons: read the collection back as statistics")
    byoc.add_argument("--layer")
    byoc.add_argument("--id-field", default="forest_id")
    byoc.add_argument("--forest", default="*")
    byoc.add_argument("--start", type=parse_date, help="read-back: first day")
    byoc.add_argument("--end", type=parse_date, help="read-back: last day")
    byoc.add_argument("--output", default="outputs/sentinel-hub-byoc", help="tables folder")
    byoc.add_argument("--base-url", default=CDSE_BASE_URL, help="Sentinel Hub deployment")
    byoc.add_argument("--token-url", default=CDSE_TOKEN_URL, help="OAuth token URL")
    byoc.add_argument("--poll-seconds", type=float, default=10.0,
                      help="seconds between ingestion status checks")
    byoc.add_argument("--pu-budget", type=float,
                      help="processing units this tool may spend a month (free tier 10000)")
    byoc.add_argument("--request-budget", type=int,
                      help="requests this tool may send a month (free tier 10000)")
    byoc.add_argument("--usage-ledger", help="JSON file counting this month's spending")
    byoc.add_argument("--grant-read", action="store_true",
                      help="add the documented statement letting Sentinel Hub read the bucket "
                           "to its policy (Byoc.qmd, Bucket settings)")
    byoc.add_argument("--dry-run", action="store_true",
                      help="show the tiles, uploads and collection; send nothing")
    byoc.set_defaults(handler=_cmd_byoc)
