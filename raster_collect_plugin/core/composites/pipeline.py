"""The main job, described once: search -> load -> mask -> index -> composite -> write.

The dock's QgsTask, the Processing algorithms and the command line all build a request and call
these functions with a progress callback and a cancel check; none re-implements a step.
"""

from __future__ import annotations

import re
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Dict, List, Optional, Union

import dask
import dask.array as da
import numpy as np
import pystac
from odc.geo.geom import Geometry

from ..areas.aoi import Aoi, load_aoi
from ..compute import scheduling
from ..imagery.renderings import COLOUR_COMPOSITES, colour_bands
from ..outputs.files import write_json, zarr_stack_to_cog
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
from .publish import (
    _name,
    _publish,
    _staging_for,
    _write_scene_table,
    check_workers_can_read,
    composite_files,
    write_run_manifest,
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
