"""UTM zones of longitudes and of areas, with longitudes that wrap at the antimeridian (a
forest split at 180° is one contiguous area, not one spanning the globe)."""

from __future__ import annotations

import math
from typing import Iterable, List, Optional, Sequence, Tuple

ZONE_WIDTH = 6.0
MAX_AREA_DISTORTION = 0.01  # a CRS whose areas near the forests are off by more than 1 %


def normalise_longitude(lon: float) -> float:
    """``lon`` in [-180, 180): 180 and 540 are -180, 190 is -170."""
    return (float(lon) + 180.0) % 360.0 - 180.0


def utm_zone(lon: float) -> int:
    """The UTM zone (1-60) of a longitude, any multiple of 360° away."""
    return int((normalise_longitude(lon) + 180.0) // ZONE_WIDTH) % 60 + 1


def utm_epsg(lon: float, lat: float) -> int:
    """WGS 84 / UTM EPSG code of a point (326xx north, 327xx south)."""
    return (32700 if lat < 0 else 32600) + utm_zone(lon)


def longitude_span(intervals: Iterable[Tuple[float, float]]) -> Tuple[float, float]:
    """The shortest arc (west, east) holding every (west, east) interval, ``west`` in
    [-180, 180) and ``east`` possibly beyond 180 when the arc crosses the antimeridian:
    parts at 179.9 and -179.9 give (179.9, 180.1), not (-179.9, 179.9)."""
    arcs: List[List[float]] = []
    for west, east in intervals:
        if east - west >= 360:
            return -180.0, 180.0
        start = west if -180 <= west < 180 else normalise_longitude(west)
        arcs.append([start, start + (east - west)])
    if not arcs:
        raise ValueError("no longitudes")
    arcs.sort()
    merged = [arcs[0]]
    for west, east in arcs[1:]:
        if west <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], east)
        else:
            merged.append([west, east])
    # the largest empty gap between neighbours on the circle is where the area is not
    wrap_gap = merged[0][0] + 360.0 - merged[-1][1]
    if wrap_gap < 0:
        return -180.0, 180.0
    gaps = [(merged[i + 1][0] - merged[i][1], i) for i in range(len(merged) - 1)]
    widest, after = max(gaps, default=(-1.0, -1))
    if widest <= wrap_gap:
        return merged[0][0], merged[-1][1]
    return merged[after + 1][0], merged[after][1] + 360.0


def zones_of_span(west: float, east: float) -> List[int]:
    """The UTM zones (1-60, west to east) an arc from ``longitude_span`` lies in; an arc
    ending exactly on a zone's boundary is not in the next zone."""
    first = math.floor((west + 180.0) / ZONE_WIDTH)
    last = max(first, math.ceil((east + 180.0) / ZONE_WIDTH) - 1)
    return [index % 60 + 1 for index in range(first, last + 1)]


def area_utm(bounds: Iterable[Sequence[float]]) -> Tuple[int, List[int]]:
    """(EPSG code of the UTM zone at the centre, the zones spanned, west to east) of an area
    given as its parts' longitude/latitude bounds (minx, miny, maxx, maxy); parts on both
    sides of the antimeridian are one area there."""
    parts = [tuple(map(float, b)) for b in bounds]
    west, east = longitude_span((b[0], b[2]) for b in parts)
    centre_lat = (min(b[1] for b in parts) + max(b[3] for b in parts)) / 2
    return (utm_epsg(normalise_longitude((west + east) / 2), centre_lat),
            zones_of_span(west, east))


def true_metre_utm(frame) -> Optional[int]:
    """The UTM zone (EPSG code) to measure ``frame``'s (a projected GeoDataFrame's) areas and
    distances in when its CRS does not measure true metres near it: Web Mercator ("10 ha"
    cells were 7.9 ha at 27° S and 2.5 ha at 60° N) or a CRS in feet (a "10 ha" cell was
    10 ha of square feet, 0.93 ha); None when it does (UTM, national grids in metres: areas
    within ``MAX_AREA_DISTORTION``)."""
    from pyproj import Proj, Transformer

    xmin, ymin, xmax, ymax = frame.total_bounds
    lon, lat = Transformer.from_crs(frame.crs, "EPSG:4326", always_xy=True).transform(
        (xmin + xmax) / 2, (ymin + ymax) / 2)
    metres = all(axis.unit_conversion_factor == 1 for axis in frame.crs.axis_info[:2])
    scale = Proj(frame.crs).get_factors(lon, lat).areal_scale
    if metres and math.isfinite(scale) and abs(scale - 1) <= MAX_AREA_DISTORTION:
        return None
    return utm_epsg(lon, lat)


def true_metre_utm_each(frame) -> List[Optional[int]]:
    """Per polygon of ``frame``, what :func:`true_metre_utm` says of it alone: the UTM zone
    (EPSG code) of the centre of its bounds when ``frame``'s CRS does not measure true metres
    there, else None. A polygon's answer never depends on the others in ``frame`` (a forest's
    hexagons are the same whichever forests are selected with it)."""
    import numpy as np
    from pyproj import Proj, Transformer

    if frame.empty:
        return []
    bounds = frame.geometry.bounds
    lons, lats = Transformer.from_crs(frame.crs, "EPSG:4326", always_xy=True).transform(
        ((bounds.minx + bounds.maxx) / 2).to_numpy(), ((bounds.miny + bounds.maxy) / 2).to_numpy())
    lons, lats = np.atleast_1d(lons), np.atleast_1d(lats)
    true = np.zeros(len(lons), dtype=bool)
    if all(axis.unit_conversion_factor == 1 for axis in frame.crs.axis_info[:2]):
        scale = np.atleast_1d(Proj(frame.crs).get_factors(lons, lats).areal_scale)
        true = np.isfinite(scale) & (np.abs(scale - 1) <= MAX_AREA_DISTORTION)
    return [None if metres else utm_epsg(lon, lat)
            for metres, lon, lat in zip(true, lons, lats)]


def utm_label(epsg: int) -> str:
    """A WGS 84 / UTM EPSG code as its zone: 32633 -> "33N", 32755 -> "55S"."""
    return f"{epsg % 100}{'S' if epsg // 100 == 327 else 'N'}"
