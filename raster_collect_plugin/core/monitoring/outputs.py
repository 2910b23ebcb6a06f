"""Writing the monitoring's zone outputs: the per-compartment (and per-hexagon) summary and
area-by-status tables, their polygon layers and the "alerts since" patches."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np

from .areas import alert_patches, area_by_status, zone_pixels, zone_summary
from .state import CONFIRMED, RECOVERED, day_number


def _layer(zones, table, id_field: str, destination: Path, layer: str) -> Path:
    from ..outputs.tables import write_zone_layer

    return write_zone_layer(zones, table, id_field, destination, layer=layer)


def write_zone_outputs(request, state, pixels, transform, crs, since: date,
                       before_confirmation) -> Tuple[Dict[str, Path], object, List]:
    """Tables and layers per compartment (and hexagon); returns the files, the compartment
    summary and the ids of compartments with newly confirmed disturbance."""
    from ..outputs.tables import write_table

    output_dir = Path(request.output_dir)
    id_field = request.id_field
    zones = request.zones
    if zones.crs is not None and str(zones.crs) != crs:
        zones = zones.to_crs(crs)
    zones = zones.reset_index(drop=True)
    shape = state.shape
    pixel_ha = abs(transform.a * transform.e) / 10_000
    since_day = day_number(np.datetime64(since))
    files: Dict[str, Path] = {}
    members = zone_pixels(zones, transform, shape)
    summary = zone_summary(zones, [id_field], members, pixels, pixel_ha,
                           min_alert_ha=request.min_alert_ha, new_since=since_day)
    by_status = area_by_status(zones, [id_field], members, pixels, pixel_ha)
    formats = tuple(request.table_formats)
    # the summary's GeoPackage is its polygon layer (below), not an attribute-only table
    layered = tuple(kind for kind in formats if kind != "gpkg") or ("csv",)
    for stem, table, layer, kinds in (
            ("monitoring_compartments", summary, "monitoring", layered),
            ("monitoring_compartments_by_month", by_status, "monitoring_by_month", formats)):
        files.update({f"{stem}_{k}": v for k, v in write_table(
            table, output_dir / stem, layer=layer, formats=kinds).items()})
    files["compartments_layer"] = _layer(zones, summary, id_field,
                                         output_dir / "monitoring_compartments.gpkg",
                                         "monitoring")
    if request.hexagon_area_m2:
        from ..areas.hexagons import HEX_ID_FIELD, hexagon_grid

        # laid on the forests as given, as `hexagons` and `zonal` lay them (in each one's own
        # UTM zone when given in degrees), not in the scenes' CRS: the same cells and hex_ids
        given = request.zones.reset_index(drop=True)
        given = zones if given.crs is None else given
        hexagons = hexagon_grid(given[[id_field, "geometry"]], id_field=id_field,
                                area_m2=request.hexagon_area_m2,
                                zones=request.hexagon_zones).to_crs(crs)
        hex_members = zone_pixels(hexagons, transform, shape)
        keys = [id_field, HEX_ID_FIELD]
        hex_summary = zone_summary(hexagons, keys, hex_members, pixels, pixel_ha,
                                   min_alert_ha=0.0001, new_since=since_day)
        hex_status = area_by_status(hexagons, keys, hex_members, pixels, pixel_ha)
        for stem, table, layer, kinds in (
                ("monitoring_hexagons", hex_summary, "monitoring", layered),
                ("monitoring_hexagons_by_month", hex_status, "monitoring_by_month", formats)):
            files.update({f"{stem}_{k}": v for k, v in write_table(
                table, output_dir / stem, layer=layer, formats=kinds).items()})
        files["hexagons_layer"] = _layer(hexagons, hex_summary.drop(columns=[id_field]),
                                         HEX_ID_FIELD,
                                         output_dir / "monitoring_hexagons.gpkg", "monitoring")
    disturbed = np.isin(pixels["status"], (CONFIRMED, RECOVERED))
    recent = (disturbed & (pixels["confirmation"] > since_day)).reshape(shape)
    patches = alert_patches(recent, members, zones, id_field, pixels,
                            transform, crs, pixel_ha, since)
    from ..outputs.files import atomic_path
    from ..outputs.tables import write_geopackage_layer

    destination = output_dir / "monitoring_alerts.gpkg"
    with atomic_path(destination) as temp:
        write_geopackage_layer(patches, temp, layer="alerts_since")
    files["alerts_layer"] = destination
    newly = disturbed & (pixels["confirmation"] != before_confirmation)
    changed_positions = np.unique(members.zone[newly[members.pixel]])
    changed = [_plain(v) for v in zones[id_field].to_numpy()[changed_positions]]
    return files, summary, changed


def _plain(value):
    return value.item() if hasattr(value, "item") else value
