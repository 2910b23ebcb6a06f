"""Windows rules simulated on Linux, for tests.

- :func:`fake_msvcrt`: a ``msvcrt`` module whose ``locking`` locks byte ranges per open file
  (Linux open-file-description locks), as ``msvcrt.locking`` does on Windows: a second handle,
  in this process or another, is refused with ``PermissionError(13)``; unlocking needs the
  same range.
- :func:`forbid_deleting_open_files`: ``os.unlink``/``os.remove`` raise ``PermissionError(13)``
  for a file some handle of this process has open, as Windows does.
- Run as a script (``python tests/windows_rules.py ARGS``): the raster-collect command line with
  the POSIX-only modules unimportable from the project's own code (third-party packages keep
  them) and ``msvcrt`` available, so a real job takes the Windows code paths.
"""

from __future__ import annotations

import builtins
import errno
import fcntl
import os
import shutil
import struct
import types

POSIX_ONLY = ("fcntl", "resource", "pwd", "grp", "termios")
PROJECT = "raster_collect_plugin"
CALLS_VARIABLE = "RASTER_COLLECT_TEST_MSVCRT_CALLS"  # a file the fake appends its calls to


def fake_msvcrt() -> types.ModuleType:
    """A ``msvcrt`` with ``locking`` and its mode constants."""
    module = types.ModuleType("msvcrt")
    module.LK_UNLCK, module.LK_LOCK, module.LK_NBLCK, module.LK_RLCK, module.LK_NBRLCK = range(5)

    def locking(fd: int, mode: int, nbytes: int) -> None:
        start = os.lseek(fd, 0, os.SEEK_CUR)
        kind = fcntl.F_UNLCK if mode == module.LK_UNLCK else fcntl.F_WRLCK
        record = struct.pack("hhqqi4x", kind, os.SEEK_SET, start, nbytes, 0)
        if os.environ.get(CALLS_VARIABLE):
            with open(os.environ[CALLS_VARIABLE], "a") as calls:
                calls.write(f"{mode} {start} {nbytes}\n")
        try:
            fcntl.fcntl(fd, fcntl.F_OFD_SETLK, record)
        except OSError as error:
            if error.errno in (errno.EAGAIN, errno.EACCES):
                raise PermissionError(errno.EACCES, "Permission denied") from None
            raise

    module.locking = locking
    return module


def open_paths() -> set:
    """Real paths of the files this process has open."""
    found = set()
    for name in os.listdir("/proc/self/fd"):
        try:
            found.add(os.path.realpath(os.readlink(f"/proc/self/fd/{name}")))
        except OSError:
            continue
    return found


def forbid_deleting_open_files(monkeypatch) -> None:
    """Make ``os.unlink``/``os.remove`` refuse files this process holds open."""
    unlink = os.unlink

    def windows_unlink(path, *args, **kwargs):
        if os.path.realpath(path) in open_paths():
            raise PermissionError(errno.EACCES, "The process cannot access the file because "
                                  "it is being used by another process", str(path))
        return unlink(path, *args, **kwargs)

    monkeypatch.setattr(os, "unlink", windows_unlink)
    monkeypatch.setattr(os, "remove", windows_unlink)


def block_posix_modules_for_the_project() -> None:
    """``import fcntl`` (etc.) raises ImportError in raster_collect_plugin modules only.

    A hook on ``__import__`` rather than on ``sys.meta_path``: a module already imported by
    the standard library or a third-party package is served from ``sys.modules`` without
    asking the meta path."""
    original = builtins.__import__
    msvcrt = fake_msvcrt()  # for the project only: the standard library would think it runs
                            # on Windows (subprocess tests ``import msvcrt``)

    def guarded(name, globals=None, locals=None, fromlist=(), level=0):
        importer = (globals or {}).get("__name__", "") or ""
        top = name.split(".", 1)[0]
        if level == 0 and (importer == PROJECT or importer.startswith(PROJECT + ".")):
            if top in POSIX_ONLY:
                raise ImportError(f"No module named '{top}' (simulated Windows, for "
                                  f"{importer})", name=top)
            if name == "msvcrt":
                return msvcrt
        return original(name, globals, locals, fromlist, level)

    builtins.__import__ = guarded


if __name__ == "__main__":
    import runpy
    import sys

    block_posix_modules_for_the_project()
    sys.argv = [PROJECT, *sys.argv[1:]]
    runpy.run_module(PROJECT, run_name="__main__", alter_sys=True)


class HeldFiles:
    """Files "open in QGIS" under Windows rules: replacing, renaming or deleting them (or
    renaming a folder holding them) raises ``PermissionError(13)``; ``shutil.rmtree`` deletes
    the rest of a tree and then fails on them, as on Windows. ``release()`` closes them;
    ``transient=N`` lets go after N refusals (an antivirus scan)."""

    def __init__(self, monkeypatch, *paths, transient: int = 0):
        self.paths = {os.path.realpath(p) for p in paths}
        self.transient = transient
        self.refusals = 0
        replace, rename, unlink = os.replace, os.rename, os.unlink
        rmtree = shutil.rmtree

        def guard(*candidates) -> None:
            for candidate in candidates:
                if self._holds(candidate):
                    self.refusals += 1
                    if self.transient and self.refusals > self.transient:
                        self.paths.clear()
                        return
                    raise PermissionError(errno.EACCES, "The process cannot access the file "
                                          "because it is being used by another process",
                                          str(candidate))

        def windows_replace(src, dst, **kwargs):
            guard(src, dst)
            return replace(src, dst, **kwargs)

        def windows_rename(src, dst, **kwargs):
            guard(src, dst)
            return rename(src, dst, **kwargs)

        def windows_unlink(path, *args, dir_fd=None, **kwargs):
            full = path if dir_fd is None else os.path.join(
                os.readlink(f"/proc/self/fd/{dir_fd}"), path)
            guard(full)
            return unlink(path, *args, dir_fd=dir_fd, **kwargs)

        def windows_rmtree(path, ignore_errors=False, *args, **kwargs):
            held = [p for p in self.paths if self._under(p, path)]
            if not held:
                return rmtree(path, ignore_errors, *args, **kwargs)
            for folder, _, files in os.walk(path):
                for name in files:
                    full = os.path.join(folder, name)
                    if os.path.realpath(full) not in self.paths:
                        unlink(full)
            if not ignore_errors:
                guard(held[0])

        monkeypatch.setenv("RASTER_COLLECT_SIMULATE_WINDOWS", "1")
        monkeypatch.setattr(os, "replace", windows_replace)
        monkeypatch.setattr(os, "rename", windows_rename)
        monkeypatch.setattr(os, "unlink", windows_unlink)
        monkeypatch.setattr(os, "remove", windows_unlink)
        monkeypatch.setattr(shutil, "rmtree", windows_rmtree)

    @staticmethod
    def _under(held: str, folder) -> bool:
        folder = os.path.realpath(folder)
        return held == folder or held.startswith(folder.rstrip(os.sep) + os.sep)

    def _holds(self, path) -> bool:
        """The path is held, or is a folder holding a held file (a rename would fail)."""
        return any(self._under(held, path) for held in self.paths)

    def release(self) -> None:
        self.paths.clear()
