"""The main job, described once: search -> load -> mask -> index -> composite -> write.

The dock's QgsTask, the Processing algorithms and the command line all build a request and call
these functions with a progress callback and a cancel check; none re-implements a step.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import tempfile
import warnings
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import dask
import geopandas as gpd
import numpy as np
import pandas as pd
import pystac
from odc.geo.geom import Geometry

from . import masks
from .aoi import Aoi, load_aoi
from .composite import (
    METHODS,
    period_bounds,
    period_label,
    period_starts,
    reduce_bands,
    reduce_period,
)
from .imagery import COLOUR_COMPOSITES, colour_bands
from .indices import SpectralIndex, get_index
from .load import LoadError, LoadSpec, aoi_mask, choose_grid, load_scenes
from .outputs import StackWriter, write_json
from .providers.base import Provider, ProviderError, SearchQuery
from .search import SearchReport, search_all

ProgressCallback = Callable[[float, str], None]
CancelCheck = Callable[[], bool]
MAX_TOKEN_RENEWALS = 2


class RequestError(ValueError):
    """The request is not usable; the message names the problem and the fix."""


class Cancelled(RuntimeError):
    """The user cancelled; nothing was written."""


@dataclass(frozen=True)
class Source:
    """A provider and the collections to use from it."""

    provider: Provider
    collections: Tuple[str, ...]


@dataclass
class CompositeRequest:
    """Everything one composite run needs. Build it with keyword arguments."""

    aoi: Union[Aoi, str, Path, gpd.GeoDataFrame]
    sources: Sequence[Source]
    start: date
    end: date
    output_dir: Union[str, Path]
    indices: Sequence[str] = ("NDVI",)
    custom_indices: Mapping[str, str] = field(default_factory=dict)  # name -> band expression
    period: str = "month"
    method: str = "median"
    max_cloud_cover: Optional[float] = 80.0
    mask_classes: frozenset = masks.DEFAULT_MASK_CLASSES
    resolution: Optional[float] = None
    crs: Optional[str] = None
    id_field: str = "forest_id"
    selected_ids: Optional[Sequence] = None
    run_name: Optional[str] = None
    # explicit (label, first day, last day) windows instead of calendar periods (before/after)
    windows: Optional[Sequence[Tuple[str, date, date]]] = None
    # colour composites per period beside the indices: "true-colour", "false-colour", "swir"
    colour_composites: Sequence[str] = ()


@dataclass
class CollectionResult:
    """The outputs of one provider's collection."""

    provider: str
    collection: str
    sensor: str
    periods: List[str]
    index_paths: Dict[str, Path]
    count_path: Path
    metadata_path: Path
    scenes: List[dict]
    period_clear_fraction: List[float]
    skipped_indices: Dict[str, str] = field(default_factory=dict)
    colour_paths: Dict[str, Dict[str, Path]] = field(default_factory=dict)  # key->period->COG


@dataclass
class CompositeResult:
    """What a run produced and what it could not do."""

    output_dir: Path
    collections: List[CollectionResult]
    errors: Dict[str, str]
    notes: List[str]


def _report(progress: Optional[ProgressCallback], fraction: float, message: str) -> None:
    if progress is not None:
        progress(max(0.0, min(1.0, fraction)), message)


def _check_cancel(cancel: Optional[CancelCheck]) -> None:
    if cancel is not None and cancel():
        raise Cancelled("cancelled by the user")


def resolve_indices(request: CompositeRequest) -> List[SpectralIndex]:
    """The registered and user-defined indices of a request (validated)."""
    chosen = [get_index(name) for name in request.indices if name not in request.custom_indices]
    chosen += [get_index(name, formula) for name, formula in request.custom_indices.items()]
    if not chosen:
        raise RequestError("choose at least one index (e.g. NDVI)")
    return chosen


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
    masks.validate_classes(request.mask_classes)
    resolve_indices(request)
    unknown = sorted(set(request.colour_composites) - set(COLOUR_COMPOSITES))
    if unknown:
        raise RequestError(f"unknown colour composite(s) {unknown}; choose from "
                           f"{list(COLOUR_COMPOSITES)}")
    if request.resolution is not None and request.resolution <= 0:
        raise RequestError("resolution must be a positive number of metres")
    if isinstance(request.aoi, Aoi):
        return request.aoi
    return load_aoi(request.aoi, id_field=request.id_field, ids=request.selected_ids)


def search(request: CompositeRequest, aoi: Optional[Aoi] = None) -> SearchReport:
    """Search every selected source concurrently for the request's area and period."""
    aoi = aoi or validate_request(request)
    query = SearchQuery(bbox=aoi.bbox_wgs84, start=request.start, end=request.end,
                        collections=[], max_cloud_cover=request.max_cloud_cover)
    return search_all([(s.provider, s.collections) for s in request.sources], query=query)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()


def _is_token_expiry(error: Exception) -> bool:
    text = str(error)
    return any(marker in text for marker in
               ("HTTP response code: 403", "403", "AuthenticationFailed", "Forbidden"))


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:300] if text else type(error).__name__


class _CollectionJob:
    """Composites of one collection, period by period."""

    def __init__(self, request, provider, collection, items, aoi, indices, cancel):
        self.request, self.provider, self.collection = request, provider, collection
        self.items = sorted(items, key=lambda i: i.datetime)
        self.aoi, self.cancel = aoi, cancel
        self.profile = provider.profile(collection, self.items[0])
        self.skipped: Dict[str, str] = {}
        self.indices = []
        for index in indices:
            missing = [b for b in index.bands if b not in self.profile.assets]
            if self.profile.sensor not in index.sensors or missing:
                reason = (f"{collection} has no {missing} band" if missing else
                          f"{index.name} is not defined for {self.profile.sensor}")
                self.skipped[index.name] = reason
            else:
                self.indices.append(index)
        geometry = Geometry(aoi.union(), crs=str(aoi.crs))
        self.geobox = choose_grid(self.items, geometry, self.profile, crs=request.crs,
                                  resolution=request.resolution)
        self.inside = aoi_mask(self.geobox, geometry)
        self.colours = colour_bands(self.profile, request.colour_composites)
        self.colour_paths: Dict[str, Dict[str, Path]] = {}
        bands = sorted({b for index in self.indices for b in index.bands}
                       | {b for names in self.colours.values() for b in names})
        self.spec = LoadSpec(self.profile, tuple(bands), self.geobox, request.mask_classes)

    def _compute_period(self, items: List[pystac.Item]):
        for attempt in range(MAX_TOKEN_RENEWALS + 1):
            try:
                loaded = load_scenes(items, self.spec)
                stacks = {i.name: i.compute(loaded.values) for i in self.indices}
                reduced = {name: reduce_period(stack, self.request.method)[0]
                           for name, stack in stacks.items()}
                count = loaded.clear.sum("time").astype("uint16")
                inside = self.inside
                scene_clear = (loaded.clear & inside).sum(("y", "x")) / max(inside.sum(), 1)
                offsets = loaded.offsets if loaded.offsets is not None else None
                colours = {key: reduce_bands(loaded.values, names, self.request.method)
                           for key, names in self.colours.items()}
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN (clouded) pixels
                    results = dask.compute(reduced, count, scene_clear, offsets, colours)
                return results, loaded
            except LoadError:
                raise
            except Exception as error:  # rasterio/odc raise many types for HTTP failures
                if _is_token_expiry(error) and attempt < MAX_TOKEN_RENEWALS:
                    renewed = {i.id: i for i in self.provider.renew(items)}
                    self.items = [renewed.get(i.id, i) for i in self.items]
                    items = [renewed[i.id] for i in items]
                    continue
                raise LoadError(f"{self.provider.name} {self.collection}: reading scenes "
                                f"failed ({_first_line(error)})") from error
        raise AssertionError("unreachable")

    def run(self, staging: Path, progress: Callable[[float, str], None]) -> CollectionResult:
        request = self.request
        windows = composite_windows(request)
        labels = [label for label, _, _ in windows]
        writers = self._writers(staging, labels)
        scenes: List[dict] = []
        period_clear: List[float] = []
        try:
            for n, (_, begin, end) in enumerate(windows):
                _check_cancel(self.cancel)
                items = [i for i in self.items if begin <= _naive_utc(i.datetime) < end]
                progress(n / len(windows), f"{self.collection} {labels[n]}: {len(items)} scenes")
                if not items:
                    period_clear.append(0.0)
                    continue
                (reduced, count, scene_clear, offsets, colours), loaded = \
                    self._compute_period(items)
                self._write_colours(staging, labels[n], colours)
                for index in self.indices:
                    values = reduced[index.name].values
                    if index.decibels:  # composited in linear power, reported in dB
                        with np.errstate(divide="ignore", invalid="ignore"):
                            values = 10 * np.log10(values)
                    writers[index.name].write(n, values)
                writers["clear_count"].write(n, count.values)
                period_clear.append(float(((count.values > 0) & self.inside).sum()
                                          / max(self.inside.sum(), 1)))
                for t, ids in enumerate(loaded.scene_ids):
                    rule = loaded.rules[t] if t < len(loaded.rules) else self.profile.rule
                    if offsets is not None:
                        applied = float(offsets.values[t])
                        rule = f"{rule}: offset {'applied' if applied else 'already removed'}"
                    scenes.append({"period": labels[n], "items": ids,
                                   "datetime": str(loaded.valid.time.values[t])[:19],
                                   "clear_fraction": round(float(scene_clear.values[t]), 4),
                                   "reflectance_rule": rule})
            paths = {name: writer.finish() for name, writer in writers.items()}
        except BaseException:
            for writer in writers.values():
                writer.abort()
            raise
        return self._write(staging, labels, paths, scenes, period_clear)

    def _write_colours(self, staging: Path, label: str, colours) -> None:
        """One 3-band reflectance COG per colour composite and period (NaN: no clear pixel)."""
        from .imagery import composite_tags, composite_values
        from .outputs import write_cog

        stem = f"{_slug(self.provider.name)}_{self.collection}"
        for key, composite in colours.items():
            values, names = composite_values(key, composite.values)
            tags = composite_tags(key, names, self.profile.sensor, label,
                                  self.request.method)
            path = write_cog(staging / f"{stem}_{key}_{label}_{self.request.method}.tif",
                             values,
                             transform=self.geobox.affine, crs=self.geobox.crs.to_wkt(),
                             nodata=float("nan"), band_descriptions=names, tags=tags)
            self.colour_paths.setdefault(key, {})[label] = path

    def _writers(self, staging: Path, labels: List[str]) -> Dict[str, StackWriter]:
        """One band-by-band COG writer per index, plus the clear-observation counts."""
        request = self.request
        stem = f"{_slug(self.provider.name)}_{self.collection}"
        height, width = self.geobox.shape
        common = dict(count=len(labels), height=height, width=width,
                      transform=self.geobox.affine, crs=self.geobox.crs.to_wkt(),
                      band_descriptions=labels)
        kind = "windows" if request.windows else f"{request.period}ly"
        writers = {}
        for index in self.indices:
            tags = {"index": index.name, "formula": index.formula, "method": request.method,
                    "units": "dB" if index.decibels else "index"}
            writers[index.name] = StackWriter(
                staging / f"{stem}_{index.name}_{kind}_{request.method}.tif", dtype="float32",
                nodata=float("nan"), fill=float("nan"), tags=tags, **common)
        writers["clear_count"] = StackWriter(
            staging / f"{stem}_clear_count.tif", dtype="uint16", nodata=None, fill=0,
            tags={"meaning": "clear observations per pixel and period"}, **common)
        return writers

    def _write(self, staging, labels, paths, scenes, period_clear):
        request = self.request
        stem = f"{_slug(self.provider.name)}_{self.collection}"
        index_paths = {index.name: paths[index.name] for index in self.indices}
        count_path = paths["clear_count"]
        metadata = {
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "provider": self.provider.name, "provider_kind": self.provider.kind,
            "collection": self.collection, "sensor": self.profile.sensor,
            "licence": (self.provider.licence or self.profile.licence
                        or _collection_licence(self.items[0])),
            "period": request.period, "method": request.method,
            "start": request.start.isoformat(), "end": request.end.isoformat(),
            "crs": self.geobox.crs.to_epsg() or self.geobox.crs.to_wkt(),
            "resolution": abs(self.geobox.resolution.x),
            "indices": [i.describe() for i in self.indices],
            "skipped_indices": self.skipped,
            "cloud_mask": masks.describe(self.profile.sensor, request.mask_classes),
            "max_scene_cloud_cover": request.max_cloud_cover,
            "reflectance_rule": self.profile.rule, "profile_notes": list(self.profile.notes),
            "periods": labels, "period_clear_fraction": period_clear,
            "scenes": scenes, "item_ids": [i.id for i in self.items],
            "outputs": {k: v.name for k, v in index_paths.items()} | {
                "clear_count": count_path.name},
            "colour_composites": {key: {label: path.name for label, path in paths.items()}
                                  for key, paths in self.colour_paths.items()},
        }
        metadata_path = write_json(staging / f"{stem}_metadata.json", metadata)
        return CollectionResult(self.provider.name, self.collection, self.profile.sensor, labels,
                                index_paths, count_path, metadata_path, scenes, period_clear,
                                self.skipped, colour_paths=self.colour_paths)


def _collection_licence(item: pystac.Item) -> Optional[str]:
    """The licence its collection declares (e.g. Sentinel-1 RTC has one of its own)."""
    try:
        collection = item.get_collection()
    except Exception:  # an unreachable collection document must not fail the run
        return None
    return collection.license if collection is not None else None


def composite_windows(request: CompositeRequest
                      ) -> List[Tuple[str, pd.Timestamp, pd.Timestamp]]:
    """(label, start, end-exclusive) of every composite: the request's explicit windows or
    its calendar periods."""
    if request.windows:
        return [(label, pd.Timestamp(first), pd.Timestamp(last) + pd.Timedelta(days=1))
                for label, first, last in request.windows]
    return [(period_label(s, request.period), *period_bounds(s, request.period))
            for s in period_starts(request.start, request.end, request.period)]


def _naive_utc(moment: datetime):
    stamp = pd.Timestamp(moment)
    return stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo else stamp


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
    notes = list(aoi.notes)
    output_dir = Path(request.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".raster-collect-partial-", dir=output_dir))
    jobs = [(key, items) for key, items in sorted(report.items.items()) if items]
    providers = {s.provider.name: s.provider for s in request.sources}
    for (provider_name, collection), items in report.items.items():
        if not items:
            errors.setdefault(f"{provider_name} {collection}",
                              f"{provider_name}: no {collection} scenes for this area between "
                              f"{request.start} and {request.end} with at most "
                              f"{request.max_cloud_cover}% cloud")
    results: List[CollectionResult] = []
    try:
        for n, ((provider_name, collection), items) in enumerate(jobs):
            provider = providers[provider_name]
            try:
                provider.check_readable(collection)
                job = _CollectionJob(request, provider, collection, items, aoi, indices, cancel)
                if not job.indices:
                    errors[f"{provider_name} {collection}"] = "; ".join(job.skipped.values())
                    continue

                def step(fraction, message, n=n):
                    _report(progress, 0.05 + 0.9 * (n + fraction) / len(jobs), message)

                results.append(job.run(staging, step))
            except (ProviderError, LoadError) as error:
                errors[f"{provider_name} {collection}"] = str(error)
        if not results:
            details = "; ".join(errors.values()) or "no scenes found"
            raise RequestError(f"nothing to compute: {details}")
        _write_scene_table(staging / "scenes.csv", results)
        _check_cancel(cancel)
        _publish(staging, output_dir, results)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    _report(progress, 1.0, "done")
    return CompositeResult(output_dir, results, errors, notes)


def _write_scene_table(path: Path, results: List[CollectionResult]) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["provider", "collection", "period", "datetime", "items",
                         "clear_fraction", "reflectance_rule"])
        for result in results:
            for scene in result.scenes:
                writer.writerow([result.provider, result.collection, scene["period"],
                                 scene["datetime"], " ".join(scene["items"]),
                                 scene["clear_fraction"], scene["reflectance_rule"]])


def _publish(staging: Path, output_dir: Path, results: List[CollectionResult]) -> None:
    """Move finished files into place (each move is atomic) and repoint the results."""
    moved = {}
    for path in sorted(staging.iterdir()):
        target = output_dir / path.name
        os.replace(path, target)
        moved[path] = target
    for result in results:
        result.index_paths = {k: moved[v] for k, v in result.index_paths.items()}
        result.colour_paths = {k: {label: moved[v] for label, v in paths.items()}
                               for k, paths in result.colour_paths.items()}
        result.count_path = moved[result.count_path]
        result.metadata_path = moved[result.metadata_path]
# ---------------------------------------------------------------------------------------------
# Zonal statistics time series


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


@dataclass
class ZonalResult:
    """Tables and layers of a zonal run."""

    composites: CompositeResult
    forest_table: pd.DataFrame
    hexagon_table: Optional[pd.DataFrame]
    files: Dict[str, Path]


def zonal_for_composites(composites: CompositeResult, zones: gpd.GeoDataFrame, *,
                         id_fields: Sequence[str], coverage: str = "exact",
                         min_clear_fraction: float = 0.5,
                         cancel: Optional[CancelCheck] = None) -> pd.DataFrame:
    """The long statistics table of every composite COG of a run over ``zones``."""
    from .cluster import current_local_client
    from .zonal import zonal_statistics_distributed, zonal_statistics_of_file

    client = current_local_client()  # reductions go to the cluster when it can read the files
    tables = []
    for collection in composites.collections:
        for index_name, path in collection.index_paths.items():
            _check_cancel(cancel)
            if client is not None:
                table = zonal_statistics_distributed(
                    client, path, zones, id_fields=id_fields, mode=coverage,
                    min_clear_fraction=min_clear_fraction)
            else:
                table = zonal_statistics_of_file(path, zones, id_fields=id_fields,
                                                 mode=coverage,
                                                 min_clear_fraction=min_clear_fraction,
                                                 cancel=cancel)
            position = len(id_fields) + 1
            table.insert(position, "provider", collection.provider)
            table.insert(position + 1, "collection", collection.collection)
            table.insert(position + 2, "index", index_name)
            tables.append(table)
    return pd.concat(tables, ignore_index=True)


def make_hexagons(aoi: Aoi, *, area_m2: Optional[float] = None,
                  edge_m: Optional[float] = None, h3_resolution: Optional[int] = None,
                  clip: bool = True) -> Optional[gpd.GeoDataFrame]:
    """The hexagon grid asked for (None when none is asked for)."""
    from .hexagons import h3_grid, hexagon_grid

    if h3_resolution is not None:
        return h3_grid(aoi.frame, resolution=h3_resolution, id_field=aoi.id_field, clip=clip)
    if area_m2 or edge_m:
        return hexagon_grid(aoi.frame, id_field=aoi.id_field, area_m2=area_m2, edge_m=edge_m,
                            clip=clip)
    return None


def run_zonal(request: ZonalRequest, *, progress: Optional[ProgressCallback] = None,
              cancel: Optional[CancelCheck] = None,
              report: Optional[SearchReport] = None) -> ZonalResult:
    """Composites, then statistics per forest and per hexagon, written as GeoPackage, CSV and
    Parquet tables plus a polygon layer with the latest usable period's values."""
    from .hexagons import HEX_ID_FIELD
    from .tables import write_zone_outputs

    if not 0 <= request.min_clear_fraction <= 1:
        raise RequestError("the minimum clear fraction must be between 0 and 1 (e.g. 0.5)")
    composite_request = request.composites
    aoi = validate_request(composite_request)
    composite_request = _with_aoi(composite_request, aoi)

    def composite_progress(fraction, message):
        _report(progress, 0.8 * fraction, message)

    composites = run_composites(composite_request, progress=composite_progress, cancel=cancel,
                                report=report)
    _report(progress, 0.8, "zonal statistics per forest")
    output_dir = Path(composite_request.output_dir)
    forest_table = zonal_for_composites(composites, aoi.frame, id_fields=[aoi.id_field],
                                        coverage=request.coverage,
                                        min_clear_fraction=request.min_clear_fraction,
                                        cancel=cancel)
    hexagons = make_hexagons(aoi, area_m2=request.hexagon_area_m2,
                             edge_m=request.hexagon_edge_m, h3_resolution=request.h3_resolution,
                             clip=request.clip_hexagons)
    hexagon_table = None
    if hexagons is not None:
        _report(progress, 0.9, f"zonal statistics per hexagon ({len(hexagons)} cells)")
        hexagon_table = zonal_for_composites(
            composites, hexagons, id_fields=[aoi.id_field, HEX_ID_FIELD],
            coverage=request.coverage, min_clear_fraction=request.min_clear_fraction,
            cancel=cancel)
    _check_cancel(cancel)
    files = write_zone_outputs(forest_table, aoi.frame, aoi.id_field, output_dir)
    if hexagons is not None:
        files.update(write_zone_outputs(hexagon_table, hexagons, HEX_ID_FIELD, output_dir,
                                        name="hexagons"))
    _report(progress, 1.0, "done")
    return ZonalResult(composites, forest_table, hexagon_table, files)


def _with_aoi(request: CompositeRequest, aoi: Aoi) -> CompositeRequest:
    from dataclasses import replace

    return replace(request, aoi=aoi)
