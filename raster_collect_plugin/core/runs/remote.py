"""The object-store (``s3://bucket/prefix``) counterpart of ``RunFolder``'s "no mixing" rule:
a run into a prefix whose manifest is another run's (other inputs, another kind) stops with
``ResultsConflict`` unless ``overwrite``; with it the old manifest is dropped at once and the
old run's files the new one does not replace are removed once the new manifest is written.
The manifest records the run's fingerprint. A run holds the prefix's lock object
(``.raster-collect.lock``, created only if absent: S3's conditional PUT) until it ends, so a second
run into it at the same time stops; a lock left by a killed run on this machine is taken over,
one from another machine is named with how to remove it. A rerun with the same inputs computes
again (no per-file resume there)."""

from __future__ import annotations

import json
import logging
import os
import posixpath
import socket
from datetime import datetime, timezone
from typing import Mapping, Optional, Sequence

from .folder import FolderLocked, results_conflict
from .manifest import MANIFEST_NAME, read_manifest, write_manifest
from .storage import filesystem, first_line

log = logging.getLogger(__name__)

LOCK_NAME = ".raster-collect.lock"


class RemoteRun:
    """``with RemoteRun(prefix, record, overwrite=...) as run: ...; run.publish()``."""

    def __init__(self, location: str, record: Mapping[str, object], *,
                 overwrite: bool = False):
        self.location, self.record, self.overwrite = str(location), record, overwrite
        self._replaced: Sequence[str] = ()

    def __enter__(self) -> RemoteRun:
        self._lock()
        try:
            return self._check_results()
        except BaseException:
            self._unlock()
            raise

    def _check_results(self) -> RemoteRun:
        manifest = read_manifest(self.location)
        old = (manifest or {}).get("run") or {}
        if manifest is None or old.get("fingerprint") == self.record.get("fingerprint"):
            return self
        if not self.overwrite:
            raise results_conflict(self.location, old, self.record)
        self._replaced = sorted(manifest.get("files", {}))
        fs, root = filesystem(self.location)
        fs.rm(posixpath.join(root, MANIFEST_NAME))  # nothing stale is trusted
        return self

    def __exit__(self, kind, error, traceback) -> None:
        try:
            self._clean_failed_run(error)
        finally:
            self._unlock()

    def _clean_failed_run(self, error) -> None:
        if error is None:
            return
        # a failed run: a manifest its workflow wrote part-way (a zonal run's composites),
        # without this run's record, would make the same command a conflict; none is trusted
        manifest = read_manifest(self.location)
        if manifest is not None and "fingerprint" not in (manifest.get("run") or {}):
            fs, root = filesystem(self.location)
            fs.rm(posixpath.join(root, MANIFEST_NAME))

    def publish(self) -> dict:
        """The run's manifest (its workflow wrote it last) again with the run's record, then
        the replaced run's files this run did not write are removed."""
        files = sorted((read_manifest(self.location) or {}).get("files", {}))
        manifest = write_manifest(self.location, files, run=dict(self.record),
                                  checksums=False)
        fs, root = filesystem(self.location)
        for name in sorted(set(self._replaced) - set(files)):
            path = posixpath.join(root, name)
            if fs.exists(path):
                fs.rm(path)
        return manifest

    def _lock(self) -> None:
        """Create the prefix's lock object, or stop naming the run that holds it."""
        fs, root = filesystem(self.location)
        path = posixpath.join(root, LOCK_NAME)
        owner = {"host": socket.gethostname(), "pid": os.getpid(),
                 "started": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        body = json.dumps(owner).encode()
        try:
            fs.pipe_file(path, body, mode="create")
        except FileExistsError:
            held = _read_owner(fs, path)
            if not _dead_here(held):
                where = f"{self.location.rstrip('/')}/{LOCK_NAME}"
                raise FolderLocked(
                    f"another raster-collect run is writing to {self.location}"
                    f"{_describe(held)}: wait for it to finish or choose another --output; "
                    f"if that run is gone (killed), delete {where}") from None
            fs.pipe_file(path, body)  # a killed run's lock, on this machine
        self._lock_path = path

    def _unlock(self) -> None:
        path = getattr(self, "_lock_path", None)
        if path is None:
            return
        self._lock_path = None
        try:
            fs, _ = filesystem(self.location)
            fs.rm(path)
        except FileNotFoundError:
            pass
        except Exception as error:  # noqa: BLE001 - a store gone mid-run: its error wins
            log.warning("raster-collect: warning: could not remove the lock %s/%s (%s); "
                        "delete it once the store answers", self.location.rstrip("/"),
                        LOCK_NAME, first_line(error))


def _read_owner(fs, path: str) -> Optional[dict]:
    try:
        owner = json.loads(fs.cat_file(path))
    except (OSError, ValueError):
        return None
    return owner if isinstance(owner, dict) else None


def _dead_here(owner: Optional[dict]) -> bool:
    """Whether the lock's run was on this machine and its process is gone."""
    if not owner or owner.get("host") != socket.gethostname():
        return False
    try:
        pid = int(owner.get("pid"))
    except (TypeError, ValueError):
        return False
    if pid == os.getpid():
        return False
    import psutil

    return not psutil.pid_exists(pid)


def _describe(owner: Optional[dict]) -> str:
    if not owner:
        return ""
    return (f" (pid {owner.get('pid')} on {owner.get('host')}, started "
            f"{owner.get('started')})")
