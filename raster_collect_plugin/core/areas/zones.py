"""Zones checked once for every door: empty geometries skipped (and reported), invalid polygons
repaired the same way, coordinates that cannot be in their declared CRS refused, and the
polygons put in the raster's CRS (polygons are reprojected, never the raster)."""

from __future__ import annotations

from typing import List, Optional, Tuple

import geopandas as gpd
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union
from shapely.validation import make_valid


class ZoneError(ValueError):
    """The zones or the raster cannot be used together; the message names the fix."""

    exit_kind = "bad_input"  # errors.classify: one line, exit 2 (a job spec's error event too)


def repair_polygon(geometry: Optional[BaseGeometry]) -> Optional[BaseGeometry]:
    """A valid (Multi)Polygon from ``geometry``: ``make_valid`` keeping only the polygonal
    parts (lines and points left over by the repair are dropped). None when nothing polygonal
    is left or the geometry is empty."""
    if geometry is None or geometry.is_empty:
        return None
    if not geometry.is_valid:
        geometry = make_valid(geometry)
    if geometry.geom_type == "GeometryCollection":
        parts = [g for g in geometry.geoms if g.geom_type in ("Polygon", "MultiPolygon")]
        geometry = unary_union(parts) if parts else None
    if geometry is None or geometry.is_empty or \
            geometry.geom_type not in ("Polygon", "MultiPolygon"):
        return None
    return geometry


NO_AREA = "no area (a polygon collapsed to a line or a point)"


def is_polygonal(geometry: BaseGeometry) -> bool:
    """A (Multi)Polygon, valid or not: one with ``NO_AREA`` left after its repair is skipped
    as an empty one (it was refused as "Polygon, not a polygon")."""
    return geometry.geom_type in ("Polygon", "MultiPolygon")


def without_heights(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """``frame`` with its geometries flattened to 2-D: the heights of a GPS or drone survey
    (Polygon Z) say nothing about which pixels a compartment covers, and reprojecting the
    footprint chokes on them. The frame itself when no geometry has a height."""
    import shapely

    geometries = frame.geometry
    if frame.empty or not geometries.has_z.any():
        return frame
    return frame.set_geometry(gpd.GeoSeries(shapely.force_2d(geometries.values),
                                            index=frame.index, crs=frame.crs))


def check_coordinates_fit_crs(frame: gpd.GeoDataFrame, what: str = "the polygons") -> None:
    """Refuse coordinates that cannot be in their declared geographic CRS (e.g. metres
    labelled EPSG:4326)."""
    if frame.crs is None or not frame.crs.is_geographic or frame.empty:
        return
    bounds = frame.geometry[~frame.geometry.is_empty & frame.geometry.notna()].total_bounds
    if len(bounds) and (abs(bounds[0]) > 180 or abs(bounds[2]) > 180 or abs(bounds[1]) > 90
                        or abs(bounds[3]) > 90):
        raise ZoneError(
            f"{what} are labelled {frame.crs.to_string()} (degrees) but hold coordinates like "
            f"({bounds[0]:.0f}, {bounds[1]:.0f}), which are not longitude/latitude: assign "
            "their real projected CRS (in QGIS: Layer Properties > Source > Assigned CRS) "
            "and try again")


def prepare_zones(zones: gpd.GeoDataFrame, raster_crs, *, id_fields=()
                  ) -> Tuple[gpd.GeoDataFrame, List[str], List[int]]:
    """Zones ready for the engine, in ``raster_crs``.

    Returns (zones to compute, notes, positions of the input rows kept). Empty geometries are
    skipped with a note; invalid polygons are repaired (``repair_polygon``) with a note.
    """
    if raster_crs is None:
        raise ZoneError("the raster has no CRS: assign one (gdal_edit.py -a_srs EPSG:xxxx, or "
                        "in QGIS: Layer Properties > Source > Assigned CRS) and try again")
    if zones.crs is None:
        raise ZoneError("the polygons have no CRS: assign one (e.g. EPSG:28356) and try again")
    check_coordinates_fit_crs(zones)
    zones = without_heights(zones)
    notes: List[str] = []
    kept: List[int] = []
    geometries = []
    for position, geometry in enumerate(zones.geometry):
        if geometry is None or geometry.is_empty:
            notes.append(f"skipped {_label(zones, position, id_fields)}: empty geometry")
            continue
        repaired = repair_polygon(geometry)
        if repaired is None:
            why = NO_AREA if is_polygonal(geometry) else f"{geometry.geom_type} is not a polygon"
            notes.append(f"skipped {_label(zones, position, id_fields)}: {why}")
            continue
        if repaired is not geometry:
            notes.append(f"repaired invalid geometry of {_label(zones, position, id_fields)}")
        kept.append(position)
        geometries.append(repaired)
    frame = zones.iloc[kept].copy()
    frame = frame.set_geometry(gpd.GeoSeries(geometries, index=frame.index, crs=zones.crs))
    if not same_crs(frame.crs, raster_crs):
        frame = frame.to_crs(raster_crs)
    return frame, notes, kept


def same_crs(a, b) -> bool:
    try:
        from pyproj import CRS as ProjCRS

        return ProjCRS.from_user_input(a) == ProjCRS.from_user_input(
            b.to_wkt() if hasattr(b, "to_wkt") else b)
    except Exception:  # an unparsable CRS: let to_crs raise its own error
        return False


def _label(zones: gpd.GeoDataFrame, position: int, id_fields) -> str:
    if id_fields:
        values = ", ".join(f"{f}={zones[f].iloc[position]}" for f in id_fields)
        return f"zone {values}"
    return f"zone #{position + 1}"
