"""``search`` and ``composite``: scenes for the forests, and cloud-masked index composites."""

from __future__ import annotations

import tempfile
from pathlib import Path

from .common import (
    add_aoi_arguments,
    add_output_arguments,
    add_source_arguments,
    composite_request,
    compute_client_for,
    load_aoi_from_args,
    output_location,
    progress_bar,
)


def _cmd_search(args) -> dict:
    from ..core.composites import is_radar, search, validate_request

    aoi = load_aoi_from_args(args)
    request = composite_request(args, aoi, Path(tempfile.gettempdir()))
    validate_request(request)  # dates, --max-cloud: as composite, before searching
    report = search(request, aoi)
    rows = report.rows()
    if not (args.quiet or args.json):
        print_scenes(rows)
        if not rows and not report.errors:  # silence would look like a hang or a crash
            searched = ", ".join(sorted({c for _, c in report.items})) or "no collection"
            radar = bool(report.items) and all(is_radar(request, *key) for key in report.items)
            cloud = "" if radar else f", at most {request.max_cloud_cover:g}% cloud"
            check = "the dates and the collection names" if radar else \
                "the dates, the collection names and --max-cloud"
            print(f"0 scenes found ({searched}, {request.start} to {request.end}{cloud}): "
                  f"check {check}")
    return {"scenes": len(rows), "errors": report.errors, "items": rows}


def print_scenes(rows) -> None:
    """The scenes a search found, one line each (what `search` prints)."""
    for row in rows:
        cover = "" if row["cloud_cover"] is None else f"{row['cloud_cover']:5.1f}%"
        print(f"{row['provider']:<20} {row['collection']:<20} {row['datetime'][:10]} "
              f"{cover:>6}  {row['id']}")


def _cmd_composite(args) -> dict:
    from ..core.compute import interrupted
    from ..core.jobs import run_composites_protected
    from ..core.runs import is_remote

    aoi = load_aoi_from_args(args)
    progress = progress_bar(args, "composites")
    try:
        with compute_client_for(args):
            output = args.output if is_remote(args.output) else Path(args.output)
            result = run_composites_protected(composite_request(args, aoi, output),
                                              overwrite=args.overwrite, progress=progress,
                                              cancel=interrupted)
    finally:
        progress.close()
    summary = {"outputs": {f"{c.provider}/{c.collection}": {k: str(v) for k, v in
                                                             c.index_paths.items()}
                           for c in result.collections},
               "errors": result.errors, "notes": result.notes}
    colours = {f"{c.provider}/{c.collection}": {kind: {label: str(path) for label, path in
                                                       paths.items()}
                                                for kind, paths in c.colour_paths.items()}
               for c in result.collections if c.colour_paths}
    if colours:  # --colour: one COG per period and kind
        summary["colour_composites"] = colours
    return summary


def register(commands) -> None:
    """Add the search and composite subcommand(s)."""
    search = commands.add_parser("search", help="list the scenes available for the forests")
    add_aoi_arguments(search)
    add_source_arguments(search, pixels=False)  # it lists scenes: no indices, grid or dask
    search.set_defaults(handler=_cmd_search)

    composite = commands.add_parser("composite", help="cloud-masked index composites (COGs)")
    add_aoi_arguments(composite)
    add_source_arguments(composite)
    composite.add_argument("--output", type=output_location, default="outputs",
                           help="output folder, or an object-store prefix such as "
                                "s3://bucket/prefix (credentials from the AWS environment)")
    add_output_arguments(composite)
    composite.set_defaults(handler=_cmd_composite)
