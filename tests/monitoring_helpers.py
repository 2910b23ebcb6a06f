"""Small in-memory index series for the monitoring tests: a seasonal signal, noise, both
sensors, and pixels that change on known dates."""

from __future__ import annotations

from datetime import date

import numpy as np
import xarray as xr

HISTORY = (date(2023, 1, 1), date(2024, 12, 31))


def small_series(*, seed: int = 1, noise: float = 0.01, days: int = 5) -> xr.DataArray:
    """(time, 2, 3) NDVI from 2023 to 2025: pixel (0,0) intact, (0,1) drops 0.4 on
    2025-03-14, (0,2) has one cloud-like outlier 2025-05-03, (1,0) drops 2025-04-01 and is back
    from 2025-06-01, (1,1) intact but never clear, (1,2) drops 2025-09-01. S2 every ``days``
    days, Landsat every 8 days, offset."""
    rng = np.random.default_rng(seed)
    start = np.datetime64("2023-01-02T10:30")
    s2 = start + np.arange(0, 3 * 365, days).astype("timedelta64[D]")
    ls = start + np.timedelta64(3, "D") + np.arange(0, 3 * 365, 8).astype("timedelta64[D]")
    ls = ls - np.timedelta64(20, "m")
    times = np.concatenate([s2, ls]).astype("datetime64[ns]")
    sensors = np.array(["sentinel-2"] * len(s2) + ["landsat"] * len(ls))
    order = np.argsort(times, kind="stable")
    times, sensors = times[order], sensors[order]
    day_of_year = (times.astype("datetime64[D]") - times.astype("datetime64[Y]")).astype(int)
    season = 0.75 + 0.1 * np.sin(2 * np.pi * (day_of_year - 100) / 365.25)
    values = season[:, None, None] + rng.normal(0, noise, (len(times), 2, 3))
    day = times.astype("datetime64[D]")
    values[day >= np.datetime64("2025-03-14"), 0, 1] -= 0.4
    values[day == np.datetime64(_first_on_or_after(day, "2025-05-03")), 0, 2] -= 0.5
    back = (day >= np.datetime64("2025-04-01")) & (day < np.datetime64("2025-06-01"))
    values[back, 1, 0] -= 0.4
    values[:, 1, 1] = np.nan
    values[day >= np.datetime64("2025-09-01"), 1, 2] -= 0.3
    return xr.DataArray(values.astype("float32"), dims=("time", "y", "x"),
                        coords={"time": times, "sensor": ("time", sensors),
                                "y": [5_352_005.0, 5_351_995.0],
                                "x": [372_005.0, 372_015.0, 372_025.0]},
                        attrs={"crs": "EPSG:32632", "index": "NDVI",
                               "transform": (10.0, 0.0, 372_000.0, 0.0, -10.0, 5_352_010.0)})


def _first_on_or_after(days: np.ndarray, when: str) -> np.datetime64:
    return days[days >= np.datetime64(when)][0]


def nth_on_or_after(series: xr.DataArray, when: str, n: int) -> date:
    """The date of the n-th (1-based) observation on or after ``when``."""
    days = series.time.values.astype("datetime64[D]")
    return days[days >= np.datetime64(when)][n - 1].astype(object)
