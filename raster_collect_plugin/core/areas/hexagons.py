"""Hexagon grids over forest compartments, sized by cell area or edge length, or H3 cells.

Each cell carries its parent compartment's id, so per-hexagon statistics roll up to forests.
"""

from __future__ import annotations

import math
from typing import Iterator, List, Optional, Sequence, Tuple

import geopandas as gpd
import pandas as pd
from shapely.geometry import Polygon

from .names import HEX_ID_FIELD
from .utm import true_metre_utm_each, utm_label

# a grid past this takes many minutes to lay and gigabytes to write: a cell size typed in the
# wrong unit (0.001 ha for 10 ha) is refused before the work instead
MAX_CELLS = 1_000_000


class TooManyCells(ValueError):
    """The cell size would make a grid too large to lay; the message names a size that fits."""

    exit_kind = "bad_input"  # errors.classify: one line, exit 2 (a job spec's error event too)


def hexagon_zones_note(aoi, h3_resolution: Optional[int] = None) -> List[str]:
    """The note of hexagons of an area or edge over an ``Aoi`` given in degrees: the UTM
    zones each forest's lattice is laid in (``Aoi.zones_note``); [] for H3 cells (the same in
    any CRS) and for polygons given projected."""
    if h3_resolution is not None:
        return []
    return aoi.zones_note("each forest's hexagons", layer="the layer")


def edge_from_area(area_m2: float) -> float:
    """Edge length of a regular hexagon with the given area (area = 3*sqrt(3)/2 * edge^2)."""
    if area_m2 <= 0:
        raise ValueError("hexagon area must be positive")
    return math.sqrt(2 * area_m2 / (3 * math.sqrt(3)))


def _hexagon(cx: float, cy: float, edge: float) -> Polygon:
    """A flat-topped hexagon centred on (cx, cy)."""
    return Polygon([(cx + edge * math.cos(math.radians(a)), cy + edge * math.sin(math.radians(a)))
                    for a in range(0, 360, 60)])


def hexagon_grid(forests: gpd.GeoDataFrame, *, id_field: str = "forest_id",
                 area_m2: Optional[float] = 10_000.0, edge_m: Optional[float] = None,
                 clip: bool = True,
                 zones: Optional[Sequence[Optional[int]]] = None) -> gpd.GeoDataFrame:
    """Hexagons covering each compartment, returned in the compartments' projected CRS.

    The lattice is global (anchored at the CRS origin) so neighbouring compartments share cell
    positions; ``hex_id`` is ``<forest id>-<column>-<row>``. Where the CRS does not measure
    true metres at a compartment (Web Mercator, feet) its cells are laid in the UTM zone of
    that compartment's centre, so a cell has the area asked for, and ``hex_id`` carries the
    zone: ``<forest id>-<zone>-<column>-<row>`` (``F1-33N-120-5130``). ``zones`` (per
    compartment, an Aoi's ``own_zones()``: polygons given in degrees) says that zone instead,
    for every compartment. Each compartment's cells are decided by it alone, never by the
    others selected with it. A cell straddling two compartments appears once per compartment
    (clipped to each when ``clip``).
    """
    if forests.crs is None or forests.crs.is_geographic:
        raise ValueError("hexagons need polygons in a projected CRS (metres)")
    edge = float(edge_m) if edge_m else edge_from_area(float(area_m2))
    dx, dy = 1.5 * edge, math.sqrt(3) * edge
    lattices = _lattices(forests, zones)
    _refuse_too_many_positions([work for _, work in lattices], dx, dy)
    parts = []
    for zone, work in lattices:
        prefix = "" if zone is None else f"{utm_label(zone)}-"
        records: List[dict] = []
        for order, forest_id, geometry in zip(work.index, work[id_field], work.geometry):
            for column, row, shape in _cells(geometry, edge, dx, dy, clip):
                records.append({HEX_ID_FIELD: f"{forest_id}-{prefix}{column}-{row}",
                                id_field: forest_id, "_order": order, "geometry": shape})
        grid = gpd.GeoDataFrame(records, columns=[HEX_ID_FIELD, id_field, "_order", "geometry"],
                                geometry="geometry", crs=work.crs)
        parts.append(grid if zone is None else grid.to_crs(forests.crs))
    if not parts:  # no forests
        return gpd.GeoDataFrame(columns=[HEX_ID_FIELD, id_field, "geometry"],
                                geometry="geometry", crs=forests.crs)
    grid = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), geometry="geometry",
                            crs=forests.crs)
    grid = grid.sort_values("_order", kind="stable").drop(columns="_order")
    return grid.reset_index(drop=True)


def _cells(geometry, edge: float, dx: float, dy: float,
           clip: bool) -> Iterator[Tuple[int, int, Polygon]]:
    """(column, row, cell) of the lattice's cells over one compartment (clipped to it)."""
    xmin, ymin, xmax, ymax = geometry.bounds
    for column in range(math.floor(xmin / dx) - 1, math.ceil(xmax / dx) + 2):
        offset = dy / 2 if column % 2 else 0.0
        cx = column * dx
        for row in range(math.floor((ymin - offset) / dy) - 1,
                         math.ceil((ymax - offset) / dy) + 2):
            cell = _hexagon(cx, row * dy + offset, edge)
            if not cell.intersects(geometry):
                continue
            shape = cell.intersection(geometry) if clip else cell
            if not shape.is_empty and shape.area >= 1e-6:
                yield column, row, shape


def lattice_zones(forests: gpd.GeoDataFrame,
                  zones: Optional[Sequence[Optional[int]]] = None) -> List[Optional[int]]:
    """Per forest, the UTM zone (EPSG code) its cells are laid in and its ``hex_id`` names,
    None for a CRS that measures true metres at it (cells laid as it is): ``zones`` when
    given, else what its own CRS says (``true_metre_utm_each``)."""
    return list(zones) if zones is not None else true_metre_utm_each(forests)


def _lattices(forests: gpd.GeoDataFrame, zones: Optional[Sequence[Optional[int]]] = None
              ) -> List[Tuple[Optional[int], gpd.GeoDataFrame]]:
    """The forests grouped by the CRS their cells are laid in: (None, those whose CRS
    measures true metres at them, as they are), then (UTM EPSG code, the others whose centre
    is in that zone, in it); each keeps the forests' positions as its index."""
    forests = forests.reset_index(drop=True)
    by_forest = pd.Series(lattice_zones(forests, zones), index=forests.index, dtype=object)
    groups = []
    for zone in dict.fromkeys(by_forest):
        members = forests[by_forest.map(lambda value, zone=zone: value == zone)]
        groups.append((zone, members if zone is None else members.to_crs(zone)))
    return groups


def refuse_too_many_cells(forests: gpd.GeoDataFrame, *, area_m2: Optional[float] = None,
                          edge_m: Optional[float] = None,
                          h3_resolution: Optional[int] = None,
                          zones: Optional[Sequence[Optional[int]]] = None) -> None:
    """The grid's size check alone, over all of ``forests``, without laying the grid: for a
    door that lays it one forest at a time (``zonal``'s per-forest folders), where each
    forest's grid fits but the run's does not. TooManyCells as ``hexagon_grid`` / ``h3_grid``
    raise it; nothing when no grid is asked for."""
    if forests.empty:
        return
    if h3_resolution is not None:
        _refuse_too_many_h3_cells(forests, h3_resolution)
    elif area_m2 or edge_m:
        edge = float(edge_m) if edge_m else edge_from_area(float(area_m2))
        _refuse_too_many_positions([work for _, work in _lattices(forests, zones)], 1.5 * edge,
                                   math.sqrt(3) * edge)


def _refuse_too_many_positions(frames: List[gpd.GeoDataFrame], dx: float, dy: float) -> None:
    """The lattice positions the grid visits (each forest's bounds, one cell around) past
    ``MAX_CELLS``: TooManyCells naming the smallest cell that fits."""
    positions = 0
    for frame in frames:
        bounds = frame.geometry.bounds
        positions += int((((bounds.maxx - bounds.minx) / dx + 3) *
                          ((bounds.maxy - bounds.miny) / dy + 3)).sum())
    if positions <= MAX_CELLS:
        return
    cell_ha = dx * dy / 10_000  # a flat-topped hexagon's area is exactly dx * dy
    fits_ha = _round_up(cell_ha * positions / MAX_CELLS * 1.1)
    raise TooManyCells(
        f"hexagons of {cell_ha:.3g} ha (edge {dx / 1.5:.3g} m) over these forests would be "
        f"about {positions:,} cells, more than {MAX_CELLS:,}: choose cells of at least "
        f"{fits_ha:g} ha = {fits_ha * 10_000:,.6g} m² (edge "
        f"{edge_from_area(fits_ha * 10_000):.3g} m), or fewer forests")


def _round_up(value: float) -> float:
    """``value`` rounded up to two significant figures (0.01234 -> 0.013)."""
    scale = 10 ** (math.floor(math.log10(value)) - 1)
    return round(math.ceil(value / scale) * scale, 12)


def h3_grid(forests: gpd.GeoDataFrame, *, resolution: int, id_field: str = "forest_id",
            clip: bool = True) -> gpd.GeoDataFrame:
    """H3 cells (resolution 0-15) overlapping each compartment, returned in the compartments'
    CRS; ``hex_id`` is the H3 index, so results can be shared with other H3-based systems."""
    import h3

    if not 0 <= resolution <= 15:
        raise ValueError("H3 resolution must be between 0 and 15")
    _refuse_too_many_h3_cells(forests, resolution)
    geographic = forests.to_crs("EPSG:4326")
    records = []
    for forest_id, geometry in zip(geographic[id_field], geographic.geometry):
        shape = h3.geo_to_h3shape(geometry.__geo_interface__)
        cells = set(h3.h3shape_to_cells_experimental(shape, resolution, contain="overlap"))
        for cell in sorted(cells):
            boundary = Polygon([(lon, lat) for lat, lon in h3.cell_to_boundary(cell)])
            records.append({HEX_ID_FIELD: cell, id_field: forest_id, "geometry": boundary})
    frame = gpd.GeoDataFrame(records, columns=[HEX_ID_FIELD, id_field, "geometry"],
                             geometry="geometry", crs="EPSG:4326").to_crs(forests.crs)
    if clip and not frame.empty:
        parents = forests.set_index(id_field).geometry
        frame["geometry"] = [cell.intersection(parents[fid])
                             for cell, fid in zip(frame.geometry, frame[id_field])]
        frame = frame[~frame.geometry.is_empty & (frame.area > 1e-6)].reset_index(drop=True)
    return frame


def _refuse_too_many_h3_cells(forests: gpd.GeoDataFrame, resolution: int) -> None:
    """About as many H3 cells as the forests' area holds, past ``MAX_CELLS``: TooManyCells
    naming the finest resolution that fits."""
    import h3

    if forests.empty:
        return
    area_m2 = float(forests.to_crs(forests.estimate_utm_crs()).area.sum())

    def cells(level: int) -> int:
        return int(area_m2 / h3.average_hexagon_area(level, unit="m^2")) + len(forests)

    if cells(resolution) <= MAX_CELLS:
        return
    fits = max((level for level in range(resolution) if cells(level) <= MAX_CELLS), default=0)
    raise TooManyCells(
        f"H3 resolution {resolution} over these forests would be about "
        f"{cells(resolution):,} cells, more than {MAX_CELLS:,}: choose resolution {fits} "
        f"(cells of about {h3.average_hexagon_area(fits, unit='m^2') / 10_000:.3g} ha) or "
        "coarser, or fewer forests")

