"""The publish manifest: the last file a run writes, listing what it published.

Readers (the dock, the CLI's resume, later runs) trust only the files a manifest lists, so a run
killed half-way leaves nothing that looks finished. Works for local folders and for object-store
URLs (``s3://bucket/prefix``) through fsspec: a single PUT of the manifest is atomic there, and a
local manifest is written to a temporary name and renamed.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
from datetime import datetime, timezone
from typing import Iterable, Mapping, Optional

import fsspec
from fsspec.implementations.local import LocalFileSystem

MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1


def _filesystem(folder: str):
    filesystem, root = fsspec.core.url_to_fs(str(folder))
    return filesystem, root.rstrip("/")


def _sha256(filesystem, path: str) -> str:
    digest = hashlib.sha256()
    with filesystem.open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(folder: str, files: Iterable[str], *, run: Mapping[str, object],
                   checksums: bool = True) -> dict:
    """Write ``folder/manifest.json`` listing ``files`` (paths relative to ``folder``) with
    their sizes (and SHA-256 when ``checksums``) plus the ``run`` description (fingerprint,
    parameters, ...). Call it after every listed file is in place; returns the manifest. In an
    object-store prefix whose lock this run lost: ``remote_lock.LockLost``, nothing written."""
    filesystem, root = _filesystem(folder)
    if not isinstance(filesystem, LocalFileSystem):
        from .held_locks import check_held

        check_held(str(folder))
    entries = {}
    for name in sorted(set(files)):
        path = posixpath.join(root, name)
        entry = {"size": int(filesystem.size(path))}
        if checksums:
            entry["sha256"] = _sha256(filesystem, path)
        entries[name] = entry
    manifest = {"version": MANIFEST_VERSION, "written": datetime.now(timezone.utc).isoformat(),
                "run": dict(run), "files": entries}
    text = json.dumps(manifest, indent=2, default=str)
    target = posixpath.join(root, MANIFEST_NAME)
    if isinstance(filesystem, LocalFileSystem):
        temporary = f"{target}.partial-{os.getpid()}"
        with filesystem.open(temporary, "w") as stream:
            stream.write(text)
        os.replace(temporary, target)
    else:
        with filesystem.open(target, "w") as stream:
            stream.write(text)
    return manifest


def read_manifest(folder: str) -> Optional[dict]:
    """The folder's manifest, or None when there is none (or it is unreadable)."""
    filesystem, root = _filesystem(folder)
    try:
        with filesystem.open(posixpath.join(root, MANIFEST_NAME), "r") as stream:
            manifest = json.load(stream)
    except (FileNotFoundError, OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) and "files" in manifest else None


def published_files(folder: str, *, verify_sizes: bool = True) -> list:
    """The files the manifest lists that are present (with the listed size): what to trust."""
    manifest = read_manifest(folder)
    if manifest is None:
        return []
    filesystem, root = _filesystem(folder)
    trusted = []
    for name, entry in manifest["files"].items():
        path = posixpath.join(root, name)
        if not filesystem.exists(path):
            continue
        if verify_sizes and filesystem.size(path) != entry.get("size"):
            continue
        trusted.append(name)
    return trusted
