"""The object-store locks this process holds (``remote_lock.RemoteLock``), so a write into a
prefix can first ask whether its lock was lost: :func:`check_held`. Imports nothing of
``runs``: storage and manifest use it without a circle."""

from __future__ import annotations

from typing import Dict, Protocol


class LockLost(RuntimeError):
    """This run's lock was taken over by another run: it stops before its next write."""

    exit_kind = "failure"  # errors.classify: one line, exit 1


class _Lock(Protocol):
    def check(self) -> None: ...


HELD: Dict[str, _Lock] = {}  # prefix (no trailing /) -> the lock this process holds there


def check_held(location: str) -> None:
    """Before a write into ``location``: raise :class:`LockLost` when it lies in a prefix
    whose lock this process holds and has lost."""
    text = str(location).rstrip("/")
    for prefix, lock in list(HELD.items()):
        if text == prefix or text.startswith(prefix + "/"):
            lock.check()
