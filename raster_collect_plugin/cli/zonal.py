"""``zonal``: statistics per forest (and hexagon) and period, one forest at a time, resumable."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Optional

from ..core.runs.file_replace import replace_all
from .cells import check_cell_options
from .common import (
    BadInput,
    add_aoi_arguments,
    add_output_arguments,
    add_source_arguments,
    composite_request,
    compute_client_for,
    compute_settings_for,
    load_aoi_from_args,
    output_location,
    progress_bar,
)

COMPLETE_MARKER = "complete.json"


# what a file name cannot hold on Windows (and "/" anywhere)
_NOT_IN_NAMES = re.compile(r'[<>:"/\\|?*\x00-\x1f]')


# a folder name's bytes: file systems hold 255, and the forest's scratch folder beside it
# (".<name>.partial-xxxxxxxx") adds 18
MAX_FOLDER_NAME_BYTES = 200


def forest_folder_name(forest_id) -> str:
    """``forest_<id>``; an id a file name cannot hold (``12/3``, ``A:1``, a trailing dot, or
    one too long: a 300-character name field) has those characters replaced by ``_`` (a long
    one is cut) and a short hash of the id appended, so two such ids never share a folder."""
    text = str(forest_id)
    name = f"forest_{text}"
    if not _NOT_IN_NAMES.search(text) and not text.endswith((".", " ")) and \
            len(name.encode()) <= MAX_FOLDER_NAME_BYTES:
        return name
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    kept = _NOT_IN_NAMES.sub("_", text).encode()[:MAX_FOLDER_NAME_BYTES - 20]
    return f"forest_{kept.decode(errors='ignore').rstrip('. ')}-{digest}"


# options an imagery run uses and zonal --raster would silently ignore, None when left out
# (those with a default get it from common.source_defaults): flag -> dest
_DEFAULTED = (("--start", "start"), ("--end", "end"), ("--indices", "indices"),
              ("--period", "period"), ("--method", "method"), ("--max-cloud", "max_cloud"),
              ("--dask", "dask"), ("--workers", "workers"),
              ("--threads-per-worker", "threads_per_worker"), ("--memory-limit", "memory_limit"),
              ("--scheduler", "scheduler"), ("--memory-budget", "memory_budget"))


def _zonal_request(args, aoi, output_dir: Path):
    from ..core.zonal import ZonalRequest

    return ZonalRequest(composite_request(args, aoi, output_dir), coverage=args.coverage,
                        min_clear_fraction=args.min_clear,
                        hexagon_area_m2=args.hex_area_ha * 10_000 if args.hex_area_ha else None,
                        h3_resolution=args.h3)


def _forest_record(parameters: dict, forest_aoi, report) -> dict:
    """What determines one forest's result: the run's parameters, this forest's geometry (as
    when it is selected alone: ``Aoi.alone``), the scenes over it and, with hexagons of an
    area, the UTM zone its lattice is laid in and its ``hex_id`` names (a forest finished
    with ids of another format, before that zone was named, is not complete: it is redone)."""
    from ..core.areas.hexagons import lattice_zones
    from ..core.areas.utm import utm_label
    from ..core.runs import fingerprint, geometry_hash

    frame = forest_aoi.frame
    record = {**parameters, "geometry": geometry_hash(frame, forest_aoi.id_field)}
    if parameters.get("hexagon_area_m2") or parameters.get("hexagon_edge_m"):
        zone = lattice_zones(frame, forest_aoi.own_zones())[0]
        if zone is not None:
            record["hexagon_lattice"] = utm_label(zone)
    return fingerprint("zonal-forest", record, item_ids=[i.id for i in report.all_items])


def _is_complete(folder: Path, fingerprint: str) -> bool:
    marker = folder / COMPLETE_MARKER
    if not marker.exists():
        return False
    try:
        return json.loads(marker.read_text()).get("fingerprint") == fingerprint
    except ValueError:
        return False


def run_forest(args, forest_aoi, forest_id, output_root: Path, fingerprint: str, report,
               run: Optional[Callable] = None) -> dict:
    """One forest's whole job into ``output_root/forest_<id>``: built in a scratch folder and
    renamed into place only when complete (the marker is written last)."""
    from ..core.runs import normal_permissions
    from ..core.zonal import run_zonal

    target = output_root / forest_folder_name(forest_id)
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=output_root))
    try:
        normal_permissions(scratch)  # mkdtemp makes 0700 folders
        result = (run or run_zonal)(_zonal_request(args, forest_aoi, scratch), report=report)
        summary = {"forest": str(forest_id), "fingerprint": fingerprint,
                   "rows": int(len(result.forest_table)), "errors": result.composites.errors,
                   "files": sorted(p.name for p in scratch.iterdir())}
        (scratch / COMPLETE_MARKER).write_text(json.dumps(summary, indent=2))
        _keep_own_files(target, scratch)
        replace_all([(scratch, target)])  # the old folder stays if QGIS holds a file of it
        return summary
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _forest_files(folder: Path) -> list:
    """What a forest's run published in ``folder``: its marker lists them (a file no run
    made, the user's own, is not one of them)."""
    try:
        listed = json.loads((folder / COMPLETE_MARKER).read_text()).get("files", [])
    except (OSError, ValueError, AttributeError):
        return []
    return [COMPLETE_MARKER, *(name for name in listed if isinstance(name, str))]


def _keep_own_files(target: Path, scratch: Path) -> None:
    """Copy into a forest's new folder what its old folder holds that no run published (the
    user's notes): replacing the folder deleted them. Copies, so the old folder stays whole
    if it cannot be replaced."""
    if not target.is_dir():
        return
    published = set(_forest_files(target))
    for entry in target.iterdir():
        if entry.name in published or entry.name.startswith(".") or \
                (scratch / entry.name).exists():
            continue
        if entry.is_dir():
            shutil.copytree(entry, scratch / entry.name, symlinks=True)
        else:
            shutil.copy2(entry, scratch / entry.name, follow_symlinks=False)


def _cmd_zonal_raster(args) -> dict:
    """``zonal --raster FILE``: statistics of an existing raster, no imagery search."""
    from ..core.areas import ZoneError
    from ..core.zonal import RasterZonalRequest, parse_bands, run_zonal_raster

    try:
        request = RasterZonalRequest(
            aoi=load_aoi_from_args(args), raster=args.raster, output_dir=args.output,
            coverage=args.coverage, min_clear_fraction=args.min_clear,
            bands=parse_bands(args.bands), nodata=args.nodata,
            ignore_nodata=args.ignore_nodata, use_mask=not args.no_mask_band,
            categorical=args.categorical)
        return run_zonal_raster(request, overwrite=args.overwrite)
    except ZoneError as error:
        raise BadInput(str(error)) from None


def _cmd_zonal_to_object_store(args, aoi) -> dict:
    """``zonal --output s3://bucket/prefix``: the whole estate as one run (``run_zonal``), as
    a job spec does it: composites, tables and latest layers under the prefix, the manifest
    last. The per-forest folders that make a local run resumable are not used there."""
    from ..core.compute import interrupted
    from ..core.jobs import run_zonal_protected

    if args.start_from != 1:
        raise BadInput("--start-from resumes the per-forest folders of a local --output; an "
                       "s3:// output is written as one run: drop --start-from")
    progress = progress_bar(args, "zonal")
    try:
        with compute_client_for(args):
            result = run_zonal_protected(_zonal_request(args, aoi, args.output),
                                         overwrite=args.overwrite, progress=progress,
                                         cancel=interrupted)
    finally:
        progress.close()
    return {"output": str(args.output), "rows": int(len(result.forest_table)),
            "files": {key: str(location) for key, location in result.files.items()},
            "errors": result.composites.errors, "notes": result.composites.notes}


def _cmd_zonal(args, run: Optional[Callable] = None) -> dict:
    import pandas as pd

    from ..core.areas import refuse_too_many_cells
    from ..core.composites import (
        RequestError,
        path_budget,
        refuse_nothing_found,
        search,
        validate_request,
    )
    from ..core.compute import check_interrupted
    from ..core.jobs import no_scene_notes, report_for_area, zonal_parameters
    from ..core.outputs import write_table
    from ..core.pixels import check_min_clear_fraction
    from ..core.runs import RunFolder, fingerprint, is_remote, relative_files, request_parameters
    from ..core.zonal.pipeline import check_zonal_sizes
    from ..core.zonal.statistics import refuse_id_named_like_a_column

    check_min_clear_fraction(args.min_clear, "--min-clear")  # before any work
    check_cell_options(sizes={"--hex-area-ha": args.hex_area_ha}, h3=args.h3)
    if args.raster:
        from ..core.areas import ZoneError
        from ..core.zonal.of_raster import refuse_remote_output

        try:
            refuse_remote_output(args.output)  # first, as before the other checks
        except ZoneError as error:
            raise BadInput(str(error)) from None
        if args.hex_area_ha or args.h3 is not None:
            raise BadInput("zonal --raster makes no hexagons: make them with `raster-collect "
                           "hexagons` and give that file as --gpkg (or drop --hex-area-ha / "
                           "--h3)")
        imagery_only = [flag for flag, on in (
            ("--start-from", args.start_from != 1), ("--catalog", args.catalog),
            ("--stac-url", args.stac_url), ("--provider", args.provider),
            ("--collections", args.collections), ("--expression", args.expression),
            ("--colour", args.colour), ("--mask", args.mask is not None),
            ("--cloud-buffer", args.cloud_buffer is not None),
            ("--resolution", args.resolution is not None), ("--crs", args.crs),
            *((flag, getattr(args, key) is not None) for flag, key in _DEFAULTED))
            if on]
        if imagery_only:  # silently ignored before: the user would think they applied
            raise BadInput(f"zonal --raster reads the raster as it is and computes every "
                           f"forest in one run: {', '.join(imagery_only)} "
                           + ("is for imagery runs: drop it" if len(imagery_only) == 1
                              else "are for imagery runs: drop them"))
        return _cmd_zonal_raster(args)
    raster_only = [flag for flag, on in (("--bands", args.bands), ("--nodata", args.nodata),
                                         ("--ignore-nodata", args.ignore_nodata),
                                         ("--no-mask-band", args.no_mask_band),
                                         ("--categorical", args.categorical)) if on]
    if raster_only:
        raise BadInput(f"{', '.join(raster_only)} need(s) --raster FILE (an existing raster)")
    compute_settings_for(args)  # a wrong compute option: before the search and the folder
    aoi = load_aoi_from_args(args)
    refuse_id_named_like_a_column(aoi.id_field)
    # the run's grid, not each forest's: every forest's grid may fit while the run's does not
    refuse_too_many_cells(aoi.frame, area_m2=args.hex_area_ha * 10_000 if args.hex_area_ha
                          else None, h3_resolution=args.h3, zones=aoi.own_zones())
    if is_remote(args.output):
        return _cmd_zonal_to_object_store(args, aoi)
    ids = sorted(aoi.ids, key=lambda v: (str(type(v)), v))
    if args.start_from < 1 or args.start_from > len(ids):
        raise BadInput(f"--start-from must be between 1 and {len(ids)} (the number of forests)")
    output_root = Path(args.output)
    request = composite_request(args, aoi, output_root)
    validate_request(request)  # fail fast, not per forest
    path_budget.check(output_root, lambda: path_budget.forest_depth(
        request, [forest_folder_name(i)[len("forest_"):] for i in ids]))
    report = search(request, aoi)  # one search for every forest
    refuse_nothing_found(request, report)  # every forest would fail alike: say it once
    parameters = {**request_parameters(request, aoi),
                  **zonal_parameters(_zonal_request(args, aoi, output_root))}
    record = fingerprint("zonal-forests", parameters,
                         item_ids=[i.id for i in report.all_items])
    done, skipped, failed = [], [], {}
    errors: dict = {}  # what a source or collection could not give (the same for each forest)
    todo = ids[args.start_from - 1:]

    def forest_of(forest_id):
        forest_aoi = aoi.alone(forest_id)  # in its own UTM zone when given in degrees
        forest_report = report_for_area(report, forest_aoi.bbox_wgs84)
        return forest_aoi, forest_report, _forest_record(parameters, forest_aoi,
                                                         forest_report)["fingerprint"]

    # resumed with --start-from: the forests before it that are complete stay in the
    # combined tables and the manifest
    fingerprints = {i: forest_of(i)[2] for i in ids[:args.start_from - 1]}
    plan = []
    for forest_id in todo:  # a forest over the memory budget (exit 2): before any forest
        check_interrupted()  # is computed and before --overwrite drops the manifest
        forest_aoi, forest_report, fingerprints[forest_id] = forest_of(forest_id)
        complete = _is_complete(output_root / forest_folder_name(forest_id),
                                fingerprints[forest_id])
        if not complete:
            with contextlib.suppress(RequestError):  # that forest's failure, said in its turn
                check_zonal_sizes(_zonal_request(args, forest_aoi, output_root), forest_report)
        plan.append((forest_id, forest_aoi, forest_report, complete))
    progress = progress_bar(args, "forests")
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(progress.close)
        # the cluster first: a scheduler that does not answer (exit 2) before --overwrite
        # drops the folder's manifest
        cleanup.enter_context(compute_client_for(args))
        folder = cleanup.enter_context(RunFolder(
            output_root, record, overwrite=args.overwrite,
            keep=lambda name: _is_forest_folder(output_root / name)))
        for n, (forest_id, forest_aoi, forest_report, complete) in enumerate(plan):
            check_interrupted()
            progress(n / len(todo), f"forest {forest_id}")
            forest_fingerprint = fingerprints[forest_id]
            if complete:
                skipped.append(forest_id)
                continue
            try:
                errors.update(run_forest(args, forest_aoi, forest_id, output_root,
                                         forest_fingerprint, forest_report, run)["errors"])
                done.append(forest_id)
            except BadInput:
                raise
            except RequestError as error:  # one forest's failure must not stop the others
                failed[str(forest_id)] = str(error)
        complete = [output_root / forest_folder_name(i) for i in ids
                    if _is_complete(output_root / forest_folder_name(i), fingerprints[i])]
        files = [forest / name for forest in complete for name in _forest_files(forest)
                 if (forest / name).is_file()]
        combined = {}
        if complete:
            staging = Path(tempfile.mkdtemp(prefix=".raster-collect-partial-",
                                            dir=output_root))
            try:
                written = {}  # the forests' table, and the hexagons' when there are hexagons
                for name, key in (("zonal_forests", ""), ("zonal_hexagons", "hexagons_")):
                    tables = [pd.read_parquet(forest / f"{name}.parquet") for forest in complete
                              if (forest / f"{name}.parquet").exists()]
                    if tables:
                        written.update({key + kind: path for kind, path in write_table(
                            pd.concat(tables, ignore_index=True),
                            staging / f"{name}_all").items()})
                written.update(_combine_latest(complete, staging, aoi.crs))
                # all tables in place (or none: one QGIS holds open), then the manifest
                replace_all((path, output_root / path.name) for path in written.values())
                combined = {kind: str(output_root / path.name) for kind, path in written.items()}
            finally:
                shutil.rmtree(staging, ignore_errors=True)
        files += [Path(p) for p in combined.values()]
        folder.publish(relative_files(output_root, files), forests=[str(i) for i in ids],
                       failed=failed)
    # forests before --start-from with no results of this run's inputs: silently missing
    # from the combined tables (after an --overwrite, their old folders are gone)
    missing = [i for i in ids[:args.start_from - 1]
               if not _is_complete(output_root / forest_folder_name(i), fingerprints[i])]
    notes = list(aoi.notes) + aoi.zones_note() + no_scene_notes(request, aoi, report) + ([
        f"not in the combined tables: forest(s) {', '.join(map(str, missing))} before "
        f"--start-from {args.start_from} have no results of this run's inputs; rerun without "
        "--start-from to compute them"] if missing else [])
    return {"computed": done, "skipped_complete": skipped, "failed": failed,
            "combined_tables": combined, "errors": errors,
            "notes": notes}  # skipped or repaired polygons, forests left out


def _combine_latest(complete, staging: Path, crs) -> dict:
    """The forests' (and hexagons') latest-values layers as one GeoPackage each in
    ``staging``, in ``crs`` (the selection's: forests given in degrees each have their own
    UTM zone in their folders): the map of the whole run, as a one-folder run writes it."""
    import geopandas as gpd
    import pandas as pd

    from ..core.outputs import write_geopackage_layer

    written = {}
    for name in ("forests_latest", "hexagons_latest"):
        layers = [gpd.read_file(forest / f"{name}.gpkg").to_crs(crs) for forest in complete
                  if (forest / f"{name}.gpkg").exists()]
        if layers:
            combined = gpd.GeoDataFrame(pd.concat(layers, ignore_index=True),
                                        geometry="geometry", crs=crs)
            write_geopackage_layer(combined, staging / f"{name}.gpkg", layer="latest")
            written[name] = staging / f"{name}.gpkg"
    return written


def _is_forest_folder(path: Path) -> bool:
    return path.name.startswith("forest_") and (path / COMPLETE_MARKER).exists()


def register(commands) -> None:
    """Add the zonal subcommand(s)."""
    zonal = commands.add_parser("zonal", help="statistics per forest (and hexagon) and month; "
                                              "one forest at a time, resumable")
    add_aoi_arguments(zonal)
    add_source_arguments(zonal)
    zonal.add_argument("--output", type=output_location, default="outputs",
                       help="output folder (one resumable sub-folder per forest), or an "
                            "object-store prefix such as s3://bucket/prefix (one run for all "
                            "forests; credentials from the AWS environment)")
    zonal.add_argument("--start-from", "--start_from", dest="start_from", type=int, default=1,
                       help="begin with the N-th forest (1-based, ids sorted)")
    zonal.add_argument("--coverage", default="exact", choices=["exact", "centre", "all_touched"])
    zonal.add_argument("--min-clear", type=float, default=0.5,
                       help="minimum clear fraction (0-1) for a month to count (default 0.5)")
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
    add_output_arguments(zonal)
    zonal.set_defaults(handler=_cmd_zonal)
