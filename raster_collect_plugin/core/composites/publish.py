"""Publishing a run: staging next to the output, checking that cluster workers can read the
scenes, the scene table, moving finished files into place and the manifest written last."""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path
from typing import List, Sequence, Union

import pystac

from ..runs.file_replace import replace_all
from ..runs.storage import is_remote as _is_remote
from ..runs.storage import join as _join
from .requests import CollectionResult, RequestError


def _name(location) -> str:
    return str(location).rstrip("/").rsplit("/", 1)[-1]


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
    from ..compute import scheduling
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
        names += [_name(p) for periods in result.colour_paths.values() for p in periods.values()]
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
    from ..outputs.files import finished_file  # rasterio: not on a job's start path

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
        from ..runs.held_locks import check_held
        from ..runs.storage import filesystem

        fs, root = filesystem(staging)
        for path in sorted(fs.ls(root, detail=False)):
            name = path.rstrip("/").rsplit("/", 1)[-1]
            check_held(str(output_dir))  # not over the files of a run that took the lock
            fs.copy(path, filesystem(_join(output_dir, name))[1])
            moved[str(_join(staging, name))] = str(_join(output_dir, name))
    else:  # all or none: a file QGIS holds open stops the run with the old results intact
        moved = {path: output_dir / path.name for path in sorted(staging.iterdir())}
        replace_all(moved.items())
    for result in results:
        result.index_paths = {k: moved[v] for k, v in result.index_paths.items()}
        result.colour_paths = {k: {label: moved[v] for label, v in paths.items()}
                               for k, paths in result.colour_paths.items()}
        result.count_path = moved[result.count_path]
        result.metadata_path = moved[result.metadata_path]
