"""The zonal pipeline: composites, then statistics per forest (and per hexagon) as one dask
graph of (file, block of zones) tasks, tables written by the client or by the workers."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import geopandas as gpd
import pandas as pd

from ..areas.aoi import Aoi
from ..composites.pipeline import resolve_indices, run_composites, validate_request
from ..composites.publish import _name, _staging_for, composite_files, write_run_manifest
from ..composites.requests import (
    CancelCheck,
    Cancelled,
    CompositeRequest,
    CompositeResult,
    ProgressCallback,
    _check_cancel,
    _report,
    composite_windows,
)
from ..compute import scheduling
from ..pixels.clear_fraction import check_min_clear_fraction
from ..runs.storage import is_remote as _is_remote
from ..runs.storage import join as _join
from ..runs.storage import remove_tree as _remove_tree
from ..sources.search import SearchReport


@dataclass
class ZonalRequest:
    """Composites plus per-forest (and optionally per-hexagon) statistics."""

    composites: CompositeRequest
    coverage: str = "exact"
    min_clear_fraction: float = 0.5
    hexagon_area_m2: Optional[float] = None
    hexagon_edge_m: Optional[float] = None
    h3_resolution: Optional[int] = None
    clip_hexagons: bool = True
    # None: every format for ordinary tables, Parquet only for large ones (outputs/tables.py)
    table_formats: Optional[Sequence[str]] = None


@dataclass
class ZonalResult:
    """Tables and layers of a zonal run. ``hexagon_table`` is None when no hexagons were
    asked for, or when a cluster's workers wrote it (too large to send back: read
    ``files["hexagons_parquet"]``)."""

    composites: CompositeResult
    forest_table: pd.DataFrame
    hexagon_table: Optional[pd.DataFrame]
    files: Dict[str, Path]


def zonal_for_composites(composites: CompositeResult, zones: gpd.GeoDataFrame, *,
                         id_fields: Sequence[str], coverage: str = "exact",
                         min_clear_fraction: float = 0.5,
                         cancel: Optional[CancelCheck] = None) -> pd.DataFrame:
    """The long statistics table of every composite COG of a run over ``zones``: one dask
    graph of (file, block of zones) tasks, on the cluster when its workers can read the files
    where they are."""
    from .tasks import zonal_tables

    files = _composite_files(composites)
    _check_cancel(cancel)
    try:
        return zonal_tables(files, zones, id_fields=id_fields, coverage=coverage,
                            min_clear_fraction=min_clear_fraction, cancel=cancel)
    except scheduling.ComputeCancelled as error:
        raise Cancelled(str(error)) from None


def make_hexagons(aoi: Aoi, *, area_m2: Optional[float] = None,
                  edge_m: Optional[float] = None, h3_resolution: Optional[int] = None,
                  clip: bool = True) -> Optional[gpd.GeoDataFrame]:
    """The hexagon grid asked for (None when none is asked for)."""
    from ..areas.hexagons import h3_grid, hexagon_grid

    if h3_resolution is not None:
        return h3_grid(aoi.frame, resolution=h3_resolution, id_field=aoi.id_field, clip=clip)
    if area_m2 or edge_m:
        return hexagon_grid(aoi.frame, id_field=aoi.id_field, area_m2=area_m2, edge_m=edge_m,
                            clip=clip, zones=aoi.own_zones())
    return None


def run_zonal(request: ZonalRequest, *, progress: Optional[ProgressCallback] = None,
              cancel: Optional[CancelCheck] = None,
              report: Optional[SearchReport] = None) -> ZonalResult:
    """Composites, then statistics per forest and per hexagon, written as GeoPackage, CSV and
    Parquet tables plus a polygon layer with the latest usable period's values."""
    from ..areas.hexagons import HEX_ID_FIELD, hexagon_zones_note, refuse_too_many_cells

    check_min_clear_fraction(request.min_clear_fraction)
    composite_request = request.composites
    aoi = validate_request(composite_request)
    composite_request = _with_aoi(composite_request, aoi)
    refuse_too_many_cells(aoi.frame, area_m2=request.hexagon_area_m2,
                          edge_m=request.hexagon_edge_m, h3_resolution=request.h3_resolution,
                          zones=aoi.own_zones())
    _check_zonal_size(request, aoi)

    def composite_progress(fraction, message):
        _report(progress, 0.8 * fraction, message)

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:  # the grid is built while dask composites
        hexagon_grid = pool.submit(make_hexagons, aoi, area_m2=request.hexagon_area_m2,
                                   edge_m=request.hexagon_edge_m,
                                   h3_resolution=request.h3_resolution,
                                   clip=request.clip_hexagons)
        composites = run_composites(composite_request, progress=composite_progress,
                                    cancel=cancel, report=report)
        hexagons = hexagon_grid.result()
    if hexagons is not None:  # polygons in degrees: the zones their lattices are laid in
        composites.notes.extend(hexagon_zones_note(aoi, request.h3_resolution))
    _report(progress, 0.8, "zonal statistics per forest")
    output_dir = composites.output_dir
    forest_table = zonal_for_composites(composites, aoi.frame, id_fields=[aoi.id_field],
                                        coverage=request.coverage,
                                        min_clear_fraction=request.min_clear_fraction,
                                        cancel=cancel)
    hexagon_table, on_workers, staging = None, None, None
    try:
        if hexagons is not None:
            _report(progress, 0.9, f"zonal statistics per hexagon ({len(hexagons)} cells)")
            hexagon_table, on_workers, staging = _hexagon_statistics(
                composites, hexagons, [aoi.id_field, HEX_ID_FIELD], request, cancel)
        _check_cancel(cancel)
        outputs = [(forest_table, aoi.frame, aoi.id_field, "forests")]
        if hexagon_table is not None:
            outputs.append((hexagon_table, hexagons, HEX_ID_FIELD, "hexagons"))
        files = _write_tables(outputs, output_dir, request.table_formats,
                              [on_workers] if on_workers is not None else [])
    finally:
        if staging is not None:
            _remove_tree(staging)
    write_run_manifest(output_dir, composite_files(composites.collections)
                       + [_name(p) for p in files.values()], kind="zonal")
    _report(progress, 1.0, "done")
    return ZonalResult(composites, forest_table, hexagon_table, files)


def check_zonal_sizes(request: ZonalRequest, report: SearchReport) -> None:
    """SizeError (bad input) when the run's composites or statistics are over the memory
    budget: what run_zonal checks, said before a RunFolder is touched (``--overwrite`` drops
    the old manifest) and, for the per-forest command, before the first forest."""
    from ..composites.pipeline import check_size

    aoi = validate_request(request.composites)
    _check_zonal_size(request, aoi)
    check_size(_with_aoi(request.composites, aoi), report, aoi)


def _check_zonal_size(request: ZonalRequest, aoi: Aoi) -> str:
    from ..composites import sizing

    composites = request.composites
    size = sizing.zonal_size(aoi, resolution=composites.resolution or 10.0,
                             periods=len(composite_windows(composites)),
                             indices=len(resolve_indices(composites)),
                             hexagon_area_m2=request.hexagon_area_m2 or (
                                 request.hexagon_edge_m ** 2 * 2.598
                                 if request.hexagon_edge_m else None),
                             h3_resolution=request.h3_resolution)
    return sizing.check(size, composites.memory_budget)


def _hexagon_statistics(composites: CompositeResult, hexagons: gpd.GeoDataFrame,
                        id_fields: Sequence[str], request: ZonalRequest,
                        cancel: Optional[CancelCheck]):
    """(table, None, None) computed here; or, on a cluster whose workers can write the
    output, (None, WorkerTable, staging): the large table written by the workers."""
    from .worker_tables import tables_on_workers, write_tables_on_workers

    files = _composite_files(composites)
    if not tables_on_workers(files, composites.output_dir):
        return zonal_for_composites(composites, hexagons, id_fields=id_fields,
                                    coverage=request.coverage,
                                    min_clear_fraction=request.min_clear_fraction,
                                    cancel=cancel), None, None
    _, staging = _staging_for(composites.output_dir)
    try:
        _check_cancel(cancel)
        return None, write_tables_on_workers(
            files, hexagons, id_fields=id_fields, latest_field=id_fields[-1], name="hexagons",
            staging=staging, coverage=request.coverage,
            min_clear_fraction=request.min_clear_fraction, formats=request.table_formats,
            cancel=cancel), staging
    except scheduling.ComputeCancelled as error:
        _remove_tree(staging)
        raise Cancelled(str(error)) from None
    except BaseException:
        _remove_tree(staging)
        raise


def _write_tables(outputs, output_dir, formats,
                  worker_tables=()) -> Dict[str, Union[Path, str]]:
    """Every zone table and latest layer, written side by side in threads (vectorised
    writers: pyarrow, pyogrio); built locally and uploaded when the output is an object
    store. ``worker_tables``: the tables (and latest layers) the workers wrote; their metadata
    is written here, then their staged files are moved into place."""
    from concurrent.futures import ThreadPoolExecutor

    from ..outputs.tables import write_metadata, write_zone_outputs
    from ..runs.storage import put_file
    from .worker_tables import publish

    writers = [lambda folder, o=o: write_zone_outputs(o[0], o[1], o[2], folder, name=o[3],
                                                      formats=formats) for o in outputs]
    writers += [lambda folder, t=t: write_metadata(t.attrs, folder, name=t.name)
                for t in worker_tables]
    folder = Path(tempfile.mkdtemp(prefix=".raster-collect-tables-")) \
        if _is_remote(output_dir) else Path(output_dir)
    try:
        with ThreadPoolExecutor(max_workers=len(writers)) as pool:
            parts = list(pool.map(lambda write: write(folder), writers))
        files = {key: path for part in parts for key, path in part.items()}
        if _is_remote(output_dir):
            for key, path in files.items():
                files[key] = str(_join(output_dir, path.name))
                put_file(path, files[key])
    finally:
        if _is_remote(output_dir):
            _remove_tree(folder)
    for table in worker_tables:  # the large tables last, from the staging area
        files.update({f"{table.name}_{kind}": location
                      for kind, location in publish(table.staged, output_dir).items()})
    return files


def _composite_files(composites: CompositeResult) -> List[Tuple[str, str, str, object]]:
    """(provider, collection, index, location) of every index composite of a run."""
    return [(collection.provider, collection.collection, index_name, path)
            for collection in composites.collections
            for index_name, path in collection.index_paths.items()]


def _with_aoi(request: CompositeRequest, aoi: Aoi) -> CompositeRequest:
    from dataclasses import replace

    return replace(request, aoi=aoi)
