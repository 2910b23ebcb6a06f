"""Validation from files, for the command line and the other doors: monitoring output rasters
(single-band GeoTIFFs on one grid) and polygon files.

How to call::

    from raster_collect_plugin.core.validation.files import read_layers, validate_files
    outputs = read_layers({"status": "status.tif", "confirmation": "confirmation.tif"})
    result = validate_files({"status": ..., "first_anomaly": ..., "confirmation": ...},
                            "references.gpkg", "forests.gpkg", id_field="forest_id",
                            min_fraction=0.02)          # any keyword of assessment.validate

Date rasters hold days since 1970-01-01 (0 or less = none), as the scenario's
``truth_date.tif`` does, or YYYYMMDD integers (0 = none), as the monitoring outputs
(``monitoring_first_anomaly.tif``, ``monitoring_confirmation.tif``) do: read_layers turns those
into days.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Optional, Union

import numpy as np
import xarray as xr

from .assessment import validate

PathLike = Union[str, Path]
DATE_LAYERS = ("first_anomaly", "confirmation")
YYYYMMDD_FLOOR = 10_000_101  # 1000-01-01 as YYYYMMDD; as days since 1970 it is year ~29000


def yyyymmdd_days(values: np.ndarray) -> np.ndarray:
    """YYYYMMDD integers (0 or less = none) as int64 days since 1970-01-01 (0 = none)."""
    values = np.asarray(values, "int64")
    found = values > 0
    values = np.where(found, values, 19700101)
    months = (values // 10000 - 1970) * 12 + (values // 100) % 100 - 1
    days = months.astype("datetime64[M]").astype("datetime64[D]").astype("int64") + \
        values % 100 - 1
    return np.where(found, days, 0)


def _as_days(name: str, values: np.ndarray) -> np.ndarray:
    """A date layer in days since 1970 (YYYYMMDD recognised by its magnitude)."""
    if name in DATE_LAYERS and values.dtype.kind in "iu" and values.max(initial=0) >= \
            YYYYMMDD_FLOOR:
        return yyyymmdd_days(values)
    return values


def read_layers(paths: Mapping[str, PathLike]) -> xr.Dataset:
    """Single-band rasters on one grid as a Dataset (y, x) with the grid's CRS in attrs;
    YYYYMMDD date layers (the monitoring outputs') become days since 1970."""
    import rasterio

    layers, grid = {}, None
    for name, path in paths.items():
        with rasterio.open(path) as source:
            here = (source.transform, source.crs, source.shape)
            if grid is None:
                grid = here
            elif here != grid:
                raise ValueError(f"{path} is not on the grid of {next(iter(paths.values()))}: "
                                 "the output rasters must share one grid")
            layers[name] = (("y", "x"), _as_days(name, source.read(1)))
    transform, crs, (height, width) = grid
    ys = transform.f + (np.arange(height) + 0.5) * transform.e
    xs = transform.c + (np.arange(width) + 0.5) * transform.a
    return xr.Dataset(layers, coords={"y": ys, "x": xs},
                      attrs={"crs": crs.to_string(), "transform": tuple(transform)[:6]})


def validate_files(layers: Mapping[str, PathLike], references: PathLike,
                   compartments: PathLike, *, references_layer: Optional[str] = None,
                   compartments_layer: Optional[str] = None, **options) -> dict:
    """``assessment.validate`` on files (``options``: its keyword arguments); references of
    several polygon layers need ``references_layer``."""
    from affine import Affine

    from ..areas.aoi import read_polygons

    outputs = read_layers(layers)
    return validate(outputs, read_polygons(Path(references), layer=references_layer,
                                           layer_option="references_layer"),
                    read_polygons(Path(compartments), layer=compartments_layer,
                                  layer_option="compartments_layer"),
                    transform=Affine(*outputs.attrs["transform"]), crs=outputs.attrs["crs"],
                    **options)
