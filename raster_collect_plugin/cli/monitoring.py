"""``monitor`` and ``watch``: per-pixel disturbance monitoring of the forests that continues
from the folder's state (only newer scenes are searched and processed).

``monitor`` starts (or continues) a monitoring folder from options; ``watch --output FOLDER``
continues the folder with the options it was started with, up to today, and prints what changed:
the command to schedule (cron, Windows Task Scheduler; see the README)."""

from __future__ import annotations

import sys
from datetime import date

from ..core.runs import DEFAULT_MONITOR_INDEX, DEFAULT_MONITOR_MAX_CLOUD_COVER
from .common import (
    CATALOG_HELP,
    BadInput,
    add_aoi_arguments,
    output_location,
    parse_date,
    progress_bar,
    refuse_options,
)

# what a composite takes and monitor names otherwise (argparse said "unrecognized arguments")
_DATES = ("learns from --history-start to --history-end and monitors the scenes after it up "
          "to --end (default today)")
MONITOR_REFUSED = {
    "--start": f"monitor has no --start: it {_DATES}",
    "--indices": "monitor follows one index: give --index NAME (or --expression NAME=FORMULA)",
    "--period": "monitor has no periods (it follows each clear observation): drop --period",
}

PARAMETER_OPTIONS = {  # MonitorParams field -> (type, help)
    "confirm": (int, "consecutive anomalies that confirm a disturbance"),
    "recover": (int, "consecutive normal observations that end it"),
    "threshold": (float, "an anomaly departs more than this many standard deviations of the "
                         "history's residuals"),
    "min_drop": (float, "... and at least this much (index units)"),
    "harmonic_order": (int, "annual harmonics of the history model"),
    "lambda_": (float, "EWMA weight of the newest observation"),
    "sensitivity": (float, "EWMA boundary in standard deviations of the chart"),
    "alpha": (float, "CuSum significance level of its boundary"),
    "screen_sigma": (float, "history observations further than this many standard deviations "
                            "from a first fit (missed clouds, shadows) are dropped and the "
                            "model refitted"),
    "outlier_sigma": (float, "departures are clipped at this many standard deviations before "
                             "they enter the chart (0: not clipped)"),
    "min_history_obs": (int, "clear history observations a pixel needs to be fitted (fewer: "
                             "not monitored)"),
}
# the other MonitorParams fields, each an option of its own below (choices or a flag)
CHOICE_OPTIONS = ("direction", "method", "trend")


def option(key: str) -> str:
    """The command line's option of a MonitorParams field (``lambda_`` -> ``--lambda``); the
    job spec's name of a key it has no option for."""
    from ..core.monitoring.state import spec_key

    return ("--" + key.rstrip("_").replace("_", "-")
            if key in PARAMETER_OPTIONS or key in CHOICE_OPTIONS else spec_key(key))


def _monitoring(args) -> dict:
    """The monitoring parameters the options give (MonitorParams fields)."""
    return {name: getattr(args, name) for name in (*PARAMETER_OPTIONS, *CHOICE_OPTIONS)}


def _sources(args) -> list:
    wanted = [c.strip() for c in (args.collections or "").split(",") if c.strip()]
    extra = {"collections": wanted} if wanted else {}
    entries = [{"kind": "static", "href": href, **extra} for href in args.catalog]
    entries += [{"kind": "stac", "url": url, **extra} for url in args.stac_url]
    entries += [{"kind": name, **extra} for name in args.provider]
    if not entries:
        raise BadInput("no imagery source: give --catalog, --stac-url or --provider")
    return entries


def monitor_spec(args) -> dict:
    """The monitor job spec the options describe."""
    from ..core.monitoring import MonitorParams

    defaults = MonitorParams(date(2000, 1, 1), date(2000, 1, 2))
    # as a spec gives them: the keys whose value is not the default (min_history_obs left
    # out is resolved from the model, as a spec's)
    monitoring = {name: value for name, value in _monitoring(args).items()
                  if value is not None and value != getattr(defaults, name)}
    index, custom = args.index or DEFAULT_MONITOR_INDEX, {}
    if args.expression:
        name, equals, formula = args.expression.partition("=")
        if not (equals and name.strip() and formula.strip()):
            raise BadInput(f"--expression {args.expression!r} must look like NAME=FORMULA, "
                           "e.g. CRSWIR=swir16/(nir+(swir22-nir)*0.5623)")
        index, custom = name.strip(), {name.strip(): formula.strip()}
    spec = {"kind": "monitor", "aoi": args.gpkg, "id_field": args.id_field,
            "sources": _sources(args), "history_start": str(args.history_start),
            "history_end": str(args.history_end), "index": index,
            "resolution": args.resolution, "harmonise": not args.no_harmonise,
            "output_dir": args.output, "monitoring": monitoring,
            "min_alert_ha": args.min_alert_ha, "cloud_buffer_m": args.cloud_buffer}
    optional = {"layer": args.layer, "end": args.end and str(args.end), "crs": args.crs,
                "hexagon_area_m2": args.hex_area_ha and args.hex_area_ha * 10_000,
                "alerts_since": args.alerts_since and str(args.alerts_since),
                "max_cloud_cover": args.max_cloud, "memory_budget": args.memory_budget,
                "ids": None if args.forest in ("*", "") else
                [f.strip() for f in args.forest.split(",") if f.strip()]}
    spec.update({k: v for k, v in optional.items() if v not in (None, "")})
    if custom:
        spec["custom_indices"] = custom
    if args.overwrite:
        spec["overwrite"] = True
    if args.settle_days is not None:
        spec["settle_days"] = args.settle_days
    return spec


def _run(spec: dict, args) -> dict:
    from ..core.compute import interrupted
    from ..core.jobs import run_job

    progress = progress_bar(args, "monitor")
    try:
        result = run_job(spec, progress=progress, cancel=interrupted)
    finally:
        progress.close()
    if not (args.quiet or args.json):
        print(format_changes(result["changes"]))
        print(format_compartments(result["compartments"], spec.get("id_field", "forest_id"),
                                  args.top))
    changes = result["changes"]
    if changes.get("late_scenes"):  # also with --json/--quiet: never silent
        from ..core.monitoring import late_warning

        print(late_warning(changes["late_scenes"]), file=sys.stderr)
    return plain_summary(result) if not args.json else result


def _day(time) -> str:
    """A scene's time as its (UTC) day, the day the outputs name; '-' for none."""
    return str(time)[:10] if time else "-"


def plain_summary(result: dict) -> dict:
    """A monitor job's result as monitor and watch show it without --json."""
    changes = result["changes"]
    return {"output_dir": result["output_dir"], "scenes": changes["scenes"],
            "last_scene": _day(changes["last_scene"]), "entered": changes["entered"],
            "late_scenes": changes.get("late_scenes", []),
            "zones_with_new_alerts": changes["zones_with_new_alerts"],
            "files": result["files"],
            **({"notes": result["notes"]} if result.get("notes") else {})}


def format_changes(changes: dict) -> str:
    """What a run changed, in words."""
    entered = changes["entered"]
    zones = changes["zones_with_new_alerts"]
    return (f"{changes['scenes']} new scene(s) processed "
            f"({_day(changes['first_scene'])} .. {_day(changes['last_scene'])}); pixels newly "
            f"suspected {entered['suspected']}, confirmed {entered['confirmed']}, recovered "
            f"{entered['recovered']}; compartments with new confirmed disturbance: "
            f"{', '.join(map(str, zones)) if zones else 'none'}"
            + (f"; {changes['waiting_scenes']} newer scene(s) wait for the settle period "
               f"(acquired after {changes['settled_until']})"
               if changes.get("waiting_scenes") else ""))


def format_compartments(rows: list, id_field: str, top: int) -> str:
    import pandas as pd

    if not rows:
        return ""
    frame = pd.DataFrame(rows).head(top)
    shown = {id_field: frame[id_field].astype(str), "alert": frame["alert"],
             "disturbed ha": frame["disturbed_ha"].map("{:.2f}".format),
             "fraction": frame["disturbed_fraction"].map(
                 lambda v: "-" if v is None or v != v else f"{v:.0%}"),
             "suspected ha": frame["suspected_ha"].map("{:.2f}".format),
             "first detection": frame["first_detection"].fillna("-"),
             "confirmed": frame["last_confirmation"].fillna("-")}
    return pd.DataFrame(shown).to_string(index=False)


def _cmd_monitor(args) -> dict:
    from .cells import check_cell_options

    if args.history_end <= args.history_start:
        raise BadInput(f"--history-end ({args.history_end}) must be after --history-start "
                       f"({args.history_start})")
    if args.end is not None and args.end <= args.history_end:  # the spec's check, as typed
        raise BadInput(f"--end ({args.end}) must be after --history-end ({args.history_end}): "
                       "monitoring starts after the history; give a later --end (default: "
                       "today)")
    from ..core.monitoring import MonitorParams

    # the monitoring parameters named by their options (the spec would name its keys)
    params = MonitorParams(args.history_start, args.history_end,
                           **_monitoring(args)).check(option)
    from ..core.jobs.monitor import check_alerts_since

    check_alerts_since(args.alerts_since, params, args.end or date.today(), "--alerts-since")
    check_cell_options(sizes={"--hex-area-ha": args.hex_area_ha})
    if not args.min_alert_ha >= 0:  # NaN too
        raise BadInput(f"--min-alert-ha must be 0 or more hectares, not {args.min_alert_ha:g}")
    _check_scene_options(args)
    return _run(monitor_spec(args), args)


def _check_scene_options(args) -> None:
    """--max-cloud, --cloud-buffer and --crs by the composites' rules, named as typed (the
    job spec's check would name its keys: 'max_cloud_cover', 'cloud_buffer_m', 'crs')."""
    from ..core.composites.pipeline import check_max_cloud, check_output_crs
    from ..core.pixels.cloud_buffer import validate_buffer

    check_max_cloud(args.max_cloud)
    try:
        validate_buffer(args.cloud_buffer)
    except ValueError as error:  # it names --cloud-buffer
        raise BadInput(str(error)) from None
    if args.crs:
        check_output_crs(args.crs)


def _cmd_watch(args) -> dict:
    from ..core.jobs.monitor import saved_spec

    spec = saved_spec(args.output)
    if spec is None:
        raise BadInput(f"{args.output} holds no monitoring yet: start it with "
                       "'raster-collect monitor ... --output FOLDER'")
    spec["output_dir"] = args.output
    _check_saved_inputs(spec, args.output)
    if args.end:
        history_end = str(spec.get("history_end", ""))[:10]
        if str(args.end) <= history_end:  # else the job names its key, 'history_end'
            raise BadInput(f"--end ({args.end}) must be after the folder's --history-end "
                           f"({history_end}): monitoring starts after the history; give a "
                           "later --end (default: today)")
        spec["end"] = str(args.end)
    if args.settle_days is not None:
        spec["settle_days"] = args.settle_days
    if args.overwrite:  # the advice of a conflict (e.g. the forests were edited since)
        spec["overwrite"] = True
    return _run(spec, args)


def _check_saved_inputs(spec: dict, folder: str) -> None:
    """The polygons and static catalogs the folder's spec names are still there (else say
    how to continue: the polygons may move, the sources are part of the run's fingerprint)."""
    import os

    from ..core.jobs.monitor import JOB_FILE

    where = os.path.join(folder, JOB_FILE)
    aoi = spec.get("aoi")
    if isinstance(aoi, str) and "://" not in aoi and not os.path.exists(aoi):
        raise BadInput(f"the polygons {aoi} named in {where} are gone: put them back, or "
                       "continue with 'raster-collect monitor --gpkg NEW_PATH ...' and the "
                       f"folder's other options (--output {folder})")
    for source in spec.get("sources") or []:
        href = source.get("href") if isinstance(source, dict) else None
        if isinstance(href, str) and "://" not in href and not os.path.exists(href):
            raise BadInput(f"the catalog {href} named in {where} is gone: put it back there "
                           "(the folder continues only with the same sources), or start again "
                           f"with 'raster-collect monitor ... --overwrite --output {folder}'")


def register(commands) -> None:
    """Add the monitor and watch subcommands."""
    monitor = commands.add_parser(
        "monitor", help="per-pixel disturbance monitoring of the forests (continues the "
                        "folder's state: only newer scenes are processed)")
    add_aoi_arguments(monitor)
    sources = monitor.add_argument_group("imagery sources (at least one)")
    sources.add_argument("--catalog", action="append", default=[], help=CATALOG_HELP)
    sources.add_argument("--stac-url", action="append", default=[], help="a STAC API URL")
    sources.add_argument("--provider", action="append", default=[],
                         choices=["planetary-computer", "earth-search"])
    refuse_options(monitor, MONITOR_REFUSED)  # composite's options, named with monitor's
    sources.add_argument("--collections", help="collections, comma separated (Sentinel-2 "
                                               "L2A and Landsat C2 L2)")
    monitor.add_argument("--history-start", type=parse_date, required=True,
                         help="first day of the stable history the model is fitted on")
    monitor.add_argument("--history-end", type=parse_date, required=True,
                         help="last day of the history; later clear observations are "
                              "monitored")
    monitor.add_argument("--end", type=parse_date, help="last day to monitor (default today)")
    # one index is monitored: --index with --expression was silently --expression's (no
    # default here: argparse takes a given value identical to the default as not given)
    index = monitor.add_mutually_exclusive_group()
    index.add_argument("--index",
                       help=f"the index monitored (default {DEFAULT_MONITOR_INDEX})")
    index.add_argument("--expression", metavar="NAME=FORMULA",
                       help="monitor a band expression instead of --index, e.g. an index "
                            "that rises with damage: CRSWIR=swir16/(nir+(swir22-nir)*0.5623) "
                            "with --direction increase")
    monitor.add_argument("--resolution", type=int, choices=[10, 30], default=10,
                         help="grid in metres (default 10)")
    monitor.add_argument("--no-harmonise", action="store_true",
                         help="each sensor's own values (no HLS bandpass adjustment)")
    monitor.add_argument("--direction", choices=["decrease", "increase"], default="decrease",
                         help="how a disturbance moves the index (default decrease: NDVI)")
    monitor.add_argument("--method", choices=["ewma", "cusum"], default="ewma",
                         help="the control chart that gates anomalies: nrt's EWMA (default) "
                              "or CuSum")
    from ..core.monitoring import ALERTS_SINCE_DEFAULT, MonitorParams
    from ..core.monitoring.state import DEFAULT_MIN_HISTORY_OBS

    defaults = MonitorParams(date(2000, 1, 1), date(2000, 1, 2))
    most = MonitorParams(date(2000, 1, 1), date(2000, 1, 2), harmonic_order=4,
                         trend=True).min_history_obs
    monitor.add_argument("--trend", action="store_true",
                         help="add a linear trend to the history model (a history that "
                              "drifts, e.g. a young stand growing)")
    for name, (kind, text) in PARAMETER_OPTIONS.items():
        default = None if name == "min_history_obs" else getattr(defaults, name)
        shown = (f"{DEFAULT_MIN_HISTORY_OBS}, or one more than the model's coefficients when "
                 f"that is more: {most} with --harmonic-order 4 --trend" if default is None
                 else f"{default:g}")
        monitor.add_argument(option(name), dest=name, type=kind, default=default,
                             metavar="N" if kind is int else "X",
                             help=f"{text} (default {shown})")
    monitor.add_argument("--crs", help="output CRS (default: the scenes' UTM zone)")
    monitor.add_argument("--cloud-buffer", type=float, default=0.0, metavar="METRES",
                         help="grow the cloud/shadow mask by this distance (default 0)")
    monitor.add_argument("--max-cloud", type=float, default=DEFAULT_MONITOR_MAX_CLOUD_COVER,
                         help="maximum scene cloud cover (%%; default none: clouds are "
                              "masked per pixel)")
    monitor.add_argument("--hex-area-ha", type=float, help="also per hexagon of this area (ha)")
    monitor.add_argument("--alerts-since", type=parse_date,
                         help="the alerts layer shows disturbances confirmed after this day, "
                              "a day from the history's start to the end (default: "
                              f"{ALERTS_SINCE_DEFAULT}; not kept for watch)")
    monitor.add_argument("--min-alert-ha", type=float, default=0.1,
                         help="disturbed area that flags a compartment (default 0.1 ha)")
    monitor.add_argument("--top", type=int, default=15, help="compartments to print")
    monitor.add_argument("--output", type=output_location, required=True,
                         help="the monitoring folder")
    monitor.add_argument("--overwrite", action="store_true",
                         help="start the folder's monitoring again from the history (e.g. "
                              "with other parameters)")
    monitor.add_argument("--memory-budget", help="memory this run may use, e.g. 8GB")
    _settle_option(monitor)
    monitor.set_defaults(handler=_cmd_monitor)

    watch = commands.add_parser(
        "watch", help="continue a monitoring folder with the scenes since its last run and "
                      "report what changed (schedule it: see the README)")
    watch.add_argument("--output", type=output_location, required=True,
                       help="a folder started by 'monitor'")
    watch.add_argument("--end", type=parse_date, help="last day (default today)")
    watch.add_argument("--top", type=int, default=15, help="compartments to print")
    watch.add_argument("--overwrite", action="store_true",
                       help="start the folder's monitoring again from the history with its "
                            "saved options (e.g. after its forests were edited)")
    _settle_option(watch)
    watch.set_defaults(handler=_cmd_watch)


def _settle_option(parser) -> None:
    parser.add_argument("--settle-days", type=_days, metavar="N",
                        help="process only scenes acquired at least N days before the end; "
                             "later ones wait for the next run (above the providers' "
                             "publication lag, e.g. 10 for Landsat, increments end where a "
                             "run from scratch does; kept for later runs; default 0)")


def _days(text: str) -> int:
    import argparse

    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of days, 0 or more")
    return value
