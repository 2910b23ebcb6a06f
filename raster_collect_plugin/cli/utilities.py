"""``hexagons``, ``sample``, ``demo``, ``job``, ``cluster`` and ``unlock``: hexagon grids, the
embedded sample, JSON jobs sent by QGIS, a local dask cluster and an output's lock."""

from __future__ import annotations

import json
from pathlib import Path

from .common import (
    BadInput,
    add_aoi_arguments,
    load_aoi_from_args,
    output_location,
)


def _cmd_hexagons(args) -> dict:
    from ..core.areas import h3_grid, hexagon_grid
    from ..core.outputs import atomic_path, write_geopackage_layer
    from ..core.runs.storage import geopackage_output_problem
    from .cells import check_cell_options

    check_cell_options(sizes={"--area-ha": args.area_ha, "--edge-m": args.edge_m}, h3=args.h3)
    output = Path(args.output)
    problem = geopackage_output_problem(output, Path(args.gpkg), "--gpkg", "hexagons",
                                        overwrite=args.overwrite)
    if problem:
        raise BadInput(f"--output {args.output} {problem}")
    from ..core.areas.hexagons import hexagon_zones_note

    aoi = load_aoi_from_args(args)
    if args.h3 is not None:
        grid = h3_grid(aoi.frame, resolution=args.h3, id_field=aoi.id_field, clip=args.clip)
    else:
        if not (args.area_ha or args.edge_m):
            raise BadInput("give the cell size: --area-ha, --edge-m or --h3 RESOLUTION")
        grid = hexagon_grid(aoi.frame, id_field=aoi.id_field,
                            area_m2=args.area_ha * 10_000 if args.area_ha else None,
                            edge_m=args.edge_m, clip=args.clip, zones=aoi.own_zones())
    with atomic_path(Path(args.output)) as temp:
        write_geopackage_layer(grid, temp, layer="hexagons")
    return {"cells": len(grid), "output": args.output,  # skipped or repaired polygons,
            "notes": aoi.notes + hexagon_zones_note(aoi, args.h3)}  # the zones used


def _cmd_sample(args) -> dict:
    from ..core.sample import make_disturbance_sample, make_sample, small_spec

    if args.disturbance:  # 3 years: what disturbance monitoring needs
        if args.small:
            raise BadInput("--small is for the storm sample only: leave it out with "
                           "--disturbance")
        return make_disturbance_sample(Path(args.output))
    sample = make_sample(Path(args.output), small_spec() if args.small else None)
    return {"root": str(sample.root), "forests": str(sample.forests_path),
            "catalog": str(sample.catalog_path),
            "items": {name: len(items) for name, items in sample.items.items()},
            "damaged_forest_ids": sample.damaged_ids}


def _cmd_job(args) -> dict:
    """Run a JSON job spec; with --events, progress and the result are JSON lines on stdout."""
    from ..core.jobs import run_job

    try:
        # bytes: JSON is UTF-8 whatever the locale (a Windows code page); json also takes
        # the BOM Notepad writes and PowerShell 5's UTF-16
        spec = json.loads(Path(args.spec).read_bytes())
    except (OSError, ValueError) as error:
        raise BadInput(f"cannot read the job spec {args.spec}: {error}") from None
    from ..core.jobs.spec import beside_the_spec

    misplaced = isinstance(spec, dict) and beside_the_spec(spec, Path(args.spec).parent)
    if misplaced:
        raise BadInput(misplaced)

    def emit(event: dict) -> None:
        print(json.dumps(event, default=str), flush=True)

    def progress(fraction: float, message: str) -> None:
        if args.events:
            emit({"event": "progress", "fraction": round(fraction, 4), "message": message})

    from ..core.compute import interrupted

    result = run_job(spec, progress=progress, cancel=interrupted)
    args.job_kind = spec.get("kind")  # a search job exits as `search` does (cli._main)
    if args.events:
        emit({"event": "result", "result": result})
        args.quiet, args.json = True, False  # the result line was the output (JSON lines)
    elif not (args.quiet or args.json):  # as the kind's command prints it, not dict reprs
        from .plain import job_summary

        return job_summary(spec, result)
    return result


def _cmd_cluster(args) -> dict:
    """Run a local dask cluster until terminated; its address is printed as a JSON line."""
    import time

    from distributed import Client

    from ..core.compute import ComputeSettings, GdalOptionsPlugin, gdal_options, start_local_cluster
    from ..core.compute.options import COMPUTE_OPTIONS

    for flag, key, value in (("--workers", "workers", args.workers),
                             ("--threads", "threads_per_worker", args.threads),
                             ("--memory-limit", "memory_limit", args.memory_limit)):
        check, expected = COMPUTE_OPTIONS[key]  # as a job spec's "compute": one rule
        if value is not None and not check(value):  # 0 workers ran a cluster without any
            raise BadInput(f"{flag} must be {expected}, not {value}")
    settings = ComputeSettings(mode="local", workers=args.workers,
                               threads_per_worker=args.threads, memory_limit=args.memory_limit)
    cluster = start_local_cluster(settings)
    client = Client(cluster)
    client.register_plugin(GdalOptionsPlugin(gdal_options()))
    address = cluster.scheduler_address
    print(json.dumps({"event": "cluster", "scheduler": address,
                      "dashboard": cluster.dashboard_link}), flush=True)
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM is how a cluster is stopped: exit 0
        from ..core.compute.interrupts import acknowledge_interrupt

        acknowledge_interrupt()
        return {"event": "cluster stopped", "scheduler": address}
    finally:
        client.close()
        cluster.close()


def _cmd_demo(args) -> dict:
    from ..core.sample import run_demo

    return run_demo(Path(args.output), verbose=not (args.quiet or args.json))


def _cmd_unlock(args) -> dict:
    from ..core.runs.unlock import unlock

    return {"output": args.output, **unlock(args.output, force=args.force)}


def register(commands) -> None:
    """Add the utility subcommand(s)."""
    hexagons = commands.add_parser("hexagons", help="a hexagon grid over the forests")
    add_aoi_arguments(hexagons)
    hexagons.add_argument("--area-ha", type=float, help="cell area in hectares")
    hexagons.add_argument("--edge-m", type=float, help="cell edge length in metres")
    hexagons.add_argument("--h3", type=int, help="H3 resolution instead of a metric grid")
    hexagons.add_argument("--no-clip", dest="clip", action="store_false",
                          help="keep whole cells instead of clipping to the forests")
    hexagons.add_argument("--output", type=output_location, required=True,
                          help="GeoPackage to write")
    hexagons.add_argument("--overwrite", action="store_true",
                          help="replace an existing --output file (default: stop, exit 2)")
    hexagons.set_defaults(handler=_cmd_hexagons)

    sample = commands.add_parser("sample", help="generate the embedded synthetic sample")
    sample.add_argument("--output", type=output_location, default="outputs/sample",
                        help="folder to write it to")
    sample.add_argument("--small", action="store_true", help="a tiny sample (tests)")
    sample.add_argument("--disturbance", action="store_true",
                        help="the disturbance-monitoring sample instead (8 compartments, "
                             "Sentinel-2 and Landsat 2023-2025, events in 2025)")
    sample.set_defaults(handler=_cmd_sample)

    job = commands.add_parser("job", help="run a JSON job spec (what the QGIS plugin sends)")
    job.add_argument("spec", help="the job spec file (JSON)")
    job.add_argument("--events", action="store_true",
                     help="JSON lines on stdout: progress events, then the result")
    job.set_defaults(handler=_cmd_job)

    cluster = commands.add_parser("cluster", help="run a local dask cluster until stopped")
    cluster.add_argument("--workers", type=int, help="worker processes (default: cores/threads)")
    cluster.add_argument("--threads", type=int, default=2, help="threads per worker")
    cluster.add_argument("--memory-limit", default="2GB", help="memory per worker")
    cluster.set_defaults(handler=_cmd_cluster)

    demo = commands.add_parser("demo", help="the main job on the embedded sample, offline")
    demo.add_argument("--output", type=output_location, default="outputs/demo",
                      help="folder for the demo outputs")
    demo.set_defaults(handler=_cmd_demo)

    unlocking = commands.add_parser(
        "unlock", help="show who holds an output's lock; remove it when stale or --force")
    unlocking.add_argument("output", type=output_location,
                           help="the output folder or s3://bucket/prefix")
    unlocking.add_argument("--force", action="store_true",
                           help="remove the lock even though its run may still be writing "
                                "(not one of a live process on this machine)")
    unlocking.set_defaults(handler=_cmd_unlock)
