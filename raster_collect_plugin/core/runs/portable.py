"""What differs between Windows and POSIX, in one place: the output-folder lock and the
length of the paths a run writes.

- The lock is ``fcntl.flock`` on POSIX and ``msvcrt.locking`` on Windows; neither module exists
  on the other system, so both imports are guarded (see ``tests/test_portability.py``).
- Windows forbids deleting a file some process holds open, so there the lock file is removed
  only after it is closed (and left in place when another run has it open). On POSIX it is
  removed while still locked: a run that locks it afterwards sees that the path no longer
  names its file and retries, so two runs never hold two different lock files.
- Windows refuses paths of 260 characters or more unless long paths are enabled:
  :func:`check_path_length` says so before a run starts instead of failing half-way.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
from typing import Optional

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None
try:
    import msvcrt
except ImportError:  # POSIX
    msvcrt = None

# msvcrt.locking locks bytes from the file position; lock one byte far past the owner text so
# another run can still read "pid N" from the start of the file (Windows blocks reads of a
# locked range)
_WINDOWS_LOCK_OFFSET = 1 << 30
WINDOWS_MAX_PATH = 259  # MAX_PATH (260) includes the terminating NUL


class LockHeld(OSError):
    """Another process holds the lock."""


def windows_rules() -> bool:
    """True where Windows file rules apply (``RASTER_COLLECT_SIMULATE_WINDOWS=1`` makes tests
    check them on any system)."""
    return sys.platform == "win32" or os.environ.get("RASTER_COLLECT_SIMULATE_WINDOWS") == "1"


def _uses_msvcrt() -> bool:
    return fcntl is None and msvcrt is not None


def try_lock(handle: int) -> None:
    """Lock the open file ``handle`` exclusively without waiting; raise :class:`LockHeld`
    when another process holds it."""
    if fcntl is not None:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise LockHeld(error.errno, "locked by another process") from None
            raise
        return
    if msvcrt is None:
        raise OSError(errno.ENOSYS, "no file locking on this system (neither fcntl nor msvcrt)")
    os.lseek(handle, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
    try:
        msvcrt.locking(handle, msvcrt.LK_NBLCK, 1)
    except OSError as error:  # EACCES when held; EDEADLOCK after LK_LOCK's retries
        if error.errno in (errno.EACCES, getattr(errno, "EDEADLOCK", errno.EDEADLK)):
            raise LockHeld(error.errno, "locked by another process") from None
        raise
    finally:
        os.lseek(handle, 0, os.SEEK_SET)


def release_lock_file(handle: int, path: Optional[os.PathLike]) -> None:
    """Unlock and close ``handle``; remove the lock file at ``path`` (if given) in the order
    the system allows (see the module docstring)."""
    if not _uses_msvcrt():
        if path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        if fcntl is not None:
            fcntl.flock(handle, fcntl.LOCK_UN)
        os.close(handle)
        return
    try:
        os.lseek(handle, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        msvcrt.locking(handle, msvcrt.LK_UNLCK, 1)
    finally:
        os.close(handle)
    if path is not None:
        # another run that has it open (waiting or refused) makes this fail: that is fine,
        # the lock is the locked byte, not the file's existence
        with contextlib.suppress(PermissionError, FileNotFoundError):
            os.unlink(path)


def same_file(path: os.PathLike, handle: int) -> bool:
    """True when ``path`` still names the open file ``handle``."""
    try:
        return os.path.samestat(os.stat(path), os.fstat(handle))
    except FileNotFoundError:
        return False


class PathTooLong(ValueError):
    """An output path would pass Windows' 260-character limit."""

    exit_kind = "bad_input"


def check_path_length(folder: os.PathLike, longest_name_length: int,
                      limit: int = WINDOWS_MAX_PATH) -> None:
    """Refuse, before anything is written, a run whose longest output path (``folder`` plus
    ``longest_name_length`` characters below it) passes ``limit`` where Windows rules apply."""
    if not windows_rules() or long_paths_enabled():
        return
    folder_text = os.path.abspath(os.fspath(folder)) if not _is_url(folder) else None
    if folder_text is None:
        return
    longest = len(folder_text.rstrip("/\\")) + 1 + longest_name_length
    if longest > limit:
        raise PathTooLong(
            f"output folder too deep for Windows: its files reach {longest} characters, over "
            f"Windows' limit of {limit}: choose a folder {longest - limit} characters shorter "
            f"(e.g. C:\\forest) or enable long paths (LongPathsEnabled): {folder_text}")


def long_paths_enabled() -> bool:
    """True on a Windows where long paths are switched on (``LongPathsEnabled`` = 1)."""
    if sys.platform != "win32":
        return False
    try:
        import winreg

        with winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE,
                            r"SYSTEM\CurrentControlSet\Control\FileSystem") as key:
            return winreg.QueryValueEx(key, "LongPathsEnabled")[0] == 1
    except (ImportError, OSError):
        return False


def _is_url(folder) -> bool:
    return "://" in str(folder)
