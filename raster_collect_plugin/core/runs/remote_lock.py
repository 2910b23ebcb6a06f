"""The lock of an object-store output prefix (``s3://bucket/prefix/.raster-collect.lock``).

- The lock object names its run (host, pid, start, a random token) and a **heartbeat** the run
  refreshes every minute (:data:`HEARTBEAT_SECONDS`). A second run into the prefix stops with
  ``FolderLocked``, unless the lock's run is gone: a process on this machine that no longer
  exists (taken over at once, as before), or a heartbeat older than :data:`STALE_AFTER_SECONDS`
  (another machine's run that was killed: taken over with a warning naming it). A lock written
  before heartbeats (no ``heartbeat`` field) is never taken as stale: the message names the
  object to delete.
- The lock is created with S3's conditional PUT (``If-None-Match: *``): two runs cannot both
  create it. A store that ignores the condition (it overwrites) is found at once by creating
  the lock a second time; there the lock is **best effort**: written, then read back after
  :data:`SETTLE_SECONDS` (the run whose token is there holds it, the other stops), with a
  warning naming the risk. A takeover (an overwrite by nature) is checked the same way.
- Release removes the lock only while it is still this run's.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import posixpath
import socket
import threading
import time
import uuid
from datetime import datetime, timezone
from typing import Optional

from .folder import FolderLocked
from .storage import filesystem, first_line

log = logging.getLogger(__name__)

LOCK_NAME = ".raster-collect.lock"
HEARTBEAT_SECONDS = 60.0
STALE_AFTER_SECONDS = 600.0  # ten missed heartbeats: the run is gone (clocks within minutes)
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
        self._beat = threading.Thread(target=self._heartbeat, daemon=True,
                                      name=f"lock heartbeat: {self.location}")
        self._beat.start()

    def _claim(self) -> None:
        for _ in range(3):
            held = self._read()
            if held is not None:
                self._take_over(held)
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

    def _take_over(self, held: dict) -> None:
        """Take over the lock ``held`` if its run is gone, else raise FolderLocked."""
        if _dead_here(held):  # a killed run's lock, on this machine
            self.fs.pipe_file(self.path, self._body())
            self._confirm()
            return
        age = _heartbeat_age(held)
        if age is None or age < STALE_AFTER_SECONDS:
            raise FolderLocked(self._locked_message(held, age))
        log.warning("raster-collect: warning: took over the lock of %s held by%s: its "
                    "heartbeat stopped %d minutes ago (a run refreshes it every %g s), so "
                    "that run is taken as gone", self.location, describe(held), age // 60,
                    HEARTBEAT_SECONDS)
        self.fs.pipe_file(self.path, self._body())
        self._confirm()

    def _confirm(self) -> None:
        """After an overwrite: wait, read back; another run's token there holds the lock."""
        time.sleep(SETTLE_SECONDS)
        held = self._read()
        if (held or {}).get("token") != self.token:
            raise FolderLocked(self._locked_message(held or {}, _heartbeat_age(held or {})))

    def _locked_message(self, held: dict, age: Optional[float]) -> str:
        where = f"{self.location}/{LOCK_NAME}"
        gone = (f"its lock is taken over once its heartbeat is {STALE_AFTER_SECONDS / 60:g} "
                f"minutes old, or delete {where}" if age is not None else f"delete {where}")
        return (f"another raster-collect run is writing to {self.location}{describe(held)}: "
                "wait for it to finish or choose another --output; if that run is gone "
                f"(killed), {gone}")

    # -- while held -------------------------------------------------------------------------
    def _heartbeat(self) -> None:
        """Refresh the lock's heartbeat while it is this run's; warn once if it is not."""
        while not self._stop.wait(HEARTBEAT_SECONDS):
            try:
                held = self._read()
                if (held or {}).get("token") != self.token:
                    log.warning("raster-collect: warning: the lock of %s is no longer this "
                                "run's (now%s): another run may be writing there",
                                self.location, describe(held) or " none")
                    return
                self.fs.pipe_file(self.path, self._body())
            except Exception as error:  # noqa: BLE001 - a store that does not answer: retry
                log.debug("lock heartbeat of %s failed: %s", self.location, first_line(error))

    # -- release ----------------------------------------------------------------------------
    def release(self) -> None:
        """Stop the heartbeat and remove the lock if it is still this run's."""
        if not self._held:
            return
        self._held = False
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


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _heartbeat_age(owner: dict) -> Optional[float]:
    """Seconds since the lock's heartbeat; None for a lock without one (older versions)."""
    try:
        beat = datetime.fromisoformat(str(owner["heartbeat"]))
    except (KeyError, ValueError):
        return None
    if beat.tzinfo is None:
        beat = beat.replace(tzinfo=timezone.utc)
    return max(0.0, (datetime.now(timezone.utc) - beat).total_seconds())


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
