"""The object-store (``s3://bucket/prefix``) counterpart of ``RunFolder``'s "no mixing" rule:
a run into a prefix whose manifest is another run's (other inputs, another kind) stops with
``ResultsConflict`` unless ``overwrite``; with it the old manifest is dropped at once and the
old run's files the new one does not replace are removed once the new manifest is written.
The manifest records the run's fingerprint. A run holds the prefix's lock object
(``remote_lock.RemoteLock``: created only if absent, heartbeat, best effort on a store without
conditional writes) until it ends, so a second run into it at the same time stops. A run whose
lock another run took over (this one stalled) stops at its next cancel check
(:meth:`RemoteRun.cancel`) or write with ``LockLost`` (exit 1), leaves the prefix (now the
other run's) alone and publishes nothing. A rerun with the same inputs computes again (no
per-file resume there)."""

from __future__ import annotations

import posixpath
from typing import Callable, Mapping, Optional, Sequence

from .folder import results_conflict
from .held_locks import LockLost
from .manifest import MANIFEST_NAME, read_manifest, write_manifest
from .remote_lock import RemoteLock
from .storage import filesystem


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

    def cancel(self, cancel: Optional[Callable[[], bool]] = None) -> Callable[[], bool]:
        """The workflow's cancel check: ``cancel``'s answer, or True once this run's lock was
        taken over (the run then ends with ``LockLost``, not as cancelled)."""
        lock = getattr(self, "_held", None)
        return lambda: (lock is not None and lock.lost()) or bool(cancel and cancel())

    def __exit__(self, kind, error, traceback) -> None:
        lock = getattr(self, "_held", None)
        lost = lock is not None and lock.lost()
        try:
            if not lost:  # a lost prefix is the other run's now: nothing there is touched
                self._clean_failed_run(error)
        finally:
            self._unlock()
        if lost and not isinstance(error, LockLost):  # a cancel check, or the run's end
            lock.check()

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
        if getattr(self, "_held", None) is not None:
            self._held.check()
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
        """Hold the prefix's lock, or stop naming the run that holds it."""
        lock = RemoteLock(self.location)
        lock.acquire()
        self._held = lock

    def _unlock(self) -> None:
        lock, self._held = getattr(self, "_held", None), None
        if lock is not None:
            lock.release()
