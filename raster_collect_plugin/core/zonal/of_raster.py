"""Zonal statistics of an existing raster (no imagery search): the one entry point the job spec,
the command line and the Processing algorithm share."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Optional, Sequence, Union

import geopandas as gpd
import numpy as np
from rasterio.errors import RasterioIOError

from ..areas.aoi import Aoi, load_aoi
from ..areas.zones import ZoneError
from ..pixels.clear_fraction import check_min_clear_fraction
from ..runs.storage import is_remote
from .reader import RasterStack
from .statistics import DEFAULT_MIN_CLEAR_FRACTION, refuse_id_named_like_a_column, zonal_statistics


@dataclass
class RasterZonalRequest:
    """Statistics per polygon and band of ``raster``; reading options as ``RasterStack``."""

    aoi: Union[Aoi, str, Path, gpd.GeoDataFrame]
    raster: Union[str, Path]
    output_dir: Union[str, Path]
    id_field: str = "forest_id"
    layer: Optional[str] = None
    ids: Optional[Sequence] = None
    coverage: str = "exact"
    min_clear_fraction: float = DEFAULT_MIN_CLEAR_FRACTION
    bands: Optional[Sequence[int]] = None
    nodata: Optional[float] = None
    ignore_nodata: bool = False
    use_mask: bool = True
    categorical: bool = False
    table_formats: Optional[Sequence[str]] = None  # default: every format (Parquet if large)


def parse_bands(text: Optional[str]) -> Optional[list]:
    """'1,3' -> [1, 3]; '2,4-5' -> [2, 4, 5] (a range "a-b" with a <= b); empty -> None (every
    band). Band numbers are checked against the raster (and for repeats) when it is opened."""
    if text is None or not str(text).strip():
        return None
    bands: list = []
    for part in str(text).replace(" ", "").split(","):
        if not part:
            continue
        first, dash, last = part.partition("-")
        try:
            low = int(first)
            high = int(last) if dash else low
        except ValueError:
            raise ZoneError(f"bands must be band numbers or ranges separated by commas (e.g. "
                            f"1,3 or 2,4-5), not {text!r}") from None
        if high < low:
            raise ZoneError(f"the band range {part!r} runs backwards: write it low-high "
                            f"(e.g. {high}-{low})")
        bands.extend(range(low, high + 1))
    return bands or None


def refuse_remote_output(location) -> None:
    """ZoneError (bad input) for an object-store ``location``: the tables go to a local
    folder (a job spec's s3:// made a local folder named "s3:")."""
    if is_remote(location):
        raise ZoneError("zonal --raster writes to a local folder: give a local --output (job "
                        "spec 'output_dir'); s3:// outputs are for imagery runs")


def run_zonal_raster(request: RasterZonalRequest, *,
                     cancel: Optional[Callable[[], bool]] = None,
                     overwrite: Optional[bool] = None) -> Dict[str, object]:
    """Compute and write ``zonal_forests.{gpkg,csv,parquet}`` (or the request's
    ``table_formats``), ``forests_latest.gpkg``, the
    per-class table in categorical mode (``zonal_forests_classes.*``) and
    ``zonal_forests_metadata.json`` (options, definitions of every statistic, notes).
    Returns the files, the number of rows and the notes.

    ``overwrite`` True/False: a run of its own (the command line, a job spec) in a
    ``runs.RunFolder``: locked, fingerprinted (``raster_zonal_record``), refused over another
    run's results unless ``overwrite``, published with ``manifest.json``, rolled back on error.
    None: files written into ``output_dir`` for a caller that owns the folder."""
    check_min_clear_fraction(request.min_clear_fraction)  # before reading anything
    refuse_remote_output(request.output_dir)
    if request.nodata is not None and request.ignore_nodata:
        raise ZoneError("give either a nodata value or ignore nodata, not both")
    aoi = request.aoi if isinstance(request.aoi, Aoi) else load_aoi(
        request.aoi, id_field=request.id_field, layer=request.layer, ids=request.ids)
    refuse_id_named_like_a_column(aoi.id_field)
    raster = Path(request.raster)
    if not raster.exists():
        raise ZoneError(f"the raster {raster} does not exist: check the path")
    threads = os.cpu_count() or 1
    try:
        stack = RasterStack(raster, bands=request.bands, nodata=request.nodata,
                            ignore_nodata=request.ignore_nodata, use_mask=request.use_mask,
                            decode_threads=threads)
    except RasterioIOError as error:  # a vector file, a table, a broken header...
        reason = str(error).strip().splitlines()[0][:200] if str(error).strip() else ""
        raise ZoneError(f"cannot open {raster} as a raster ({reason}): give a GeoTIFF or "
                        "another raster GDAL reads, not a vector file") from None
    output = Path(request.output_dir)
    with contextlib.ExitStack() as held:
        held.callback(stack.close)
        _check_readable(stack, raster, request.nodata)
        outside = _zones_off_the_raster(stack, aoi.frame, aoi.id_field, raster)
        folder = None
        if overwrite is not None:  # checked before any pixel is read
            from ..runs.folder import RunFolder

            folder = held.enter_context(RunFolder(
                output, raster_zonal_record(request, aoi, raster), overwrite=overwrite,
                rewrites=True))
        try:
            table = zonal_statistics(stack, aoi.frame, id_fields=[aoi.id_field],
                                     mode=request.coverage,
                                     min_clear_fraction=request.min_clear_fraction,
                                     categorical=request.categorical, cancel=cancel,
                                     workers=threads)
        except Exception as error:  # noqa: BLE001 - a corrupt tile: a message naming the file
            from ..pixels.asset_reader import corrupt_asset_error

            corrupt = corrupt_asset_error(str(raster), error)
            if corrupt is None:
                raise
            raise corrupt from error
        classes = table.attrs.pop("classes", None)
        if classes is not None:
            _check_classes(classes, raster)  # before anything is written
        notes = list(aoi.notes) + list(table.attrs.get("notes", [])) + outside + \
            aoi.grid_note([stack.crs] if stack.crs is not None else []) + \
            _scale_notes(stack) + _decibel_notes(stack)
        files = _write_outputs(request, stack, aoi, table, classes, notes, output)
        if folder is not None:
            from ..outputs.tables import superseded_note, superseded_tables
            from ..runs.folder import relative_files

            folder.publish(relative_files(output, [Path(p) for p in files.values()]),
                           superseded=superseded_tables)
            notes += superseded_note(folder.removed, folder.held)
    return {"output_dir": str(output), "files": {k: str(v) for k, v in files.items()},
            "rows": int(len(table)), "notes": notes}


def raster_zonal_record(request: RasterZonalRequest, aoi: Aoi, raster: Path) -> dict:
    """The run record of a zonal-of-a-raster run: what the user asked (the raster's absolute
    path, the options, the polygons' geometry). Not the raster's size or time: the same command
    after the composites were made again is the same request, and replaces its tables."""
    from ..runs.folder import fingerprint, geometry_hash

    return fingerprint("zonal-raster", {
        "raster": str(raster.expanduser().absolute()),
        "bands": list(request.bands or []), "nodata": request.nodata,
        "ignore_nodata": request.ignore_nodata, "use_mask": request.use_mask,
        "categorical": request.categorical, "coverage": request.coverage,
        "min_clear_fraction": request.min_clear_fraction, "id_field": aoi.id_field,
        "geometry": geometry_hash(aoi.frame, aoi.id_field)})


def _write_outputs(request: RasterZonalRequest, stack: RasterStack, aoi: Aoi, table, classes,
                   notes: list, output: Path) -> Dict[str, Path]:
    """The tables, the latest-values layer and the metadata of a zonal-of-a-raster run."""
    from ..outputs.files import write_json
    from ..outputs.tables import TABLE_FORMATS, write_table, write_zone_outputs

    raster = Path(request.raster)
    index_name = stack.tags.get("index") or raster.stem
    for position, (name, value) in enumerate((("provider", "raster"),
                                              ("collection", raster.stem),
                                              ("index", index_name)), start=2):
        table.insert(position, name, value)
    output.mkdir(parents=True, exist_ok=True)
    files = write_zone_outputs(table, aoi.frame, aoi.id_field, output,
                               formats=request.table_formats)
    if classes is not None:
        classes.insert(2, "index", index_name)
        files.update({f"forests_classes_{kind}": path for kind, path in
                      write_table(classes, output / "zonal_forests_classes",
                                  layer="zonal_classes",
                                  formats=request.table_formats or TABLE_FORMATS).items()})
    mask_band = stack.has_mask_band
    metadata = {
        "raster": str(raster), "bands": list(request.bands or []) or "all",
        "nodata": request.nodata if request.nodata is not None else stack.nodata[0],
        "nodata_source": ("override" if request.nodata is not None else
                          "ignored" if request.ignore_nodata else "file"),
        "mask_band": "honoured" if mask_band and request.use_mask else
                     "ignored" if mask_band else "none",
        "min_clear_fraction": request.min_clear_fraction,
        "categorical": request.categorical,
        **table.attrs.get("statistics", {}), "notes": notes}
    files["forests_metadata"] = write_json(output / "zonal_forests_metadata.json", metadata)
    return files


def _zones_off_the_raster(stack: RasterStack, zones: gpd.GeoDataFrame, id_field: str,
                          raster: Path) -> list:
    """Notes naming the polygons that lie wholly off ``stack`` (their statistics are empty);
    a ZoneError when none of them touches it (a wrong CRS or the wrong raster, so the whole
    table would be empty)."""
    from shapely.geometry import Polygon

    from ..areas.zones import same_crs

    if stack.crs is None or zones.crs is None or zones.empty:
        return []  # prepare_zones names the missing CRS
    shapes = zones.geometry if same_crs(zones.crs, stack.crs) else \
        zones.geometry.to_crs(stack.crs)
    corners = [stack.transform * (col, row) for col, row in
               ((0, 0), (stack.width, 0), (stack.width, stack.height), (0, stack.height))]
    footprint = Polygon(corners)
    off = [i for i, shape in enumerate(shapes)
           if shape is not None and not shape.is_empty  # sharing only an edge is off it
           and (not shape.intersects(footprint) or shape.touches(footprint))]
    if off and len(off) == sum(1 for g in shapes if g is not None and not g.is_empty):
        bounds = ", ".join(f"{v:.6g}" for v in zones.to_crs(stack.crs).total_bounds)
        raise ZoneError(
            f"the raster {raster.name} does not overlap any polygon (polygons in the raster's "
            f"CRS {stack.crs.to_string()}: {bounds}; raster: "
            f"{', '.join(f'{v:.6g}' for v in footprint.bounds)}): check the raster's CRS "
            "and that it covers the polygons")
    return [f"{id_field}={zones[id_field].iloc[i]} lies outside the raster: its statistics are "
            "empty (clear_count 0)" for i in off]


def _check_readable(stack: RasterStack, raster: Path, nodata: Optional[float]) -> None:
    """Refuse, before any pixel is read, a VRT whose source files are missing (else a
    traceback mid-run) and a ``nodata`` override the raster's data type cannot hold (300 or
    0.5 for a uint8 raster: no cell could equal it, so nothing would be excluded)."""
    import math

    from .reader import _as_native

    files = list(getattr(stack._dataset, "files", None) or [])
    missing = [f for f in files[1:] if not f.startswith("/vsi") and not Path(f).exists()]
    if missing:
        raise ZoneError(f"the raster {raster.name} refers to file(s) that do not exist "
                        f"({', '.join(missing[:3])}): rebuild it or restore those files")
    if nodata is not None and not math.isnan(nodata) and _as_native(nodata, stack.dtype) is None:
        info = np.iinfo(stack.dtype)
        raise ZoneError(f"nodata {nodata:g} is not a value of {raster.name} ({stack.dtype}: "
                        f"whole numbers {info.min} to {info.max}), so no cell would be "
                        "excluded: check --nodata (job spec 'nodata')")


def _scale_notes(stack: RasterStack) -> list:
    """A note for bands whose file declares a scale or offset (an index stored as int16 x
    10000): the statistics are of the stored values, which the note says how to convert."""
    dataset = stack._dataset
    notes = []
    for index in stack.indexes:
        scale, offset = dataset.scales[index - 1], dataset.offsets[index - 1]
        if (scale, offset) != (1.0, 0.0):
            notes.append(f"band {index} declares scale {scale:g} and offset {offset:g}: its "
                         "statistics are of the stored values (value x scale + offset gives "
                         "the physical value; std x scale)")
    return notes


def _decibel_notes(stack: RasterStack) -> list:
    """A note naming the bands read as decibels (their metadata says dB), whose mean, sum,
    std and coefficient of variation are of linear power (the metadata's ``decibel_bands``)."""
    bands = [str(index) for index, dB in zip(stack.indexes, stack.decibels) if dB]
    if not bands:
        return []
    return [f"band(s) {', '.join(bands)} are in dB (the file's units): their mean is "
            "10·log10 of the mean linear power, sum and std are in linear power, min, max "
            "and the quantiles in dB (see decibel_bands)"]


def _check_classes(classes, raster: Path) -> None:
    """Categorical mode counts classes: a raster of non-integer values (a continuous index)
    would give one "class" per distinct value, so it is refused."""
    values = classes["value"].to_numpy(dtype=float)
    fractional = values[np.isfinite(values) & (values != np.round(values))]
    if len(fractional):
        raise ZoneError(
            f"--categorical counts classes, but {raster.name} holds non-integer values "
            f"(e.g. {fractional[0]:g}; {len(np.unique(fractional))} distinct): give a class "
            "raster (integer values) or drop --categorical (job spec: 'categorical': false)")
