"""Zonal statistics scheduled as dask tasks: every composite file x every block of zones.

The reduction itself is ``statistics.zonal_statistics_of_file``; this module only decides where it
runs. Zones are cut into north-to-south blocks (each block reads a disjoint strip of rows), one
task per (file, block), all in one graph: threads in this process, or the workers of a
``dask.distributed`` cluster when they can read the files where they are (a shared folder,
proven by a probe, or an object store / HTTP URL). The tables come back to the caller;
``zonal.worker_tables`` keeps large ones on the workers, which write them.
"""

from __future__ import annotations

import os
from typing import Callable, Iterable, List, Optional, Sequence, Tuple

import dask
import geopandas as gpd
import numpy as np
import pandas as pd

from ..compute import scheduling
from ..runs.storage import gdal_path, gdal_s3_options, is_remote

ZONES_PER_BLOCK = 2_000
# cells of coverage per block of zones in this process (coverage takes ~24 bytes a cell)
CELLS_PER_LOCAL_BLOCK = 8_000_000


class _StackedFiles:
    """Several rasters on one grid (one collection's index composites) seen as one stack whose
    bands are the files' bands one after the other: coverage is computed and each row read
    once for all of them, not once per file."""

    def __init__(self, stacks):
        first = stacks[0]
        self.stacks, self.transform, self.crs = stacks, first.transform, first.crs
        self.shape = (sum(s.shape[0] for s in stacks), first.height, first.width)
        self.labels = [label for s in stacks for label in s.labels]
        self.decibels = [d for s in stacks for d in s.decibels]
        self.tags = first.tags
        self.dtype = np.result_type(*(s.dtype for s in stacks))
        edges = np.cumsum([0] + [s.shape[0] for s in stacks])
        self.band_ranges = list(zip(edges[:-1], edges[1:]))  # each file's bands in the stack

    @property
    def height(self) -> int:
        return self.shape[1]

    @property
    def width(self) -> int:
        return self.shape[2]

    @property
    def pixel_area(self) -> float:
        return self.stacks[0].pixel_area

    @property
    def block_rows(self) -> int:
        return max(stack.block_rows for stack in self.stacks)

    @property
    def block_cols(self) -> int:
        return max(stack.block_cols for stack in self.stacks)

    @property
    def has_mask_band(self) -> bool:
        """Whether a file's mask band is read (its masks then come with the values)."""
        return any(stack.has_mask_band and stack.use_mask for stack in self.stacks)

    use_mask = True  # each file's own use_mask applies

    @property
    def decode_threads(self) -> int:
        """The threads each file's tiles are decoded in."""
        return min(stack.decode_threads for stack in self.stacks)

    def zstd_tiles(self):
        """Every file's tiles for libzstd to decompress into a strip reader's rings, when each
        file's can be and they share a tile size (``RasterStack.zstd_tiles``); else None."""
        tiles = [stack.zstd_tiles() for stack in self.stacks]
        if any(t is None for t in tiles):
            return None
        tiles = [t for each in tiles for t in each]
        return tiles if len({(t.tile_height, t.tile_width) for t in tiles}) == 1 else None

    def clone(self) -> _StackedFiles:
        """The same files, with file handles of their own (for another reading thread)."""
        return _StackedFiles([stack.clone() for stack in self.stacks])

    def read_values(self, row0: int, col0: int, height: int, width: int, *,
                    out: Optional[np.ndarray] = None
                    ) -> Tuple[np.ndarray, Optional[np.ndarray]]:
        """(values, the mask bands or None) of every file's bands, one after the other, read
        into one array, ``out`` when given (no concatenation: each file fills its own
        bands)."""
        values = out if out is not None else np.empty((self.shape[0], height, width),
                                                      self.dtype)
        has_mask = self.has_mask_band
        masks = []
        for stack, (first, end) in zip(self.stacks, self.band_ranges):
            same_type = stack.dtype == self.dtype
            data, mask = stack.read_values(row0, col0, height, width,
                                           out=values[first:end] if same_type else None)
            if not same_type:
                values[first:end] = data
            if has_mask:
                masks.append(mask if mask is not None else np.ones(data.shape, bool))
        return values, (np.concatenate(masks) if has_mask else None)

    def validity(self, values: np.ndarray, mask: Optional[np.ndarray] = None) -> np.ndarray:
        """Each file's own validity rules (nodata, NaN, mask band) on its bands."""
        return np.concatenate([
            stack.validity(values[a:b].astype(stack.dtype, copy=False),
                           None if mask is None else mask[a:b])
            for stack, (a, b) in zip(self.stacks, self.band_ranges)])

    def close(self) -> None:
        for stack in self.stacks:
            stack.close()


def _block_tables(locations: Sequence[str], zones: gpd.GeoDataFrame, id_fields: Sequence[str],
                  mode: str, min_clear_fraction: float, *, workers: int = 1,
                  cancel: Optional[Callable[[], bool]] = None) -> List[pd.DataFrame]:
    """One block of zones over files on one grid (a task; runs wherever the scheduler puts
    it): one table per file, as ``zonal_statistics_of_file`` gives it. ``workers`` threads
    decode the files' tiles and reduce zones while the files are read."""
    import rasterio

    from ..compute.gdal_env import gdal_options
    from .reader import RasterStack
    from .statistics import zonal_statistics

    remote = any(is_remote(location) for location in locations)
    with rasterio.Env(**(gdal_options() | gdal_s3_options() if remote else {})):
        stacks = []
        try:
            for location in locations:
                stacks.append(RasterStack(gdal_path(location), decode_threads=workers))
            stacked = _StackedFiles(stacks)
            table = zonal_statistics(stacked, zones, id_fields=list(id_fields), mode=mode,
                                     min_clear_fraction=min_clear_fraction, cancel=cancel,
                                     workers=workers)
        finally:
            for stack in stacks:
                stack.close()
    owner = np.concatenate([np.full(s.shape[0], n) for n, s in enumerate(stacks)])
    rows = np.tile(owner, len(zones))
    return [table[rows == n].reset_index(drop=True) for n in range(len(stacks))]


def zone_blocks(zones: gpd.GeoDataFrame, parts: int) -> List[np.ndarray]:
    """Positions of the zones in ``parts`` north-to-south blocks (each in the zones' order)."""
    north = zones.geometry.bounds["maxy"].to_numpy()
    order = np.argsort(-north, kind="stable")
    return [np.sort(part) for part in np.array_split(order, parts) if len(part)]


def _threads(client) -> int:
    if client is None:
        return os.cpu_count() or 1
    workers = client.scheduler_info().get("workers", {})
    return max(1, sum(int(w.get("nthreads", 1)) for w in workers.values()))


def workers_can_read(client, locations: Sequence) -> bool:
    """Whether the cluster's workers can open ``locations`` where they are."""
    from ..compute.cluster import workers_share_storage

    local = {os.path.dirname(os.path.abspath(str(p))) for p in locations if not is_remote(p)}
    return all(workers_share_storage(client, folder) for folder in local)


def file_groups(files: Sequence[Tuple[str, str, str, object]]) -> List[List[int]]:
    """Positions of ``files`` grouped by (provider, collection): one collection's composites
    share a grid and are read together."""
    grids: dict = {}
    for n, (provider, collection, _, _) in enumerate(files):
        grids.setdefault((provider, collection), []).append(n)
    return list(grids.values())


def split_zones(zones: gpd.GeoDataFrame, client) -> List[np.ndarray]:
    """The blocks of zones for the threads of ``client`` (a cluster's workers)."""
    parts = max(2 * _threads(client), -(-len(zones) // ZONES_PER_BLOCK))
    return zone_blocks(zones, min(parts, max(len(zones), 1)))


def local_blocks(geometry: gpd.GeoSeries, pixel_area: float) -> List[np.ndarray]:
    """The blocks of zones (``geometry``, in the raster's CRS) for this process: as few as
    memory allows, since each block reads the rows it spans and two blocks decode the file
    blocks on their seam twice; one per ``CELLS_PER_LOCAL_BLOCK`` cells of coverage. The
    threads share each block's reduction instead."""
    cells = float(geometry.area.sum()) / max(pixel_area, 1e-12) if len(geometry) else 0.0
    parts = max(1, min(len(geometry), int(cells // CELLS_PER_LOCAL_BLOCK) + 1))
    return zone_blocks(gpd.GeoDataFrame(geometry=geometry), parts)


def zonal_tables(files: Sequence[Tuple[str, str, str, object]], zones: gpd.GeoDataFrame, *,
                 id_fields: Sequence[str], coverage: str = "exact",
                 min_clear_fraction: float = 0.5, cancel: Optional[Callable[[], bool]] = None,
                 progress: Optional[Callable[[float], None]] = None) -> pd.DataFrame:
    """The long statistics table of every ``(provider, collection, index, location)`` file over
    ``zones``, computed as one dask graph of (file, zone block) tasks. Rows come back in the
    zones' order, periods in band order, exactly as the single-process engine gives them."""
    client = scheduling.active_client()
    if client is not None and not workers_can_read(client, [f[3] for f in files]):
        client = None  # the files are only here: reduce in this process's threads
    groups = file_groups(files)
    if client is None:  # one reader per block, its zones reduced by every thread
        blocks = max((_local_blocks_on_grid(files[members[0]][3], zones)
                      for members in groups), key=len)  # the finest grid decides
        options = {"workers": os.cpu_count() or 1, "cancel": cancel}
    else:
        blocks, options = split_zones(zones, client), {}
    zone_frames = [zones.iloc[block] for block in blocks]
    if client is not None:  # ship each block of zones to the cluster once, not once per file
        zone_frames = client.scatter(zone_frames)
    tasks = [[dask.delayed(_block_tables, pure=False)([str(files[n][3]) for n in members],
                                                      frame, list(id_fields), coverage,
                                                      min_clear_fraction, **options)
              for frame in zone_frames] for members in groups]
    try:
        computed = scheduling.compute(tasks, cancel=cancel, progress=progress,
                                      local=client is None)[0]
    except InterruptedError as error:  # the cancel check inside a local task
        raise scheduling.ComputeCancelled("cancelled by the user") from error
    per_file = {}
    for members, per_block in zip(groups, computed):
        for k, n in enumerate(members):
            per_file[n] = [tables_of_block[k] for tables_of_block in per_block]
    return assemble([f[:3] for f in files], [per_file[n] for n in range(len(files))], blocks,
                    id_fields)


def _local_blocks_on_grid(location, zones: gpd.GeoDataFrame) -> List[np.ndarray]:
    """``local_blocks`` of ``zones`` on the grid of the raster at ``location``."""
    import rasterio

    from ..areas.zones import same_crs
    from ..compute.gdal_env import gdal_options

    remote = is_remote(location)
    with rasterio.Env(**(gdal_options() | gdal_s3_options() if remote else {})), \
            rasterio.open(gdal_path(str(location))) as dataset:
        transform, crs = dataset.transform, dataset.crs
    geometry = zones.geometry
    if crs is not None and geometry.crs is not None and not same_crs(geometry.crs, crs):
        geometry = geometry.to_crs(crs)
    pixel_area = abs(transform.a * transform.e - transform.b * transform.d)
    return local_blocks(geometry, pixel_area)


def assemble(labels: Sequence[Tuple[str, str, str]], per_file: Iterable[Sequence[pd.DataFrame]],
             blocks: Sequence[np.ndarray], id_fields: Sequence[str]) -> pd.DataFrame:
    """One long table from each file's per-block tables (``per_file`` may be a generator, so
    only one file's parts are held at a time): zones' order, periods in band order,
    ``provider``, ``collection`` and ``index`` after the id fields and ``period``."""
    tables = []
    for (provider, collection, index), parts in zip(labels, per_file):
        table = _in_zone_order(parts, blocks)
        position = len(id_fields) + 1
        table.insert(position, "provider", provider)
        table.insert(position + 1, "collection", collection)
        table.insert(position + 2, "index", index)
        tables.append(table)
    return pd.concat(tables, ignore_index=True)


def _in_zone_order(parts: Sequence[pd.DataFrame], blocks: Sequence[np.ndarray]) -> pd.DataFrame:
    table = pd.concat(parts, ignore_index=True)
    bands = len(parts[0]) // max(len(blocks[0]), 1) if parts else 0
    zone_position = np.concatenate([np.repeat(block, bands) for block in blocks])
    band_position = np.concatenate([np.tile(np.arange(bands), len(block)) for block in blocks])
    order = np.argsort(zone_position * bands + band_position, kind="stable")
    return table.iloc[order].reset_index(drop=True)
