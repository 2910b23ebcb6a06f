"""``storm``: before/after storm damage per forest."""

from __future__ import annotations

from pathlib import Path

from .common import (
    BadInput,
    add_aoi_arguments,
    add_output_arguments,
    add_source_arguments,
    composite_request,
    compute_client_for,
    load_aoi_from_args,
    parse_date,
    progress_bar,
)


def _cmd_storm(args) -> dict:
    from ..core.interrupts import interrupted
    from ..core.runs import run_storm_protected
    from ..core.storm import DamageThresholds, StormRequest

    aoi = load_aoi_from_args(args)
    if not (args.catalog or args.stac_url or args.provider) and not (args.before_item or
                                                                   args.after_item):
        raise BadInput("no imagery: give --catalog/--stac-url/--provider or "
                       "--before-item/--after-item")
    if args.catalog or args.stac_url or args.provider:
        request = composite_request(args, aoi, Path(args.output))
    else:
        from ..core.workflow import CompositeRequest

        request = CompositeRequest(aoi=aoi, sources=[], start=args.event_date,
                                   end=args.event_date, output_dir=Path(args.output))
    try:
        thresholds = DamageThresholds(light=args.light, moderate=args.moderate,
                                      severe=args.severe)
    except ValueError as error:
        raise BadInput(str(error)) from None
    storm = StormRequest(request, event_date=args.event_date, before_days=args.before_days,
                         after_days=args.after_days, thresholds=thresholds,
                         hexagon_area_m2=args.hex_area_ha * 10_000 if args.hex_area_ha else None,
                         before_items=args.before_item, after_items=args.after_item)
    progress = progress_bar(args, "storm")
    try:
        with compute_client_for(args):
            result = run_storm_protected(storm, overwrite=args.overwrite, progress=progress,
                                         cancel=interrupted)
    finally:
        progress.close()
    ranking = result.ranking
    if not (args.quiet or args.json):
        columns = [c for c in (args.id_field, "rank", "damage_class", "evidence", "dNDVI",
                               "dVH_dB", "optical_clear_fraction") if c in ranking]
        print(ranking[columns].head(args.top).to_string(index=False,
                                                        float_format=lambda v: f"{v:.3f}"))
    return {"files": {k: str(v) for k, v in result.files.items()}, "errors": result.errors,
            "damaged": [r[args.id_field] for r in ranking.to_dict(orient="records")
                        if r["damage_class"] in ("moderate", "severe")]}


def register(commands) -> None:
    """Add the storm subcommand(s)."""
    storm = commands.add_parser("storm", help="before/after storm damage per forest")
    add_aoi_arguments(storm)
    add_source_arguments(storm)
    storm.add_argument("--event-date", type=parse_date, required=True, help="the storm's date")
    storm.add_argument("--before-days", type=int, default=90, help="days before (default 90)")
    storm.add_argument("--after-days", type=int, default=45, help="days after (default 45)")
    storm.add_argument("--before-item", action="append", default=[],
                       help="a STAC item URL or path to use as a before scene")
    storm.add_argument("--after-item", action="append", default=[],
                       help="a STAC item URL or path to use as an after scene")
    storm.add_argument("--light", type=float, default=0.05, help="NDVI loss for 'light'")
    storm.add_argument("--moderate", type=float, default=0.15, help="NDVI loss, 'moderate'")
    storm.add_argument("--severe", type=float, default=0.30, help="NDVI loss for 'severe'")
    storm.add_argument("--hex-area-ha", type=float, help="also per hexagon of this area (ha)")
    storm.add_argument("--top", type=int, default=15, help="rows of the ranking to print")
    storm.add_argument("--output", default="outputs/storm", help="output folder")
    add_output_arguments(storm)
    storm.set_defaults(handler=_cmd_storm)
