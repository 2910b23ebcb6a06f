"""Per-pixel storm evidence from every sensor, on one grid, before any zonal aggregation.

Each collection's before/after composites give its own change (a sensor is only ever compared
with itself). Optical sensors are then combined pixel by pixel, each weighted by the clear
observations behind its change at that pixel (``min(clear before, clear after)``), scaled by
grid resolution / sensor resolution (a Landsat 30 m observation counts a third on a 10 m grid):
a sensor that saw a pixel once counts once, one that never saw it does not count at all.
Sentinel-1 VH change (speckle-filtered) is kept beside the optical evidence and decides the
pixels no optical sensor saw after the event.

Bands of the result (all float32, NaN = not observed):

- ``optical_loss``: NDVI before minus after, clear-observation-weighted over optical sensors
- ``optical_damaged``: 1 where more than half of the clear-observation weight comes from
  sensors whose own loss exceeds the changed threshold, else 0
- ``radar_loss_db``: VH backscatter decrease in dB (before minus after)
- ``radar_damaged``: 1 where ``radar_loss_db`` > the radar changed threshold, else 0
- ``damaged``: optical where optical saw the pixel after the event, radar elsewhere; 0 on
  pixels that were not stocked before the event (their loss is not storm damage)
- ``optical_severity`` / ``radar_severity_db``: the loss on damaged pixels only
- ``pre_event_ndvi``: the latest clear pre-event NDVI (weighted over sensors)
- ``not_stocked``: 1 where the pixel was unstocked before the event (low pre-event NDVI, or an
  NDVI drop within the pre-event window), else 0
- ``clear_obs_before`` / ``clear_obs_after``: optical clear observations behind the numbers
- ``radar_obs_after``: Sentinel-1 acquisitions after the event
- ``decided_by_optical`` / ``decided_by_radar``: 1 where that evidence set ``damaged``
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

PIXEL_BANDS = ("optical_loss", "optical_damaged", "radar_loss_db", "radar_damaged", "damaged",
               "optical_severity", "radar_severity_db", "pre_event_ndvi", "not_stocked",
               "clear_obs_before", "clear_obs_after", "radar_obs_after", "decided_by_optical",
               "decided_by_radar")
EARLY, BEFORE, AFTER = "early", "before", "after"


@dataclass(frozen=True)
class Grid:
    """The pixel grid evidence is combined on."""

    transform: object  # affine.Affine
    crs: object  # rasterio CRS
    height: int
    width: int

    @property
    def resolution(self) -> float:
        return abs(self.transform.a)


@dataclass(frozen=True)
class SensorInput:
    """One collection's window composites: paths of its NDVI or VH stack and clear counts."""

    name: str
    sensor: str
    index_path: Path  # bands labelled early / before / after
    count_path: Path
    radar: bool = False


def reference_grid(inputs: Sequence[SensorInput]) -> Grid:
    """The finest grid among the optical inputs (the radar one when there is no optical)."""
    import rasterio

    candidates = [i for i in inputs if not i.radar] or list(inputs)
    best = None
    for item in candidates:
        with rasterio.open(item.index_path) as dataset:
            grid = Grid(dataset.transform, dataset.crs, dataset.height, dataset.width)
        if best is None or grid.resolution < best.resolution:
            best = grid
    if best is None:
        raise ValueError("no before/after composites to combine")
    return best


def read_on_grid(path: Path, grid: Grid) -> Dict[str, np.ndarray]:
    """Every band of ``path`` by its description, on ``grid`` (nearest neighbour; NaN where
    the source has no data)."""
    import rasterio
    from rasterio.warp import Resampling, reproject

    with rasterio.open(path) as dataset:
        labels = [d or str(n + 1) for n, d in enumerate(dataset.descriptions)]
        data = dataset.read(out_dtype="float32")
        nodata = dataset.nodata
        if nodata is not None and not np.isnan(nodata):
            data[data == nodata] = np.nan
        same = (dataset.transform == grid.transform and dataset.crs == grid.crs
                and (dataset.height, dataset.width) == (grid.height, grid.width))
        if not same:
            out = np.full((len(labels), grid.height, grid.width), np.nan, "float32")
            for n in range(len(labels)):
                reproject(data[n], out[n], src_transform=dataset.transform,
                          src_crs=dataset.crs, dst_transform=grid.transform, dst_crs=grid.crs,
                          src_nodata=np.nan, dst_nodata=np.nan, resampling=Resampling.nearest)
            data = out
    return dict(zip(labels, data))


def boxcar_db(values_db: np.ndarray, size: int) -> np.ndarray:
    """Speckle filter: mean of linear power over a ``size`` x ``size`` window (NaN ignored),
    returned in dB. ``size`` <= 1 returns the input."""
    if size <= 1:
        return values_db
    with np.errstate(invalid="ignore", over="ignore"):
        linear = np.power(10.0, values_db.astype("float64") / 10.0)
    finite = np.isfinite(linear)
    total = _box_sum(np.where(finite, linear, 0.0), size)
    count = _box_sum(finite.astype("float64"), size)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
        out = 10.0 * np.log10(mean)
    return np.where(finite, out, np.nan).astype("float32")


def _box_sum(values: np.ndarray, size: int) -> np.ndarray:
    """Sum over a centred ``size`` window (clipped at the edges), via summed-area tables."""
    half = size // 2
    padded = np.pad(values, ((half + 1, half), (half + 1, half)))
    table = padded.cumsum(0).cumsum(1)
    rows, cols = values.shape
    return (table[size:size + rows, size:size + cols] - table[:rows, size:size + cols]
            - table[size:size + rows, :cols] + table[:rows, :cols])


def _pre_event(windows: Dict[str, np.ndarray], counts: Dict[str, np.ndarray]
               ) -> Tuple[np.ndarray, np.ndarray]:
    """The latest clear pre-event value (the 'before' window, else the 'early' one) and the
    clear observations behind it."""
    before = windows[BEFORE]
    count = np.nan_to_num(counts.get(BEFORE, np.isfinite(before).astype("float32")))
    if EARLY in windows:
        early = windows[EARLY]
        early_count = np.nan_to_num(counts.get(EARLY, np.isfinite(early).astype("float32")))
        use_early = ~np.isfinite(before)
        before = np.where(use_early, early, before)
        count = np.where(use_early, early_count, count)
    return before, np.where(np.isfinite(before), np.maximum(count, 1), 0)


def combine(inputs: Sequence[SensorInput], *, changed_ndvi: float, changed_vh_db: float,
            min_stocked_ndvi: float, speckle_window_m: float = 50.0,
            grid: Optional[Grid] = None) -> Tuple[Dict[str, np.ndarray], Grid, List[dict]]:
    """Per-pixel evidence bands (see the module docstring), their grid, and what each sensor
    contributed (pixels observed after the event)."""
    grid = grid or reference_grid(inputs)
    shape = (grid.height, grid.width)
    zeros = np.zeros(shape, "float64")
    loss_sum, loss_weight, vote_sum = zeros.copy(), zeros.copy(), zeros.copy()
    pre_sum, pre_weight = zeros.copy(), zeros.copy()
    drop_sum = zeros.copy()
    clear_before, clear_after = zeros.copy(), zeros.copy()
    radar_loss = np.full(shape, np.nan, "float64")
    radar_after = zeros.copy()
    contributions = []
    for item in inputs:
        windows = read_on_grid(item.index_path, grid)
        counts = read_on_grid(item.count_path, grid)
        if BEFORE not in windows or AFTER not in windows:
            raise ValueError(f"{item.index_path.name} has no before/after windows")
        after = windows[AFTER]
        after_count = np.nan_to_num(counts.get(AFTER, np.isfinite(after).astype("float32")))
        if item.radar:
            size = max(1, int(round(speckle_window_m / grid.resolution)))
            pre, _ = _pre_event({k: boxcar_db(v, size) for k, v in windows.items()}, counts)
            after_db = boxcar_db(after, size)
            loss = pre - after_db
            seen = np.isfinite(loss)
            # several radar collections: keep the first that saw the pixel
            radar_loss = np.where(np.isfinite(radar_loss), radar_loss, loss)
            radar_after += np.where(seen, after_count, 0)
            contributions.append({"collection": item.name, "sensor": item.sensor,
                                  "evidence": "radar", "pixels_after": int(seen.sum())})
            continue
        pre, pre_count = _pre_event(windows, counts)
        loss = pre - after
        seen = np.isfinite(loss)
        # clear observations behind the change, scaled by how finely the sensor resolves a
        # grid pixel: a 30 m observation on a 10 m grid says a third as much about each cell
        # (and a finer sensor wins a tie of observation counts at a patch edge)
        detail = min(1.0, grid.resolution / _resolution(item.index_path))
        weight = np.where(seen, np.minimum(pre_count, np.maximum(after_count, 1)), 0.0) * detail
        loss_sum += np.where(seen, loss, 0.0) * weight
        vote_sum += np.where(seen & (loss > changed_ndvi), weight, 0.0)
        loss_weight += weight
        has_pre = np.isfinite(pre)
        pre_sum += np.where(has_pre, pre, 0.0) * pre_count
        pre_weight += pre_count
        if EARLY in windows:
            drop = windows[EARLY] - windows[BEFORE]
            drop_sum += np.where(np.isfinite(drop) & (drop > changed_ndvi), pre_count, 0.0)
        clear_before += np.where(seen, pre_count, 0)
        clear_after += np.where(seen, after_count, 0)
        contributions.append({"collection": item.name, "sensor": item.sensor,
                              "evidence": "optical", "pixels_after": int(seen.sum()),
                              "weight_per_observation": detail})
    with np.errstate(invalid="ignore", divide="ignore"):
        optical_loss = np.where(loss_weight > 0, loss_sum / loss_weight, np.nan)
        # each sensor votes with its clear observations; thresholding the averaged loss
        # instead would call a pixel damaged when any one sensor's (coarser) pixel is
        optical_damaged = np.where(loss_weight > 0, (vote_sum / loss_weight > 0.5)
                                   .astype("float64"), np.nan)
        pre_ndvi = np.where(pre_weight > 0, pre_sum / pre_weight, np.nan)
        dropped_before = np.where(pre_weight > 0, drop_sum / pre_weight >= 0.5, False)
    not_stocked = np.where(np.isfinite(pre_ndvi),
                           (pre_ndvi < min_stocked_ndvi) | dropped_before, np.nan)
    radar_damaged = _flag(radar_loss, changed_vh_db)
    by_optical = np.isfinite(optical_damaged)
    by_radar = ~by_optical & np.isfinite(radar_damaged)
    damaged = np.where(by_optical, optical_damaged, radar_damaged)
    damaged = np.where(np.isfinite(damaged) & (not_stocked == 1), 0.0, damaged)
    bands = {
        "optical_loss": optical_loss, "optical_damaged": optical_damaged,
        "radar_loss_db": radar_loss, "radar_damaged": radar_damaged, "damaged": damaged,
        "optical_severity": np.where(optical_damaged == 1, optical_loss, np.nan),
        "radar_severity_db": np.where(radar_damaged == 1, radar_loss, np.nan),
        "pre_event_ndvi": pre_ndvi, "not_stocked": not_stocked,
        "clear_obs_before": clear_before, "clear_obs_after": clear_after,
        "radar_obs_after": radar_after,
        "decided_by_optical": by_optical.astype("float64"),
        "decided_by_radar": by_radar.astype("float64"),
    }
    return {k: bands[k].astype("float32") for k in PIXEL_BANDS}, grid, contributions


def _flag(loss: np.ndarray, threshold: float) -> np.ndarray:
    return np.where(np.isfinite(loss), (loss > threshold).astype("float64"), np.nan)


def _resolution(path: Path) -> float:
    import rasterio

    with rasterio.open(path) as dataset:
        return abs(dataset.transform.a)
