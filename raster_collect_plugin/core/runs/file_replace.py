"""Replacing and removing result files that another program may hold open (Windows).

On Windows a file QGIS shows on the map cannot be replaced, renamed or deleted
(``PermissionError``, WinError 5 or 32); antivirus scanners and indexers hold new files for a
moment too. Here every such step is retried briefly, and a file that stays held stops the run
with :class:`FileHeldOpen` naming it, before anything of the previous results is lost: the old
files are first moved aside (a rename is refused exactly when a replace would be), and put back
if any of them cannot be.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import time
from pathlib import Path
from typing import Callable, Iterable, List, Sequence, Tuple

from .portable import windows_rules

# seconds between attempts: antivirus and indexers let go within a second or two
RETRY_DELAYS: Sequence[float] = (0.1, 0.25, 0.5, 1.0, 2.0)
ASIDE_MARKER = ".partial-previous-"  # a partial marker: a hard-killed run's leftovers go


class FileHeldOpen(PermissionError):
    """A result file stays open in another program (QGIS) and cannot be replaced."""

    exit_kind = "bad_input"

    def __init__(self, path: os.PathLike):
        what = f"a file in {path} is" if Path(path).is_dir() else f"{path} is"
        super().__init__(
            errno.EACCES,
            f"{what} open in another program and cannot be replaced: close the layer in "
            "QGIS or choose another output folder (the previous results are unchanged)",
            str(path))

    def __str__(self) -> str:
        return self.strerror


def _held(error: OSError) -> bool:
    """A Windows sharing violation or access denial; on POSIX (no mandatory locks) a
    PermissionError means the folder's permissions, reported as such."""
    if getattr(error, "winerror", None) in (5, 32):
        return True
    return isinstance(error, PermissionError) and windows_rules()


def retry(step: Callable[[], None]) -> None:
    """Run ``step``; on a PermissionError (a file held open) wait and retry a few times."""
    for delay in (*RETRY_DELAYS, None):
        try:
            step()
            return
        except OSError as error:
            if delay is None or not _held(error):
                raise
        time.sleep(delay)


def remove(path: os.PathLike, *, must: bool = True) -> bool:
    """Remove a file or folder, retrying while it is held; False when it stays held and
    ``must`` is false, :class:`FileHeldOpen` when ``must``."""
    path = Path(path)

    def step() -> None:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            os.remove(path)

    try:
        retry(step)
        return True
    except FileNotFoundError:
        return True
    except OSError as error:
        if not _held(error):
            raise
        if must:
            raise FileHeldOpen(path) from error
        return False


def replace(source: os.PathLike, target: os.PathLike) -> None:
    """``os.replace``, retried while the target is held; :class:`FileHeldOpen` if it stays
    held (the old file is then unchanged: Windows refuses the whole replace)."""
    try:
        retry(lambda: os.replace(source, target))
    except OSError as error:
        if _held(error):
            raise FileHeldOpen(target) from error
        raise


def ensure_free(paths: Iterable[os.PathLike]) -> None:
    """Where Windows rules apply, raise :class:`FileHeldOpen` for the first existing path
    another program holds open, before a run computes anything. Probed by renaming it aside
    and back, which is what replacing it needs (the aside name is no partial marker: nothing
    removes it should the run die in between)."""
    if not windows_rules():
        return
    for path in map(Path, paths):
        if not path.exists():
            continue
        probe = path.with_name(f".{path.name}.held-check-{os.getpid()}")
        try:
            retry(lambda p=path, q=probe: os.replace(p, q))
        except OSError as error:
            if _held(error):
                raise FileHeldOpen(path) from error
            raise
        os.replace(probe, path)


def replace_all(moves: Iterable[Tuple[os.PathLike, os.PathLike]]) -> None:
    """Move each ``(source, target)`` into place (files or folders), all or none: where
    Windows rules apply (and for folders) existing targets are first moved aside; if one of
    them is held open, the ones already moved come back and :class:`FileHeldOpen` names it.
    The set-aside copies are removed at the end (one still held is left hidden, and a later
    run removes it). On POSIX each file is replaced atomically, as nothing holds it."""
    moves = [(Path(source), Path(target)) for source, target in moves]
    aside: List[Tuple[Path, Path]] = []
    set_aside = windows_rules()
    try:
        for _, target in moves:
            if (set_aside or target.is_dir()) and (target.exists() or target.is_symlink()):
                backup = target.with_name(f".{target.name}{ASIDE_MARKER}{os.getpid()}")
                remove(backup, must=False)
                try:
                    retry(lambda t=target, b=backup: os.replace(t, b))
                except OSError as error:
                    if _held(error):
                        raise FileHeldOpen(target) from error
                    raise
                aside.append((target, backup))
    except BaseException:
        for target, backup in reversed(aside):
            os.replace(backup, target)
        raise
    placed: List[Path] = []
    try:
        for source, target in moves:
            replace(source, target)
            placed.append(target)
    except BaseException:  # never leave a mix: the previous results come back
        for target in placed:
            remove(target, must=False)
        for target, backup in reversed(aside):
            os.replace(backup, target)
        raise
    for _, backup in aside:  # the new results are in place: a leftover is only clutter
        with contextlib.suppress(OSError):
            remove(backup, must=False)
