"""The main job, described once: search -> load -> mask -> index -> composite -> write.

The dock's QgsTask, the Processing algorithms and the command line all build a request and call
these functions with a progress callback and a cancel check; none re-implements a step.
"""

from __future__ import annotations

import csv
import os
import re
import tempfile
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import dask
import dask.array as da
import geopandas as gpd
import numpy as np
import pandas as pd
import pystac
from odc.geo.geom import Geometry

from ..areas.aoi import Aoi, load_aoi
from ..compute import scheduling
from ..imagery.renderings import COLOUR_COMPOSITES, colour_bands
from ..outputs.files import finished_file, write_json, zarr_stack_to_cog
from ..pixels import masks
from ..pixels.cloud_buffer import describe as describe_buffer
from ..pixels.cloud_buffer import validate_buffer
from ..pixels.indices import SpectralIndex, get_index
from ..pixels.load import (
    LoadedScenes,
    LoadError,
    LoadSpec,
    aoi_mask,
    choose_grid,
    load_scenes,
    saturation_asset,
)
from ..runs.storage import is_remote as _is_remote
from ..runs.storage import join as _join
from ..runs.storage import remove_tree as _remove_tree
from ..sources.providers.base import ProviderError, SearchQuery
from ..sources.search import SearchReport, search_all
from .periods import (
    METHODS,
    period_starts,
    reduce_bands,
    reduce_period,
)
from .requests import (
    CancelCheck,
    Cancelled,
    CollectionResult,
    CompositeRequest,
    CompositeResult,
    ProgressCallback,
    RequestError,
    _check_cancel,
    _naive_utc,
    _report,
    composite_windows,
)

MAX_TOKEN_RENEWALS = 2


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
    if request.resolution is not None and request.resolution <= 0:
        raise RequestError("resolution must be a positive number of metres")
    if request.crs:
        _check_crs(request.crs)
    if isinstance(request.aoi, Aoi):
        return request.aoi
    return load_aoi(request.aoi, id_field=request.id_field, ids=request.selected_ids)


def _check_crs(crs: str) -> None:
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    try:
        CRS.from_user_input(crs)
    except CRSError:
        raise RequestError(f"unknown CRS {crs!r} (--crs): give an EPSG code such as "
                           "EPSG:28356") from None


def search(request: CompositeRequest, aoi: Optional[Aoi] = None) -> SearchReport:
    """Search every selected source concurrently for the request's area and period."""
    aoi = aoi or validate_request(request)
    query = SearchQuery(bbox=aoi.bbox_wgs84, start=request.start, end=request.end,
                        collections=[], max_cloud_cover=request.max_cloud_cover)
    return search_all([(s.provider, s.collections) for s in request.sources], query=query)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()


def _is_token_expiry(error: Exception) -> bool:
    """A refused signed URL (GDAL's "HTTP response code: 403" or the service's message); not
    any "403" in the text, which a port or a file name may contain."""
    text = str(error)
    return any(marker in text for marker in
               ("HTTP response code: 403", "AuthenticationFailed", "Forbidden"))


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
        self.colour_paths: Dict[str, Dict[str, Union[Path, str]]] = {}
        bands = sorted({b for index in self.indices for b in index.bands}
                       | {b for names in self.colours.values() for b in names})
        self.spec = LoadSpec(self.profile, tuple(bands), self.geobox, request.mask_classes,
                             cloud_buffer_m=request.cloud_buffer_m)

    def _graph(self, windows, staging, store: str):
        """The lazy composites of every period in one graph: per index a (period, y, x) stack
        stored into the Zarr scratch ``store`` by the workers and turned into a COG by a worker
        task; plus the small per-scene facts the client keeps for the metadata."""
        request = self.request
        height, width = self.geobox.shape
        chunk = self.spec.chunk_size
        inside = da.from_array(self.inside, chunks=chunk)
        inside_total = max(int(self.inside.sum()), 1)
        bands: Dict[str, list] = {index.name: [] for index in self.indices}
        counts, facts = [], []
        colour_cogs: Dict[str, Dict[str, object]] = {}
        for (label, _, _), (items, loaded) in zip(windows, self._load_periods(windows)):
            if items:
                for key, names in self.colours.items():  # written by a worker task each
                    colour_cogs.setdefault(key, {})[label] = dask.delayed(
                        _write_colour_cog, pure=False)(
                        reduce_bands(loaded.values, names, request.method).data,
                        **self._colour_target(staging, key, label))
            if not items:
                for index in self.indices:
                    bands[index.name].append(da.full((height, width), np.nan, dtype="float32",
                                                     chunks=chunk))
                counts.append(da.zeros((height, width), dtype="uint16", chunks=chunk))
                facts.append(None)
                continue
            for index in self.indices:
                reduced = reduce_period(index.compute(loaded.values), request.method)[0].data
                if index.decibels:  # composited in linear power, reported in dB
                    reduced = reduced.map_blocks(_decibels, dtype="float32")
                bands[index.name].append(reduced)
            counts.append(loaded.clear.sum("time").astype("uint16").data)
            scene_clear = (loaded.clear.data & inside[np.newaxis]).sum(axis=(1, 2)) / inside_total
            offsets = loaded.offsets.data if loaded.offsets is not None else None
            facts.append((loaded, scene_clear, offsets))
        count_stack = da.stack(counts)
        period_clear = ((count_stack > 0) & inside[np.newaxis]).sum(axis=(1, 2)) / inside_total
        stacks = {index.name: da.stack(bands[index.name]) for index in self.indices}
        stacks["clear_count"] = count_stack
        targets = self._targets(staging, [label for label, _, _ in windows])
        cogs = {}
        for name, stack in stacks.items():
            stored = da.to_zarr(stack.rechunk((1, chunk, chunk)), store, component=name,
                                overwrite=True, compute=False)
            cogs[name] = dask.delayed(_cog_after_store, pure=False)(
                stored, store=store, component=name, **targets[name])
        small = [(f[1], f[2]) if f is not None else None for f in facts]
        return cogs, colour_cogs, small, period_clear, facts

    def _colour_target(self, staging, key: str, label: str) -> dict:
        """Destination and description of one period's colour composite COG."""
        stem = f"{_slug(self.provider.name)}_{self.collection}"
        method = self.request.method
        return dict(key=key, label=label, sensor=self.profile.sensor, method=method,
                    destination=str(_join(staging, f"{stem}_{key}_{label}_{method}.tif")),
                    transform=self.geobox.affine, crs=self.geobox.crs.to_wkt())

    def _load_periods(self, windows):
        """(items, lazily loaded scenes) per window. One load for all periods (one odc-stac
        graph for the year, sliced by time) unless a fused solar day or overlapping windows
        put a time step in two periods; then one load per period."""
        per_window = [[i for i in self.items if begin <= _naive_utc(i.datetime) < end]
                      for _, begin, end in windows]
        owner: Dict[str, int] = {}
        for n, items in enumerate(per_window):
            for item in items:
                if owner.setdefault(item.id, n) != n:
                    return [(items, load_scenes(items, self.spec) if items else None)
                            for items in per_window]
        used = [i for i in self.items if i.id in owner]
        if not used:
            return [(items, None) for items in per_window]
        loaded = load_scenes(used, self.spec)
        steps = [{owner[i] for i in ids} for ids in loaded.scene_ids]
        if any(len(periods) != 1 for periods in steps):
            return [(items, load_scenes(items, self.spec) if items else None)
                    for items in per_window]
        step_period = [periods.pop() for periods in steps]
        periods = []
        for n, items in enumerate(per_window):
            chosen = [t for t, p in enumerate(step_period) if p == n]
            periods.append((items, _time_slice(loaded, chosen) if items else None))
        return periods

    def run(self, staging, progress: Callable[[float, str], None]) -> CollectionResult:
        """Compute and write every period's composites in one dask graph (the workers store
        and convert; the client gets back only file names and per-scene fractions)."""
        request = self.request
        windows = composite_windows(request)
        labels = [label for label, _, _ in windows]
        store = str(_join(staging, f".{_slug(self.provider.name)}_{self.collection}.zarr"))
        progress(0.0, f"{self.collection}: {len(self.items)} scenes, {len(labels)} periods")
        try:
            for attempt in range(MAX_TOKEN_RENEWALS + 1):
                try:
                    cogs, colour_cogs, small, period_clear, facts = self._graph(
                        windows, staging, store)
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN pixels
                        paths, colour_paths, small, period_clear = scheduling.compute(
                            cogs, colour_cogs, small, period_clear, cancel=self.cancel,
                            progress=lambda f: progress(f, f"{self.collection}: composites"))
                    break
                except (LoadError, scheduling.ComputeCancelled):
                    raise
                except Exception as error:  # rasterio/odc raise many types for HTTP failures
                    if _is_token_expiry(error) and attempt < MAX_TOKEN_RENEWALS:
                        renewed = {i.id: i for i in self.provider.renew(self.items)}
                        self.items = [renewed.get(i.id, i) for i in self.items]
                        continue
                    raise LoadError(f"{self.provider.name} {self.collection}: reading scenes "
                                    f"failed ({_first_line(error)})") from error
        except scheduling.ComputeCancelled as error:
            raise Cancelled(str(error)) from None
        finally:
            _remove_tree(store)
        scenes: List[dict] = []
        for n, fact in enumerate(facts):
            if fact is None:
                continue
            loaded, (scene_clear, offsets) = fact[0], small[n]
            for t, ids in enumerate(loaded.scene_ids):
                rule = loaded.rules[t] if t < len(loaded.rules) else self.profile.rule
                if offsets is not None:
                    applied = float(offsets[t])
                    rule = f"{rule}: offset {'applied' if applied else 'already removed'}"
                scenes.append({"period": labels[n], "items": ids,
                               "datetime": str(loaded.valid.time.values[t])[:19],
                               "clear_fraction": round(float(scene_clear[t]), 4),
                               "reflectance_rule": rule})
        paths = {name: Path(path) if not _is_remote(path) else path
                 for name, path in paths.items()}
        self.colour_paths = {key: {label: Path(path) if not _is_remote(path) else path
                                   for label, path in periods.items()}
                             for key, periods in colour_paths.items()}
        return self._write(staging, labels, paths, scenes, [float(v) for v in period_clear])

    def _targets(self, staging, labels: List[str]) -> Dict[str, dict]:
        """Destination and COG description of each index stack and the clear counts."""
        request = self.request
        stem = f"{_slug(self.provider.name)}_{self.collection}"
        common = dict(transform=self.geobox.affine, crs=self.geobox.crs.to_wkt(),
                      band_descriptions=labels)
        kind = "windows" if request.windows else f"{request.period}ly"
        targets = {}
        for index in self.indices:
            tags = {"index": index.name, "formula": index.formula, "method": request.method,
                    "units": "dB" if index.decibels else "index"}
            targets[index.name] = dict(
                destination=str(_join(staging, f"{stem}_{index.name}_{kind}_{request.method}.tif")),
                nodata=float("nan"), fill=float("nan"), tags=tags, **common)
        targets["clear_count"] = dict(
            destination=str(_join(staging, f"{stem}_clear_count.tif")), nodata=None, fill=0,
            tags={"meaning": "clear observations per pixel and period"}, **common)
        return targets

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
            "cloud_mask": masks.describe(self.profile.sensor, request.mask_classes, radsat=bool(
                saturation_asset(self.items, self.profile, request.mask_classes)))
            | describe_buffer(request.cloud_buffer_m if self.profile.mask_band else 0.0),
            "max_scene_cloud_cover": request.max_cloud_cover,
            "reflectance_rule": self.profile.rule, "profile_notes": list(self.profile.notes),
            "periods": labels, "period_clear_fraction": period_clear,
            "scenes": scenes, "item_ids": [i.id for i in self.items],
            "outputs": {k: _name(v) for k, v in index_paths.items()} | {
                "clear_count": _name(count_path)},
            "colour_composites": {key: {label: _name(path) for label, path in paths.items()}
                                  for key, paths in self.colour_paths.items()},
        }
        metadata_path = write_json(_join(staging, f"{stem}_metadata.json"), metadata)
        return CollectionResult(self.provider.name, self.collection, self.profile.sensor, labels,
                                index_paths, count_path, metadata_path, scenes, period_clear,
                                self.skipped, colour_paths=self.colour_paths)


def _time_slice(loaded: LoadedScenes, steps: List[int]) -> LoadedScenes:
    """The time steps ``steps`` of lazily loaded scenes (still lazy)."""
    return LoadedScenes({band: value.isel(time=steps) for band, value in loaded.values.items()},
                        loaded.valid.isel(time=steps), loaded.clear.isel(time=steps),
                        [loaded.scene_ids[t] for t in steps],
                        [loaded.rules[t] for t in steps if t < len(loaded.rules)],
                        loaded.offsets.isel(time=steps) if loaded.offsets is not None
                        else None)


def _decibels(values: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return 10 * np.log10(values)


def _write_colour_cog(values: np.ndarray, *, key: str, label: str, sensor: str, method: str,
                      destination: str, transform, crs: str) -> str:
    """One period's 3-band reflectance colour composite as a COG (a worker task; NaN where
    no clear pixel)."""
    from ..imagery.renderings import composite_tags, composite_values
    from ..outputs.files import write_cog

    data, names = composite_values(key, np.asarray(values))
    write_cog(destination, data, transform=transform, crs=crs, nodata=float("nan"),
              band_descriptions=names, tags=composite_tags(key, names, sensor, label, method))
    return destination


def _cog_after_store(_stored, **kwargs) -> str:
    """Convert a stored Zarr stack to its COG (runs on a worker, after the store tasks)."""
    return zarr_stack_to_cog(**kwargs)


def _name(location) -> str:
    return str(location).rstrip("/").rsplit("/", 1)[-1]


def _collection_licence(item: pystac.Item) -> Optional[str]:
    """The licence its collection declares (e.g. Sentinel-1 RTC has one of its own)."""
    try:
        collection = item.get_collection()
    except Exception:  # an unreachable collection document must not fail the run
        return None
    return collection.license if collection is not None else None


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
    jobs = [(key, items) for key, items in sorted(report.items.items()) if items]
    providers = {s.provider.name: s.provider for s in request.sources}
    notes += _check_size(request, report, aoi, indices, providers)  # before any pixel is read
    output_dir, staging = _staging_for(request.output_dir)
    try:
        check_workers_can_read(output_dir, [item for _, items in jobs for item in items])
    except BaseException:
        _remove_tree(staging)
        raise
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
        _write_scene_table(_join(staging, "scenes.csv"), results)
        _check_cancel(cancel)
        _publish(staging, output_dir, results)
    finally:
        _remove_tree(staging)
    write_run_manifest(output_dir, composite_files(results), kind="composite")
    _report(progress, 1.0, "done")
    return CompositeResult(output_dir, results, errors, notes)


def _check_size(request, report, aoi, indices, providers) -> List[str]:
    from . import sizing

    return [sizing.check(size, request.memory_budget)
            for size in sizing.composite_sizes(request, report, aoi, indices, providers)]


def _staging_for(output: Union[str, Path]):
    """(output folder or URL, staging folder or prefix inside it)."""
    if _is_remote(output):
        import uuid

        output = str(output).rstrip("/")
        return output, f"{output}/.raster-collect-partial-{uuid.uuid4().hex[:12]}"
    output_dir = Path(output)
    output_dir.mkdir(parents=True, exist_ok=True)
    return output_dir, Path(tempfile.mkdtemp(prefix=".raster-collect-partial-", dir=output_dir))


def _local_hrefs(items: Sequence[pystac.Item]) -> List[str]:
    """The local file paths among the items' asset hrefs (one per item is enough)."""
    from urllib.parse import urlsplit

    paths = []
    for item in items:
        for asset in item.assets.values():
            href = asset.get_absolute_href() or asset.href
            parts = urlsplit(href)
            if parts.scheme in ("", "file"):
                paths.append(parts.path if parts.scheme else href)
                break
    return paths


def check_workers_can_read(output_dir, items: Sequence[pystac.Item]) -> None:
    """On a dask cluster, fail before any work when the workers cannot read the scenes
    (a static catalog of local files) or write the output folder; with the fix."""
    from ..compute.cluster import files_workers_cannot_read, workers_share_storage

    client = scheduling.active_client()
    if client is None:
        return
    local = _local_hrefs(items)
    unreadable = files_workers_cannot_read(client, local[:50]) if local else []
    if unreadable:
        raise RequestError(
            f"the catalog's scenes are local files the dask workers cannot read (e.g. "
            f"{unreadable[0]}): serve the catalog folder over HTTP (a web server "
            f"that honours Range requests, e.g. nginx) or put it on storage every worker mounts at "
            f"the same path, or compute with threads")
    if not _is_remote(output_dir) and not workers_share_storage(client, output_dir):
        raise RequestError(
            f"the dask workers cannot write the output folder {output_dir} (it is not on "
            f"storage they share): give an object-store output such as s3://bucket/prefix, "
            f"a folder every worker mounts at the same path, or compute with threads")


def composite_files(results: List[CollectionResult]) -> List[str]:
    """Names (relative to the output folder) of everything a composite run published."""
    names = ["scenes.csv"]
    for result in results:
        names += [_name(p) for p in result.index_paths.values()]
        names += [_name(result.count_path), _name(result.metadata_path)]
    return names


def write_run_manifest(output_dir, names: Sequence[str], *, kind: str) -> None:
    """The publish manifest of an object-store output, written last. A local folder is
    published by its ``runs.RunFolder`` (lock, fingerprint, manifest) instead, so one writer
    owns each manifest."""
    from ..runs.manifest import write_manifest

    if not _is_remote(output_dir):
        return
    write_manifest(str(output_dir), names, run={"kind": kind}, checksums=False)


def _write_scene_table(path, results: List[CollectionResult]) -> None:
    with finished_file(path) as temp, open(temp, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["provider", "collection", "period", "datetime", "items",
                         "clear_fraction", "reflectance_rule"])
        for result in results:
            for scene in result.scenes:
                writer.writerow([result.provider, result.collection, scene["period"],
                                 scene["datetime"], " ".join(scene["items"]),
                                 scene["clear_fraction"], scene["reflectance_rule"]])


def _publish(staging, output_dir, results: List[CollectionResult]) -> None:
    """Move finished files into place (each move is atomic; server-side copies on an object
    store) and repoint the results."""
    moved = {}
    if _is_remote(staging):
        from ..runs.storage import filesystem

        fs, root = filesystem(staging)
        for path in sorted(fs.ls(root, detail=False)):
            name = path.rstrip("/").rsplit("/", 1)[-1]
            fs.copy(path, filesystem(_join(output_dir, name))[1])
            moved[str(_join(staging, name))] = str(_join(output_dir, name))
    else:
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
    # None: every format for ordinary tables, Parquet only for large ones (tables.py)
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
    from ..zonal.tasks import zonal_tables

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
                            clip=clip)
    return None


def run_zonal(request: ZonalRequest, *, progress: Optional[ProgressCallback] = None,
              cancel: Optional[CancelCheck] = None,
              report: Optional[SearchReport] = None) -> ZonalResult:
    """Composites, then statistics per forest and per hexagon, written as GeoPackage, CSV and
    Parquet tables plus a polygon layer with the latest usable period's values."""
    from ..areas.hexagons import HEX_ID_FIELD

    if not 0 <= request.min_clear_fraction <= 1:
        raise RequestError("the minimum clear fraction must be between 0 and 1 (e.g. 0.5)")
    composite_request = request.composites
    aoi = validate_request(composite_request)
    composite_request = _with_aoi(composite_request, aoi)
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


def _check_zonal_size(request: ZonalRequest, aoi: Aoi) -> str:
    from . import sizing

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
    from ..zonal.worker_tables import tables_on_workers, write_tables_on_workers

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
    from ..zonal.worker_tables import publish

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
