"""One collection's composites as one dask graph: load its scenes, mask, compute the indices,
reduce each period, write the COGs (and colour composites), renew an expired token."""

from __future__ import annotations

import errno
import functools
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

from ..compute import scheduling
from ..imagery.renderings import colour_bands
from ..outputs.files import StackWriter, write_json, zarr_stack_to_cog
from ..pixels import masks
from ..pixels.bands import scenes_with_bands
from ..pixels.cloud_buffer import describe as describe_buffer
from ..pixels.indices import indices_for, profile_for_scenes
from ..pixels.load import (
    LoadedScenes,
    LoadError,
    LoadSpec,
    aoi_mask,
    choose_grid,
    load_scenes,
    saturation_asset,
)
from ..pixels.tile_grid import scene_tiles
from ..runs.storage import is_remote as _is_remote
from ..runs.storage import join as _join
from ..runs.storage import remove_tree as _remove_tree
from ..runs.storage import store_stopped_answering
from ..sources.providers.base import ProviderError
from .periods import reduce_bands, reduce_period
from .publish import _name
from .requests import Cancelled, CollectionResult, _naive_utc, composite_windows
from .scratch_store import StoredPeriods, open_writer, store_periods
from .sizing import STORE_BAND_PIXELS

MAX_TOKEN_RENEWALS = 2


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
        # a band no scene found has is not offered when an index is computable without it
        self.profile = profile_for_scenes(
            provider.profile(collection, self.items), self.items, indices, collection,
            lambda profile: colour_bands(profile, request.colour_composites))
        self.indices, self.skipped = indices_for(indices, self.profile, collection)
        self.colours = colour_bands(self.profile, request.colour_composites)
        self.colour_paths: Dict[str, Dict[str, Union[Path, str]]] = {}
        self._writers: List[StackWriter] = []
        bands = sorted({b for index in self.indices for b in index.bands}
                       | {b for names in self.colours.values() for b in names})
        # the profile has every band any scene has: a scene lacking one the run needs is
        # skipped, with the reason (metadata "skipped_scenes", the run's notes)
        self.items, self.skipped_scenes = scenes_with_bands(self.items, self.profile, bands)
        if not self.items and (self.indices or self.colours):
            raise ProviderError(f"{provider.name} {collection}: no scene has every band the "
                                f"run needs ({next(iter(self.skipped_scenes.values()))})")
        geometry = Geometry(aoi.union(), crs=str(aoi.crs))
        self.geobox = choose_grid(self.items or sorted(items, key=lambda i: i.datetime),
                                  geometry, self.profile, crs=request.crs,
                                  resolution=request.resolution)
        self.inside = aoi_mask(self.geobox, geometry)
        self.inside_total = max(int(self.inside.sum()), 1)
        tiles = scene_tiles(self.items, [self.profile.assets[b] for b in bands], self.geobox)
        self.spec = LoadSpec(self.profile, tuple(bands), self.geobox, request.mask_classes,
                             cloud_buffer_m=request.cloud_buffer_m, tiles=tiles)

    def _graph(self, windows, staging, store: str):
        """The lazy composites of every period in one graph, written to their COGs by tasks
        (threads: straight into the COGs' scratch files; a cluster: through the Zarr scratch
        ``store``); plus the small per-scene facts the client keeps for the metadata. With
        threads, the stores (``StoredPeriods``) are returned to be computed a band of chunk
        rows at a time, before the COG tasks (``run``)."""
        request = self.request
        chunks = self.spec.spatial_chunks
        self._abort_writers()  # a retry's graph writes the same scratch files again
        inside = da.from_array(self.inside, chunks=chunks)
        # threads writing a local folder: each chunk's composites computed and written by one
        # task, straight into the COGs' scratch files (scratch_store.py); a cluster's workers
        # and object stores keep the Zarr scratch store
        direct = scheduling.active_client() is None and not _is_remote(str(staging))
        outputs: list = []  # per period: its lazy inputs (direct) or outputs; None: no scenes
        facts = []
        colour_cogs: Dict[str, Dict[str, object]] = {}
        colour_writers: List[Dict[str, StackWriter]] = []  # per period (threads)
        for (label, _, _), (items, loaded) in zip(windows, self._load_periods(windows)):
            colour_writers.append({})
            if not items:
                outputs.append(None)
                facts.append(None)
                continue
            offsets = loaded.offsets.data if loaded.offsets is not None else None
            if direct:  # the clear fractions and colour composites come from the tasks
                # writing the chunks
                outputs.append(({band: loaded.values[band].data for band in self.spec.bands},
                                loaded.clear.data))
                facts.append((loaded, None, offsets))
                for key in self.colours:
                    colour_writers[-1][key] = self._colour_writer(staging, key, label)
                continue
            for key, names in self.colours.items():  # written by a worker task each
                colour_cogs.setdefault(key, {})[label] = dask.delayed(
                    _write_colour_cog, pure=False)(
                    _blocks(reduce_bands(loaded.values, names, request.method).data),
                    **self._colour_target(staging, key, label))
            outputs.append(self._period_outputs(loaded))
            scene_clear = (loaded.clear.data & inside[np.newaxis]).sum(axis=(1, 2)) \
                / self.inside_total
            facts.append((loaded, scene_clear, offsets))
        targets = self._targets(staging, [label for label, _, _ in windows])
        if direct:
            height, width = self.geobox.shape
            writers = {}
            for name in targets:
                writers[name] = open_writer(count=len(windows), height=height, width=width,
                                            dtype="uint16" if name == "clear_count"
                                            else "float32", **targets[name])
                self._writers.append(writers[name])
            compose = functools.partial(_compose_chunk, indices=tuple(self.indices),
                                        colours=dict(self.colours), method=request.method)
            cogs, colour_cogs, stores = store_periods(outputs, writers, inside, compose,
                                                      colour_writers)
            labels = [label for label, _, _ in windows]
            colour_cogs = {key: {labels[n]: cog for n, cog in per_period.items()}
                           for key, per_period in colour_cogs.items()}
            # the clear fractions come with the stores (_store_in_bands)
            return cogs, colour_cogs, None, None, facts, stores
        cogs, clear_pixels = self._zarr_cogs(outputs, inside, targets, store)
        period_clear = [pixels / self.inside_total for pixels in clear_pixels]
        small = [(f[1], f[2]) if f is not None else None for f in facts]
        return cogs, colour_cogs, small, period_clear, facts, None

    def _period_outputs(self, loaded: LoadedScenes) -> Dict[str, da.Array]:
        """One period's lazy composites per index and its clear count."""
        composites = period_composites(loaded.values, loaded.clear, indices=self.indices,
                                       method=self.request.method)
        return {name: composite.data for name, composite in composites.items()}

    def _zarr_cogs(self, outputs, inside, targets: Dict[str, dict], store: str):
        """Each output's (period, y, x) stack stored into the Zarr scratch ``store`` by the
        workers and turned into a COG by a worker task; and per period the pixels inside the
        AOI with a clear observation."""
        height, width = self.geobox.shape
        chunk, chunks = self.spec.chunk_size, self.spec.spatial_chunks
        empty = {"clear_count": da.zeros((height, width), dtype="uint16", chunks=chunks)}
        for index in self.indices:
            empty[index.name] = da.full((height, width), np.nan, dtype="float32", chunks=chunks)
        cogs = {}
        for name in targets:
            stack = da.stack([(period or empty)[name] for period in outputs])
            stored = da.to_zarr(stack.rechunk((1, chunk, chunk)), store, component=name,
                                overwrite=True, compute=False)
            cogs[name] = dask.delayed(_cog_after_store, pure=False)(
                _blocks(stored), store=store, component=name, **targets[name])
        counts = da.stack([(period or empty)["clear_count"] for period in outputs])
        return cogs, ((counts > 0) & inside[np.newaxis]).sum(axis=(1, 2))

    def _abort_writers(self) -> None:
        """Drop the scratch files of stacks not (or not completely) turned into COGs."""
        for writer in self._writers:
            writer.abort()
        self._writers = []

    def _colour_writer(self, staging, key: str, label: str) -> StackWriter:
        """One period's colour composite COG's scratch file, written chunk by chunk."""
        from ..imagery.renderings import RENDERINGS, composite_tags

        target = self._colour_target(staging, key, label)
        names = list(RENDERINGS[key].bands)
        writer = open_writer(
            destination=target["destination"], count=len(names), height=self.geobox.shape[0],
            width=self.geobox.shape[1], dtype="float32", transform=target["transform"],
            crs=target["crs"], nodata=float("nan"), fill=float("nan"), band_descriptions=names,
            tags=composite_tags(key, names, self.profile.sensor, label, self.request.method))
        self._writers.append(writer)
        return writer

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
                    cogs, colour_cogs, small, period_clear, facts, stores = self._graph(
                        windows, staging, store)
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN pixels
                        if stores is not None:
                            paths, colour_paths, small, period_clear = self._store_in_bands(
                                stores, cogs, colour_cogs, facts, progress)
                        else:
                            paths, colour_paths, small, period_clear = scheduling.compute(
                                cogs, colour_cogs, small, period_clear, cancel=self.cancel,
                                progress=lambda f: progress(f, f"{self.collection}: "
                                                               "composites"))
                    break
                except (LoadError, scheduling.ComputeCancelled, scheduling.NoWorkers):
                    raise
                except Exception as error:  # rasterio/odc raise many types for HTTP failures
                    if store_stopped_answering(error) or _disk_full(error):  # the output,
                        raise  # not the scenes
                    if _is_token_expiry(error) and attempt < MAX_TOKEN_RENEWALS:
                        renewed = {i.id: i for i in self.provider.renew(self.items)}
                        self.items = [renewed.get(i.id, i) for i in self.items]
                        continue
                    raise LoadError(f"{self.provider.name} {self.collection}: reading scenes "
                                    f"failed ({_first_line(error)})") from error
        except scheduling.ComputeCancelled as error:
            raise Cancelled(str(error)) from None
        finally:
            self._abort_writers()
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

    def _store_in_bands(self, stores: StoredPeriods, cogs, colour_cogs, facts, progress):
        """Threads: every chunk's composites computed and written a band of chunk rows at a
        time (the memory held is the band's, not the AOI's: issue 31), then the COGs made."""
        compute = functools.partial(scheduling.compute, cancel=self.cancel)
        share = 0.9  # of the progress bar; the rest is making the COGs
        totals = stores.compute(
            compute, stores.bands(STORE_BAND_PIXELS),
            progress=lambda f: progress(share * f, f"{self.collection}: composites"))
        period_clear, small = [], []
        for total, fact in zip(totals, facts):
            if total is None:
                period_clear.append(0.0)
                small.append(None)
                continue
            period_clear.append(float(total[0]) / self.inside_total)
            offsets = fact[2]  # delayed: dask 2026.8 mixes up the results of arrays and
            # delayed getitems computed together
            small.append((total[1:] / self.inside_total,
                          None if offsets is None else dask.delayed(offsets)))
        paths, colour_paths, small = compute(
            cogs, colour_cogs, small, progress=lambda f: progress(
                share + (1 - share) * f, f"{self.collection}: writing the COGs"))
        return paths, colour_paths, small, period_clear

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
                    "units": index.units}
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
            "skipped_scenes": self.skipped_scenes,
            "outputs": {k: _name(v) for k, v in index_paths.items()} | {
                "clear_count": _name(count_path)},
            "colour_composites": {key: {label: _name(path) for label, path in paths.items()}
                                  for key, paths in self.colour_paths.items()},
        }
        metadata_path = write_json(_join(staging, f"{stem}_metadata.json"), metadata)
        return CollectionResult(self.provider.name, self.collection, self.profile.sensor, labels,
                                index_paths, count_path, metadata_path, scenes, period_clear,
                                self.skipped, colour_paths=self.colour_paths,
                                licence=metadata["licence"])


def _time_slice(loaded: LoadedScenes, steps: List[int]) -> LoadedScenes:
    """The time steps ``steps`` of lazily loaded scenes (still lazy)."""
    return LoadedScenes({band: value.isel(time=steps) for band, value in loaded.values.items()},
                        loaded.valid.isel(time=steps), loaded.clear.isel(time=steps),
                        [loaded.scene_ids[t] for t in steps],
                        [loaded.rules[t] for t in steps if t < len(loaded.rules)],
                        loaded.offsets.isel(time=steps) if loaded.offsets is not None
                        else None)


def period_composites(bands, clear, *, indices, method: str) -> dict:
    """One period's composite per index and its clear count (``xarray.DataArray``s) from its
    (time, y, x) band values (NaN where not clear) by band and its clear mask: lazy arrays
    give lazy composites (the Zarr path), arrays in memory computed ones (``_compose_chunk``),
    by the same steps."""
    composites = {}
    for index in indices:
        reduced = reduce_period(index.compute(bands), method)[0]
        if index.decibels:  # composited in linear power, reported in dB
            data = reduced.data
            reduced = reduced.copy(data=data.map_blocks(_decibels, dtype="float32")
                                   if isinstance(data, da.Array) else _decibels(data))
        composites[index.name] = reduced
    composites["clear_count"] = clear.sum("time").astype("uint16")
    return composites


def _compose_chunk(values: Dict[str, np.ndarray], clear: np.ndarray, *, indices,
                   colours: Dict[str, tuple], method: str) -> Dict[str, np.ndarray]:
    """One chunk's composites of one period from its (time, y, x) blocks (band values, NaN
    where not clear; the clear mask): ``period_composites`` on the chunk, so the values are
    those of the lazy graph bit for bit; and each colour composite, (band, y, x), as
    ``colour:KEY``."""
    import xarray as xr

    from ..imagery.renderings import composite_values

    dims = ("time", "y", "x")
    bands = {name: xr.DataArray(block, dims=dims) for name, block in values.items()}
    composites = period_composites(bands, xr.DataArray(clear, dims=dims), indices=indices,
                                   method=method)
    outputs = {name: composite.values for name, composite in composites.items()}
    for key, names in colours.items():
        outputs[f"colour:{key}"] = composite_values(
            key, reduce_bands(bands, names, method).values)[0]
    return outputs


def _decibels(values: np.ndarray) -> np.ndarray:
    """10·log10 of linear power; NaN where the power is 0 or negative (no -inf in a COG)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        decibels = 10 * np.log10(values)
    return np.where(np.isfinite(decibels), decibels, np.nan).astype("float32")


def _blocks(array: da.Array) -> list:
    """The array's chunks as nested lists of delayed blocks (``np.block`` rebuilds it).

    Handed to a delayed task instead of the array: an array argument is optimised into a
    graph of its own, so each task holding one re-read every scene (issue 31)."""
    return array.to_delayed(optimize_graph=False).tolist()


def _write_colour_cog(values, *, key: str, label: str, sensor: str, method: str,
                      destination: str, transform, crs: str) -> str:
    """One period's 3-band reflectance colour composite as a COG (a worker task; NaN where
    no clear pixel)."""
    from ..imagery.renderings import composite_tags, composite_values
    from ..outputs.files import write_cog

    data, names = composite_values(key, np.block(values))
    write_cog(destination, data, transform=transform, crs=crs, nodata=float("nan"),
              band_descriptions=names, tags=composite_tags(key, names, sensor, label, method))
    return destination


def _disk_full(error: BaseException) -> bool:
    """The output disk is full (``outputs.files`` turns GDAL's write errors into ENOSPC)."""
    return isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT)


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
