"""Per compartment, the monitored series behind the chart: for every scene, the mean clear
value, the model's expectation over the same pixels and the share of them that were anomalous
(``monitoring_series.csv``, appended by each run: one run or several give the same table)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import numpy as np
import pandas as pd

from .areas import Membership

SERIES_FILE = "monitoring_series.csv"
COLUMNS = ("time", "sensor", "clear_pixels", "observed", "expected", "anomalous_fraction")


class ZoneSeries:
    """Collects one row per compartment and scene (``on_scene`` of ``monitor_series``)."""

    def __init__(self, members: Membership, ids: np.ndarray, id_field: str):
        self.members, self.ids, self.id_field = members, ids, id_field
        self.rows: List[pd.DataFrame] = []

    def __call__(self, when, sensor: str, values: np.ndarray, scene) -> None:
        pixel = self.members.pixel
        seen = scene.valid[pixel]
        where, pixel = self.members.zone[seen], pixel[seen]
        count = len(self.ids)
        clear = np.bincount(where, minlength=count)
        if not clear.any():
            return
        observed = np.bincount(where, weights=values[pixel].astype(float), minlength=count)
        expected = np.bincount(where, weights=scene.expected[pixel], minlength=count)
        anomalous = np.bincount(where, weights=scene.anomaly[pixel].astype(float),
                                minlength=count)
        keep = clear > 0
        self.rows.append(pd.DataFrame({
            self.id_field: self.ids[keep], "time": str(when)[:19], "sensor": sensor,
            "clear_pixels": clear[keep], "observed": observed[keep] / clear[keep],
            "expected": expected[keep] / clear[keep],
            "anomalous_fraction": anomalous[keep] / clear[keep]}))

    def append_to(self, folder: Path, previous_last, into: Optional[Path] = None) -> Path:
        """Append the collected rows to the folder's table; rows newer than the previous
        run's last scene (left by a run that did not finish) are replaced, and a run from
        the history (``previous_last`` None: no state to continue) starts the table again.
        ``into``: the folder to write the table to (default ``folder``)."""
        from ..outputs.files import atomic_path

        existing = Path(folder) / SERIES_FILE
        destination = Path(into or folder) / SERIES_FILE
        # read back as written: ids as the compartments' own ("0101" stays text), and floats
        # exactly, so a run and the same period in increments give the same file
        id_type = self.ids.dtype if self.ids.dtype.kind in "iu" else str
        old = (pd.read_csv(existing, dtype={self.id_field: id_type, "time": str},
                           float_precision="round_trip")
               if existing.exists() and previous_last is not None else None)
        if old is not None:
            old = old[old["time"] <= str(previous_last)[:19]]
        frames = [f for f in (old, *self.rows) if f is not None and len(f)]
        table = (pd.concat(frames, ignore_index=True) if frames else
                 pd.DataFrame(columns=[self.id_field, *COLUMNS]))
        with atomic_path(destination) as temp:
            table.to_csv(temp, index=False)
        return destination
