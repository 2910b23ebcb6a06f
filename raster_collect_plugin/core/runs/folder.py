"""Run bookkeeping, for every door: what determines a result, the output-folder lock, and
publishing a run as one unit.

- :func:`fingerprint` hashes what determines a result: the parameters, the polygons' geometry
  (not the file name), the sources and the scene item ids. Never the command-line text.
- :class:`RunFolder` holds an exclusive lock on the output folder for the whole run (a second
  run into it stops with :class:`FolderLocked`), cleans what a hard-killed run left, refuses to
  mix a run with different inputs into a folder holding other results (:class:`ResultsConflict`)
  unless ``overwrite``, and on failure or cancel removes everything this run placed (finished
  resumable units excepted). ``publish`` writes the manifest last: readers (the dock, later
  runs) trust only the files it lists.

Policy when a folder holds other results: stop (exit 2) unless ``--overwrite`` / the job spec's
``"overwrite": true``; with it, the old manifest is dropped at once (nothing stale is trusted)
and the old run's files that the new one does not replace are removed after the new manifest is
written.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import socket
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from .conflict import conflict_message
from .file_replace import ensure_free, remove
from .manifest import MANIFEST_NAME, read_manifest, write_manifest
from .portable import LockHeld, release_lock_file, same_file, try_lock

LOCK_NAME = ".raster-collect.lock"
JOURNAL_NAME = ".raster-collect-run.json"
PARTIAL_MARKERS = (".raster-collect-partial-", ".partial-", ".part.", ".scratch.")


class RunError(ValueError):
    """The output folder cannot take this run; the message says what to do."""

    exit_kind = "bad_input"


class FolderLocked(RunError):
    """Another run is writing into the folder."""


class ResultsConflict(RunError):
    """The folder holds results of a run with different inputs (the message in a job spec's
    words; ``worded(name)`` in a door's: ``conflict.conflict_message``)."""

    location: object = None
    old: Mapping = {}
    record: Mapping = {}

    def worded(self, name) -> str:
        return conflict_message(self.location, self.old, self.record, name)


def _digest(payload) -> str:
    text = json.dumps(payload, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def geometry_hash(frame, id_field: str) -> str:
    """SHA-256 of the polygons (ids, normalised WKB and CRS): moving a forest changes it,
    renaming or copying the file does not."""
    import shapely

    digest = hashlib.sha256()
    digest.update(str(frame.crs.to_wkt() if frame.crs is not None else "").encode())
    order = sorted(range(len(frame)), key=lambda n: str(frame[id_field].iloc[n]))
    for n in order:
        geometry = frame.geometry.iloc[n]
        digest.update(str(frame[id_field].iloc[n]).encode() + b"\0")
        digest.update(shapely.to_wkb(shapely.normalize(geometry), hex=False))
    return digest.hexdigest()


def _address(address) -> Optional[str]:
    """A source's address as recorded: a local catalog path made absolute, so the same
    catalog given relative from one folder and absolute (or from another folder) is one
    source."""
    if not address:
        return None
    text = str(address)
    if "://" in text:  # a URL (also file://) is kept as given
        return text
    return str(Path(text).expanduser().absolute())


def describe_sources(sources) -> List[dict]:
    """Provider kind, name, address and collections of each source (what was searched)."""
    described = []
    for source in sources:
        provider = source.provider
        address = getattr(provider, "url", None) or getattr(provider, "catalog_href", None)
        described.append({"kind": provider.kind, "name": provider.name,
                          "address": _address(address),
                          "collections": sorted(source.collections)})
    return sorted(described, key=lambda d: json.dumps(d, sort_keys=True))


def request_parameters(request, aoi) -> Dict[str, object]:
    """The parameters of a CompositeRequest that determine its result."""
    return {
        "start": str(request.start), "end": str(request.end),
        # the custom ones too: the command line lists them among its indices, a spec not
        "indices": sorted(set(request.indices) | set(request.custom_indices)),
        "custom_indices": dict(sorted(dict(request.custom_indices).items())),
        "period": request.period, "method": request.method,
        "max_cloud_cover": request.max_cloud_cover,
        "mask_classes": sorted(request.mask_classes),
        "cloud_buffer_m": request.cloud_buffer_m, "resolution": request.resolution,
        "colour_composites": sorted(request.colour_composites),
        "crs": request.crs, "windows": [list(map(str, w)) for w in request.windows or ()],
        "id_field": aoi.id_field, "geometry": geometry_hash(aoi.frame, aoi.id_field),
        "sources": describe_sources(request.sources),
    }


def fingerprint(kind: str, parameters: Mapping[str, object],
                item_ids: Optional[Iterable[str]] = None) -> Dict[str, object]:
    """The run record: ``fingerprint`` (hex), ``kind``, ``parameters`` and ``item_ids``."""
    items = sorted(set(item_ids)) if item_ids is not None else None
    record = {"kind": kind, "parameters": dict(parameters), "item_ids": items}
    return {"fingerprint": _digest(record)[:32], **record}


def results_conflict(location, old: Mapping, record: Mapping) -> ResultsConflict:
    """The error of a run (``record``) into ``location`` holding another run's (``old``)
    results: what differs (in a job spec's words; ``worded`` for a door's) and the way out."""
    error = ResultsConflict(conflict_message(location, old, record))
    error.location, error.old, error.record = location, old, record
    return error


def _is_partial(name: str) -> bool:
    if name.startswith(f"{MANIFEST_NAME}.partial-"):
        return True
    return any(marker in name for marker in PARTIAL_MARKERS) and name.startswith(".")


def _remove(path: Path) -> None:
    # a file held open (Windows: on QGIS's map) stays; no manifest lists it, a later run retries
    try:
        remove(path, must=False)
    except OSError:
        if not path.is_dir():  # a folder is removed as far as it goes, as before
            raise


def _remove_listed(root: Path, top: str, listed: Sequence[str]) -> None:
    """Remove the entry ``top`` of an earlier run: a file, or in a folder (a ``zonal``
    forest's) only the files ``listed`` there and the folders that leaves empty, so your own
    files in it stay."""
    path = root / top
    if not path.is_dir() or path.is_symlink():
        _remove(path)
        return
    for name in listed:
        if name.startswith(top + "/"):
            _remove(root / name)
    for folder in sorted((p for p in path.rglob("*") if p.is_dir()), reverse=True) + [path]:
        with contextlib.suppress(OSError):
            folder.rmdir()  # only if empty


def _umask() -> int:
    """The process umask, read without changing it where possible (other threads may be
    creating files at this moment)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def normal_permissions(path: Path) -> None:
    """Give a folder made by ``tempfile.mkdtemp`` (0700) the usual permissions (0777 - umask)."""
    os.chmod(path, 0o777 & ~_umask())


@dataclass
class RunFolder:
    """One run's hold on its output folder. Use as a context manager::

        with RunFolder(output, record, overwrite=False) as folder:
            ...  # write into the folder
            folder.publish(["a.tif", "b.csv"])

    Leaving without ``publish`` (an error, Ctrl-C, a cancel) removes what this run placed in
    the folder, except names for which ``keep(name)`` is true (finished resumable units)."""

    path: Path
    record: Mapping[str, object]
    overwrite: bool = False
    keep: Optional[Callable[[str], bool]] = None
    rewrites: bool = False  # the run rewrites every file the folder's manifest lists
    # the run names its files with publish_written: each file's stamp is taken when it begins
    tracks_writes: bool = False
    published: bool = False
    _lock: Optional[int] = None
    _before: set = field(default_factory=set)
    _replaced: Sequence[str] = ()
    _previous: Sequence[str] = ()  # what the folder's manifest listed when the run began
    _created: bool = False
    _stamps: Dict[str, Tuple[int, int, int]] = field(default_factory=dict)  # files at start
    removed: List[str] = field(default_factory=list)  # an earlier run's obsolete files
    held: List[str] = field(default_factory=list)  # ... left in place: open (Windows)

    def __post_init__(self):
        self.path = Path(self.path)

    def __enter__(self) -> RunFolder:
        created = self._created = not self.path.exists()
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise RunError(f"the output folder {self.path} cannot be made: it (or a folder "
                           "above it) is a file; choose another --output") from None
        except FileNotFoundError as error:  # e.g. a drive or share that is not there
            raise RunError(f"cannot make the output folder {self.path} ({error.strerror}): "
                           "check the path or choose another --output") from None
        if created:
            os.chmod(self.path, 0o777 & ~_umask())
        self._acquire()
        try:
            self._recover()
            listed = (read_manifest(str(self.path)) or {}).get("files", {})
            if self.rewrites:  # Windows: one on QGIS's map would stop the run half-published
                ensure_free(self.path / name for name in _top_level(listed))
            self._previous = sorted(listed)
            self._check_previous()
            self._before = set(os.listdir(self.path))
            if self.tracks_writes:  # a walk of the whole folder: only for publish_written
                self._stamps = _file_stamps(self.path)
            self._journal({"pid": os.getpid(), "started": time.time(),
                           "before": sorted(self._before)})
        except BaseException:
            self._release()
            raise
        return self

    def __exit__(self, kind, error, traceback) -> None:
        full = error is not None and _write_failure(error) and _nearly_full(self.path)
        try:
            if not self.published:
                self._roll_back(self._before)
            (self.path / JOURNAL_NAME).unlink(missing_ok=True)
        finally:
            self._release()
        if full:  # GDAL says "IO error writing tag data"; say what it means
            raise OSError(errno.ENOSPC, f"No space left on device ({self.path})") from error

    # -- lock ------------------------------------------------------------------------------
    def _acquire(self) -> None:
        """Lock the lock file (``portable.try_lock``); it is removed on release, so after
        locking check that the path still names the locked file (else another run removed it
        meanwhile: retry)."""
        lock_path = self.path / LOCK_NAME
        for _ in range(20):
            handle = os.open(lock_path, os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0),
                             0o666 & ~_umask())
            try:
                try_lock(handle)
            except LockHeld:
                owner = _read_owner(handle)
                os.close(handle)
                raise FolderLocked(
                    f"another raster-collect run is writing to {self.path}"
                    f"{f' ({owner})' if owner else ''}: wait for it to finish or choose "
                    "another --output") from None
            except BaseException:
                os.close(handle)
                raise
            if same_file(lock_path, handle):
                os.ftruncate(handle, 0)
                os.write(handle, lock_owner().encode())
                self._lock = handle
                return
            release_lock_file(handle, None)  # we locked a file another run just removed
        raise FolderLocked(f"cannot lock {self.path}: try again")

    def _release(self) -> None:
        if self._lock is not None:
            handle, self._lock = self._lock, None
            release_lock_file(handle, self.path / LOCK_NAME)
        if self._created and not self.published:
            with contextlib.suppress(OSError):
                self.path.rmdir()  # only if this run made it and left it empty

    # -- what earlier runs left -------------------------------------------------------------
    def _recover(self) -> None:
        """Remove partial files of runs killed hard; undo a killed run's unpublished files."""
        journal = self.path / JOURNAL_NAME
        if journal.exists():
            try:
                before = set(json.loads(journal.read_text()).get("before", []))
            except ValueError:
                before = None
            if before is not None:
                listed = set(_top_level((read_manifest(str(self.path)) or {}).get("files", {})))
                self._roll_back(before | listed)
            journal.unlink(missing_ok=True)
        for name in os.listdir(self.path):
            if _is_partial(name):
                _remove(self.path / name)

    def _roll_back(self, before: set) -> None:
        for name in set(os.listdir(self.path)) - set(before):
            if name in (LOCK_NAME, JOURNAL_NAME):
                continue
            if self.keep is not None and self.keep(name):
                continue
            _remove(self.path / name)

    def _check_previous(self) -> None:
        manifest = read_manifest(str(self.path))
        if manifest is None:
            return
        old = manifest.get("run") or {}
        if old.get("fingerprint") == self.record.get("fingerprint"):
            return
        if not self.overwrite:
            raise results_conflict(self.path, old, self.record)
        self._replaced = sorted(manifest.get("files", {}))
        (self.path / MANIFEST_NAME).unlink(missing_ok=True)  # nothing stale is trusted

    def _journal(self, payload: dict) -> None:
        temporary = self.path / f".{JOURNAL_NAME}.partial-{os.getpid()}"
        temporary.write_text(json.dumps(payload))
        os.replace(temporary, self.path / JOURNAL_NAME)

    # -- publish ----------------------------------------------------------------------------
    def publish_written(self, since: float, *, skip_foreign: bool = False, **details) -> dict:
        """Publish every visible file written into the folder at or after ``since``
        (``time.time()``), for steps that do not report all their files. ``skip_foreign``:
        not what was in the folder before the run and no earlier run published (the user's
        own files: a log appended meanwhile, the polygons), which an --overwrite would
        otherwise remove as this run's."""
        if not self.tracks_writes:
            raise RuntimeError("publish_written needs RunFolder(..., tracks_writes=True)")
        foreign = self._before - set(_top_level(self._previous)) if skip_foreign else set()
        # a second of slack for coarse file times; a file as it was when the run began (an
        # earlier run's, finished within that second) is not this run's
        files = [name for name, stamp in _file_stamps(self.path).items()
                 if name.split("/", 1)[0] not in foreign and name != MANIFEST_NAME
                 and stamp[1] >= (since - 1) * 1e9 and self._stamps.get(name) != stamp]
        return self.publish(files, **details)

    def publish(self, files: Iterable[str], *,
                superseded: Optional[Callable[[Sequence[str], Sequence[str]], Iterable[str]]]
                = None, **details) -> dict:
        """Write the manifest (last) listing ``files`` (relative paths), then remove what an
        overwritten run left that this one did not replace. ``superseded(previous, files)``
        names files of the earlier run into this folder (same inputs: a rerun) that this run
        makes obsolete (a table in a format no longer asked for); those the earlier manifest
        listed are removed too, never a file no run published (``self.removed``: the removed
        ones, ``self.held``: those left because they are open). Returns the manifest."""
        files = sorted(set(files))
        obsolete = sorted(set(superseded(self._previous, files) if superseded else ())
                          & set(self._previous) - set(files))
        manifest = write_manifest(str(self.path), files, run={**self.record, **details})
        self.published = True
        kept = set(_top_level(files))
        for name in sorted(set(_top_level(self._replaced)) - kept):
            _remove_listed(self.path, name, self._replaced)
        for name in obsolete:  # a file held open (Windows) stays, out of the manifest
            (self.removed if remove(self.path / name, must=False) else self.held).append(name)
        return manifest


def lock_owner() -> str:
    """What a folder's lock file says of its run: ``pid N on HOST`` (``unlock`` tells a run on
    this machine from one on another sharing the folder by it)."""
    return f"pid {os.getpid()} on {socket.gethostname()}"


def lock_pid_host(text: str) -> Tuple[Optional[int], Optional[str]]:
    """The pid and host a lock file's ``lock_owner`` text names (host None in one written
    before hosts were named; both None when unreadable)."""
    words = text.split(" ", 3)
    if len(words) < 2 or words[0] != "pid" or not words[1].isdigit():
        return None, None
    return int(words[1]), words[3] if len(words) == 4 and words[2] == "on" else None


def _read_owner(handle: int) -> str:
    try:
        return os.read(handle, 200).decode(errors="replace").strip()
    except OSError:  # Windows: the range is locked, or the file is being written
        return ""


def _write_failure(error: BaseException) -> bool:
    if isinstance(error, OSError):
        return True
    text = str(error).lower()
    return type(error).__name__.startswith("CPLE_") and ("writ" in text or "io error" in text)


def _nearly_full(path: Path, margin: int = 1 << 20) -> bool:
    try:
        return shutil.disk_usage(path).free < margin
    except OSError:
        return False


def _file_stamps(folder: Path) -> Dict[str, Tuple[int, int, int]]:
    """Each visible file under ``folder`` (relative posix path, hidden parts skipped): its
    (inode, modification time in ns, size); a file rewritten or replaced gets another."""
    stamps = {}
    for path in folder.rglob("*"):
        name = path.relative_to(folder).as_posix()
        if any(part.startswith(".") for part in name.split("/")):
            continue
        try:
            status = path.stat()
        except OSError:  # removed meanwhile
            continue
        if stat.S_ISREG(status.st_mode):
            stamps[name] = (status.st_ino, status.st_mtime_ns, status.st_size)
    return stamps


def _top_level(names: Iterable[str]) -> List[str]:
    return sorted({str(name).split("/", 1)[0] for name in names})


def relative_files(folder: Path, paths: Iterable[Path]) -> List[str]:
    """Paths relative to ``folder`` (posix), for a manifest."""
    folder = Path(folder).resolve()
    return sorted(Path(p).resolve().relative_to(folder).as_posix() for p in paths)
