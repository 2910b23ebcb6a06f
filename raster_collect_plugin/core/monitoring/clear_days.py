"""Which pixels each monitored scene saw clear (``monitoring_clear_days.npz``, appended by each
run: one run or several give the same record), so ``validate`` on a folder counts a detection's
delay in clear observations as well as in days (``core.validation``'s one count).

How to call::

    recorder = ClearDays(pixels)                    # an ``on_scene`` of ``monitor_series``
    recorder.append_to(folder, previous_last, into=stage)
    record = read_clear_days(folder, shape)         # a validation.metrics.ClearRecord or None

Stored as the scenes' times (datetime64[ns]) and one bit per pixel and scene (numpy packbits):
570,240 pixels over 250 monitored scenes are 18 MB before compression. Each run adds its own
pair of arrays (``time_<k>``, ``clear_<k>``) to the file (a zip, as every ``.npz``) without
reading the earlier ones, so an increment of a long monitoring holds and compresses its own
scenes only, not the years before.
"""

from __future__ import annotations

import re
import shutil
import zipfile
from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np

CLEAR_FILE = "monitoring_clear_days.npz"
_PART = re.compile(r"time_(\d+)$")  # an NpzFile lists its arrays without ".npy"


class ClearDays:
    """Collects each monitored scene's clear pixels (``on_scene`` of ``monitor_series``)."""

    def __init__(self, pixels: int):
        self.pixels = pixels
        self.times: List[np.datetime64] = []
        self.rows: List[np.ndarray] = []

    def __call__(self, when, sensor: str, values: np.ndarray, scene) -> None:
        self.times.append(np.datetime64(when, "ns"))
        self.rows.append(np.packbits(np.asarray(scene.valid, bool)))

    def append_to(self, folder: Path, previous_last, into: Optional[Path] = None) -> Path:
        """Add this run's scenes to the folder's record (written to ``into``, else the
        folder). A run from the history (``previous_last`` None) starts the record again; a
        folder made before the record was kept has it from this run on (complete after the
        previous run's last scene); a record holding scenes newer than ``previous_last`` (its
        run's state was not kept) is written again without them."""
        from ..outputs.files import atomic_path

        existing = Path(folder) / CLEAR_FILE
        times = np.array(self.times, "datetime64[ns]")
        rows = (np.stack(self.rows) if self.rows
                else np.zeros((0, (self.pixels + 7) // 8), np.uint8))
        destination = Path(into or folder) / CLEAR_FILE
        last = None if previous_last is None else np.datetime64(previous_last, "ns")
        parts = _parts(existing, self.pixels) if last is not None else None
        with atomic_path(destination) as temp:
            if parts is not None and all((t <= last).all() for _, t in parts):
                shutil.copyfile(existing, temp)  # the earlier runs' parts as they are
                _write_part(temp, len(parts), times, rows)
                return destination
            after, kept = np.datetime64("NaT", "ns"), []
            if last is not None:  # older folder: complete from here; else keep what it saw
                after = last
                if parts is not None:
                    after = _complete_after(existing)
                    kept = [_read_part(existing, k, last) for k, _ in parts]
            with zipfile.ZipFile(temp, "w", zipfile.ZIP_DEFLATED) as archive:
                _put(archive, "pixels", np.array(self.pixels))
                _put(archive, "complete_after", np.array(after, "datetime64[ns]"))
            for k, (old_times, old_rows) in enumerate(kept):
                _write_part(temp, k, old_times, old_rows)
            _write_part(temp, len(kept), times, rows)
        return destination


def _put(archive: zipfile.ZipFile, name: str, array: np.ndarray) -> None:
    with archive.open(f"{name}.npy", "w", force_zip64=True) as handle:
        np.lib.format.write_array(handle, np.asanyarray(array), allow_pickle=False)


def _write_part(path: Path, k: int, times: np.ndarray, rows: np.ndarray) -> None:
    """Add run ``k``'s scenes to the record at ``path`` (zip append: nothing else is read)."""
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as archive:
        _put(archive, f"time_{k}", times)
        _put(archive, f"clear_{k}", rows)


def _parts(path: Path, pixels: int) -> Optional[List[Tuple[int, np.ndarray]]]:
    """(run number, its scenes' times) of each part of the record at ``path``, in order; None
    when there is none, or it is of another number of pixels."""
    if not path.exists():
        return None
    with np.load(path) as data:
        if int(data["pixels"]) != pixels:
            return None
        numbers = sorted(int(m.group(1)) for m in map(_PART.match, data.files) if m)
        return [(k, data[f"time_{k}"]) for k in numbers]


def _read_part(path: Path, k: int, last: np.datetime64) -> Tuple[np.ndarray, np.ndarray]:
    with np.load(path) as data:
        times, rows = data[f"time_{k}"], data[f"clear_{k}"]
    keep = times <= last
    return times[keep], rows[keep]


def _complete_after(path: Path) -> np.datetime64:
    with np.load(path) as data:
        return data["complete_after"][()]


class PackedClear:
    """(scenes, y, x) clear booleans unpacked only for the scenes asked for."""

    def __init__(self, packed: np.ndarray, shape: Tuple[int, int]):
        self.packed, self.shape = packed, tuple(shape)

    def __getitem__(self, scenes) -> np.ndarray:
        rows = self.packed[np.atleast_1d(scenes)]
        pixels = self.shape[0] * self.shape[1]
        return np.unpackbits(rows, axis=1, count=pixels).astype(bool).reshape(
            (len(rows), *self.shape))


def read_clear_days(folder: Path, shape: Tuple[int, int]):
    """The folder's record as a ``ClearRecord`` on a (rows, cols) grid; None when the
    folder has none (made before it was kept) or it is of another grid. A record begun on a
    folder made before it was kept counts only events after its first scene's run."""
    from ..validation.metrics import ClearRecord

    path = Path(folder) / CLEAR_FILE
    parts = _parts(path, shape[0] * shape[1])
    if parts is None:
        return None
    with np.load(path) as data:
        times = np.concatenate([data[f"time_{k}"] for k, _ in parts])
        packed = np.concatenate([data[f"clear_{k}"] for k, _ in parts])
        after = np.datetime64(data["complete_after"][()], "D")
    epoch = np.datetime64("1970-01-01", "D")
    days = (times.astype("datetime64[D]") - epoch).astype("float64")
    return ClearRecord(days, PackedClear(packed, shape),
                       -np.inf if np.isnat(after) else float((after - epoch).astype(int)))
