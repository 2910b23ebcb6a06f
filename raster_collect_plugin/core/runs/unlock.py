"""``raster-collect unlock OUTPUT``: who holds an output's lock, and removing it.

- An object-store prefix (``s3://bucket/prefix``): the lock object names its run (host, pid,
  started, last heartbeat); its age is measured on the store's clock
  (``RemoteLock.heartbeat_age``). It is removed when it is stale (its heartbeat is
  ``STALE_AFTER_SECONDS`` old, or its run was on this machine and is gone), or with ``force``.
- A local folder: its lock file is an OS lock held while the run's process lives; it names
  the run (``pid N on HOST``). A lock file no process holds is stale (removed). One held by a
  live process on this machine is never removed, not even with ``force`` (the run would keep
  writing beside another): stop that process or wait. One held from another machine sharing
  the folder is removed only with ``force`` (only for a run you know is gone).

A lock still held without ``force`` is ``FolderLocked`` (exit 2) naming its run and the way out.
"""

from __future__ import annotations

import json
import os
import socket
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional, Tuple

from .folder import JOURNAL_NAME, LOCK_NAME, FolderLocked, RunError, lock_pid_host
from .portable import LockHeld, release_lock_file, try_lock
from .storage import is_remote


def unlock(output: str, *, force: bool = False) -> dict:
    """Show the lock of ``output`` and remove it when stale or ``force``; the summary:
    ``lock`` (its path, or None when there is none), ``held_by``, ``stale``, ``removed``."""
    return _unlock_remote(output, force) if is_remote(output) else \
        _unlock_local(Path(output), force)


def _unlock_remote(location: str, force: bool) -> dict:
    from .remote_lock import STALE_AFTER_SECONDS, RemoteLock, _dead_here, describe, span
    from .storage import check_output_store

    check_output_store(location)  # no such bucket, no credentials: exit 2, one line
    lock = RemoteLock(location)
    where = f"{lock.location}/{LOCK_NAME}"
    held = lock._read()
    if held is None:
        return {"lock": None, "held_by": None, "stale": None, "removed": False}
    try:
        age = lock.heartbeat_age(held) if held else None
    except FileNotFoundError:  # its run ended meanwhile
        return {"lock": None, "held_by": None, "stale": None, "removed": False}
    stale = _dead_here(held) or (age is not None and age >= STALE_AFTER_SECONDS)
    who = describe(held).strip(" ()") or "an unreadable lock"
    if age is not None:
        who += f", heartbeat {span(age)} old by the store's clock"
    if not (stale or force):
        gone = (f"it is removed once its heartbeat is {STALE_AFTER_SECONDS / 60:g} minutes "
                "old, or " if age is not None else "")
        raise FolderLocked(f"{where} is held by {who}: that run may still be writing; if it "
                           f"is gone, {gone}rerun with --force")
    lock.fs.rm(lock.path)
    return {"lock": where, "held_by": who, "stale": bool(stale), "removed": True}


def _unlock_local(folder: Path, force: bool) -> dict:
    if not folder.is_dir():  # a typo would otherwise read as "no lock"
        what = "is a file, not an output folder" if folder.exists() else "does not exist"
        raise RunError(f"unlock: {folder} {what}: give the output folder the run wrote "
                       "(its --output)")
    path = folder / LOCK_NAME
    if not path.is_file():
        return {"lock": None, "held_by": None, "stale": None, "removed": False}
    handle = os.open(path, os.O_RDWR | getattr(os, "O_BINARY", 0))
    try:
        try_lock(handle)
    except LockHeld:
        who, pid = _local_owner(folder, handle)
        os.close(handle)
        if pid is not None:  # a live run here: removing its lock lets another write beside it
            raise FolderLocked(f"{path} is held by {who} (a live process on this machine): "
                               f"that run is still writing; wait for it to finish, or stop "
                               f"that process (pid {pid}), which releases its lock"
                               + ("; --force removes only a lock held from another machine "
                                  "sharing the folder" if force else "")) from None
        if not force:
            raise FolderLocked(f"{path} is held by {who}: that run may still be writing; "
                               "wait for it to finish, or if it is gone rerun with --force"
                               ) from None
        path.unlink(missing_ok=True)
        return {"lock": str(path), "held_by": who, "stale": False, "removed": True}
    except BaseException:
        os.close(handle)
        raise
    who = _local_owner(folder, handle)[0]
    release_lock_file(handle, path)  # no process holds it: a killed run's lock file
    return {"lock": str(path), "held_by": who, "stale": True, "removed": True}


def _local_owner(folder: Path, handle: int) -> Tuple[str, Optional[int]]:
    """``pid N on HOST[, started T]`` from the lock file (and the run's journal), and the pid
    when it is a live process on this machine (a lock naming no host, written before hosts
    were, is taken as this machine's, as a folder's lock usually is)."""
    try:
        os.lseek(handle, 0, os.SEEK_SET)
        text = os.read(handle, 200).decode(errors="replace").strip()
    except OSError:  # Windows: the file is being written
        text = ""
    pid, host = lock_pid_host(text)
    here = host in (None, socket.gethostname())
    who = f"pid {pid} on {host or socket.gethostname()}" if pid is not None else \
        f"{text or 'a run'} on {socket.gethostname()}"
    started = _journal_start(folder, pid)
    who = f"{who}, started {started}" if started else who
    return who, (pid if pid is not None and here and _alive(pid) else None)


def _alive(pid: int) -> bool:
    import psutil

    return psutil.pid_exists(pid)


def _journal_start(folder: Path, pid: Optional[int]) -> Optional[str]:
    try:
        journal = json.loads((folder / JOURNAL_NAME).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(journal, dict) or pid is None or journal.get("pid") != pid:
        return None
    try:
        return datetime.fromtimestamp(float(journal["started"]), timezone.utc) \
            .isoformat(timespec="seconds")
    except (KeyError, TypeError, ValueError):
        return None
