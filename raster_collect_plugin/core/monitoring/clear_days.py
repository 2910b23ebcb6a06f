"""Which pixels each monitored scene saw clear (``monitoring_clear_days.npz``, appended by each
run: one run or several give the same record), so ``validate`` on a folder counts a detection's
delay in clear observations as well as in days (``core.validation``'s one count).

How to call::

    recorder = ClearDays(pixels)                    # an ``on_scene`` of ``monitor_series``
    recorder.append_to(folder, previous_last, into=stage)
    record = read_clear_days(folder, shape)         # a validation.metrics.ClearRecord or None

Stored as the scenes' times (datetime64[ns]) and one bit per pixel and scene (numpy packbits):
570,240 pixels over 250 monitored scenes are 18 MB before compression.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np

CLEAR_FILE = "monitoring_clear_days.npz"


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
        """Append this run's scenes to the folder's record; scenes newer than the previous
        run's last (left by a run that did not finish) are replaced, and a run from the
        history (``previous_last`` None) starts the record again."""
        from ..outputs.files import atomic_path

        existing = Path(folder) / CLEAR_FILE
        times = np.array(self.times, "datetime64[ns]")
        rows = (np.stack(self.rows) if self.rows
                else np.zeros((0, (self.pixels + 7) // 8), np.uint8))
        # complete after: NaT from the history on; a folder made before the record was kept
        # has it from this run on only (the scenes after the previous run's last)
        after = np.datetime64("NaT", "ns")
        if previous_last is not None:
            after = np.datetime64(previous_last, "ns")
        if existing.exists() and previous_last is not None:
            with np.load(existing) as old:
                keep = old["time"] <= np.datetime64(previous_last, "ns")
                times = np.concatenate([old["time"][keep], times])
                rows = np.concatenate([old["clear"][keep], rows])
                after = old["complete_after"] if "complete_after" in old.files else after
        destination = Path(into or folder) / CLEAR_FILE
        with atomic_path(destination) as temp:
            with open(temp, "wb") as handle:
                np.savez_compressed(handle, time=times, clear=rows,
                                    pixels=np.array(self.pixels),
                                    complete_after=np.array(after, "datetime64[ns]"))
        return destination


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
    if not path.exists():
        return None
    with np.load(path) as data:
        if int(data["pixels"]) != shape[0] * shape[1]:
            return None
        times, packed = data["time"], data["clear"]
        after = np.datetime64(data["complete_after"][()], "D")
    epoch = np.datetime64("1970-01-01", "D")
    days = (times.astype("datetime64[D]") - epoch).astype("float64")
    return ClearRecord(days, PackedClear(packed, shape),
                       -np.inf if np.isnat(after) else float((after - epoch).astype(int)))
