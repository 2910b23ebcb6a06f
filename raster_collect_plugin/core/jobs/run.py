"""Jobs as plain JSON: the one serialisable description of a request that every door sends.

QGIS loads its own GDAL/GEOS/PROJ; the wheels core uses (rasterio, shapely, pyogrio, pyproj)
bring newer copies that must not share a process with QGIS (symbol clashes end in corrupted
memory). So the dock and the Processing algorithms write a job spec and run it with
``python -m raster_collect_plugin job SPEC.json`` in a separate Python; the same spec runs
unchanged from the command line, a scheduler or a dask worker.

Spec keys: ``kind`` (search | composite | zonal | zonal-raster | hexagons | sample), ``aoi`` (vector
file), ``layer``, ``id_field``, ``ids``, ``sources`` (list of {kind, collections, href/url}),
``start``, ``end``, ``indices``, ``custom_indices``, ``period``, ``method``,
``max_cloud_cover``, ``mask_classes``, ``resolution``, ``crs``, ``output_dir``, ``coverage``,
``min_clear_fraction``, ``hexagon_area_m2``, ``hexagon_edge_m``, ``h3_resolution``, ``clip``,
``raster``, ``bands``, ``nodata``, ``ignore_nodata``, ``use_mask``, ``categorical``,
``table_formats`` (zonal-raster),
``output`` (hexagons: the GeoPackage; search: optional scene footprints, and a search
needs no ``output_dir``), ``item_ids`` (restrict a run to these scenes), ``small`` (sample),
``colour_composites`` (e.g. ["true-colour"]: RGB composites per period beside the indices);
kind ``sign``: ``hrefs`` and ``signing`` (signed hrefs for the scene viewer); Sentinel Hub
batch APIs (``hub_batch.py``): ``batch_output`` (s3:// folder; with kind
``sentinel-hub-statistics`` the Batch Statistical API), ``batch_features``, ``s3_region``,
``s3_send_keys``, ``poll_seconds``, and kind ``sentinel-hub-batch-processing`` with
``tiling_grid``. Kind ``monitor``:
see ``monitor.py`` (per-pixel disturbance monitoring, continued from the folder's state).
Kind ``validate``: see ``validate.py`` (a monitoring folder against reference polygons).
"""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from ..pixels import masks
from ..runs.defaults import DEFAULT_HUB_INDICES, DEFAULT_INDICES
from .spec import JobError, local_paths, validate_spec, without_nulls

JOB_KINDS = ("search", "composite", "zonal", "zonal-raster", "hexagons", "sample", "storm",
             "sentinel-hub-statistics", "sentinel-hub-batch-processing", "sign",
             "sentinel-hub-byoc",
             "monitor", "validate")


def _required(spec: Dict[str, Any], key: str) -> Any:
    if key not in spec or spec[key] in (None, ""):
        raise JobError(f"job spec needs '{key}'")
    return spec[key]


def _date(spec: Dict[str, Any], key: str) -> date:
    try:
        return date.fromisoformat(str(_required(spec, key))[:10])
    except ValueError:
        raise JobError(f"'{key}' must be a date like 2025-11-13, not {spec[key]!r}") from None


def build_sources(entries: List[Dict[str, Any]]) -> list:
    """core Source objects from their JSON description. Only the named providers' modules
    (and their packages: pystac-client, planetary-computer...) are imported."""
    from ..composites.requests import Source

    defaults = {"planetary-computer": ("sentinel-2-l2a",), "earth-search": ("sentinel-2-c1-l2a",)}
    sources = []
    for entry in entries or []:
        kind = entry.get("kind")
        collections = tuple(entry.get("collections") or ())
        name = entry.get("name")
        url = {"url": entry["url"]} if entry.get("url") else {}
        if kind == "static":
            from ..sources.providers.static_catalog import StaticCatalogProvider

            provider = StaticCatalogProvider(name or StaticCatalogProvider.default_name,
                                             _required(entry, "href"))
            collections = collections or tuple(provider.list_collections())
        elif kind == "stac":
            from ..sources.providers.stac_api import StacApiProvider

            if not collections:
                raise JobError("a custom STAC API source needs 'collections'")
            provider = StacApiProvider(name or StacApiProvider.default_name,
                                       _required(entry, "url"))
        elif kind == "maxar":
            from ..sources.providers.static_catalog import MaxarOpenDataProvider

            provider = MaxarOpenDataProvider(**({"catalog_href": entry["href"]}
                                                if entry.get("href") else {}))
            collections = collections or tuple(provider.events())
        elif kind == "planetary-computer":
            from ..sources.providers.planetary_computer import PlanetaryComputerProvider

            provider = PlanetaryComputerProvider(**url)
            collections = collections or defaults[kind]
        elif kind == "earth-search":
            from ..sources.providers.earth_search import EarthSearchProvider

            provider = EarthSearchProvider(**url)
            collections = collections or defaults[kind]
        elif kind == "copernicus":  # Catalog API: search only (items have no COG assets)
            from ..sentinel_hub.catalog_source import copernicus_source

            provider = copernicus_source(entry)
            collections = ("sentinel-2-l2a",)
        else:
            raise JobError(f"unknown source kind {kind!r}; use static, stac, maxar, "
                           "planetary-computer, earth-search or copernicus")
        _name_apart(provider, [s.provider.name for s in sources], given=name)
        sources.append(Source(provider, collections))
    return sources


def _name_apart(provider, taken: List[str], *, given: Optional[str]) -> None:
    """Sources are told apart by name (search results, output files): a second unnamed
    source of a kind is numbered as the command line's --catalog are ("Static catalog 2",
    ``numbered``); a name given twice is refused. (One source's scenes silently replaced the
    other's.)"""
    from ..sources.providers.base import numbered

    if provider.name in taken and given:
        raise JobError(f"job spec sources name {given!r} twice: give each source its own "
                       "'name'")
    provider.name = numbered(provider.name, taken)


def _search_only(spec: Dict[str, Any]) -> None:
    if spec.get("kind") != "search" and any(
            (s or {}).get("kind") == "copernicus" for s in spec.get("sources") or []):
        raise JobError("the Copernicus Data Space source finds scenes (search) but gives no "
                       "imagery to composite: use the 'sentinel-hub' command or the Sentinel "
                       "Hub statistics algorithm for statistics from the Copernicus Data Space")


def composite_request(spec: Dict[str, Any]):
    """A CompositeRequest from a spec."""
    from ..areas.aoi import load_aoi

    _search_only(spec)
    from ..composites.requests import CompositeRequest
    from ..composites.sizing import parse_size

    aoi = load_aoi(_required(spec, "aoi"), id_field=spec.get("id_field") or "forest_id",
                   layer=spec.get("layer"), ids=spec.get("ids"),
                   buffer_m=float(spec.get("buffer_m") or 0))
    return CompositeRequest(
        aoi=aoi, id_field=aoi.id_field, sources=build_sources(spec.get("sources")),
        start=_date(spec, "start"), end=_date(spec, "end"),
        output_dir=_required(spec, "output_dir"),
        indices=_indices(spec),
        custom_indices=spec.get("custom_indices") or {}, period=spec.get("period", "month"),
        method=spec.get("method", "median"), max_cloud_cover=spec.get("max_cloud_cover", 80.0),
        mask_classes=_mask_classes(spec),
        resolution=spec.get("resolution") or None, crs=spec.get("crs") or None,
        cloud_buffer_m=float(spec.get("cloud_buffer_m") or 0.0),
        memory_budget=parse_size(spec.get("memory_budget")),
        colour_composites=tuple(spec.get("colour_composites") or ()))


def _indices(spec: Dict[str, Any]) -> List[str]:
    """'indices' left out: the default ones; [] (as ``--indices ""``): none but the
    'custom_indices' (NDVI and EVI were silently added to them)."""
    indices = spec.get("indices")
    return list(DEFAULT_INDICES) if indices is None else list(indices)


def _mask_classes(spec: Dict[str, Any]) -> frozenset:
    """'mask_classes' left out: the default mask; [] (the dock's unticked boxes): none."""
    try:
        return masks.chosen_classes(spec.get("mask_classes"))
    except ValueError as error:
        raise JobError(f"job spec 'mask_classes': {error}") from None


def _restrict(report, item_ids: Optional[List[str]]):
    if item_ids is None:
        return report
    keep = set(item_ids)
    report.items = {key: [i for i in items if i.id in keep] for key, items in report.items.items()}
    return report


def run_job(spec: Dict[str, Any], *, progress: Optional[Callable[[float, str], None]] = None,
            cancel: Optional[Callable[[], bool]] = None) -> Dict[str, Any]:
    """Run a job (on the dask cluster its ``compute`` settings name); returns a
    JSON-serialisable result."""
    from ..compute.cluster import ComputeSettings, compute_client, dashboard_link
    from ..compute.gdal_env import gdal_options

    validate_spec(spec)  # before a cluster starts (a secret-looking key even when null)
    spec = local_paths(without_nulls(spec))  # null = the key's default; ~ expanded
    settings = ComputeSettings.from_dict(spec.get("compute"))
    with compute_client(settings, gdal_options=gdal_options()) as client:
        link = dashboard_link(client)
        if link and progress is not None:
            progress(0.0, f"dask dashboard: {link}")
        result = _run(spec, progress, cancel)
    if link:
        result["dashboard"] = link
    return result


def _run(spec: Dict[str, Any], progress, cancel) -> Dict[str, Any]:

    kind = validate_spec(spec)["kind"]
    if kind == "hexagons":
        return _hexagons(spec)
    if kind == "sign":  # signed hrefs for the scene viewer (imagery layers in QGIS)
        from ..sources.signing import sign_hrefs

        return sign_hrefs(spec.get("hrefs") or [], spec.get("signing"))
    if kind == "sample" and spec.get("scenario") == "disturbance":  # 3 years: monitoring
        from ..sample.choice import make_disturbance_sample

        if spec.get("small"):
            raise JobError("job spec 'small' is for the storm sample only: leave it out with "
                           "\"scenario\": \"disturbance\"")
        return make_disturbance_sample(Path(_required(spec, "output_dir")))
    if kind == "sample":
        from ..sample.catalog import make_sample
        from ..sample.scenes import small_spec

        sample = make_sample(Path(_required(spec, "output_dir")),
                             small_spec() if spec.get("small") else None)
        return {"forests": str(sample.forests_path), "catalog": str(sample.catalog_path),
                "damaged_forest_ids": sample.damaged_ids}
    if kind == "zonal-raster":
        return _zonal_raster(spec)
    if kind == "storm":
        return _storm(spec, progress, cancel)
    if kind == "monitor":  # per-pixel disturbance monitoring (core/jobs/monitor.py)
        from .monitor import check_monitor_spec, run_monitor_job

        check_monitor_spec(spec)  # before the sources are built (a catalog is read then)
        return run_monitor_job(spec, build_sources(spec.get("sources") or []), progress,
                               cancel)
    if kind == "validate":  # monitoring outputs vs reference polygons (core/jobs/validate.py)
        from .validate import run_validate_job

        return run_validate_job(spec)
    if kind == "sentinel-hub-statistics":
        return _sentinel_hub_statistics(spec, progress, cancel)
    if kind == "sentinel-hub-batch-processing":
        from .hub_batch import batch_processing_job

        return batch_processing_job(spec, progress, cancel)
    if kind == "sentinel-hub-byoc":
        from ..sentinel_hub.byoc_job import run_byoc_job

        return run_byoc_job(spec, progress, cancel)
    from ..composites.pipeline import search, validate_request
    from .protected import run_composites_protected, run_zonal_protected

    if kind == "search":  # writes no composites: 'output_dir' is not needed
        spec = dict(spec, output_dir=spec.get("output_dir") or tempfile.gettempdir())
    request = composite_request(spec)
    if kind == "search":
        aoi = validate_request(request)
        footprints = _output_geopackage(spec, "footprints") if spec.get("output") else None
        report = search(request, aoi)
        if footprints:
            _write_footprints(report, footprints)
        return {"items": report.rows(), "errors": report.errors,
                "footprints": spec.get("output"),
                "scenes": _describe_scenes(report, request.sources)}
    report = None
    if spec.get("item_ids") is not None:
        report = _restrict(search(request, validate_request(request)), spec["item_ids"])
    if kind == "composite":
        result = run_composites_protected(request, overwrite=bool(spec.get("overwrite")),
                                          progress=progress, cancel=cancel, report=report)
        return {"output_dir": str(result.output_dir), "errors": result.errors,
                "notes": result.notes, "collections": [_collection(c)
                                                       for c in result.collections]}
    from ..zonal.pipeline import ZonalRequest  # not on the composite path: geopandas & co.

    zonal = ZonalRequest(request, coverage=spec.get("coverage", "exact"),
                         min_clear_fraction=float(spec.get("min_clear_fraction", 0.5)),
                         hexagon_area_m2=spec.get("hexagon_area_m2"),
                         hexagon_edge_m=spec.get("hexagon_edge_m"),
                         h3_resolution=spec.get("h3_resolution"),
                         clip_hexagons=spec.get("clip", True),
                         table_formats=spec.get("table_formats"))
    result = run_zonal_protected(zonal, overwrite=bool(spec.get("overwrite")),
                                 progress=progress, cancel=cancel, report=report)
    return {"output_dir": str(request.output_dir), "errors": result.composites.errors,
            "notes": result.composites.notes,
            "collections": [_collection(c) for c in result.composites.collections],
            "files": {k: str(v) for k, v in result.files.items()},
            "rows": int(len(result.forest_table))}


def _collection(result) -> Dict[str, Any]:
    return {"provider": result.provider, "collection": result.collection,
            "sensor": result.sensor, "periods": result.periods,
            "indices": {k: str(v) for k, v in result.index_paths.items()},
            "clear_count": str(result.count_path), "metadata": str(result.metadata_path),
            "period_clear_fraction": result.period_clear_fraction,
            "skipped_indices": result.skipped_indices,
            "colour_composites": {k: {label: str(p) for label, p in paths.items()}
                                  for k, paths in result.colour_paths.items()}}


def _describe_scenes(report, sources) -> Dict[str, Any]:
    """Each scene's viewer description (unsigned hrefs, DN rules, renderings) by item id."""
    from ..imagery.renderings import ImageryError, describe_item
    from ..sources.providers.base import ProviderError

    providers = {s.provider.name: s.provider for s in sources}
    scenes: Dict[str, Any] = {}
    for (name, collection), items in report.items.items():
        provider = providers.get(name)
        if provider is None or not items:
            continue
        try:
            profile = provider.profile(collection, items)
        except (KeyError, ProviderError):  # bands it cannot tell: listed, not viewable
            continue
        for item in items:
            try:
                scenes[item.id] = describe_item(item.to_dict(), profile, provider=name,
                                                provider_kind=provider.kind)
            except ImageryError:
                continue
    return scenes


def _write_footprints(report, destination: Path) -> None:
    import geopandas as gpd
    from shapely.geometry import shape

    from ..outputs.files import atomic_path
    from ..outputs.tables import write_geopackage_layer
    from ..sources.search import SCENE_FIELDS

    items = {item.id: item for item in report.all_items}
    rows = report.rows()
    frame = gpd.GeoDataFrame(rows, geometry=[shape(items[r["id"]].geometry) for r in rows],
                             crs="EPSG:4326") if rows else gpd.GeoDataFrame(
        {name: [] for name in SCENE_FIELDS}, geometry=[], crs="EPSG:4326")  # same fields
    with atomic_path(destination) as temp:
        write_geopackage_layer(frame, temp, layer="footprints")


def _output_geopackage(spec: Dict[str, Any], what: str) -> Path:
    """The job's 'output' GeoPackage of ``what`` (a search's footprints, the hexagons),
    checked before the work (not when moving it into place): not a folder, not below a file,
    a .gpkg, never the polygon file ('aoi'), and not an existing file unless 'overwrite'."""
    from ..runs.storage import geopackage_output_problem

    output = Path(_required(spec, "output"))
    problem = geopackage_output_problem(output, Path(_required(spec, "aoi")), "'aoi'", what,
                                        overwrite=bool(spec.get("overwrite")))
    if problem:
        raise JobError(f"job spec 'output' {_required(spec, 'output')} {problem}")
    return output


def _hexagons(spec: Dict[str, Any]) -> Dict[str, Any]:
    from ..areas.aoi import load_aoi
    from ..areas.hexagons import h3_grid, hexagon_grid, hexagon_zones_note
    from ..outputs.files import atomic_path
    from ..outputs.tables import write_geopackage_layer

    output = _output_geopackage(spec, "hexagons")
    aoi = load_aoi(_required(spec, "aoi"), id_field=spec.get("id_field") or "forest_id",
                   layer=spec.get("layer"), ids=spec.get("ids"))
    clip = spec.get("clip", True)
    if spec.get("h3_resolution") is not None:
        grid = h3_grid(aoi.frame, resolution=int(spec["h3_resolution"]), id_field=aoi.id_field,
                       clip=clip)
    else:
        if not (spec.get("hexagon_area_m2") or spec.get("hexagon_edge_m")):
            raise JobError("give 'hexagon_area_m2', 'hexagon_edge_m' or 'h3_resolution'")
        grid = hexagon_grid(aoi.frame, id_field=aoi.id_field,
                            area_m2=spec.get("hexagon_area_m2"), edge_m=spec.get("hexagon_edge_m"),
                            clip=clip, zones=aoi.own_zones())
    with atomic_path(output) as temp:
        write_geopackage_layer(grid, temp, layer="hexagons")
    return {"output": str(output), "cells": int(len(grid)),
            "notes": aoi.notes + hexagon_zones_note(aoi, spec.get("h3_resolution"))}


def _zonal_raster(spec: Dict[str, Any]) -> Dict[str, Any]:
    from ..zonal.of_raster import RasterZonalRequest, parse_bands, run_zonal_raster

    bands = spec.get("bands")
    request = RasterZonalRequest(
        aoi=_required(spec, "aoi"), raster=_required(spec, "raster"),
        output_dir=_required(spec, "output_dir"), id_field=spec.get("id_field") or "forest_id",
        layer=spec.get("layer"), ids=spec.get("ids"), coverage=spec.get("coverage", "exact"),
        min_clear_fraction=float(spec.get("min_clear_fraction", 0.5)),
        bands=parse_bands(bands) if isinstance(bands, str) else bands,
        nodata=spec.get("nodata"), ignore_nodata=bool(spec.get("ignore_nodata", False)),
        use_mask=bool(spec.get("use_mask", True)),
        categorical=bool(spec.get("categorical", False)),
        table_formats=spec.get("table_formats"))
    return run_zonal_raster(request, overwrite=bool(spec.get("overwrite")))


def _sentinel_hub_radar(spec: Dict[str, Any]):
    from ..sentinel_hub.sentinel1 import sentinel_hub_radar

    try:
        return sentinel_hub_radar(spec.get("sentinel_hub_radar"), base_url=spec.get("base_url"),
                                  token_url=spec.get("token_url"),
                                  pu_budget=spec.get("pu_budget"),
                                  usage_ledger=spec.get("usage_ledger"))
    except (TypeError, ValueError) as error:
        raise JobError(f"'sentinel_hub_radar': {error}") from None


def _storm(spec: Dict[str, Any], progress, cancel) -> Dict[str, Any]:
    from ..storm.assessment import AFTER_DAYS, BEFORE_DAYS, DamageThresholds, StormRequest
    from .protected import run_storm_protected

    if not spec.get("sources") and (spec.get("before_items") or spec.get("after_items")):
        spec = dict(spec, sources=[])
    request = composite_request(dict(spec, start=spec.get("start") or spec["event_date"],
                                     end=spec.get("end") or spec["event_date"]))
    from ..pixels.cloud_buffer import DEFAULT_STORM_BUFFER_M

    try:
        thresholds = DamageThresholds.from_mapping(spec.get("thresholds"))
    except (TypeError, ValueError) as error:
        raise JobError(f"'thresholds': {error}") from None
    buffer_m = spec.get("cloud_buffer_m")
    storm = StormRequest(request, event_date=_date(spec, "event_date"),
                         before_days=int(spec.get("before_days", BEFORE_DAYS)),
                         after_days=int(spec.get("after_days", AFTER_DAYS)),
                         thresholds=thresholds,
                         min_clear_fraction=float(spec.get("min_clear_fraction", 0.5)),
                         hexagon_area_m2=spec.get("hexagon_area_m2"),
                         before_items=spec.get("before_items") or (),
                         after_items=spec.get("after_items") or (),
                         cloud_buffer_m=float(DEFAULT_STORM_BUFFER_M if buffer_m is None
                                              else buffer_m),
                         sentinel_hub_radar=_sentinel_hub_radar(spec))
    result = run_storm_protected(storm, overwrite=bool(spec.get("overwrite")),
                                 progress=progress, cancel=cancel)
    ranking = result.ranking.replace({float("nan"): None})
    return {"output_dir": str(request.output_dir), "errors": result.errors,
            "notes": result.notes, "files": {k: str(v) for k, v in result.files.items()},
            "change_rasters": {k: str(v) for k, v in result.change_rasters.items()},
            "ranking": ranking.to_dict(orient="records")}


def _sentinel_hub_statistics(spec: Dict[str, Any], progress, cancel) -> Dict[str, Any]:
    """Zonal statistics from the Statistical API, written like the local engine's tables.
    Credentials come from the environment (SH_CLIENT_ID / SH_CLIENT_SECRET), never the spec.
    With ``batch_output`` (an s3:// folder) the Batch Statistical API computes them."""
    if spec.get("batch_output"):
        from .hub_batch import batch_statistics_job

        return batch_statistics_job(spec, progress, cancel)
    from ..areas.aoi import load_aoi
    from ..outputs.tables import write_zone_outputs
    from ..sentinel_hub.cache import cache_folder
    from ..sentinel_hub.statistical import statistics_table

    aoi = load_aoi(_required(spec, "aoi"), id_field=spec.get("id_field") or "forest_id",
                   layer=spec.get("layer"), ids=spec.get("ids"))
    output = Path(_required(spec, "output_dir"))
    from ..sentinel_hub.job_options import budget_from_spec, settings_from_spec

    settings, budget = settings_from_spec(spec), budget_from_spec(spec)
    outcome = statistics_table(
        aoi.frame, id_field=aoi.id_field, indices=spec.get("indices") or list(DEFAULT_HUB_INDICES),
        start=_date(spec, "start"), end=_date(spec, "end"), settings=settings,
        interval=spec.get("interval", "P1M"), resolution=float(spec.get("resolution") or 10),
        max_cloud_cover=spec.get("max_cloud_cover"),
        min_clear_fraction=float(spec.get("min_clear_fraction", 0.5)),
        cache_dir=Path(spec.get("cache_dir") or cache_folder(_required(spec, "output_dir"))),
        budget=budget, progress=progress, cancel=cancel)
    output.mkdir(parents=True, exist_ok=True)
    files: Dict[str, str] = {}
    if len(outcome.table):
        files = {k: str(v) for k, v in
                 write_zone_outputs(outcome.table, aoi.frame, aoi.id_field, output).items()}
    errors = {"Copernicus Data Space": outcome.stopped} if outcome.stopped else {}
    errors.update(outcome.errors)
    return {"output_dir": str(output), "files": files, "rows": int(len(outcome.table)),
            "requests": outcome.requests, "estimated_processing_units": outcome.estimated_pu,
            "crs": f"EPSG:{outcome.crs_epsg}", "notes": outcome.notes, "errors": errors}
