"""Per compartment and per hexagon: disturbed area (ha and fraction) by status and by the month
of first detection, a one-row-per-zone summary ranked like the storm assessment, and the
"alerts since <date>" patches.

Pixels belong to the zone that contains their centre (the grid is the forests' own, 10 or 30 m;
a 10 m pixel is 0.01 ha, so the areas are exact to the pixel); a pixel in overlapping zones
belongs to each of them, so a zone's numbers do not depend on its neighbours."""

from __future__ import annotations

from datetime import date
from typing import List, Optional, Sequence

import numpy as np
import pandas as pd

from ..areas.pixel_members import Membership, zone_pixels  # noqa: F401 (the tables' members)
from .state import (
    ALERT_COLOURS,
    CONFIRMED,
    NOT_MONITORED,
    RECOVERED,
    STATUS_NAMES,
    SUSPECTED,
)

SUMMARY_COLUMNS = (
    "rank", "alert", "area_ha", "monitored_ha", "disturbed_ha", "disturbed_fraction",
    "confirmed_ha", "confirmed_fraction", "recovered_ha", "recovered_fraction",
    "suspected_ha", "suspected_fraction", "high_confidence_ha", "first_detection",
    "last_confirmation", "magnitude", "new_confirmed_ha")


def hectares(pixels, pixel_ha: float):
    """Pixels as hectares, rounded to 0.01 m² (714 pixels of 0.01 ha are 7.14, not
    7.140000000000001 in the tables)."""
    return np.round(np.multiply(pixels, pixel_ha), 6)


def month_of(days: np.ndarray) -> np.ndarray:
    """'YYYY-MM' of days since 1970 ('' for 0)."""
    months = np.asarray(days, dtype="int64").astype("datetime64[D]").astype("datetime64[M]")
    text = months.astype(str)
    return np.where(np.asarray(days) > 0, text, "")


def iso_day(day: int) -> Optional[str]:
    return None if not day else str(np.datetime64(int(day), "D"))


def area_by_status(zones, keys: Sequence[str], members: Membership, pixels: dict,
                   pixel_ha: float) -> pd.DataFrame:
    """Long table: one row per zone, status and first-detection month with pixels, area_ha and
    the fraction of the zone's monitored area (a zone holding no pixel centre: one "not
    monitored" row of 0 pixels)."""
    inside = members.pixel
    status = pixels["status"][inside]
    first = np.where(status == SUSPECTED, pixels["candidate_first"][inside],
                     pixels["first_anomaly"][inside])
    first = np.where(np.isin(status, (SUSPECTED, CONFIRMED, RECOVERED)), first, 0)
    frame = pd.DataFrame({"_zone": members.zone, "status_code": status,
                          "first_detection_month": month_of(first)})
    counts = frame.groupby(["_zone", "status_code", "first_detection_month"]).size()
    counts = counts.rename("pixels").reset_index()
    empty = np.setdiff1d(np.arange(len(zones)), members.zone)  # no pixel centre inside
    if len(empty):  # listed too, as not monitored, rather than silently missing
        counts = pd.concat([counts, pd.DataFrame({
            "_zone": empty, "status_code": NOT_MONITORED, "first_detection_month": "",
            "pixels": 0})], ignore_index=True)
    monitored = frame[frame["status_code"] != NOT_MONITORED].groupby("_zone").size()
    counts["area_ha"] = hectares(counts["pixels"], pixel_ha)
    counts["fraction"] = counts["pixels"] / counts["_zone"].map(monitored).astype(float)
    counts["status"] = counts["status_code"].map(STATUS_NAMES)
    for key in keys:
        counts[key] = zones[key].to_numpy()[counts["_zone"].to_numpy()]
    columns = list(keys) + ["status", "first_detection_month", "pixels", "area_ha", "fraction"]
    return counts[columns].sort_values(list(keys) + ["status", "first_detection_month"],
                                       kind="stable").reset_index(drop=True)


def zone_summary(zones, keys: Sequence[str], members: Membership, pixels: dict,
                 pixel_ha: float, *, min_alert_ha: float, new_since: int = 0) -> pd.DataFrame:
    """One row per zone: areas and fractions by status, first detection, last confirmation,
    mean magnitude of the disturbed pixels, the zone's alert and its rank (most disturbed
    hectares first; zones with only suspected pixels next)."""
    count = len(zones)
    inside, where = members.pixel, members.zone
    status = pixels["status"][inside]

    def total(mask: np.ndarray) -> np.ndarray:
        return hectares(np.bincount(where[mask], minlength=count), pixel_ha)

    area = total(np.ones_like(status, dtype=bool))
    monitored = total(status != NOT_MONITORED)
    confirmed, recovered = total(status == CONFIRMED), total(status == RECOVERED)
    suspected = total(status == SUSPECTED)
    disturbed_mask = np.isin(status, (CONFIRMED, RECOVERED))
    disturbed = confirmed + recovered
    high = total(disturbed_mask & (pixels["confidence"][inside] == 3))
    confirmation = pixels["confirmation"][inside]
    new = total(disturbed_mask & (confirmation > new_since)) if new_since else disturbed
    first = _reduce(np.minimum, where, pixels["first_anomaly"][inside], disturbed_mask, count)
    last = _reduce(np.maximum, where, confirmation, disturbed_mask, count)
    drop_sum = np.bincount(where[disturbed_mask], weights=pixels["magnitude"][inside][
        disturbed_mask].astype(float), minlength=count)
    def fraction(part: np.ndarray) -> np.ndarray:
        return np.divide(part, monitored, out=np.full(count, np.nan), where=monitored > 0)

    magnitude = np.divide(drop_sum * pixel_ha, disturbed, out=np.full(count, np.nan),
                          where=disturbed > 0)
    frame = pd.DataFrame({key: zones[key].to_numpy() for key in keys})
    def flags(part: np.ndarray) -> np.ndarray:  # min_alert_ha 0: any pixel, never none
        return (part > 0) & (part >= min_alert_ha)

    frame["alert"] = np.where(monitored <= 0, STATUS_NAMES[NOT_MONITORED],
                              np.where(flags(disturbed), "disturbed",
                                       np.where(flags(suspected), "suspected", "none")))
    frame["area_ha"], frame["monitored_ha"] = area, monitored
    frame["disturbed_ha"], frame["disturbed_fraction"] = disturbed, fraction(disturbed)
    frame["confirmed_ha"], frame["confirmed_fraction"] = confirmed, fraction(confirmed)
    frame["recovered_ha"], frame["recovered_fraction"] = recovered, fraction(recovered)
    frame["suspected_ha"], frame["suspected_fraction"] = suspected, fraction(suspected)
    frame["high_confidence_ha"] = high
    frame["first_detection"] = [iso_day(d) for d in first]
    frame["last_confirmation"] = [iso_day(d) for d in last]
    frame["magnitude"] = magnitude
    frame["new_confirmed_ha"] = new
    order = frame["alert"].map({name: n for n, name in enumerate(ALERT_COLOURS)})
    frame = frame.assign(_o=order, _ha=-frame["disturbed_ha"], _s=-frame["suspected_ha"]) \
        .sort_values(["_o", "_ha", "_s"], kind="stable").drop(columns=["_o", "_ha", "_s"])
    frame.insert(0, "rank", np.arange(1, len(frame) + 1))
    return frame[list(keys) + list(SUMMARY_COLUMNS)].reset_index(drop=True)


def _reduce(ufunc, where: np.ndarray, values: np.ndarray, mask: np.ndarray, count: int
            ) -> np.ndarray:
    """Per zone, ``ufunc`` (minimum/maximum) of ``values`` where ``mask``; 0 where none."""
    start = np.iinfo(np.int32).max if ufunc is np.minimum else 0
    out = np.full(count, start, dtype=np.int64)
    ufunc.at(out, where[mask], values[mask].astype(np.int64))
    out[out == start] = 0
    return out


def alert_patches(mask: np.ndarray, members: Membership, zones, id_field: str,
                  pixels: dict, transform, crs, pixel_ha: float, since: date):
    """Connected patches (8-neighbours) of ``mask`` pixels, one polygon per patch and zone,
    with its area, first anomaly, last confirmation, mean magnitude and best confidence."""
    import geopandas as gpd

    columns = [id_field, "area_ha", "first_anomaly", "confirmation", "magnitude",
               "confidence", "since"]
    hit = mask.ravel()[members.pixel]
    hit_pixels, hit_zones = members.pixel[hit], members.zone[hit]
    by_zone = np.argsort(hit_zones, kind="stable")  # each zone's pixels together, in order
    hit_pixels, hit_zones = hit_pixels[by_zone], hit_zones[by_zone]
    zones_hit, starts = np.unique(hit_zones, return_index=True)
    rows: List[dict] = []
    polygons: List = []
    for where, cells in zip(zones_hit, np.split(hit_pixels, starts[1:])):
        for polygon, chosen in _patches(cells, mask.shape, transform):
            size = len(chosen)
            polygons.append(polygon)
            rows.append({
                id_field: _plain(zones[id_field].to_numpy()[where]),
                "area_ha": float(hectares(size, pixel_ha)),
                "first_anomaly": iso_day(int(pixels["first_anomaly"][chosen].min())),
                "confirmation": iso_day(int(pixels["confirmation"][chosen].max())),
                "magnitude": float(pixels["magnitude"][chosen].astype(float).sum() / size),
                "confidence": int(pixels["confidence"][chosen].max()),
                "since": since.isoformat()})
    if not polygons:
        return gpd.GeoDataFrame({c: [] for c in columns}, geometry=[], crs=crs)
    return gpd.GeoDataFrame(pd.DataFrame(rows, columns=columns), geometry=polygons, crs=crs)


def _patches(cells: np.ndarray, shape, transform):
    """(polygon, flat pixel indices) of each 8-connected patch of ``cells`` (flat indices)."""
    from rasterio.features import rasterize, shapes
    from shapely.geometry import shape as to_shape

    rows, cols = np.divmod(cells, shape[1])
    top, left = rows.min(), cols.min()
    local = np.zeros((rows.max() - top + 1, cols.max() - left + 1), dtype="uint8")
    local[rows - top, cols - left] = 1
    at = transform * transform.translation(left, top)
    polygons = [to_shape(g) for g, _ in shapes(local, mask=local > 0, transform=at,
                                               connectivity=8)]
    patch = rasterize(((p, n) for n, p in enumerate(polygons)), out_shape=local.shape,
                      transform=at, fill=-1, dtype="int32")
    for n, polygon in enumerate(polygons):
        r, c = np.nonzero((patch == n) & (local > 0))
        if len(r):
            yield polygon, (r + top) * shape[1] + (c + left)


def _plain(value):
    return value.item() if hasattr(value, "item") else value
