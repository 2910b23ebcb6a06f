"""Writing statistics tables (GeoPackage table, CSV, Parquet) and the latest-period polygon
layer, atomically."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Dict, List, Mapping, Optional, Sequence

import geopandas as gpd
import pandas as pd

from .files import atomic_path

TABLE_FORMATS = ("gpkg", "csv", "parquet")
LARGE_TABLE_ROWS = 200_000  # above this, Parquet only unless other formats are asked for


def default_formats(rows: int) -> Sequence[str]:
    """Every format for ordinary tables; only (Geo)Parquet for large ones, where a CSV or a
    GeoPackage table costs minutes and hundreds of MB for no extra information."""
    return TABLE_FORMATS if rows <= LARGE_TABLE_ROWS else ("parquet",)


def write_geopackage_layer(frame: pd.DataFrame, path: Path, *, layer: str) -> None:
    """``frame`` as ``layer`` of the GeoPackage ``path`` (a table without geometry). A column
    named ``fid`` (an id field from QGIS, where a GeoPackage's feature id is a field) stays a
    column: GDAL took it for the feature id, which must be a unique integer, so the rows of
    a forest's periods or hexagons were a traceback (UNIQUE constraint failed)."""
    import pyogrio

    names = {str(column).lower() for column in frame.columns}
    fid, n = "fid", 0
    while fid in names:  # the feature id under a name no column has
        n += 1
        fid = f"fid_{n}"
    if isinstance(frame, gpd.GeoDataFrame):  # geopandas' writer: its index rule too
        frame.to_file(path, layer=layer, driver="GPKG", layer_options={"FID": fid})
    else:
        pyogrio.write_dataframe(frame, path, layer=layer, driver="GPKG",
                                layer_options={"FID": fid})


def write_table(table: pd.DataFrame, stem: Path, *, layer: str = "zonal_statistics",
                formats: Sequence[str] = TABLE_FORMATS) -> Dict[str, Path]:
    """Write ``stem``.gpkg (attribute-only table), .csv and .parquet; returns the paths."""
    written = {}
    for kind in formats:
        destination = Path(f"{stem}.{kind}")
        with atomic_path(destination) as temp:
            if kind == "csv":
                table.to_csv(temp, index=False)
            elif kind == "parquet":
                table.to_parquet(temp, index=False)
            elif kind == "gpkg":
                write_geopackage_layer(table, temp, layer=layer)
            else:
                raise ValueError(f"unknown table format {kind!r}")
        written[kind] = destination
    return written


def superseded_tables(previous: Sequence[str], written: Sequence[str]) -> List[str]:
    """Of an earlier run's files (``previous``, relative paths), the tables this run
    (``written``) wrote in other formats only: ``zonal_forests.gpkg`` when a rerun with
    ``table_formats`` ["csv"] wrote ``zonal_forests.csv`` (an analyst opening the GeoPackage
    saw the first run's numbers)."""
    suffixes = {f".{kind}" for kind in TABLE_FORMATS}
    made = {PurePosixPath(name).with_suffix("") for name in written
            if PurePosixPath(name).suffix in suffixes}
    done = set(written)
    return [name for name in previous if name not in done
            and PurePosixPath(name).suffix in suffixes
            and PurePosixPath(name).with_suffix("") in made]


def superseded_note(removed: Sequence[str], held: Sequence[str]) -> List[str]:
    """The run's notes on an earlier run's tables in formats no longer asked for."""
    notes = []
    if removed:
        notes.append(f"removed the earlier run's {', '.join(removed)}: a format no longer "
                     "asked for ('table_formats'); the tables this run wrote replace them")
    if held:
        notes.append(f"left the earlier run's {', '.join(held)} (open in another program, "
                     "e.g. QGIS): not this run's results, and out of the manifest; close it "
                     "and delete it")
    return notes


def latest_values(table: pd.DataFrame, id_field: str,
                  statistics: Sequence[str] = ("mean", "median", "clear_fraction")
                  ) -> pd.DataFrame:
    """Per zone: the latest *usable* period's statistics, one column per index and statistic
    (e.g. ``NDVI_mean``), plus the period each index comes from."""
    read = [c for c in (id_field, "index", "collection", "period", *statistics) if c in table]
    usable = table.loc[table["usable"].to_numpy(), read]  # not every column: large tables
    if usable.empty:
        return pd.DataFrame({id_field: table[id_field].unique()})
    keys = [id_field, "index"] + (["collection"] if "collection" in usable else [])
    latest = usable.sort_values("period").groupby(keys, as_index=False).tail(1)
    wide = None
    for (index_name, collection), part in latest.groupby(["index", "collection"]):
        prefix = f"{index_name}" if latest["collection"].nunique() == 1 else \
            f"{collection}_{index_name}"
        columns = part[[id_field, "period", *statistics]].rename(
            columns={"period": f"{prefix}_period", **{s: f"{prefix}_{s}" for s in statistics}})
        wide = columns if wide is None else wide.merge(columns, on=id_field, how="outer")
    return wide


def write_latest_layer(zones: gpd.GeoDataFrame, latest: pd.DataFrame, id_field: str,
                       destination: Path, *, layer: str = "latest") -> Path:
    """The zones joined to their latest usable statistics (``latest_values``), as a
    GeoPackage layer."""
    return write_zone_layer(zones, latest, id_field, destination, layer=layer)


def write_zone_layer(zones: gpd.GeoDataFrame, table: pd.DataFrame, id_field: str,
                     destination: Path, *, layer: str) -> Path:
    """The zones (their attributes kept) joined to ``table`` by ``id_field``, as a GeoPackage
    layer. The table's columns keep their documented names: a polygon attribute of the same
    name (an ``area_ha`` field, or the columns of a ``forests_latest.gpkg`` given back as the
    polygons) is kept as ``<name>_input``; pandas named both ``<name>_x`` and ``<name>_y``."""
    clashes = [c for c in table.columns if c != id_field and c in zones.columns
               and c != zones.geometry.name]
    zones = zones.rename(columns={c: f"{c}_input" for c in clashes})
    joined = zones.merge(table, on=id_field, how="left")
    with atomic_path(destination) as temp:
        write_geopackage_layer(joined, temp, layer=layer)
    return destination


def write_metadata(attrs: Mapping, output_dir: Path, *, name: str) -> Dict[str, Path]:
    """``zonal_<name>_metadata.json`` (what each column means) when the table's ``attrs``
    carry its statistics' definitions; key ``<name>_metadata``."""
    if not attrs.get("statistics"):
        return {}
    from .files import write_json

    return {f"{name}_metadata": write_json(
        Path(output_dir) / f"zonal_{name}_metadata.json",
        {**attrs["statistics"], "notes": list(attrs.get("notes", []))})}


def write_zone_outputs(table: pd.DataFrame, zones: gpd.GeoDataFrame, id_field: str,
                       output_dir: Path, *, name: str = "forests",
                       formats: Optional[Sequence[str]] = None) -> Dict[str, Path]:
    """``zonal_<name>.{gpkg,csv,parquet}`` (``formats``, default: ``default_formats``),
    ``<name>_latest.gpkg`` and, when the table carries its statistics' definitions,
    ``zonal_<name>_metadata.json`` (keys ``<name>_gpkg`` ..., ``<name>_latest``,
    ``<name>_metadata``)."""
    formats = formats or default_formats(len(table))
    files = {f"{name}_{kind}": path for kind, path in
             write_table(table, Path(output_dir) / f"zonal_{name}", formats=formats).items()}
    files[f"{name}_latest"] = write_latest_layer(zones, latest_values(table, id_field),
                                                 id_field, Path(output_dir) / f"{name}_latest.gpkg")
    files.update(write_metadata(table.attrs, output_dir, name=name))
    return files
