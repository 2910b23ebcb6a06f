"""The area of interest: forest polygons read, validated, repaired and put in a projected CRS."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

import geopandas as gpd

from .shapefile_encoding import undeclared_utf8, utf8_note
from .utm import area_utm, true_metre_utm, utm_label
from .zones import (
    NO_AREA,
    check_coordinates_fit_crs,
    is_polygonal,
    repair_polygon,
    without_heights,
)

DEFAULT_ID_FIELD = "forest_id"
LAYER_OPTION = "--layer (a spec's 'layer')"  # what chooses the layer, in every door


class AoiError(ValueError):
    """The polygons cannot be used; the message says which and how to fix it."""


@dataclass
class Aoi:
    """Validated polygons (in ``crs``) with their id column."""

    frame: gpd.GeoDataFrame
    id_field: str
    notes: List[str] = field(default_factory=list)
    # the polygons as given in degrees (before any buffer; ``frame``'s rows in its order), None
    # when they were given projected: each forest's own UTM zone is decided from these
    degrees: Optional[gpd.GeoDataFrame] = None
    buffer_m: float = 0.0

    @property
    def crs(self):
        return self.frame.crs

    @property
    def bbox_wgs84(self) -> Tuple[float, float, float, float]:
        return tuple(self.frame.to_crs("EPSG:4326").total_bounds)

    @property
    def ids(self) -> list:
        return list(self.frame[self.id_field])

    def union(self):
        return self.frame.geometry.union_all()

    def own_zones(self) -> Optional[List[int]]:
        """Per forest (``frame``'s order), the UTM zone (EPSG code) ``load_aoi`` puts it in
        when it is selected alone, when the polygons were given in degrees (their hexagons are
        laid in it and named by it); None when they were given projected."""
        if self.degrees is None:
            return None
        bounds = self.degrees.geometry.to_crs("EPSG:4326").reset_index(drop=True).explode(
            index_parts=False).bounds
        return [_utm_of_bounds(part.to_numpy()) for _, part in bounds.groupby(level=0)]

    def zones_note(self, what: str = "each", layer: str = "the combined layers"
                   ) -> List[str]:
        """Polygons given in degrees, where each forest's outputs are in its own UTM zone
        (``own_zones``): the note naming the zones used and how many forests each holds, and
        the zone of ``layer`` (the selection's: one CRS for one map); [] when projected."""
        zones = self.own_zones()
        if zones is None:
            return []
        counts = Counter(utm_label(zone) for zone in zones)
        listed = ", ".join(f"{label}: {count}" + (f" forest{'s' * (count != 1)}" if n == 0
                                                     else "")
                           for n, (label, count) in enumerate(
                               sorted(counts.items(), key=lambda c: (-c[1], c[0]))))
        return [f"forests in degrees: {what} in its own UTM zone ({listed}); {layer} in "
                f"{_crs_name(self.crs)}"]

    def grid_note(self, crs_list: Sequence) -> List[str]:
        """Polygons given in degrees, where one grid is shared by the whole selection (a
        composite's: the scenes' CRS, or --crs): the note naming that grid's CRS (one per
        collection when they differ); [] when projected."""
        if self.degrees is None or not crs_list:
            return []
        names = list(dict.fromkeys(_crs_name(crs) for crs in crs_list))
        return [f"forests in degrees: one grid for the whole selection, in {', '.join(names)}"
                + (" (one per collection)" if len(names) > 1 else "")]

    def alone(self, forest_id) -> Aoi:
        """This forest as ``load_aoi`` gives it when it is the only one selected: polygons
        given in degrees are in the forest's own UTM zone, not the selection's, so its
        statistics, hexagons and fingerprint do not depend on the others selected with it."""
        rows = (self.frame[self.id_field] == forest_id).to_numpy()
        if self.degrees is None:
            return Aoi(self.frame[rows].reset_index(drop=True), self.id_field)
        degrees = self.degrees[rows].reset_index(drop=True)
        return Aoi(_projected(degrees, self.buffer_m), self.id_field, degrees=degrees,
                   buffer_m=self.buffer_m)


def read_polygons(path: Path, *, layer: Optional[str] = None,
                  layer_option: str = LAYER_OPTION,
                  id_field: Optional[str] = None) -> gpd.GeoDataFrame:
    """Read a vector file; unreadable files and unknown layers raise AoiError naming the fix
    (``layer_option``: the option that chooses the layer). An ``id_field`` that is the file's
    feature id (a GeoPackage's ``fid``, which QGIS lists among the fields) is read as a column.
    Without ``layer``, the file's one polygon layer is read (beside roads or tables); a file of
    several polygon layers is refused, naming them and ``layer_option``: reading the first
    would take the wrong polygons silently. GDAL's reading runs in a helper thread, so
    Ctrl-C/SIGTERM stop the wait at once."""
    from ..compute.interrupts import call_interruptibly

    return call_interruptibly(_read_polygons, path, layer, layer_option, id_field,
                              what=f"reading {path.name}")


def _read_polygons(path: Path, layer: Optional[str], layer_option: str = LAYER_OPTION,
                   id_field: Optional[str] = None) -> gpd.GeoDataFrame:
    import pyogrio
    from pyogrio.errors import DataLayerError, DataSourceError

    try:
        listed = [(str(name), str(kind)) for name, kind in pyogrio.list_layers(path)]
    except (DataSourceError, OSError, ValueError) as error:
        raise AoiError(f"cannot read the polygon file {path}: not a readable vector file "
                       f"({_first_line(error)}); check the file or export it again") from None
    layers = [name for name, _ in listed]
    if layer is not None and str(layer) not in layers:
        raise AoiError(f"{path.name} has no layer {layer!r}; its layers are {layers}: "
                       f"choose one with {layer_option}")
    polygons = [name for name, kind in listed if "polygon" in kind.lower()]
    if layer is None and len(polygons) > 1:
        others = f" (its layers are {layers})" if len(layers) > len(polygons) else ""
        raise AoiError(f"{path.name} has {len(polygons)} polygon layers {polygons}{others}: "
                       f"choose one with {layer_option}")
    if layer is None and len(listed) > 1:  # the polygon layer, not a road or a table
        layer = polygons[0] if polygons else layers[0]
    # a shapefile whose .cpg was lost is read as Latin-1 by GDAL; UTF-8 text is read as such
    utf8 = undeclared_utf8(path)
    try:
        frame = gpd.read_file(path, layer=layer, fid_as_index=True,
                              **({"encoding": "utf-8"} if utf8 else {}))
    except (DataSourceError, DataLayerError, OSError, ValueError) as error:
        raise AoiError(f"cannot read the polygon file {path}: {_first_line(error)}; check the "
                       "file or export it again") from None
    if not isinstance(frame, gpd.GeoDataFrame) or frame.geometry.name not in frame.columns:
        which = f"layer {layer!r} of {path.name}" if layer is not None else path.name
        raise AoiError(f"{which} has no geometries (a table, not polygons): give the "
                       "compartment polygons (a GeoPackage, shapefile or GeoJSON)"
                       + (f"; its layers are {layers}: choose the polygon layer with "
                          f"{layer_option}" if len(layers) > 1 else ""))
    fid_is_the_id = id_field is not None and id_field not in frame.columns and \
        pyogrio.read_info(path, layer=layer).get("fid_column") == id_field
    frame = frame.rename_axis(id_field if fid_is_the_id else None)
    frame = without_heights(frame.reset_index(drop=not fid_is_the_id))
    frame.attrs["layer"] = layer  # the one read (a file's polygon layer), None if alone
    frame.attrs["notes"] = [utf8_note(path)] if utf8 else []
    return frame


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0].split("; ")[0][:200] if text else type(error).__name__


def select_ids(frame: gpd.GeoDataFrame, id_field: str, ids: Sequence) -> gpd.GeoDataFrame:
    """The polygons whose ``id_field`` is one of ``ids`` (compared as ``_id_key`` does); an id
    not there raises AoiError with the ids there are, so a typo or the wrong id field shows."""
    column = frame[id_field]
    wanted = {_id_key(i, column) for i in ids}
    keys = column.map(lambda v: _id_key(v, column))
    missing = wanted - set(keys[keys.isin(wanted)])
    if missing:
        there = sorted({str(v) for v in column.dropna()}, key=_natural)
        shown = ", ".join(there[:10]) + (f" ... ({len(there)} in all)"
                                         if len(there) > 10 else "")
        raise AoiError(f"no polygons with {id_field} in {sorted(missing)}; the file's "
                       f"{id_field} values are {shown}: choose among them")
    return frame[keys.isin(wanted)]


def _id_key(value, column) -> str:
    """An id as compared with the ids asked for: in a numeric id field (Integer or Real), 102,
    "102", "102.0" and 102.0 are one forest (a spreadsheet or shapefile makes ids decimal, and
    a script may write an integer id as 102.0); text ids are compared as written ("007" is not
    "7")."""
    import pandas as pd

    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        number = _whole_number(value)
        if number is not None:
            return str(number)
    return str(value)


def _whole_number(value) -> Optional[int]:
    """``value`` (a number or its text) as an int when it is a whole number, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)  # exact, also past 2**53
        except ValueError:
            value = text
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if number.is_integer() else None


def load_aoi(source: Union[str, Path, gpd.GeoDataFrame], *, id_field: str = DEFAULT_ID_FIELD,
             layer: Optional[str] = None, ids: Optional[Sequence] = None,
             buffer_m: float = 0.0) -> Aoi:
    """Read polygons from a file or GeoDataFrame and make them usable.

    Invalid geometries are repaired (``areas.zones.repair_polygon``, as the zonal engine does)
    and noted; empty ones are skipped and noted; non-polygons raise with the feature's id;
    projected coordinates labelled with a geographic CRS raise with the fix. A geographic CRS
    is replaced by the UTM zone of the polygons' centre; an
    area spanning more than two UTM zones must be given in a projected CRS.
    """
    notes: List[str] = []
    if isinstance(source, gpd.GeoDataFrame):
        frame = without_heights(source.copy())
    else:
        path = Path(source)
        if not path.exists():
            raise AoiError(f"polygon file {path} does not exist")
        frame = read_polygons(path, layer=layer, id_field=id_field)
        notes += frame.attrs.get("notes", [])  # how the file was read (its encoding)
        if frame.empty:  # was "select at least one feature", which a file does not do
            read = frame.attrs.get("layer")
            which = f"layer {read!r} of {path.name}" if read is not None else path.name
            raise AoiError(f"{which} has no features: choose the file or layer holding the "
                           "compartment polygons (--gpkg, --layer; a spec's 'aoi', 'layer')")
    if frame.crs is None:
        raise AoiError("the polygons have no CRS: assign one (e.g. EPSG:28356) and try again")
    if id_field not in frame.columns:
        raise AoiError(f"the polygons have no field {id_field!r}; fields are "
                       f"{[c for c in frame.columns if c != 'geometry']}: choose the id field")
    if ids is not None:
        frame = select_ids(frame, id_field, ids)
    if frame.empty:
        raise AoiError("no polygons to work on: select at least one feature")
    blank = frame[id_field].isna() | (frame[id_field].astype(str).str.strip() == "")
    if blank.any():  # a forest without an id names no folder or table row ("nan")
        rows = ", ".join(str(int(i) + 1) for i in frame.index[blank][:10])
        order = "counted from 1" if isinstance(source, gpd.GeoDataFrame) else "in file order"
        raise AoiError(f"{int(blank.sum())} polygon(s) have no {id_field} (feature(s) {rows}, "
                       f"{order}): give each an id, or choose another id field")
    if frame[id_field].duplicated().any():
        duplicated = sorted(set(frame.loc[frame[id_field].duplicated(), id_field].astype(str)))
        raise AoiError(f"{id_field} values are not unique: {duplicated[:10]}: give each polygon "
                       "its own id, or choose another id field (--id-field, a spec's "
                       "'id_field')")

    try:
        check_coordinates_fit_crs(frame)
    except ValueError as error:
        raise AoiError(str(error)) from None
    geometries, kept = [], []
    for position, (feature_id, geometry) in enumerate(zip(frame[id_field], frame.geometry)):
        if geometry is None or geometry.is_empty:
            notes.append(f"skipped {id_field}={feature_id}: empty geometry")
            continue
        repaired = repair_polygon(geometry)  # the same repair as the zonal engine's
        if repaired is None and is_polygonal(geometry):
            notes.append(f"skipped {id_field}={feature_id}: {NO_AREA}")
            continue
        if repaired is None:
            raise AoiError(f"feature {id_field}={feature_id} is {geometry.geom_type}, not a "
                           "polygon: give the compartment polygons (a point or line layer "
                           "has no area to take statistics over)")
        if repaired is not geometry:
            notes.append(f"repaired invalid geometry of {id_field}={feature_id}")
        geometries.append(repaired)
        kept.append(position)
    if not kept:
        raise AoiError("every selected feature has an empty geometry (or no area): fix or "
                       "select others")
    frame = frame.iloc[kept]
    frame = frame.set_geometry(gpd.GeoSeries(geometries, index=frame.index, crs=frame.crs))

    # in degrees: projected in the selection's UTM zone; each door notes the zones it uses
    # (Aoi.zones_note, Aoi.grid_note)
    degrees = frame.reset_index(drop=True) if frame.crs.is_geographic else None
    frame = _projected(frame, buffer_m)
    return Aoi(frame.reset_index(drop=True), id_field, notes, degrees=degrees,
               buffer_m=buffer_m)


def _projected(frame: gpd.GeoDataFrame, buffer_m: float) -> gpd.GeoDataFrame:
    """``frame`` in the UTM zone of its centre when it is in degrees (as it is otherwise),
    grown by ``buffer_m``."""
    if frame.crs.is_geographic:
        frame = frame.to_crs(epsg=_utm_of(frame.to_crs("EPSG:4326").geometry))
    if buffer_m:
        frame = frame.set_geometry(_buffered(frame, buffer_m))
    return frame


def _buffered(frame: gpd.GeoDataFrame, buffer_m: float) -> gpd.GeoSeries:
    """The polygons grown by ``buffer_m`` metres on the ground, also in a CRS in feet or Web
    Mercator (whose units are not metres there)."""
    metric = true_metre_utm(frame)
    if metric is None:
        return frame.geometry.buffer(buffer_m)
    return frame.geometry.to_crs(metric).buffer(buffer_m).to_crs(frame.crs)


def _utm_of(geometries: gpd.GeoSeries) -> int:
    """The UTM zone of the polygons' centre; longitudes wrap, so parts on both sides of the
    antimeridian are one area there. More than two zones: AoiError."""
    return _utm_of_bounds(geometries.explode(index_parts=False).bounds.to_numpy())


def _utm_of_bounds(bounds) -> int:
    """``_utm_of`` of the polygons' parts given by their bounds (minx, miny, maxx, maxy)."""
    epsg, zones = area_utm(bounds)
    if len(zones) > 2:
        raise AoiError(
            f"the polygons span UTM zones {zones[0]}-{zones[-1]} ({len(zones)} zones): "
            "reproject them to a projected CRS covering the whole area (e.g. EPSG:3577 in "
            "Australia) or split them into one run per zone")
    return epsg


def _crs_name(crs) -> str:
    """A CRS as the notes name it: "56S (EPSG:32756)" for a WGS 84 / UTM zone, else
    "EPSG:3577" (or its name when it has no EPSG code)."""
    from pyproj import CRS

    crs = CRS.from_user_input(crs)
    epsg = crs.to_epsg()
    if epsg is None:
        return crs.name
    return f"{utm_label(epsg)} (EPSG:{epsg})" if epsg // 100 in (326, 327) else f"EPSG:{epsg}"


def _natural(text: str):
    """'2' before '10': numbers by value, then text."""
    try:
        return (0, float(text), text)
    except ValueError:
        return (1, 0.0, text)
