"""Runs every door starts the same way: each pipeline inside a locked, journaled output folder
(``runs.folder.RunFolder``), so a repeated run resumes and a changed one is refused."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Dict, List

from ..composites import path_budget
from ..composites.sizing import storm_engine_job, zonal_engine_job
from ..runs.folder import RunFolder, fingerprint, relative_files, request_parameters
from ..runs.remote import RemoteRun
from ..runs.storage import check_output_store, is_remote


def report_for_area(report, bbox_wgs84):
    """The scenes of a SearchReport that meet ``bbox_wgs84`` (what a search of that area alone
    would have found), by collection. A collection none of whose scenes meets the area keeps
    the run's scenes: the area's statistics are then taken on the run's grid with no clear
    cell (``clear_count`` 0), as a run of every forest together (a job spec) takes them, not
    a "nothing to compute" failure of that forest (see :func:`no_scene_notes`)."""
    from ..sources.search import SearchReport

    meeting = _meeting(report, bbox_wgs84)
    return SearchReport(items={key: meeting[key] or list(found)
                               for key, found in report.items.items()},
                        errors=dict(report.errors))


def _meeting(report, bbox_wgs84) -> Dict:
    """The scenes of each collection of ``report`` whose footprint meets ``bbox_wgs84``."""
    from shapely.geometry import box, shape

    area = box(*bbox_wgs84)
    return {key: [i for i in found if i.geometry is not None and
                  shape(i.geometry).intersects(area)] for key, found in report.items.items()}


def no_scene_notes(request, aoi, report) -> List[str]:
    """One note per collection with scenes in the run naming the forests none of them meets
    (a forest outside every scene): their rows have ``clear_count`` 0 and empty statistics,
    and the run succeeds. The command line (one forest at a time) and a job spec (every
    forest at once) say it alike."""
    from ..areas.aoi import Aoi

    missing: Dict = {}
    for forest_id in aoi.ids:
        forest = Aoi(aoi.frame[aoi.frame[aoi.id_field] == forest_id], aoi.id_field)
        for key, found in _meeting(report, forest.bbox_wgs84).items():
            if not found and report.items[key]:
                missing.setdefault(key, []).append(forest_id)
    return [f"no {collection} scene ({provider}) between {request.start} and {request.end} "
            f"meets forest(s) {', '.join(map(str, ids))}: their rows have clear_count 0 "
            "and no statistics (not a failure)"
            for (provider, collection), ids in sorted(missing.items())]


def composite_files(result) -> List[Path]:
    """Every file a CompositeResult placed in its output folder."""
    files = []
    for collection in result.collections:
        files += [*collection.index_paths.values(), collection.count_path,
                  collection.metadata_path]
        files += [path for periods in collection.colour_paths.values()
                  for path in periods.values()]  # --colour: one COG per kind and period
    scenes = Path(result.output_dir) / "scenes.csv"
    return files + ([scenes] if scenes.exists() else [])


def run_composites_protected(request, *, overwrite: bool = False, progress=None, cancel=None,
                             report=None):
    """``pipeline.run_composites`` inside a RunFolder: locked, fingerprinted, never mixed with
    another run's files, published with a manifest, rolled back on error or cancel."""
    from dataclasses import replace

    from ..composites.pipeline import (
        check_size,
        refuse_nothing_found,
        run_composites,
        search,
        validate_request,
    )

    remote = is_remote(request.output_dir)
    if remote:  # an object store: bucket and credentials, before any work
        check_output_store(request.output_dir)
    aoi = validate_request(request)
    if not remote:
        path_budget.check(request.output_dir, lambda: path_budget.composite_depth(request))
    request = replace(request, aoi=aoi)
    report = report if report is not None else _searched(request, aoi, search, progress)
    refuse_nothing_found(request, report)
    check_size(request, report, aoi)  # over the budget (exit 2): before --overwrite drops
    record = fingerprint("composite", request_parameters(request, aoi),
                         item_ids=[i.id for i in report.all_items])
    if remote:  # the workflow writes its manifest last; the run adds its record
        with RemoteRun(request.output_dir, record, overwrite=overwrite) as run:
            result = run_composites(request, progress=progress, cancel=run.cancel(cancel),
                                    report=report)
            run.publish()
        return result
    with RunFolder(Path(request.output_dir), record, overwrite=overwrite,
                   rewrites=True) as folder:
        result = run_composites(request, progress=progress, cancel=cancel, report=report)
        folder.publish(relative_files(folder.path, composite_files(result)),
                       errors=result.errors)
    return result


@zonal_engine_job
def run_zonal_protected(zonal, *, overwrite: bool = False, progress=None, cancel=None,
                        report=None):
    """``workflow.run_zonal`` inside a RunFolder (see :func:`run_composites_protected`)."""
    from dataclasses import replace

    from ..areas.hexagons import refuse_too_many_cells
    from ..composites.pipeline import refuse_nothing_found, search, validate_request
    from ..outputs.tables import superseded_note, superseded_tables
    from ..zonal.pipeline import check_zonal_sizes, run_zonal
    from ..zonal.statistics import refuse_id_named_like_a_column

    request = zonal.composites
    remote = is_remote(request.output_dir)
    if remote:  # an object store: bucket and credentials, before any work
        check_output_store(request.output_dir)
    aoi = validate_request(request)
    refuse_id_named_like_a_column(aoi.id_field)
    # before the search and the folder (which --overwrite would empty): a grid too large
    refuse_too_many_cells(aoi.frame, area_m2=zonal.hexagon_area_m2,
                          edge_m=zonal.hexagon_edge_m, h3_resolution=zonal.h3_resolution,
                          zones=aoi.own_zones())
    if not remote:
        path_budget.check(request.output_dir, lambda: path_budget.composite_depth(request))
    request = replace(request, aoi=aoi)
    zonal = replace(zonal, composites=request)
    report = report if report is not None else _searched(request, aoi, search, progress)
    refuse_nothing_found(request, report)
    check_zonal_sizes(zonal, report)  # over the budget (exit 2): before --overwrite drops
    parameters = {**request_parameters(request, aoi), **zonal_parameters(zonal)}
    record = fingerprint("zonal", parameters, item_ids=[i.id for i in report.all_items])
    if remote:  # the workflow writes its manifest last; the run adds its record
        with RemoteRun(request.output_dir, record, overwrite=overwrite) as run:
            result = run_zonal(zonal, progress=progress, cancel=run.cancel(cancel),
                               report=report)
            run.publish()
        result.composites.notes.extend(no_scene_notes(request, aoi, report))
        return result
    with RunFolder(Path(request.output_dir), record, overwrite=overwrite,
                   rewrites=True) as folder:
        result = run_zonal(zonal, progress=progress, cancel=cancel, report=report)
        files = composite_files(result.composites) + list(result.files.values())
        folder.publish(relative_files(folder.path, files), superseded=superseded_tables,
                       errors=result.composites.errors)
        result.composites.notes.extend(superseded_note(folder.removed, folder.held))
    result.composites.notes.extend(no_scene_notes(request, aoi, report))
    return result


def zonal_parameters(zonal) -> Dict[str, object]:
    """The zonal-statistics parameters that determine a result."""
    return {"coverage": zonal.coverage, "min_clear_fraction": zonal.min_clear_fraction,
            "hexagon_area_m2": zonal.hexagon_area_m2, "hexagon_edge_m": zonal.hexagon_edge_m,
            "h3_resolution": zonal.h3_resolution, "clip_hexagons": zonal.clip_hexagons}


@storm_engine_job
def run_storm_protected(storm, *, overwrite: bool = False, progress=None, cancel=None):
    """``storm.run_storm`` inside a RunFolder (see :func:`run_composites_protected`); the
    fingerprint holds the parameters, the polygons, the sources, the scenes found and the
    given item URLs. The search (and its check that there are scenes before and after the
    event) comes before the folder is touched: a refused run loses nothing."""
    from dataclasses import asdict, replace

    from ..areas.aoi import Aoi, load_aoi
    from ..areas.hexagons import refuse_too_many_cells
    from ..composites.pipeline import search, validate_request
    from ..storm.assessment import (
        RANKING_COLUMNS,
        items_report,
        run_storm,
        storm_composites,
    )
    from ..storm.scenes import check_scenes_around_event
    from ..zonal.statistics import refuse_id_named_like_a_column

    base = storm.composites
    aoi = base.aoi if isinstance(base.aoi, Aoi) else load_aoi(
        base.aoi, id_field=base.id_field, ids=base.selected_ids)
    refuse_id_named_like_a_column(aoi.id_field, RANKING_COLUMNS)
    # before the search and the composites (the grid is laid once they are done)
    refuse_too_many_cells(aoi.frame, area_m2=storm.hexagon_area_m2, zones=aoi.own_zones())
    # what the run composites (its windows and cloud buffer), not the base request's
    # start/end (the command line's default is a year before today) or buffer
    composites = storm_composites(storm)
    if is_remote(base.output_dir):  # it made a local folder named "s3:", then a traceback
        from ..runs.folder import RunError

        raise RunError("a storm assessment writes to a local folder: give a local --output "
                       "(job spec 'output_dir'), not an object-store URL; s3:// outputs are "
                       "for composite and zonal runs")
    if not is_remote(base.output_dir):  # Windows' path limit, before anything is read
        from ..storm.assessment import STORM_INDICES

        path_budget.check(base.output_dir, lambda: path_budget.composite_depth(
            base, indices=sorted(set(base.indices) | set(STORM_INDICES)),
            labels=("early", "before", "after"), windows=True))
    report = items = None
    if not (storm.before_items or storm.after_items):
        composites = replace(composites, aoi=validate_request(replace(composites, aoi=aoi)))
        report = _searched(composites, composites.aoi, search, progress)
        check_scenes_around_event(storm, composites, report)
    else:  # read and checked (each in its window, both windows given) before the folder
        items = items_report(storm, composites.windows)
        check_scenes_around_event(storm, composites, items[0])
    _check_storm_size(composites, aoi, report, items)  # exit 2 before --overwrite drops
    parameters = request_parameters(composites, aoi)
    if not storm.windows:  # start, end and windows follow from these three: named by them
        for derived in ("start", "end", "windows"):
            parameters.pop(derived)
    parameters = {**parameters, "event_date": str(storm.event_date),
                  "before_days": storm.before_days, "after_days": storm.after_days,
                  "thresholds": asdict(storm.thresholds),
                  "min_clear_fraction": storm.min_clear_fraction,
                  "hexagon_area_m2": storm.hexagon_area_m2,
                  "before_items": sorted(storm.before_items),
                  "after_items": sorted(storm.after_items)}
    record = fingerprint("storm", parameters, item_ids=None if report is None else
                         [i.id for i in report.all_items])
    with RunFolder(Path(base.output_dir), record, overwrite=overwrite,
                   rewrites=True, tracks_writes=True) as folder:
        started = time.time()
        result = run_storm(storm, progress=progress, cancel=cancel, report=report,
                           items=items)
        folder.publish_written(started, skip_foreign=True, errors=result.errors)
    return result


def _check_storm_size(composites, aoi, report, items) -> None:
    """SizeError (bad input) when a storm's composites are over the memory budget, as
    run_storm would find once inside its run folder: on the searched scenes, or on the
    given before/after items (``items``: ``items_report``'s answer)."""
    from dataclasses import replace

    from ..composites.pipeline import check_size, validate_request

    if items is not None:
        report, sources = items
        composites = replace(composites, aoi=aoi, sources=sources)
    checked = validate_request(composites)
    check_size(replace(composites, aoi=checked), report, checked)


def _searched(request, aoi, search, progress):
    """The search, said first: the run's first progress event comes before the search and the
    size checks that follow it (which load the loader's packages: issue 31, first progress in
    well under a second)."""
    from ..composites.requests import _report

    _report(progress, 0.0, "searching")
    return search(request, aoi)
