"""The lock of an object-store output prefix (``s3://bucket/prefix/.raster-collect.lock``).

- The lock object names its run (host, pid, start, a random token) and a **heartbeat** the run
  refreshes every minute (:data:`HEARTBEAT_SECONDS`). A second run into the prefix stops with
  ``FolderLocked``, unless the lock's run is gone: a process on this machine that no longer
  exists (taken over at once, as before), or a heartbeat older than :data:`STALE_AFTER_SECONDS`
  (another machine's run that was killed: taken over with a warning naming it). The heartbeat's
  age is measured on the **store's clock** (the lock object's ``LastModified``, which each
  heartbeat write renews, against that of a probe object written now), so clock skew between
  machines does not matter. A lock written before heartbeats (no ``heartbeat`` field) is never
  taken as stale: the message names the object to delete.
- The lock is created with S3's conditional PUT (``If-None-Match: *``): two runs cannot both
  create it. A store that ignores the condition (it overwrites) is found at once by creating
  the lock a second time; there the lock is **best effort**: written, then read back after
  :data:`SETTLE_SECONDS` (the run whose token is there holds it, the other stops), with a
  warning naming the risk. A takeover (an overwrite by nature) is checked the same way.
- A heartbeat or a takeover rewrites the lock only if it is still the version it read (S3's
  ``If-Match`` on the ETag): a heartbeat in flight cannot bring back a lock that ``unlock
  --force`` removed or another run took over meanwhile (a store without the condition is
  overwritten, as before).
- A run whose lock was taken over (it stalled longer than that: a laptop asleep) is **lost**:
  the heartbeat finds another run's token there, or :meth:`RemoteLock.check` (each cancel
  check, each write into the prefix: ``held_locks.check_held``) finds the last confirmation older
  than two heartbeats and reads the lock. It then raises :class:`LockLost` (exit 1) before its
  next write: no manifest of it is written, and nothing in the prefix (now the other run's) is
  touched.
- Release removes the lock only while it is still this run's.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import posixpath
import socket
import threading
import time
import uuid
from datetime import datetime, timezone
from typing import Optional, Tuple

from .folder import FolderLocked
from .held_locks import HELD as _HELD
from .held_locks import LockLost, check_held  # noqa: F401 - this module's face for both
from .storage import filesystem, first_line

log = logging.getLogger(__name__)

LOCK_NAME = ".raster-collect.lock"
HEARTBEAT_SECONDS = 60.0
STALE_AFTER_SECONDS = 600.0  # ten missed heartbeats (the store's clock): the run is gone
SETTLE_SECONDS = 2.0  # an unconditional write is read back after this


class RemoteLock:
    """``lock = RemoteLock("s3://b/p"); lock.acquire(); ...; lock.release()``."""

    def __init__(self, location: str):
        self.location = str(location).rstrip("/")
        self.fs, root = filesystem(location)
        self.path = posixpath.join(root, LOCK_NAME)
        self.token = uuid.uuid4().hex
        self.started = _now()
        self._held = False
        self._stop = threading.Event()
        self._beat: Optional[threading.Thread] = None
        self._guard = threading.Lock()  # one read-then-write of the lock at a time
        self._lost: Optional[dict] = None  # the lock's owner once it is not this run's
        self._confirmed = time.time()  # (wall clock: it counts a machine's sleep)

    # -- acquire ---------------------------------------------------------------------------
    def acquire(self) -> None:
        """Hold the lock, or raise FolderLocked naming the run that holds it."""
        try:
            self._claim()
        except FolderLocked:
            raise
        except BaseException:  # Ctrl-C while the lock settles: no lock of this run is left
            with contextlib.suppress(Exception):
                self._remove_if_mine()
            raise
        self._held = True
        self._confirmed = time.time()
        _HELD[self.location] = self
        self._beat = threading.Thread(target=self._heartbeat, daemon=True,
                                      name=f"lock heartbeat: {self.location}")
        self._beat.start()

    def _claim(self) -> None:
        for _ in range(3):
            held, version = self._read_versioned()
            if held is not None:
                try:
                    self._take_over(held, version)
                except FileNotFoundError:  # released, or changed, while it was timed: again
                    continue
                break
            try:
                conditional = self._create()
            except FileExistsError:  # another run created it since it was read: look again
                continue
            if not conditional:
                log.warning(
                    "raster-collect: warning: the store of %s ignores conditional writes "
                    "(If-None-Match): its lock is best effort (written, then read back after "
                    "%g s); a run whose write takes longer than that could miss it and write "
                    "there too", self.location, SETTLE_SECONDS)
                self._confirm()
            break
        else:
            raise FolderLocked(f"cannot lock {self.location}: try again")

    def _create(self) -> bool:
        """Create the lock only where none is; True when the store honours the condition
        (a second create of it fails), False when it overwrote."""
        body = self._body()
        try:
            self.fs.pipe_file(self.path, body, mode="create")
        except (NotImplementedError, TypeError):  # a filesystem without exclusive writes
            self.fs.pipe_file(self.path, body)
            return False
        try:
            self.fs.pipe_file(self.path, body, mode="create")
        except FileExistsError:
            return True
        return False

    def _take_over(self, held: dict, version: Optional[str] = None) -> None:
        """Take over the lock ``held`` (its ETag ``version``) if its run is gone, else raise
        FolderLocked; FileNotFoundError when it changed since it was read."""
        if _dead_here(held):  # a killed run's lock, on this machine
            self._rewrite(version)
            self._confirm()
            return
        age = self.heartbeat_age(held)
        if age is None or age < STALE_AFTER_SECONDS:
            raise FolderLocked(self._locked_message(held, age))
        log.warning("raster-collect: warning: took over the lock of %s held by%s: its "
                    "heartbeat stopped %s ago by the store's clock (a run refreshes it every "
                    "%g s), so that run is taken as gone", self.location, describe(held),
                    span(age), HEARTBEAT_SECONDS)
        self._rewrite(version)
        self._confirm()

    def _confirm(self) -> None:
        """After an overwrite: wait, read back; another run's token there holds the lock."""
        time.sleep(SETTLE_SECONDS)
        held = self._read()
        if (held or {}).get("token") != self.token:
            raise FolderLocked(self._locked_message(
                held or {}, None if "heartbeat" not in (held or {}) else 0.0))

    def _locked_message(self, held: dict, age: Optional[float]) -> str:
        where = f"{self.location}/{LOCK_NAME}"
        gone = (f"its lock is taken over once its heartbeat is {STALE_AFTER_SECONDS / 60:g} "
                f"minutes old, or delete {where}" if age is not None else f"delete {where}")
        return (f"another raster-collect run is writing to {self.location}{describe(held)}: "
                "wait for it to finish or choose another --output; if that run is gone "
                f"(killed), {gone}")

    # -- while held -------------------------------------------------------------------------
    def _heartbeat(self) -> None:
        """Refresh the lock's heartbeat while it is this run's; stop once it is not."""
        while not self._stop.wait(HEARTBEAT_SECONDS):
            if not self._refresh():
                return

    def _refresh(self) -> bool:
        """Read the lock; this run's: write a new heartbeat (True); another's: lost (False).
        A store that does not answer is tried again later (True)."""
        with self._guard:
            if self._lost is not None:
                return False
            try:
                held, version = self._read_versioned()
                if (held or {}).get("token") == self.token:
                    try:
                        self._rewrite(version)
                        self._confirmed = time.time()
                        return True
                    except FileNotFoundError:  # removed or taken over since it was read
                        held = self._read()
                if (held or {}).get("token") != self.token:
                    self._lost = held or {}
                    log.debug("the lock of %s is no longer this run's (now%s)",
                              self.location, describe(held) or " none")
                    return False
            except Exception as error:  # noqa: BLE001 - a store that does not answer: retry
                log.debug("lock heartbeat of %s failed: %s", self.location, first_line(error))
                self._confirmed = time.time() - HEARTBEAT_SECONDS  # again in a minute
        return True

    def lost(self) -> bool:
        """Whether the lock was taken over; read from the store when its last confirmation
        is more than two heartbeats old (the run stalled: the heartbeat thread too)."""
        if self._lost is None and self._held and \
                time.time() - self._confirmed > 2 * HEARTBEAT_SECONDS:
            self._refresh()
        return self._lost is not None

    def check(self) -> None:
        """Raise :class:`LockLost` (one line, exit 1) when the lock was taken over."""
        if self.lost():
            owner = self._lost or {}
            if not owner:  # removed: `raster-collect unlock --force`, or by hand
                raise LockLost(f"this run's lock on {self.location} was removed (unlock "
                               "--force?): it stopped and published nothing; rerun it")
            raise LockLost(
                f"this run's lock on {self.location} was taken over by another run (pid "
                f"{owner.get('pid')} on {owner.get('host')}) while this one was stalled "
                f"{STALE_AFTER_SECONDS / 60:g}+ minutes (e.g. the computer slept): it stopped "
                "and published nothing; rerun once that run has finished")

    # -- release ----------------------------------------------------------------------------
    def release(self) -> None:
        """Stop the heartbeat and remove the lock if it is still this run's."""
        if not self._held:
            return
        self._held = False
        if _HELD.get(self.location) is self:
            del _HELD[self.location]
        self._stop.set()
        if self._beat is not None:
            self._beat.join(timeout=30)
        try:
            self._remove_if_mine()
        except FileNotFoundError:
            pass
        except Exception as error:  # noqa: BLE001 - a store gone mid-run: its error wins
            log.warning("raster-collect: warning: could not remove the lock %s/%s (%s); "
                        "delete it once the store answers", self.location, LOCK_NAME,
                        first_line(error))

    def _remove_if_mine(self) -> None:
        if (self._read() or {}).get("token") == self.token:
            self.fs.rm(self.path)

    # -- the object -------------------------------------------------------------------------
    def _body(self) -> bytes:
        return json.dumps({"host": socket.gethostname(), "pid": os.getpid(),
                           "started": self.started, "heartbeat": _now(),
                           "token": self.token}).encode()

    def heartbeat_age(self, held: dict) -> Optional[float]:
        """Seconds since the lock ``held`` was last written, by the store's clock; None for a
        lock without a heartbeat (older versions)."""
        if "heartbeat" not in held:
            return None
        written = self._modified(self.path)
        probe = f"{self.path}.clock-{self.token}"
        try:
            self.fs.pipe_file(probe, b"")
            now = self._modified(probe)
        finally:
            with contextlib.suppress(Exception):
                self.fs.rm(probe)
        if written is None or now is None:  # a store without times: the lock's own word
            return _heartbeat_age(held)
        return max(0.0, (now - written).total_seconds())

    def _modified(self, path: str) -> Optional[datetime]:
        """When the store last wrote ``path`` (its own clock)."""
        self.fs.invalidate_cache(path)
        info = self.fs.info(path)
        stamp = info.get("LastModified") or info.get("mtime")
        if isinstance(stamp, (int, float)):
            return datetime.fromtimestamp(stamp, timezone.utc)
        if isinstance(stamp, datetime):
            return stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)
        return None

    def _rewrite(self, version: Optional[str]) -> None:
        """Write this run's lock over the version ``version`` (an ETag) only; raise
        FileNotFoundError when the lock is no longer that version (removed, or rewritten by
        another run). Without a version, or on a store that takes no condition, overwrite."""
        body = self._body()
        if version:
            try:
                self.fs.pipe_file(self.path, body, IfMatch=version)
                return
            except TypeError:  # a filesystem that passes no condition on
                pass
            except OSError as error:
                if isinstance(error, FileNotFoundError) or _precondition_failed(error):
                    raise FileNotFoundError(self.path) from None
                raise
        self.fs.pipe_file(self.path, body)

    def _read_versioned(self) -> Tuple[Optional[dict], Optional[str]]:
        """The lock's owner (as ``_read``) and the ETag of the version read first (None when
        the store gives none): a version newer than the owner read only fails a rewrite."""
        try:
            self.fs.invalidate_cache(self.path)
            version = self.fs.info(self.path).get("ETag")
        except FileNotFoundError:
            return None, None
        return self._read(), version if isinstance(version, str) else None

    def _read(self) -> Optional[dict]:
        """The lock's owner; None when there is no lock; {} when it cannot be read (a store
        that does not answer raises)."""
        try:
            owner = json.loads(self.fs.cat_file(self.path))
        except FileNotFoundError:
            return None
        except (PermissionError, ValueError):
            return {}
        return owner if isinstance(owner, dict) else {}


def _precondition_failed(error: OSError) -> bool:
    """Whether s3fs's error is S3's 412 Precondition Failed (an EINVAL whose cause, botocore's
    ClientError, names the code; its message, "At least one of the pre-conditions you
    specified did not hold", has a hyphen a plain word match misses)."""
    if error.errno != errno.EINVAL:
        return False
    response = getattr(error.__cause__, "response", None) or {}
    code = str((response.get("Error") or {}).get("Code", ""))
    status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
    return code in ("PreconditionFailed", "412") or status == 412 or \
        "precondition" in str(error).lower().replace("-", "")


def _utcnow() -> datetime:
    """This machine's clock (the lock's ``heartbeat`` field: shown, not compared)."""
    return datetime.now(timezone.utc)


def _now() -> str:
    return _utcnow().isoformat(timespec="seconds")


def span(seconds: float) -> str:
    """``"42 s"`` or ``"61 minutes"``."""
    return f"{int(seconds)} s" if seconds < 120 else f"{int(seconds // 60)} minutes"


def _heartbeat_age(owner: dict) -> Optional[float]:
    """Seconds since the lock's heartbeat by this machine's clock (a store that keeps no
    times); None for a lock without one (older versions)."""
    try:
        beat = datetime.fromisoformat(str(owner["heartbeat"]))
    except (KeyError, ValueError):
        return None
    if beat.tzinfo is None:
        beat = beat.replace(tzinfo=timezone.utc)
    return max(0.0, (_utcnow() - beat).total_seconds())


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


def describe(owner: Optional[dict]) -> str:
    """`` (pid N on HOST, started T[, last heartbeat H])`` or "" for an unreadable lock."""
    if not owner:
        return ""
    beat = f", last heartbeat {owner['heartbeat']}" if owner.get("heartbeat") else ""
    return (f" (pid {owner.get('pid')} on {owner.get('host')}, started "
            f"{owner.get('started')}{beat})")
