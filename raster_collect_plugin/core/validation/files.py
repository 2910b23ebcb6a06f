"""Validation from files, for the command line and the other doors: monitoring output rasters
(single-band GeoTIFFs on one grid) and polygon files.

How to call::

    from raster_collect_plugin.core.validation.files import read_layers, validate_files
    outputs = read_layers({"status": "status.tif", "confirmation": "confirmation.tif"})
    result = validate_files({"status": ..., "first_anomaly": ..., "confirmation": ...},
                            "references.gpkg", "forests.gpkg", id_field="forest_id",
                            min_fraction=0.02)          # any keyword of assessment.validate

Date rasters hold days since 1970-01-01 (0 or less = none), as the monitoring outputs and the
scenario's ``truth_date.tif`` do.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Optional, Union

import numpy as np
import xarray as xr

from .assessment import validate

PathLike = Union[str, Path]


def read_layers(paths: Mapping[str, PathLike]) -> xr.Dataset:
    """Single-band rasters on one grid as a Dataset (y, x) with the grid's CRS in attrs."""
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
            layers[name] = (("y", "x"), source.read(1))
    transform, crs, (height, width) = grid
    ys = transform.f + (np.arange(height) + 0.5) * transform.e
    xs = transform.c + (np.arange(width) + 0.5) * transform.a
    return xr.Dataset(layers, coords={"y": ys, "x": xs},
                      attrs={"crs": crs.to_string(), "transform": tuple(transform)[:6]})


def validate_files(layers: Mapping[str, PathLike], references: PathLike,
                   compartments: PathLike, *, references_layer: Optional[str] = None,
                   compartments_layer: Optional[str] = None, **options) -> dict:
    """``assessment.validate`` on files (``options``: its keyword arguments)."""
    from affine import Affine

    from ..areas.aoi import read_polygons

    outputs = read_layers(layers)
    return validate(outputs, read_polygons(Path(references), layer=references_layer),
                    read_polygons(Path(compartments), layer=compartments_layer),
                    transform=Affine(*outputs.attrs["transform"]), crs=outputs.attrs["crs"],
                    **options)
