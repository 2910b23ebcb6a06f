"""Zone tables written by the dask workers, not sent back to the client.

On a cluster whose workers can write the run's output location (an object store, or a folder
the shared-storage probe proves they share), each (collection, zone block) task writes its
tables as Parquet parts into the run's staging area and returns row counts; then one worker
task assembles the parts into the same ``zonal_<name>.*`` files a threads run writes (same
rows, order, columns and dtypes: ``zonal.tasks.assemble``) and the ``<name>_latest.gpkg``
layer, removes the parts and returns only the row count, the staged files' names and the
statistics' definitions. The client writes the metadata, moves the staged files into place and
writes the manifest last.
"""

from __future__ import annotations

import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import dask
import geopandas as gpd
import numpy as np
import pandas as pd

from ..compute import scheduling
from ..runs.file_replace import replace_all
from ..runs.storage import filesystem, is_remote, join, put_file, remove_tree
from .tasks import _block_tables, assemble, file_groups, split_zones, workers_can_read

Files = Sequence[Tuple[str, str, str, object]]  # (provider, collection, index, location)
SETTLE_SECONDS = 60.0


@dataclass
class WorkerTable:
    """A zone table the workers wrote: its staged files and the small facts about it."""

    name: str
    rows: int
    staged: Dict[str, str]  # format (or "latest") -> staged location
    attrs: Dict[str, object]  # the table's attrs: statistics' definitions, notes


def workers_can_write(client, output_dir) -> bool:
    """Whether the cluster's workers can write ``output_dir`` where it is: an object store,
    or a local folder every worker shares (probe)."""
    from ..compute.cluster import workers_share_storage

    return is_remote(output_dir) or workers_share_storage(client, output_dir)


def tables_on_workers(files: Files, output_dir) -> bool:
    """True when a cluster is active and its workers can read the composites and write the
    output location: then the zone tables stay on the workers."""
    client = scheduling.active_client()
    return (client is not None and workers_can_read(client, [f[3] for f in files])
            and workers_can_write(client, output_dir))


def _write_parquet(table: pd.DataFrame, location: str) -> None:
    fs, path = filesystem(location)
    fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    with fs.open(path, "wb") as handle:
        table.to_parquet(handle, index=False)


def _block_parts(locations: Sequence[str], zones: gpd.GeoDataFrame, id_fields: Sequence[str],
                 mode: str, min_clear_fraction: float,
                 destinations: Sequence[str]) -> List[Dict[str, object]]:
    """One block of zones over one collection's files (a task): each file's table written to
    its ``destinations`` part; returns each part's row count and attrs."""
    tables = _block_tables(locations, zones, id_fields, mode, min_clear_fraction)
    facts = []
    for table, destination in zip(tables, destinations):
        _write_parquet(table, destination)
        facts.append({"rows": len(table), "attrs": dict(table.attrs)})
    return facts


def _assemble_on_worker(facts: Sequence[Sequence[List[Dict[str, object]]]], *,
                        groups: Sequence[Sequence[int]], labels: Sequence[Tuple[str, str, str]],
                        parts: Mapping[str, str], blocks: Sequence[np.ndarray],
                        zone_parts: Sequence[gpd.GeoDataFrame],
                        id_fields: Sequence[str], latest_field: str, name: str,
                        formats: Optional[Sequence[str]], folder: str) -> Dict[str, object]:
    """The assembling task: read every part, build the table exactly as the threads engine
    does, write ``zonal_<name>.*`` and ``<name>_latest.gpkg`` into ``folder`` (the staging
    area), remove the parts."""
    from ..outputs.tables import default_formats, latest_values, write_latest_layer, write_table

    where = {n: (g, k) for g, members in enumerate(groups) for k, n in enumerate(members)}

    def parts_of(n: int) -> List[pd.DataFrame]:
        """File ``n``'s tables of every block, read back with their attrs."""
        g, k = where[n]
        read = []
        for b in range(len(blocks)):
            fs, path = filesystem(parts[f"{n}-{b}"])
            with fs.open(path, "rb") as handle:
                part = pd.read_parquet(handle)
            part.attrs = dict(facts[g][b][k]["attrs"])
            read.append(part)
        return read

    per_file = (parts_of(n) for n in range(len(labels)))  # one file's parts at a time
    table = assemble(labels, per_file, blocks, id_fields)
    zones = pd.concat(zone_parts).iloc[np.argsort(np.concatenate(blocks), kind="stable")]
    with tempfile.TemporaryDirectory(prefix="raster-collect-table-") as local:
        written = write_table(table, Path(local) / f"zonal_{name}",
                              formats=formats or default_formats(len(table)))
        written["latest"] = write_latest_layer(zones, latest_values(table, latest_field),
                                               latest_field, Path(local) / f"{name}_latest.gpkg")
        staged = {}
        for kind, path in written.items():
            staged[kind] = str(join(folder, path.name))
            put_file(path, staged[kind])
    remove_tree(join(folder, f".parts-{name}"))
    return {"rows": len(table), "staged": staged, "attrs": dict(table.attrs)}


def write_tables_on_workers(files: Files, zones: gpd.GeoDataFrame, *, id_fields: Sequence[str],
                            latest_field: str, name: str, staging, coverage: str = "exact",
                            min_clear_fraction: float = 0.5,
                            formats: Optional[Sequence[str]] = None,
                            cancel: Optional[Callable[[], bool]] = None,
                            progress: Optional[Callable[[float], None]] = None) -> WorkerTable:
    """``zonal.tasks.zonal_tables`` of ``files`` over ``zones``, written by the cluster's
    workers into ``staging`` as ``zonal_<name>.*`` with the ``<name>_latest.gpkg`` layer; the
    client receives a few numbers and names. On error or cancel the caller removes ``staging`` (call
    :func:`settle` first so no running task writes into it afterwards)."""
    client = scheduling.active_client()
    blocks = split_zones(zones, client)
    zone_frames = client.scatter([zones.iloc[block] for block in blocks])
    groups = file_groups(files)
    prefix = f"raster-collect-{name}-{uuid.uuid4().hex[:8]}"
    parts_folder = join(staging, f".parts-{name}")
    parts = {f"{n}-{b}": str(join(parts_folder, f"{n:03d}-{b:05d}.parquet"))
             for n in range(len(files)) for b in range(len(blocks))}
    facts = [[dask.delayed(_block_parts, pure=False)(
        [str(files[n][3]) for n in members], frame, list(id_fields), coverage,
        min_clear_fraction, [parts[f"{n}-{b}"] for n in members],
        dask_key_name=f"{prefix}-part-{g}-{b}")
        for b, frame in enumerate(zone_frames)] for g, members in enumerate(groups)]
    result = dask.delayed(_assemble_on_worker, pure=False)(
        facts, groups=groups, labels=[f[:3] for f in files], parts=parts, blocks=blocks,
        zone_parts=zone_frames, id_fields=list(id_fields), latest_field=latest_field, name=name,
        formats=list(formats) if formats else None, folder=str(staging),
        dask_key_name=f"{prefix}-assemble")
    try:
        outcome = scheduling.compute(result, cancel=cancel, progress=progress)[0]
    except BaseException:
        settle(client, prefix)
        raise
    return WorkerTable(name, outcome["rows"], outcome["staged"], outcome["attrs"])


def _running(prefix: str, dask_worker=None) -> int:
    return sum(1 for task in dask_worker.state.all_running_tasks
               if str(task.key).startswith(prefix))


def settle(client, prefix: str, timeout: float = SETTLE_SECONDS) -> None:
    """Wait until no worker still runs a (cancelled) task whose key starts with ``prefix``:
    a cancelled task keeps running on its thread and could write after the staging area is
    removed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if not sum(client.run(_running, prefix).values()):
                return
        except Exception:  # a lost worker runs nothing; cleanup must go on
            return
        time.sleep(0.2)


def publish(staged: Mapping[str, str], output_dir) -> Dict[str, object]:
    """Move staged table files into ``output_dir`` (server-side copies on an object store,
    renames in a folder); returns format -> final location."""
    placed: Dict[str, object] = {}
    local = []
    for kind, location in staged.items():
        target = join(output_dir, str(location).rstrip("/").rsplit("/", 1)[-1])
        if is_remote(location):
            fs, path = filesystem(location)
            fs.copy(path, filesystem(target)[1])
        else:
            local.append((location, target))
        placed[kind] = target
    replace_all(local)  # all or none: a table QGIS holds open keeps the old ones
    return placed
