"""``sentinel-hub``: statistics or index rasters from the Copernicus Data Space (Sentinel Hub)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Sequence

from ..core.runs import DEFAULT_HUB_INDICES
from .common import (
    BadInput,
    add_aoi_arguments,
    forest_ids,
    key_options,
    load_aoi_from_args,
    parse_date,
)


def _cmd_sentinel_hub(args) -> dict:
    """Statistics from the Copernicus Data Space (credentials: SH_CLIENT_ID/SH_CLIENT_SECRET)."""
    from ..core.sentinel_hub import (
        CopernicusSettings,
        QuotaBudget,
        cache_folder,
        default_usage_ledger,
        request_epsg,
    )

    check_hub_options(args)
    refuse_unused_options(args)
    indices = [i.strip() for i in args.indices.split(",") if i.strip()]
    settings = CopernicusSettings(base_url=args.base_url, token_url=args.token_url,
                                  max_retry_wait_seconds=args.max_retry_wait)
    if args.batch_features and not args.batch_output:
        raise BadInput("batch statistics need --batch-output (an s3:// folder for the "
                       "results); --batch-features only says where the forests go")
    if args.api == "batch-processing":
        from .sentinel_hub_batch import batch_processing

        return batch_processing(args, indices)
    if args.batch_output:
        from .sentinel_hub_batch import batch_statistics

        return batch_statistics(args, indices)
    aoi = load_aoi_from_args(args)
    budget = QuotaBudget(pu_per_month=args.pu_budget, requests_per_month=args.request_budget,
                         ledger=Path(args.usage_ledger or default_usage_ledger()))
    if args.raster:
        from ..core.sentinel_hub import process_index_raster

        epsg = request_epsg(aoi.frame)
        destination = Path(args.output) / (f"sentinel-hub_{'-'.join(indices)}_"
                                           f"{args.start}_{args.end}.tif")
        outcome = process_index_raster(aoi.frame.to_crs(epsg).union_all(), crs_epsg=epsg,
                                       indices=indices, start=args.start, end=args.end,
                                       settings=settings, destination=destination,
                                       resolution=args.resolution, budget=budget,
                                       dry_run=args.dry_run,
                                       cache_dir=cache_folder(args.output))
        if args.dry_run:
            return {"dry_run": True, "tiles": outcome.tiles, "crs": f"EPSG:{epsg}",
                    "estimated_processing_units": outcome.estimated_pu,
                    "notes": outcome.notes, "errors": {}}
        return {"raster": str(outcome.path), "tiles": outcome.tiles, "crs": f"EPSG:{epsg}",
                "requests": outcome.requests,
                "estimated_processing_units": outcome.estimated_pu, "errors": {}}
    if args.dry_run:
        from ..core.sentinel_hub import statistics_table

        outcome = statistics_table(aoi.frame, id_field=aoi.id_field, indices=indices,
                                   start=args.start, end=args.end, settings=settings,
                                   resolution=args.resolution, budget=budget, dry_run=True,
                                   max_cloud_cover=args.max_cloud,
                                   cache_dir=cache_folder(args.output))
        return {"dry_run": True, "requests": outcome.planned_requests,
                "estimated_processing_units": outcome.estimated_pu,
                "crs": f"EPSG:{outcome.crs_epsg}", "notes": outcome.notes, "errors": {}}
    spec = {"kind": "sentinel-hub-statistics", "aoi": args.gpkg, "layer": args.layer,
            "id_field": args.id_field, "ids": forest_ids(args), "indices": indices,
            "start": args.start.isoformat(), "end": args.end.isoformat(),
            "resolution": args.resolution, "max_cloud_cover": args.max_cloud,
            "min_clear_fraction": args.min_clear, "output_dir": args.output,
            "base_url": args.base_url, "token_url": args.token_url,
            "pu_budget": args.pu_budget, "request_budget": args.request_budget,
            "usage_ledger": args.usage_ledger or str(default_usage_ledger())}
    from .sentinel_hub_batch import run_with_progress

    return run_with_progress(spec, args, "sentinel hub")


# the job spec keys whose rules (core/jobs/spec.py SCHEMA) the command's numbers follow
HUB_KEYS = ("pu_budget", "request_budget", "resolution", "max_cloud_cover",
            "min_clear_fraction", "poll_seconds")


def check_hub_options(args, keys: Sequence[str] = HUB_KEYS) -> None:
    """Every door's rules for the numbers and dates, before any work and on every path (the
    dry run, ``--raster`` and the batch dry runs skipped the job spec's check: a NaN budget let
    everything through, ``--resolution 0`` or ``--max-cloud 150`` ended in a traceback),
    each error naming the option as typed (``key_options``: ``--max-cloud``, not the key)."""
    from ..core.jobs.spec import SCHEMA

    for key in keys:
        option = key_options(key)[0]
        value = getattr(args, option[2:].replace("-", "_"), None)
        check, expected = SCHEMA[key]
        if value is not None and not check(value):
            raise BadInput(f"{option} must be {expected}, not {value:g}")
    if not getattr(args, "max_retry_wait", 0) >= 0:  # NaN too
        raise BadInput(f"--max-retry-wait must be 0 or more seconds, not {args.max_retry_wait:g}")
    if args.start and args.end and args.end < args.start:
        raise BadInput(f"--end ({args.end}) is before --start ({args.start}): swap the dates")


# options left out are None (told apart from given ones), then take these defaults
HUB_DEFAULTS = {"max_cloud": 100.0, "min_clear": 0.5, "poll_seconds": 30.0}
# (--poll-seconds only paces the batch status checks: taken, unused, by every path)
BATCH_ONLY = ("--s3-region", "--s3-send-keys")


def refuse_unused_options(args) -> None:
    """An option the chosen API does not use is refused, never silently not used (README: a
    key only other kinds use is refused): ``--raster`` with the batch APIs, ``--tiling-grid``
    outside batch-processing, the bucket options without ``--batch-output``, and the scene
    cloud limit and clear fraction with ``--raster`` (a mosaic, no statistics). Then the
    options left out take their defaults."""
    values = {option: getattr(args, option[2:].replace("-", "_"), None)
              for option in (*BATCH_ONLY, "--tiling-grid", "--max-cloud", "--min-clear",
                             "--batch-features", "--raster")}
    # left out: None, or False for a flag (not 0: --tiling-grid 0 is a grid)
    given = {option for option, value in values.items()
             if value is not None and value is not False}
    batch = args.api == "batch-processing" or bool(args.batch_output)
    unused = {"--tiling-grid"} if args.api != "batch-processing" else set()
    if args.api == "batch-processing":
        unused |= {"--raster", "--batch-features"}
    elif args.batch_output:
        unused |= {"--raster"}
    if not batch:
        unused |= set(BATCH_ONLY)
        if args.raster:
            unused |= {"--max-cloud", "--min-clear"}
    wrong = sorted(given & unused)
    if wrong:
        api = ("sentinel-hub batch-processing" if args.api == "batch-processing" else
               "sentinel-hub --batch-output (Batch Statistical)" if args.batch_output else
               "sentinel-hub --raster (one mosaic, no statistics)" if args.raster else
               "sentinel-hub (the Statistical API)")
        raise BadInput(f"{' and '.join(wrong)} {'is' if len(wrong) == 1 else 'are'} not used "
                       f"by {api}: drop {'it' if len(wrong) == 1 else 'them'}")
    for key, value in HUB_DEFAULTS.items():
        if getattr(args, key) is None:
            setattr(args, key, value)


def register(commands) -> None:
    """Add the sentinel-hub subcommand(s)."""
    from ..core.sources import CDSE_BASE_URL, CDSE_TOKEN_URL

    hub = commands.add_parser("sentinel-hub", help="statistics per forest from the Copernicus "
                                                  "Data Space Statistical API")
    add_aoi_arguments(hub)
    today = date.today()
    # twelve whole calendar months up to today: monthly intervals start on the 1st
    first = date(today.year - (1 if today.month < 12 else 0), today.month % 12 + 1, 1)
    hub.add_argument("--start", type=parse_date, default=first,
                     help="first day (default: the 1st, eleven months ago)")
    hub.add_argument("--end", type=parse_date, default=today)
    hub.add_argument("--indices", default=",".join(DEFAULT_HUB_INDICES),
                     help=f"indices, comma separated (default {','.join(DEFAULT_HUB_INDICES)})")
    hub.add_argument("--resolution", type=float, default=10.0, help="metres (default 10)")
    hub.add_argument("--max-cloud", type=float, help="scene cloud limit (%%, default 100)")
    hub.add_argument("--min-clear", type=float, help="minimum clear fraction (default 0.5)")
    hub.add_argument("--base-url", default=CDSE_BASE_URL, help="Sentinel Hub deployment")
    hub.add_argument("--token-url", default=CDSE_TOKEN_URL, help="OAuth token URL")
    hub.add_argument("--output", default="outputs/sentinel-hub", help="output folder")
    hub.add_argument("--batch-output", help="s3:// folder: the Batch Statistical API "
                                            "computes the statistics there (Copernicus "
                                            "Service account)")
    hub.add_argument("--batch-features", help="s3:// .gpkg the forests are written to "
                                              "(default: <batch-output>/forests.gpkg)")
    hub.add_argument("--raster", action="store_true",
                     help="Process API: the indices as a cloud-masked mosaic COG of the period "
                          "over the forests (tiled if large) instead of statistics")
    from .sentinel_hub_batch import add_batch_processing, add_bucket_arguments

    add_bucket_arguments(hub)
    hub.add_argument("--dry-run", action="store_true",
                     help="show the cost estimate (and the batch request), send nothing")
    hub.add_argument("--pu-budget", type=float, default=10_000.0,
                     help="processing units this tool may spend a month (free tier 10000)")
    hub.add_argument("--request-budget", type=int, default=10_000,
                     help="requests this tool may send a month (free tier 10000)")
    hub.add_argument("--usage-ledger", help="JSON file counting this month's spending "
                                            "(default $RASTER_COLLECT_SH_LEDGER or "
                                            "~/.cache/raster-collect/sentinel-hub-usage.json)")
    hub.add_argument("--max-retry-wait", type=float, default=30.0,
                     help="seconds: a quota or rate-limit answer asking to wait longer stops "
                          "at once with the reset time (default 30)")
    hub.add_argument("--poll-seconds", type=float,
                     help="batch: seconds between status checks (default 30)")
    hub.set_defaults(handler=_cmd_sentinel_hub)
    add_batch_processing(hub)
