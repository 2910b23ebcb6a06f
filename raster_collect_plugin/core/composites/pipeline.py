"""The main job, described once: search -> load -> mask -> index -> composite -> write.

The dock's QgsTask, the Processing algorithms and the command line all build a request and call
these functions with a progress callback and a cancel check; none re-implements a step.
"""

from __future__ import annotations

import math
from typing import Dict, List, Optional

from ..areas.aoi import Aoi, load_aoi
from ..imagery.renderings import COLOUR_COMPOSITES, colour_bands
from ..pixels import masks
from ..pixels.cloud_buffer import validate_buffer
from ..pixels.errors import LoadError
from ..pixels.indices import SpectralIndex, get_index, indices_for, listed_once
from ..runs.storage import join as _join
from ..runs.storage import remove_tree as _remove_tree
from ..sources.providers.base import ProviderError, SearchQuery
from ..sources.search import SearchReport, refuse_unknown_collections, search_all
from .periods import METHODS, period_starts
from .publish import (
    _publish,
    _staging_for,
    _write_scene_table,
    check_workers_can_read,
    composite_files,
    write_run_manifest,
)
from .requests import (
    CancelCheck,
    CollectionResult,
    CompositeRequest,
    CompositeResult,
    ProgressCallback,
    RequestError,
    _check_cancel,
    _report,
    partial_period_notes,
)


def resolve_indices(request: CompositeRequest) -> List[SpectralIndex]:
    """The registered and user-defined indices of a request (validated)."""
    chosen = [get_index(name) for name in request.indices if name not in request.custom_indices]
    chosen += [get_index(name, formula) for name, formula in request.custom_indices.items()]
    names = [name.upper() for name in request.custom_indices]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:  # one output file per index: on Windows X and x would be the same file
        raise RequestError(f"custom indices named alike but for case ({twice[0]}): give each "
                           "its own name")
    if not chosen:
        raise RequestError("choose at least one index (e.g. NDVI)")
    return listed_once(chosen)


def validate_request(request: CompositeRequest) -> Aoi:
    """Check the request before any network traffic; returns the validated AOI."""
    if request.end < request.start:
        raise RequestError(f"the period ends ({request.end}) before it starts "
                           f"({request.start}): swap the dates")
    if request.method not in METHODS:
        raise RequestError(f"composite method must be one of {METHODS}, not {request.method!r}")
    period_starts(request.start, request.end, request.period)  # validates the period name
    for label, first, last in request.windows or ():
        if last < first:
            raise RequestError(f"the {label} window ends ({last}) before it starts ({first})")
    if not request.sources:
        raise RequestError("select at least one imagery source (or give scene item URLs)")
    try:
        masks.validate_classes(request.mask_classes)
    except ValueError as error:
        raise RequestError(f"{error} (--mask)") from None
    try:
        validate_buffer(request.cloud_buffer_m)
    except ValueError as error:
        raise RequestError(str(error)) from None
    resolve_indices(request)
    unknown = sorted(set(request.colour_composites) - set(COLOUR_COMPOSITES))
    if unknown:
        raise RequestError(f"unknown colour composite(s) {unknown}; choose from "
                           f"{list(COLOUR_COMPOSITES)}")
    check_max_cloud(request.max_cloud_cover)
    if request.resolution is not None and not 0 < request.resolution < float("inf"):  # nan
        raise RequestError("resolution must be a positive number of metres")
    if request.crs:
        check_output_crs(request.crs)
    aoi = request.aoi if isinstance(request.aoi, Aoi) else load_aoi(
        request.aoi, id_field=request.id_field, ids=request.selected_ids)
    if request.crs:
        check_true_metres(request.crs, aoi.frame)
    if request.resolution is not None:
        _refuse_pixels_larger_than_every_forest(aoi, request.resolution)
    return aoi


def _refuse_pixels_larger_than_every_forest(aoi: Aoi, resolution: float) -> None:
    """A --resolution whose pixel is larger than every forest (5000 m: 2,500 ha) gave each
    forest the value of the one pixel it shares with its neighbours, or NaN, silently."""
    frame = aoi.frame
    if frame.empty:
        return
    largest_ha = float(frame.to_crs(frame.estimate_utm_crs()).area.max()) / 10_000
    pixel_ha = resolution ** 2 / 10_000
    if pixel_ha <= largest_ha:
        return
    fits = 10 ** math.floor(math.log10(math.sqrt(largest_ha * 10_000)))  # 100 m for 80 ha
    raise RequestError(
        f"a {resolution:g} m pixel covers {pixel_ha:,.4g} ha, more than the largest forest "
        f"({largest_ha:,.3g} ha): each forest would get the value of the one pixel it shares "
        f"with its neighbours, or none. Leave --resolution out for the sensors' own (10 m "
        f"Sentinel-2, 30 m Landsat) or give a pixel well inside the forests, such as "
        f"{fits:g} m")


def check_max_cloud(max_cloud_cover: Optional[float]) -> None:
    """A scene cloud limit (--max-cloud, a spec's 'max_cloud_cover') is a percentage; None
    is no limit."""
    if max_cloud_cover is not None and not 0 <= max_cloud_cover <= 100:
        raise RequestError(f"the scene cloud cover limit is a percentage from 0 to 100 "
                           f"(--max-cloud), not {max_cloud_cover:g}")


def check_output_crs(crs: str, option: str = "--crs") -> None:
    """An output CRS (``option``: --crs, a spec's 'crs') must exist and be projected, in
    metres."""
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    try:
        parsed = CRS.from_user_input(crs)
    except CRSError:
        raise RequestError(f"unknown CRS {crs!r} ({option}): give an EPSG code such as "
                           "EPSG:28356") from None
    if parsed.is_geographic:  # the resolution is in metres: 10 would be 10-degree pixels
        raise RequestError(f"{option} {crs} is geographic (degrees); the outputs need a "
                           "projected CRS in metres such as a UTM zone (EPSG:326xx / 327xx), "
                           f"or leave {option} out for the scenes' own UTM zone")
    units = {axis.unit_name for axis in parsed.axis_info[:2]
             if axis.unit_conversion_factor != 1}
    if units:  # in feet: 10 m pixels were 10 ft, a storm's 77 ha stand 830 ha
        raise RequestError(f"{option} {crs} measures in {', '.join(sorted(units))}; "
                           "--resolution and the areas (ha) are in metres: give a projected CRS "
                           "in metres such as a UTM zone (EPSG:326xx / 327xx), or leave "
                           f"{option} out for the scenes' own UTM zone")


def check_true_metres(crs: str, frame, option: str = "--crs") -> None:
    """An output CRS in metres that are not metres on the ground over the forests (Web
    Mercator: 10 "m" pixels were 6.7 m at 48° N and a monitor's hectares 2.26 times too many)
    is refused with the forests' UTM zone."""
    from ..areas.utm import true_metre_utm

    if frame.empty:
        return
    zone = true_metre_utm(frame.to_crs(crs))
    if zone is not None:
        raise RequestError(f"{option} {crs} does not measure true metres over the forests "
                           "(as Web Mercator, stretched away from the equator); --resolution "
                           "and the areas (ha) are metres on the ground: give a CRS such as "
                           f"their UTM zone EPSG:{zone}, or leave {option} out for the "
                           "scenes' own UTM zone")


def search(request: CompositeRequest, aoi: Optional[Aoi] = None) -> SearchReport:
    """Search every selected source concurrently for the request's area and period."""
    aoi = aoi or validate_request(request)
    query = SearchQuery(bbox=aoi.bbox_wgs84, start=request.start, end=request.end,
                        collections=[], max_cloud_cover=request.max_cloud_cover)
    report = search_all([(s.provider, s.collections) for s in request.sources], query=query)
    refuse_unknown_collections(report, [s.provider for s in request.sources])
    report.keep_over(aoi.frame.to_crs("EPSG:4326").geometry.union_all())
    return report


def run_composites(request: CompositeRequest, *, progress: Optional[ProgressCallback] = None,
                   cancel: Optional[CancelCheck] = None,
                   report: Optional[SearchReport] = None) -> CompositeResult:
    """Search (unless ``report`` is given), then build and write the composites.

    Outputs are written into a staging folder and moved into ``output_dir`` only when the whole
    run succeeded: a failure or cancel leaves nothing behind. Providers that fail are reported
    in ``errors`` while the others complete.
    """
    aoi = validate_request(request)
    indices = resolve_indices(request)
    _report(progress, 0.0, "searching")
    if report is None:
        report = search(request, aoi)
    _check_cancel(cancel)
    errors = dict(report.errors)
    notes = list(aoi.notes) + partial_period_notes(request)
    jobs = [(key, items) for key, items in sorted(report.items.items()) if items]
    providers = {s.provider.name: s.provider for s in request.sources}
    notes += _check_size(request, report, aoi, indices, providers)  # before any pixel is read
    output_dir, staging = _staging_for(request.output_dir)
    try:
        check_workers_can_read(output_dir, [item for _, items in jobs for item in items])
    except BaseException:
        _remove_tree(staging)
        raise
    for key, message in missing_scenes(request, report).items():
        errors.setdefault(key, message)
    from .collection import _CollectionJob  # odc-stac, dask.array: after the first event

    results: List[CollectionResult] = []
    failed = False  # a collection's scenes could not be read (not: cannot be read anonymously)
    grids: list = []  # each composited collection's grid CRS
    try:
        for n, ((provider_name, collection), items) in enumerate(jobs):
            provider = providers[provider_name]
            try:
                provider.check_readable(collection)
                job = _CollectionJob(request, provider, collection, items, aoi, indices, cancel)
                if not job.indices and not job.colours:  # (--colour radar with NDVI: radar)
                    errors[f"{provider_name} {collection}"] = "; ".join(job.skipped.values())
                    continue
                if job.skipped_scenes:
                    notes.append(f"{provider_name} {collection}: {len(job.skipped_scenes)} "
                                 "scene(s) skipped: " + "; ".join(
                                     f"{key}: {why}" for key, why in
                                     sorted(job.skipped_scenes.items())))

                def step(fraction, message, n=n):
                    _report(progress, 0.05 + 0.9 * (n + fraction) / len(jobs), message)

                results.append(job.run(staging, step))
                grids.append(job.geobox.crs)
            except (ProviderError, LoadError) as error:
                errors[f"{provider_name} {collection}"] = str(error)
                failed = failed or isinstance(error, LoadError)
        if not results:
            details = "; ".join(errors.values()) or "no scenes found"
            if failed:  # a source could not be read: a failure (exit 1), as when it could
                raise ProviderError(f"nothing to compute: {details}")  # not be searched
            raise RequestError(f"nothing to compute: {details}")
        _write_scene_table(_join(staging, "scenes.csv"), results)
        _check_cancel(cancel)
        _publish(staging, output_dir, results)
    finally:
        _remove_tree(staging)
    write_run_manifest(output_dir, composite_files(results), kind="composite")
    notes += aoi.grid_note(grids)  # polygons in degrees: the grid the run used
    made = {key for result in results for key in result.colour_paths}
    notes += [f"no {key} composites: no collection of the run has their bands ("
              + ("Sentinel-1 VV and VH" if key == "radar" else "optical") + ")"
              for key in request.colour_composites if key not in made]  # else silence
    _report(progress, 1.0, "done")
    return CompositeResult(output_dir, results, errors, notes)


def is_radar(request: CompositeRequest, provider_name: str, collection: str) -> bool:
    """Whether a source's collection is radar (Sentinel-1): its scenes have no cloud cover,
    so no cloud limit applies to them."""
    providers = {s.provider.name: s.provider for s in request.sources}
    try:
        return provider_name in providers and \
            providers[provider_name].profile(collection).sensor == "sentinel-1"
    except ProviderError:  # a collection the band table does not know: taken as optical
        return False


def no_scene_fix(request: CompositeRequest, report: SearchReport) -> str:
    """What to change when the dates, cloud limit and forests match no scene (search says it
    too); the cloud limit only when an optical collection was searched."""
    radar_only = all(is_radar(request, *key) for key in report.items)
    cloud = "" if radar_only else ", --max-cloud (a job spec's max_cloud_cover)"
    return (f"check the dates{cloud} and that the forests lie under the scenes: "
            "raster-collect search lists the scenes there are")


def missing_scenes(request: CompositeRequest, report: SearchReport) -> Dict[str, str]:
    """The message for each searched collection that found no scene, by "provider collection"
    (the cloud limit named only for optical collections)."""
    return {f"{provider_name} {collection}":
            f"{provider_name}: no {collection} scenes for this area between {request.start} "
            f"and {request.end}" + ("" if is_radar(request, provider_name, collection) else
                                    f" with at most {request.max_cloud_cover}% cloud")
            for (provider_name, collection), items in report.items.items() if not items}


def nothing_found(request: CompositeRequest, report: SearchReport,
                  fix: Optional[str] = None) -> Optional[str]:
    """The "nothing to compute" message when a search found no scene at all (each source's
    error, or the collections without scenes and ``fix``: what to change, by default
    ``no_scene_fix``), or scenes of no collection that has the bands of an asked index or
    colour composite (radar scenes for NDVI); else None."""
    if report.all_items:
        cannot = _cannot_compute(request, report)
        return None if cannot is None else \
            "nothing to compute: " + "; ".join({**cannot, **report.errors}.values())
    missing = missing_scenes(request, report)
    reasons = {**missing, **report.errors}
    return "nothing to compute: " + ("; ".join(reasons.values()) or "no scenes found") + (
        f": {fix or no_scene_fix(request, report)}" if missing or not reasons else "")


def refuse_nothing_found(request: CompositeRequest, report: SearchReport,
                         fix: Optional[str] = None) -> None:
    """No scene at all: the run's "nothing to compute", said before the output folder is
    touched (an --overwrite run dropped the manifest of the results it was to replace)."""
    from .requests import NothingToCompute

    message = nothing_found(request, report, fix)
    if message and report.errors:  # a source failed: a failure (exit 1), as search and zonal
        raise ProviderError(message)
    if message:  # the dates, the area, the cloud limit: bad input (exit 2)
        raise NothingToCompute(message)


def _cannot_compute(request: CompositeRequest, report: SearchReport
                    ) -> Optional[Dict[str, str]]:
    """Why no collection with scenes can give anything asked (by "provider collection"), or
    None when one can (or a profile cannot be read yet: the run will say)."""
    indices = resolve_indices(request)
    providers = {s.provider.name: s.provider for s in request.sources}
    reasons: Dict[str, str] = {}
    for (provider_name, collection), items in sorted(report.items.items()):
        if not items or provider_name not in providers:
            continue
        try:
            profile = providers[provider_name].profile(collection, items)
        except Exception:  # noqa: BLE001 - the run reports a collection it cannot read
            return None
        usable, skipped = indices_for(indices, profile, collection)
        if usable or colour_bands(profile, request.colour_composites):
            return None
        reasons[f"{provider_name} {collection}"] = "; ".join(skipped.values())
    return reasons or None


def check_size(request: CompositeRequest, report: SearchReport, aoi: Aoi) -> List[str]:
    """Each collection's estimated size (the run's notes); SizeError (bad input) when one is
    over the memory budget. A run into a RunFolder checks it before the folder is touched
    (``--overwrite`` drops the old manifest), as run_composites does before any pixel."""
    providers = {s.provider.name: s.provider for s in request.sources}
    return _check_size(request, report, aoi, resolve_indices(request), providers)


def _check_size(request, report, aoi, indices, providers) -> List[str]:
    from . import sizing

    return [sizing.check(size, request.memory_budget)
            for size in sizing.composite_sizes(request, report, aoi, indices, providers)]
