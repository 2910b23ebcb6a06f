"""What a monitoring run keeps between runs: the parameters, the history fit and the per-pixel
counters, saved beside the outputs (``monitoring_state.npz`` + ``monitoring_state.json``) so a
later run processes only newer observations and ends exactly where a run from scratch would.

Per-pixel status codes (one source: the COG, the tables and the doors read them here)."""

from __future__ import annotations

import json
import uuid
import zipfile
import zlib
from dataclasses import asdict, dataclass, field, fields
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from .keys import RANGES

NO_ALERT, SUSPECTED, CONFIRMED, RECOVERED = 0, 1, 2, 3
NOT_MONITORED = 255  # outside the forests, or too few clear observations in the history
STATUS_NAMES = {NO_ALERT: "no alert", SUSPECTED: "suspected", CONFIRMED: "confirmed",
                RECOVERED: "recovered", NOT_MONITORED: "not monitored"}
CONFIDENCE_NAMES = {0: "none", 1: "low", 2: "medium", 3: "high"}
# A compartment's (or hexagon's) alert, most urgent first, and its colour on the map (one source:
# the tables' ranking, README and the dock's legend read them here). "not monitored": no
# monitored pixel in it (no pixel centre inside, or too few clear history observations), so
# "none" always means watched and nothing found.
ALERT_COLOURS = {"disturbed": "#d73027", "suspected": "#fdae61", "none": "#1a9850",
                 STATUS_NAMES[NOT_MONITORED]: "#bdbdbd"}
SENSOR_BITS = {"sentinel-2": 1, "landsat": 2}
OTHER_SENSOR_BIT = 4
STATE_VERSION = 1
STATE_FILES = ("monitoring_state.npz", "monitoring_state.json")


def spec_key(key: str) -> str:
    """How a job spec's ``monitoring`` key is named in its refusals (type or range)."""
    return f"job spec monitoring {key!r}"


class StateError(ValueError):
    """A saved state cannot be continued (other parameters, grid or an unfinished history)."""

    exit_kind = "bad_input"


DEFAULT_MIN_HISTORY_OBS = 10  # clear history observations a pixel needs (at least)
# the alerts layer's first day, left out (monitoring.run), as every door's help and refusal say
ALERTS_SINCE_DEFAULT = "the previous run's last scene; on a first run the history's end"


@dataclass(frozen=True)
class MonitorParams:
    """How pixels are monitored. ``history_start``/``history_end``: the stable period the
    model is fitted on (the forester's choice); every later clear observation is monitored.

    An observation is an anomaly when its departure from the model, in the disturbance
    ``direction``, exceeds ``threshold`` standard deviations of the history's residuals (and at
    least ``min_drop`` index units) *and* the EWMA control chart (JRC nrt's EWMA: ``lambda_``,
    ``sensitivity``; departures are clipped at ``outlier_sigma``) is beyond its
    boundary; or, ``method="cusum"``, nrt's CuSum chart with significance ``alpha``.
    ``confirm`` consecutive anomalies confirm a disturbance (fordead: 3), ``recover``
    consecutive normal observations end it."""

    history_start: date
    history_end: date
    harmonic_order: int = 2
    trend: bool = False
    screen_sigma: float = 5.0
    min_history_obs: Optional[int] = None  # None: 10, or the model's least when higher
    threshold: float = 3.0
    min_drop: float = 0.05
    direction: str = "decrease"
    lambda_: float = 0.3
    sensitivity: float = 2.0
    outlier_sigma: float = 10.0
    confirm: int = 3
    recover: int = 3
    method: str = "ewma"
    alpha: float = 0.05

    def __post_init__(self) -> None:
        if self.min_history_obs is None:  # a model of 10 coefficients needs 11
            try:
                least = self.least_history_obs()
            except (TypeError, ValueError):  # a wrong model: check() names it
                least = 0
            object.__setattr__(self, "min_history_obs", max(DEFAULT_MIN_HISTORY_OBS, least))

    def check(self, name: Callable[[str], str] = spec_key) -> MonitorParams:
        """These parameters, or StateError naming the first wrong one as ``name(key)`` says
        (each door's own words: the job spec's ``spec_key``, the default, or the command
        line's option)."""
        if self.history_end <= self.history_start:
            raise StateError("the history period must end after it starts "
                             f"({self.history_start} .. {self.history_end})")
        if self.direction not in ("decrease", "increase"):
            raise StateError(f"{name('direction')} must be 'decrease' (NDVI, NBR...) or "
                             f"'increase' (e.g. CRSWIR), not {self.direction!r}")
        for key in ("confirm", "recover"):  # the per-pixel counters are int16
            value, bounds = getattr(self, key), RANGES[key]
            if value < bounds.least:
                raise StateError(f"{name(key)} must be at least {bounds.least} observation, "
                                 f"not {value}")
            if value > bounds.most:
                raise StateError(f"{name(key)} must be at most {bounds.most} observations "
                                 f"(years of scenes), not {value}")
        if self.method not in ("ewma", "cusum"):
            raise StateError(f"{name('method')} must be 'ewma' or 'cusum', not "
                             f"{self.method!r}")
        for key, bounds in RANGES.items():
            if key not in ("confirm", "recover") and not bounds.holds(getattr(self, key)):
                raise StateError(f"{name(key)} must be {bounds.words()}, not "
                                 f"{getattr(self, key):g}")
        least = self.least_history_obs()
        if self.min_history_obs < least:  # fewer: such pixels were silently never fitted
            terms = ", ".join(["intercept"] + ["trend"] * self.trend + [
                f"{2 * self.harmonic_order} harmonic terms"] * bool(self.harmonic_order))
            raise StateError(f"{name('min_history_obs')} must be at least {least} clear "
                             f"observations for this model ({least - 1} coefficients: {terms}; "
                             f"and one more to measure σ), not {self.min_history_obs}")
        return self

    def least_history_obs(self) -> int:
        """The fewest clear history observations that fit a pixel: one more than the model's
        coefficients (a pixel with as many is fitted exactly, σ 0)."""
        from .harmonic import coefficients

        return coefficients(self.harmonic_order, self.trend) + 1

    def to_json(self) -> Dict:
        values = asdict(self)
        values["history_start"] = self.history_start.isoformat()
        values["history_end"] = self.history_end.isoformat()
        return values

    @classmethod
    def from_json(cls, values: Dict) -> MonitorParams:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in values.items() if k in known}
        values["history_start"] = date.fromisoformat(values["history_start"])
        values["history_end"] = date.fromisoformat(values["history_end"])
        return cls(**values)


@lru_cache(maxsize=1)
def default_params() -> MonitorParams:
    """The job spec's monitoring defaults, resolved (its dates are placeholders): what the
    doors' controls start from."""
    return MonitorParams(date(2000, 1, 1), date(2000, 1, 2))


# per-pixel arrays and their dtypes; dates are days since 1970-01-01 (0: none)
PIXEL_ARRAYS = {
    "sigma": np.float64, "boundary": np.float64, "ewma": np.float64, "fitted": bool,
    "status": np.uint8, "run": np.int16, "normal_run": np.int16,
    "candidate_first": np.int32, "candidate_sum": np.float64, "candidate_count": np.int16,
    "candidate_sensors": np.uint8,
    "first_anomaly": np.int32, "confirmation": np.int32, "recovery": np.int32,
    "episode_sum": np.float64, "episode_count": np.int16, "episode_sensors": np.uint8,
    "last_observation": np.int32, "observations": np.int32,
    "history_size": np.int32, "scale": np.float64,  # CuSum's normalisation
}


@dataclass
class MonitorState:
    """The fitted model and counters of every pixel of a (rows, cols) grid."""

    params: MonitorParams
    shape: Tuple[int, int]
    beta: np.ndarray  # (k, pixels)
    arrays: Dict[str, np.ndarray]
    last_time: Optional[np.datetime64] = None  # the newest observation processed
    history_observations: int = 0
    scenes: int = 0  # monitored scenes processed
    grid: Dict = field(default_factory=dict)  # crs, transform (for the outputs)
    index: str = ""
    # the scenes processed near the end (item id -> acquisition time), so a later run can
    # name the scenes published after it (monitoring.late); None: a folder made before
    processed_scenes: Optional[Dict[str, str]] = None
    late_scenes: List[Dict] = field(default_factory=list)  # published too late to be used

    def __getattr__(self, name: str):
        arrays = self.__dict__.get("arrays", {})
        if name in arrays:
            return arrays[name]
        raise AttributeError(name)

    def save(self, folder: Path) -> Tuple[Path, Path]:
        """Write the state atomically (arrays first, the JSON that names them last)."""
        from ..outputs.files import atomic_path, write_json

        folder = Path(folder)
        npz, meta = (folder / name for name in STATE_FILES)
        pair = uuid.uuid4().hex  # in both files: a save interrupted between them is told
        with atomic_path(npz) as temp:
            with open(temp, "wb") as handle:
                np.savez_compressed(handle, beta=self.beta, pair=np.array(pair),
                                    **self.arrays)
        write_json(meta, {
            "version": STATE_VERSION, "pair": pair, "params": self.params.to_json(),
            "shape": list(self.shape), "grid": self.grid, "index": self.index,
            "last_time": None if self.last_time is None else str(self.last_time),
            "history_observations": self.history_observations, "scenes": self.scenes,
            "processed_scenes": self.processed_scenes, "late_scenes": self.late_scenes})
        return npz, meta

    @classmethod
    def load(cls, folder: Path) -> Optional[MonitorState]:
        """The state saved in ``folder``, or None when there is none; StateError when it is
        damaged (a file missing, unreadable, or the two from different saves)."""
        npz, meta = (Path(folder) / name for name in STATE_FILES)
        if not meta.exists() and not npz.exists():
            return None
        try:
            return cls._read(npz, meta)
        except (StateError, PermissionError):
            raise
        except (OSError, ValueError, KeyError, TypeError, AttributeError, EOFError,
                zipfile.BadZipFile, zlib.error) as error:
            reason = (f"{Path(error.filename).name} is missing"
                      if isinstance(error, FileNotFoundError)
                      else f"{type(error).__name__}: {error}".splitlines()[0][:200])
            raise StateError(
                f"the monitoring state in {folder} is damaged ({reason}): rebuild it from the "
                f"history with 'raster-collect monitor ... --overwrite --output {folder}' "
                "(job spec \"overwrite\": true)") from None

    @classmethod
    def _read(cls, npz: Path, meta: Path) -> MonitorState:
        info = json.loads(meta.read_text(encoding="utf-8"))
        if info.get("version") != STATE_VERSION:
            raise StateError(f"{meta} was written by another version of the monitoring; "
                             "start a new run in an empty folder")
        with np.load(npz) as data:
            pair = str(data["pair"]) if "pair" in data.files else None
            if (pair is not None or "pair" in info) and pair != info.get("pair"):
                raise ValueError(f"{npz.name} and {meta.name} are from different saves")
            arrays = {name: data[name] if name in data.files else
                      np.zeros(data["status"].shape, dtype=dtype)  # saved before CuSum
                      for name, dtype in PIXEL_ARRAYS.items()}
            beta = data["beta"]
        shape = tuple(info["shape"])
        if any(a.shape != (int(np.prod(shape)),) for a in arrays.values()) \
                or beta.shape[-1:] != (int(np.prod(shape)),):
            raise ValueError(f"{npz.name} does not hold {shape[0]} × {shape[1]} pixels")
        last = info.get("last_time")
        return cls(MonitorParams.from_json(info["params"]), shape, beta, arrays,
                   None if last is None else np.datetime64(last, "ns"),
                   info.get("history_observations", 0), info.get("scenes", 0),
                   info.get("grid", {}), info.get("index", ""), info.get("processed_scenes"),
                   info.get("late_scenes") or [])


def empty_arrays(pixels: int) -> Dict[str, np.ndarray]:
    """Per-pixel arrays of a new state (nothing seen yet)."""
    arrays = {name: np.zeros(pixels, dtype=dtype) for name, dtype in PIXEL_ARRAYS.items()}
    arrays["status"][:] = NOT_MONITORED
    return arrays


def sensor_bit(sensor: str) -> int:
    return SENSOR_BITS.get(str(sensor).lower(), OTHER_SENSOR_BIT)


def day_number(when) -> int:
    """Days since 1970-01-01 of a datetime64/date."""
    return int(np.datetime64(when, "D").astype(np.int64))


def day_to_date(day: int) -> date:
    return date(1970, 1, 1) + timedelta(days=int(day))
