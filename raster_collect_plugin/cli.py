"""The ``raster-collect`` command line (also ``python -m raster_collect_plugin``).

Subcommands: ``search``, ``composite``, ``zonal``, ``hexagons``, ``sample``, ``demo``.
Exit codes: 0 ok, 2 bad input (one line naming the problem and the fix), 1 other failures.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import signal
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path
from typing import Callable, List, Optional, Sequence

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT = 0, 1, 2
COMPLETE_MARKER = "complete.json"
DEFAULT_COLLECTIONS = {"planetary-computer": ("sentinel-2-l2a",),
                       "earth-search": ("sentinel-2-c1-l2a",)}


class BadInput(Exception):
    """A problem with what the user asked for; the message says how to fix it."""


# ------------------------------------------------------------------------------------------
# Argument helpers


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2025-11-13") from None


def _add_aoi_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--gpkg", "--gpkg_path", dest="gpkg", required=True,
                        help="polygons (GeoPackage or any vector file)")
    parser.add_argument("--layer", help="layer in the file (default: the first)")
    parser.add_argument("--id-field", default="forest_id", help="id field (default forest_id)")
    parser.add_argument("--forest", default="*",
                        help="forest id(s), comma separated, or '*' for all (default)")


def _add_source_arguments(parser: argparse.ArgumentParser) -> None:
    sources = parser.add_argument_group("imagery sources (at least one)")
    sources.add_argument("--catalog", action="append", default=[],
                         help="a static STAC catalog.json (path or URL)")
    sources.add_argument("--stac-url", action="append", default=[], help="a STAC API URL")
    sources.add_argument("--provider", action="append", default=[],
                         choices=["planetary-computer", "earth-search", "maxar"],
                         help="a built-in provider")
    sources.add_argument("--collections",
                         help="collections to use, comma separated (default: per provider)")
    today = date.today()
    parser.add_argument("--start", type=_date, default=today - timedelta(days=365),
                        help="first day (default: a year ago)")
    parser.add_argument("--end", type=_date, default=today, help="last day (default: today)")
    parser.add_argument("--indices", default="NDVI,EVI", help="indices, comma separated")
    parser.add_argument("--expression", action="append", default=[],
                        metavar="NAME=FORMULA", help="a custom index, e.g. GNDVI=(nir-green)/"
                                                     "(nir+green)")
    parser.add_argument("--period", default="month", choices=["month", "quarter", "year"])
    parser.add_argument("--method", default="median", choices=["median", "mean"])
    parser.add_argument("--max-cloud", type=float, default=80.0,
                        help="maximum scene cloud cover in percent (default 80)")
    parser.add_argument("--mask", help="cloud-mask classes, comma separated (default: "
                                       "cloud_shadow,cloud_medium,cloud_high,thin_cirrus,"
                                       "dilated_cloud)")
    parser.add_argument("--resolution", type=float, help="metres (default: per sensor)")
    parser.add_argument("--crs", help="output CRS (default: the scenes' UTM zone)")
    compute = parser.add_argument_group("compute (dask)")
    compute.add_argument("--dask", choices=["threads", "local"], default="threads",
                         help="threads in this process (default) or a local dask cluster")
    compute.add_argument("--workers", type=int, help="local cluster: worker processes")
    compute.add_argument("--threads-per-worker", type=int, default=2)
    compute.add_argument("--memory-limit", default="2GB", help="local cluster: per worker")
    compute.add_argument("--scheduler", help="a running dask scheduler, e.g. tcp://host:8786")


def _sources(args) -> list:
    from .core.providers import (
        EarthSearchProvider,
        MaxarOpenDataProvider,
        PlanetaryComputerProvider,
        StacApiProvider,
        StaticCatalogProvider,
    )
    from .core.workflow import Source

    wanted = tuple(c.strip() for c in (args.collections or "").split(",") if c.strip())
    sources = []
    for n, href in enumerate(args.catalog):
        provider = StaticCatalogProvider(f"catalog{n + 1 if n else ''}", href)
        sources.append(Source(provider, wanted or tuple(provider.list_collections())))
    for n, url in enumerate(args.stac_url):
        if not wanted:
            raise BadInput("--stac-url needs --collections (which collections to search)")
        sources.append(Source(StacApiProvider(f"stac{n + 1 if n else ''}", url), wanted))
    for name in args.provider:
        if name == "maxar":
            provider = MaxarOpenDataProvider()
            sources.append(Source(provider, wanted or tuple(provider.events())))
            continue
        provider = (PlanetaryComputerProvider() if name == "planetary-computer"
                    else EarthSearchProvider())
        sources.append(Source(provider, wanted or DEFAULT_COLLECTIONS[name]))
    if not sources:
        raise BadInput("no imagery source: give --catalog, --stac-url or --provider")
    return sources


def _composite_request(args, aoi, output_dir: Path):
    from .core import masks
    from .core.workflow import CompositeRequest

    custom = {}
    for text in args.expression:
        name, _, formula = text.partition("=")
        if not name or not formula:
            raise BadInput(f"--expression {text!r} must look like NAME=FORMULA")
        custom[name.strip()] = formula.strip()
    indices = [i.strip() for i in args.indices.split(",") if i.strip()] + list(custom)
    mask = (frozenset(c.strip() for c in args.mask.split(",") if c.strip()) if args.mask
            else masks.DEFAULT_MASK_CLASSES)
    return CompositeRequest(aoi=aoi, sources=_sources(args), start=args.start, end=args.end,
                            output_dir=output_dir, indices=indices, custom_indices=custom,
                            period=args.period, method=args.method,
                            max_cloud_cover=args.max_cloud, mask_classes=mask,
                            resolution=args.resolution, crs=args.crs, id_field=args.id_field)


def _compute(args):
    """The dask client the command's options ask for (a context manager)."""
    from .core.cluster import ComputeSettings, compute_client
    from .core.gdal_env import gdal_options

    settings = ComputeSettings(
        mode="remote" if args.scheduler else args.dask, scheduler_address=args.scheduler,
        workers=args.workers, threads_per_worker=args.threads_per_worker,
        memory_limit=args.memory_limit)
    return compute_client(settings, gdal_options=gdal_options())


def _forest_ids(args) -> Optional[List[str]]:
    if args.forest.strip() in ("*", ""):
        return None
    return [i.strip() for i in args.forest.split(",") if i.strip()]


def _load_aoi(args):
    from .core.aoi import load_aoi

    return load_aoi(args.gpkg, id_field=args.id_field, layer=args.layer, ids=_forest_ids(args))


class _Progress:
    """A tqdm bar on stderr (silent with --quiet / --json)."""

    def __init__(self, enabled: bool, description: str):
        self.bar = None
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=100, desc=description, file=sys.stderr, leave=False,
                            bar_format="{desc} {percentage:3.0f}%|{bar}| {postfix}")

    def __call__(self, fraction: float, message: str) -> None:
        if self.bar is not None:
            self.bar.n = int(round(100 * fraction))
            self.bar.set_postfix_str(message[:60], refresh=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _progress(args, description: str) -> _Progress:
    return _Progress(not (args.quiet or args.json), description)


# ------------------------------------------------------------------------------------------
# Commands


def _cmd_search(args) -> dict:
    from .core.workflow import search

    aoi = _load_aoi(args)
    request = _composite_request(args, aoi, Path(tempfile.gettempdir()))
    report = search(request, aoi)
    rows = report.rows()
    if not (args.quiet or args.json):
        for row in rows:
            cover = "" if row["cloud_cover"] is None else f"{row['cloud_cover']:5.1f}%"
            print(f"{row['provider']:<20} {row['collection']:<20} {row['datetime'][:10]} "
                  f"{cover:>6}  {row['id']}")
    return {"scenes": len(rows), "errors": report.errors, "items": rows}


def _cmd_composite(args) -> dict:
    from .core.workflow import run_composites

    aoi = _load_aoi(args)
    progress = _progress(args, "composites")
    try:
        with _compute(args):
            result = run_composites(_composite_request(args, aoi, Path(args.output)),
                                    progress=progress)
    finally:
        progress.close()
    return {"outputs": {f"{c.provider}/{c.collection}": {k: str(v) for k, v in
                                                          c.index_paths.items()}
                        for c in result.collections},
            "errors": result.errors, "notes": result.notes}


def _zonal_request(args, aoi, output_dir: Path):
    from .core.workflow import ZonalRequest

    return ZonalRequest(_composite_request(args, aoi, output_dir), coverage=args.coverage,
                        min_clear_fraction=args.min_clear,
                        hexagon_area_m2=args.hex_area_ha * 10_000 if args.hex_area_ha else None,
                        h3_resolution=args.h3)


def _fingerprint(args) -> str:
    keys = ("gpkg", "layer", "id_field", "catalog", "stac_url", "provider", "collections",
            "start", "end", "indices", "expression", "period", "method", "max_cloud", "mask",
            "resolution", "crs", "coverage", "min_clear", "hex_area_ha", "h3")
    payload = json.dumps({k: getattr(args, k, None) for k in keys}, default=str, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _is_complete(folder: Path, fingerprint: str) -> bool:
    marker = folder / COMPLETE_MARKER
    if not marker.exists():
        return False
    try:
        return json.loads(marker.read_text()).get("fingerprint") == fingerprint
    except ValueError:
        return False


def run_forest(args, forest_id, output_root: Path, fingerprint: str,
               run: Optional[Callable] = None) -> dict:
    """One forest's whole job into ``output_root/forest_<id>``: built in a scratch folder and
    renamed into place only when complete (the marker is written last)."""
    from .core.aoi import load_aoi
    from .core.workflow import run_zonal

    target = output_root / f"forest_{forest_id}"
    scratch = Path(tempfile.mkdtemp(prefix=f".forest_{forest_id}.partial-", dir=output_root))
    try:
        aoi = load_aoi(args.gpkg, id_field=args.id_field, layer=args.layer, ids=[forest_id])
        result = (run or run_zonal)(_zonal_request(args, aoi, scratch))
        summary = {"forest": str(forest_id), "fingerprint": fingerprint,
                   "rows": int(len(result.forest_table)), "errors": result.composites.errors,
                   "files": sorted(p.name for p in scratch.iterdir())}
        (scratch / COMPLETE_MARKER).write_text(json.dumps(summary, indent=2))
        if target.exists():
            shutil.rmtree(target)
        os.replace(scratch, target)
        return summary
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _cmd_zonal(args, run: Optional[Callable] = None) -> dict:
    import pandas as pd

    from .core.tables import write_table

    aoi = _load_aoi(args)
    ids = sorted(aoi.ids, key=lambda v: (str(type(v)), v))
    if args.start_from < 1 or args.start_from > len(ids):
        raise BadInput(f"--start-from must be between 1 and {len(ids)} (the number of forests)")
    from .core.workflow import validate_request

    validate_request(_composite_request(args, aoi, Path(args.output)))  # fail fast, not per forest
    output_root = Path(args.output)
    output_root.mkdir(parents=True, exist_ok=True)
    fingerprint = _fingerprint(args)
    done, skipped, failed = [], [], {}
    todo = ids[args.start_from - 1:]
    progress = _progress(args, "forests")
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(progress.close)
        cleanup.enter_context(_compute(args))
        for n, forest_id in enumerate(todo):
            progress(n / len(todo), f"forest {forest_id}")
            if _is_complete(output_root / f"forest_{forest_id}", fingerprint):
                skipped.append(forest_id)
                continue
            try:
                run_forest(args, forest_id, output_root, fingerprint, run)
                done.append(forest_id)
            except BadInput:
                raise
            except Exception as error:  # one forest's failure must not stop the others
                from .core.workflow import RequestError

                if not isinstance(error, RequestError):
                    raise
                failed[str(forest_id)] = str(error)
    tables = [pd.read_parquet(folder / "zonal_forests.parquet")
              for folder in sorted(output_root.glob("forest_*"))
              if _is_complete(folder, fingerprint)]
    combined = {}
    if tables:
        combined = {k: str(v) for k, v in
                    write_table(pd.concat(tables, ignore_index=True),
                                output_root / "zonal_forests_all").items()}
    return {"computed": done, "skipped_complete": skipped, "failed": failed,
            "combined_tables": combined}


def _cmd_storm(args) -> dict:
    from .core.storm import DamageThresholds, StormRequest, run_storm

    aoi = _load_aoi(args)
    if not (args.catalog or args.stac_url or args.provider) and not (args.before_item or
                                                                   args.after_item):
        raise BadInput("no imagery: give --catalog/--stac-url/--provider or "
                       "--before-item/--after-item")
    if args.catalog or args.stac_url or args.provider:
        request = _composite_request(args, aoi, Path(args.output))
    else:
        from .core.workflow import CompositeRequest

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
    progress = _progress(args, "storm")
    try:
        with _compute(args):
            result = run_storm(storm, progress=progress)
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


def _cmd_sentinel_hub(args) -> dict:
    """Statistics from the Copernicus Data Space (credentials: SH_CLIENT_ID/SH_CLIENT_SECRET)."""
    from .core.jobs import run_job
    from .core.providers.copernicus import (
        CopernicusSettings,
        batch_estimate,
        batch_statistical_payload,
        redacted,
        run_batch_statistical,
    )
    from .core.providers.sentinel_hub_rules import default_usage_ledger, request_epsg

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
        estimate = batch_estimate(_load_aoi(args).frame, indices=indices, start=args.start,
                                  end=args.end, resolution=args.resolution)
        if args.dry_run:
            return {"dry_run": True, **estimate, "request": redacted(payload)}
        outcome = run_batch_statistical(payload, settings, poll_seconds=args.poll_seconds)
        result = {"batch_request_id": outcome.request_id, "status": outcome.status,
                  "results": outcome.results_url, "cost_pu": outcome.cost_pu,
                  "estimated_processing_units": estimate["estimated_processing_units"],
                  "errors": {}}
        if outcome.status != "DONE":
            result["errors"] = {"batch": f"{outcome.status}: {outcome.error}"}
        return result
    aoi = _load_aoi(args)
    if args.raster:
        from .core.providers.copernicus import process_index_raster

        epsg = request_epsg(aoi.frame)
        destination = Path(args.output) / (f"sentinel-hub_{'-'.join(indices)}_"
                                           f"{args.start}_{args.end}.tif")
        outcome = process_index_raster(aoi.frame.to_crs(epsg).union_all(), crs_epsg=epsg,
                                       indices=indices, start=args.start, end=args.end,
                                       settings=settings, destination=destination,
                                       resolution=args.resolution,
                                       cache_dir=Path(args.output) / ".sentinel-hub-cache")
        return {"raster": str(outcome.path), "tiles": outcome.tiles, "crs": f"EPSG:{epsg}",
                "estimated_processing_units": outcome.estimated_pu, "errors": {}}
    if args.dry_run:
        from .core.providers.copernicus import statistics_table
        from .core.providers.sentinel_hub_rules import QuotaBudget

        budget = QuotaBudget(pu_per_month=args.pu_budget, requests_per_month=args.request_budget,
                             ledger=Path(args.usage_ledger or default_usage_ledger()))
        outcome = statistics_table(aoi.frame, id_field=aoi.id_field, indices=indices,
                                   start=args.start, end=args.end, settings=settings,
                                   resolution=args.resolution, budget=budget, dry_run=True,
                                   cache_dir=Path(args.output) / ".sentinel-hub-cache")
        return {"dry_run": True, "requests": outcome.planned_requests,
                "estimated_processing_units": outcome.estimated_pu,
                "crs": f"EPSG:{outcome.crs_epsg}", "notes": outcome.notes, "errors": {}}
    spec = {"kind": "sentinel-hub-statistics", "aoi": args.gpkg, "layer": args.layer,
            "id_field": args.id_field, "ids": _forest_ids(args), "indices": indices,
            "start": args.start.isoformat(), "end": args.end.isoformat(),
            "resolution": args.resolution, "max_cloud_cover": args.max_cloud,
            "min_clear_fraction": args.min_clear, "output_dir": args.output,
            "base_url": args.base_url, "token_url": args.token_url,
            "pu_budget": args.pu_budget, "request_budget": args.request_budget,
            "usage_ledger": args.usage_ledger or str(default_usage_ledger())}
    progress = _progress(args, "sentinel hub")
    try:
        result = run_job(spec, progress=progress)
    finally:
        progress.close()
    if result["errors"]:
        print(f"raster-collect: {'; '.join(result['errors'].values())}", file=sys.stderr)
    return result


def _cmd_hexagons(args) -> dict:
    from .core.hexagons import h3_grid, hexagon_grid
    from .core.outputs import atomic_path

    aoi = _load_aoi(args)
    if args.h3 is not None:
        grid = h3_grid(aoi.frame, resolution=args.h3, id_field=aoi.id_field, clip=args.clip)
    else:
        if not (args.area_ha or args.edge_m):
            raise BadInput("give the cell size: --area-ha, --edge-m or --h3 RESOLUTION")
        grid = hexagon_grid(aoi.frame, id_field=aoi.id_field,
                            area_m2=args.area_ha * 10_000 if args.area_ha else None,
                            edge_m=args.edge_m, clip=args.clip)
    with atomic_path(Path(args.output)) as temp:
        grid.to_file(temp, layer="hexagons", driver="GPKG")
    return {"cells": len(grid), "output": args.output}


def _cmd_sample(args) -> dict:
    from .core.sample_data import make_sample, small_spec

    sample = make_sample(Path(args.output), small_spec() if args.small else None)
    return {"root": str(sample.root), "forests": str(sample.forests_path),
            "catalog": str(sample.catalog_path),
            "items": {name: len(items) for name, items in sample.items.items()},
            "damaged_forest_ids": sample.damaged_ids}


def _cmd_job(args) -> dict:
    """Run a JSON job spec; with --events, progress and the result are JSON lines on stdout."""
    from .core.jobs import run_job

    try:
        spec = json.loads(Path(args.spec).read_text())
    except (OSError, ValueError) as error:
        raise BadInput(f"cannot read the job spec {args.spec}: {error}") from None

    def emit(event: dict) -> None:
        print(json.dumps(event, default=str), flush=True)

    def progress(fraction: float, message: str) -> None:
        if args.events:
            emit({"event": "progress", "fraction": round(fraction, 4), "message": message})

    result = run_job(spec, progress=progress)
    if args.events:
        emit({"event": "result", "result": result})
        args.quiet = True  # the result line was the output
    return result


def _cmd_cluster(args) -> dict:
    """Run a local dask cluster until terminated; its address is printed as a JSON line."""
    import time

    from distributed import Client

    from .core.cluster import ComputeSettings, GdalOptionsPlugin, start_local_cluster
    from .core.gdal_env import gdal_options

    settings = ComputeSettings(mode="local", workers=args.workers,
                               threads_per_worker=args.threads, memory_limit=args.memory_limit)
    cluster = start_local_cluster(settings)
    client = Client(cluster)
    client.register_plugin(GdalOptionsPlugin(gdal_options()))
    print(json.dumps({"event": "cluster", "scheduler": cluster.scheduler_address,
                      "dashboard": cluster.dashboard_link}), flush=True)
    try:
        while True:
            time.sleep(1)
    finally:
        client.close()
        cluster.close()


def _cmd_demo(args) -> dict:
    from .core.demo import run_demo

    return run_demo(Path(args.output), verbose=not (args.quiet or args.json))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="raster-collect",
        description="Cloud-masked satellite indices, composites and zonal statistics for forests.")
    parser.add_argument("--json", action="store_true", help="print a machine-readable summary")
    parser.add_argument("--quiet", action="store_true", help="print nothing but errors")
    commands = parser.add_subparsers(dest="command", required=True)

    search = commands.add_parser("search", help="list the scenes available for the forests")
    _add_aoi_arguments(search)
    _add_source_arguments(search)
    search.set_defaults(handler=_cmd_search)

    composite = commands.add_parser("composite", help="cloud-masked index composites (COGs)")
    _add_aoi_arguments(composite)
    _add_source_arguments(composite)
    composite.add_argument("--output", default="outputs", help="output folder")
    composite.set_defaults(handler=_cmd_composite)

    zonal = commands.add_parser("zonal", help="statistics per forest (and hexagon) and month; "
                                              "one forest at a time, resumable")
    _add_aoi_arguments(zonal)
    _add_source_arguments(zonal)
    zonal.add_argument("--output", default="outputs", help="output folder")
    zonal.add_argument("--start-from", "--start_from", dest="start_from", type=int, default=1,
                       help="begin with the N-th forest (1-based, ids sorted)")
    zonal.add_argument("--coverage", default="exact", choices=["exact", "centre", "all_touched"])
    zonal.add_argument("--min-clear", type=float, default=0.5,
                       help="minimum clear fraction for a month to count (default 0.5)")
    zonal.add_argument("--hex-area-ha", type=float, help="also per hexagon of this area (ha)")
    zonal.add_argument("--h3", type=int, help="also per H3 cell of this resolution")
    zonal.set_defaults(handler=_cmd_zonal)

    storm = commands.add_parser("storm", help="before/after storm damage per forest")
    _add_aoi_arguments(storm)
    _add_source_arguments(storm)
    storm.add_argument("--event-date", type=_date, required=True, help="the storm's date")
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
    storm.set_defaults(handler=_cmd_storm)

    from .core.providers.copernicus import CDSE_BASE_URL, CDSE_TOKEN_URL

    hub = commands.add_parser("sentinel-hub", help="statistics per forest from the Copernicus "
                                                  "Data Space Statistical API")
    _add_aoi_arguments(hub)
    today = date.today()
    # twelve whole calendar months up to today: monthly intervals start on the 1st
    first = date(today.year - (1 if today.month < 12 else 0), today.month % 12 + 1, 1)
    hub.add_argument("--start", type=_date, default=first,
                     help="first day (default: the 1st, eleven months ago)")
    hub.add_argument("--end", type=_date, default=today)
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
                     help="show the cost estimate (and the batch request), send nothing")
    hub.add_argument("--pu-budget", type=float, default=10_000.0,
                     help="processing units this tool may spend a month (free tier 10000)")
    hub.add_argument("--request-budget", type=int, default=10_000,
                     help="requests this tool may send a month (free tier 10000)")
    hub.add_argument("--usage-ledger", help="JSON file counting this month's spending "
                                            "(default $RASTER_COLLECT_SH_LEDGER or "
                                            "~/.cache/raster-collect/sentinel-hub-usage.json)")
    hub.add_argument("--poll-seconds", type=float, default=30.0,
                     help="batch: seconds between status checks")
    hub.set_defaults(handler=_cmd_sentinel_hub)

    hexagons = commands.add_parser("hexagons", help="a hexagon grid over the forests")
    _add_aoi_arguments(hexagons)
    hexagons.add_argument("--area-ha", type=float, help="cell area in hectares")
    hexagons.add_argument("--edge-m", type=float, help="cell edge length in metres")
    hexagons.add_argument("--h3", type=int, help="H3 resolution instead of a metric grid")
    hexagons.add_argument("--no-clip", dest="clip", action="store_false",
                          help="keep whole cells instead of clipping to the forests")
    hexagons.add_argument("--output", required=True, help="GeoPackage to write")
    hexagons.set_defaults(handler=_cmd_hexagons)

    sample = commands.add_parser("sample", help="generate the embedded synthetic sample")
    sample.add_argument("--output", default="outputs/sample", help="folder to write it to")
    sample.add_argument("--small", action="store_true", help="a tiny sample (tests)")
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
    demo.add_argument("--output", default="outputs/demo", help="folder for the demo outputs")
    demo.set_defaults(handler=_cmd_demo)
    return parser


def _terminate(signum, frame) -> None:
    """SIGTERM (a cancel from QGIS) unwinds like Ctrl-C, so staging folders are removed."""
    raise KeyboardInterrupt


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line; returns the process exit code."""
    from .core.aoi import AoiError
    from .core.cluster import ClusterError
    from .core.expression import ExpressionError
    from .core.jobs import JobError
    from .core.load import LoadError
    from .core.providers.base import ProviderError
    from .core.workflow import RequestError

    parser = build_parser()
    args = parser.parse_args(argv)
    events = getattr(args, "events", False)

    def fail(kind: str, message: str, code: int) -> int:
        if events:
            print(json.dumps({"event": "error", "kind": kind, "message": message}), flush=True)
        print(f"raster-collect: error: {message}", file=sys.stderr)
        return code

    previous = signal.signal(signal.SIGTERM, _terminate) if _main_thread() else None
    try:
        summary = args.handler(args)
    except (BadInput, AoiError, RequestError, ExpressionError, JobError,
            ClusterError) as problem:
        return fail("bad_input", str(problem), EXIT_BAD_INPUT)
    except (ProviderError, LoadError) as problem:
        return fail("failure", str(problem), EXIT_FAILURE)
    except KeyboardInterrupt:
        if events:
            print(json.dumps({"event": "cancelled"}), flush=True)
        print("raster-collect: interrupted; completed work is kept, rerun to resume",
              file=sys.stderr)
        return EXIT_FAILURE
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
    elif not args.quiet and args.command not in ("search",):
        for key, value in summary.items():
            print(f"{key}: {value}")
    if summary.get("errors") and args.command == "sentinel-hub":
        return EXIT_FAILURE
    if summary.get("failed"):
        for key, reason in summary["failed"].items():
            print(f"raster-collect: forest {key} failed: {reason}", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK
