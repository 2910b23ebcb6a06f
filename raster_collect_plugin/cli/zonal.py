"""``zonal``: statistics per forest (and hexagon) and period, one forest at a time, resumable."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Optional

from .common import (
    BadInput,
    add_aoi_arguments,
    add_source_arguments,
    composite_request,
    compute_client_for,
    load_aoi_from_args,
    progress_bar,
)

COMPLETE_MARKER = "complete.json"

def _zonal_request(args, aoi, output_dir: Path):
    from ..core.workflow import ZonalRequest

    return ZonalRequest(composite_request(args, aoi, output_dir), coverage=args.coverage,
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
    from ..core.aoi import load_aoi
    from ..core.workflow import run_zonal

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


def _cmd_zonal_raster(args) -> dict:
    """``zonal --raster FILE``: statistics of an existing raster, no imagery search."""
    from ..core.zonal_raster import RasterZonalRequest, parse_bands, run_zonal_raster
    from ..core.zone_input import ZoneError

    try:
        request = RasterZonalRequest(
            aoi=load_aoi_from_args(args), raster=args.raster, output_dir=args.output,
            coverage=args.coverage, min_clear_fraction=args.min_clear,
            bands=parse_bands(args.bands), nodata=args.nodata,
            ignore_nodata=args.ignore_nodata, use_mask=not args.no_mask_band,
            categorical=args.categorical)
        return run_zonal_raster(request)
    except ZoneError as error:
        raise BadInput(str(error)) from None


def _cmd_zonal(args, run: Optional[Callable] = None) -> dict:
    import pandas as pd

    from ..core.tables import write_table

    if args.raster:
        return _cmd_zonal_raster(args)
    raster_only = [flag for flag, on in (("--bands", args.bands), ("--nodata", args.nodata),
                                         ("--ignore-nodata", args.ignore_nodata),
                                         ("--no-mask-band", args.no_mask_band),
                                         ("--categorical", args.categorical)) if on]
    if raster_only:
        raise BadInput(f"{', '.join(raster_only)} need(s) --raster FILE (an existing raster)")
    aoi = load_aoi_from_args(args)
    ids = sorted(aoi.ids, key=lambda v: (str(type(v)), v))
    if args.start_from < 1 or args.start_from > len(ids):
        raise BadInput(f"--start-from must be between 1 and {len(ids)} (the number of forests)")
    from ..core.workflow import validate_request

    validate_request(composite_request(args, aoi, Path(args.output)))  # fail fast, not per forest
    output_root = Path(args.output)
    output_root.mkdir(parents=True, exist_ok=True)
    fingerprint = _fingerprint(args)
    done, skipped, failed = [], [], {}
    todo = ids[args.start_from - 1:]
    progress = progress_bar(args, "forests")
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(progress.close)
        cleanup.enter_context(compute_client_for(args))
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
                from ..core.workflow import RequestError

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


def register(commands) -> None:
    """Add the zonal subcommand(s)."""
    zonal = commands.add_parser("zonal", help="statistics per forest (and hexagon) and month; "
                                              "one forest at a time, resumable")
    add_aoi_arguments(zonal)
    add_source_arguments(zonal)
    zonal.add_argument("--output", default="outputs", help="output folder")
    zonal.add_argument("--start-from", "--start_from", dest="start_from", type=int, default=1,
                       help="begin with the N-th forest (1-based, ids sorted)")
    zonal.add_argument("--coverage", default="exact", choices=["exact", "centre", "all_touched"])
    zonal.add_argument("--min-clear", type=float, default=0.5,
                       help="minimum clear fraction for a month to count (default 0.5)")
    existing = zonal.add_argument_group("an existing raster instead of imagery")
    existing.add_argument("--raster", help="statistics of this raster's bands (no search)")
    existing.add_argument("--bands", help="bands to use, e.g. 1,3 (default: all)")
    nodata = existing.add_mutually_exclusive_group()
    nodata.add_argument("--nodata", type=float, help="use this nodata value, not the file's")
    nodata.add_argument("--ignore-nodata", action="store_true",
                        help="count the file's nodata value as data (NaN stays excluded)")
    existing.add_argument("--no-mask-band", action="store_true",
                          help="ignore the raster's mask band (internal or .msk mask)")
    existing.add_argument("--categorical", action="store_true",
                          help="also per-class count, area and fraction (class maps, SCL)")
    zonal.add_argument("--hex-area-ha", type=float, help="also per hexagon of this area (ha)")
    zonal.add_argument("--h3", type=int, help="also per H3 cell of this resolution")
    zonal.set_defaults(handler=_cmd_zonal)
