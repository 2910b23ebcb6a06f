"""``storm``: before/after storm damage per forest."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..core.storm import AFTER_DAYS, BEFORE_DAYS, THRESHOLD_TEXT
from .cells import check_cell_options
from .common import (
    BadInput,
    add_aoi_arguments,
    add_output_arguments,
    add_source_arguments,
    composite_request,
    compute_client_for,
    load_aoi_from_args,
    output_location,
    parse_date,
    progress_bar,
)


def _radar(args):
    """Sentinel-1 GRD from Sentinel Hub as the radar evidence (--sentinel-hub-radar)."""
    if not args.sentinel_hub_radar:
        return None
    from ..core.sentinel_hub import sentinel_hub_radar

    return sentinel_hub_radar({"back_coeff": args.s1_back_coeff},
                              base_url=args.sentinel_hub_url, token_url=args.sentinel_hub_token_url)


def _cmd_storm(args) -> dict:
    from ..core.compute import interrupted
    from ..core.jobs import run_storm_protected
    from ..core.pixels import DEFAULT_STORM_BUFFER_M, check_min_clear_fraction
    from ..core.storm import NOT_STOCKED, DamageThresholds, StormRequest, flagged, format_ranking

    check_min_clear_fraction(args.min_clear_fraction, "--min-clear-fraction")
    check_cell_options(sizes={"--hex-area-ha": args.hex_area_ha})
    if args.period is not None:  # silently not used: a job spec's 'period' is refused too
        raise BadInput(f"storm has no periods (it compares --before-days and --after-days "
                       f"around --event-date): drop --period {args.period}")
    unused = [option for option, value in (("--start", args.start), ("--end", args.end),
                                           ("--method", args.method)) if value is not None]
    if unused:  # silently not used before, as a job spec's 'start', 'end', 'method' are refused
        raise BadInput(f"storm composites the medians of --before-days and --after-days around "
                       f"--event-date: drop {' and '.join(unused)}")
    if args.top < 0:  # head(-1) would print all rows but the last
        raise BadInput(f"--top is the number of ranked rows to print (0 or more), not {args.top}")
    aoi = load_aoi_from_args(args)
    if not (args.catalog or args.stac_url or args.provider) and not (args.before_item or
                                                                   args.after_item):
        raise BadInput("no imagery: give --catalog/--stac-url/--provider or "
                       "--before-item/--after-item")
    if args.catalog or args.stac_url or args.provider:
        request = composite_request(args, aoi, Path(args.output))
    else:
        searching = [option for option, value in (("--collections", args.collections),
                                                  ("--max-cloud", args.max_cloud))
                     if value is not None]
        if searching:  # they choose the scenes of a search, and there is none
            raise BadInput(f"--before-item/--after-item are the scenes, nothing is searched: "
                           f"drop {' and '.join(searching)}")
        from ..core.composites import CompositeRequest

        request = CompositeRequest(aoi=aoi, sources=[], start=args.event_date,
                                   end=args.event_date, output_dir=Path(args.output))
    try:
        thresholds = DamageThresholds.from_mapping(
            {name: getattr(args, name) for name in THRESHOLD_OPTIONS})
    except ValueError as error:
        raise BadInput(str(error)) from None
    storm = StormRequest(request, event_date=args.event_date, before_days=args.before_days,
                         after_days=args.after_days, thresholds=thresholds,
                         min_clear_fraction=args.min_clear_fraction,
                         hexagon_area_m2=args.hex_area_ha * 10_000 if args.hex_area_ha else None,
                         before_items=args.before_item, after_items=args.after_item,
                         cloud_buffer_m=(DEFAULT_STORM_BUFFER_M if args.cloud_buffer is None
                                         else args.cloud_buffer),
                         sentinel_hub_radar=_radar(args))
    progress = progress_bar(args, "storm")
    try:
        with compute_client_for(args):
            result = run_storm_protected(storm, overwrite=args.overwrite, progress=progress,
                                         cancel=interrupted)
    finally:
        progress.close()
    ranking = result.ranking
    if not (args.quiet or args.json):
        print(format_ranking(ranking, args.id_field, args.top))
    summary = {"files": {k: str(v) for k, v in result.files.items()}, "errors": result.errors,
               "notes": result.notes, "damaged": flagged(ranking, args.id_field),
               "not_stocked": list(ranking.loc[ranking["damage_class"] == NOT_STOCKED,
                                               args.id_field])}
    if args.json:  # printed above as the table, not again as one line of dictionaries
        summary["ranking"] = ranking.replace({float("nan"): None}).to_dict(orient="records")
    return summary


THRESHOLD_OPTIONS = THRESHOLD_TEXT  # the one text per threshold (core/storm/classes.py)


def register(commands) -> None:
    """Add the storm subcommand(s)."""
    storm = commands.add_parser("storm", help="before/after storm damage per forest")
    add_aoi_arguments(storm)
    add_source_arguments(storm)
    for action in storm._actions:  # parsed, to be refused in _cmd_storm, but not offered
        if action.dest in ("start", "end", "period", "method"):
            action.help = argparse.SUPPRESS
    storm.add_argument("--event-date", type=parse_date, required=True, help="the storm's date")
    storm.add_argument("--before-days", type=int, default=BEFORE_DAYS,
                       help=f"days before (default {BEFORE_DAYS})")
    storm.add_argument("--after-days", type=int, default=AFTER_DAYS,
                       help=f"days after (default {AFTER_DAYS})")
    storm.add_argument("--before-item", action="append", default=[],
                       help="a STAC item URL or path to use as a before scene")
    storm.add_argument("--after-item", action="append", default=[],
                       help="a STAC item URL or path to use as an after scene")
    from ..core.storm import DamageThresholds

    defaults = DamageThresholds()
    for name, text in THRESHOLD_OPTIONS.items():
        storm.add_argument("--" + name.replace("_", "-"), dest=name, type=float,
                           default=getattr(defaults, name),
                           help=f"{text} (default {getattr(defaults, name):g})")
    storm.add_argument("--min-clear-fraction", type=float, default=0.5,
                       help="share of a stand that must be observed after the event, else "
                            "'unknown' (default 0.5)")
    storm.add_argument("--hex-area-ha", type=float, help="also per hexagon of this area (ha)")
    storm.add_argument("--top", type=int, default=15, help="rows of the ranking to print")
    storm.add_argument("--output", type=output_location, default="outputs/storm",
                       help="output folder")
    storm.add_argument("--sentinel-hub-radar", action="store_true",
                       help="radar evidence from Sentinel-1 GRD on the Copernicus Data Space "
                            "(SH_CLIENT_ID/SH_CLIENT_SECRET) when no source gives Sentinel-1")
    storm.add_argument("--s1-back-coeff", default="GAMMA0_TERRAIN",
                       choices=["BETA0", "SIGMA0_ELLIPSOID", "GAMMA0_ELLIPSOID", "GAMMA0_TERRAIN"],
                       help="Sentinel-1 backscatter coefficient (default GAMMA0_TERRAIN)")
    storm.add_argument("--sentinel-hub-url", help="Sentinel Hub deployment (default CDSE)")
    storm.add_argument("--sentinel-hub-token-url", help="OAuth token URL (default CDSE)")
    add_output_arguments(storm)
    storm.set_defaults(handler=_cmd_storm)
