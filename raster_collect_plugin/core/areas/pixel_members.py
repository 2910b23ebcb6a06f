"""Which pixels of a grid each polygon (compartment, hexagon, reference) holds: those whose
centre lies in it, as GDAL rasterises; a pixel in overlapping polygons belongs to each, so a
polygon's pixels do not depend on its neighbours. Used by the monitoring's tables and by
validation alike."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Membership:
    """Which zones each pixel belongs to: pairs of a flat pixel index and a zone position,
    ordered by pixel (a pixel in overlapping zones appears once per zone)."""

    pixel: np.ndarray
    zone: np.ndarray
    size: int

    def outside(self) -> np.ndarray:
        """Per pixel of the grid (flat), True where no zone contains it."""
        outside = np.ones(self.size, dtype=bool)
        outside[self.pixel] = False
        return outside


def zone_pixels(zones, transform, shape) -> Membership:
    """The pixels whose centre lies in each zone (GDAL's rasterisation); overlapping zones
    each keep their pixels."""
    from rasterio.enums import MergeAlg
    from rasterio.features import rasterize

    shapes = [(snapped(geometry, transform), position)
              for position, geometry in enumerate(zones.geometry)
              if geometry is not None and not geometry.is_empty]
    size = int(shape[0]) * int(shape[1])
    index_type = np.int32 if size < 2**31 else np.int64  # 4 bytes a pixel, not 8
    if not shapes:
        return Membership(np.zeros(0, index_type), np.zeros(0, np.int32), size)
    position = rasterize(shapes, out_shape=shape, transform=transform, fill=-1,
                         dtype="int32").ravel()
    count = rasterize(((g, 1) for g, _ in shapes), out_shape=shape, transform=transform,
                      fill=0, dtype="uint16", merge_alg=MergeAlg.add).ravel()
    single = np.flatnonzero(count == 1).astype(index_type)
    if not (count > 1).any():  # no overlap (the usual case): already in pixel order
        return Membership(single, position[single], size)
    pixels, owners = [single], [position[single]]
    shared = (count > 1).reshape(shape)
    for geometry, where in shapes:
        rows, cols, local = _window_pixels(geometry, transform, shape)
        if local is None:
            continue
        hit = local & shared[rows, cols]
        if hit.any():
            r, c = np.nonzero(hit)
            flat = (r + rows.start) * shape[1] + (c + cols.start)
            pixels.append(flat)
            owners.append(np.full(len(flat), where, dtype=np.int32))
    pixel = np.concatenate(pixels).astype(index_type)
    zone = np.concatenate(owners).astype(np.int32)
    order = np.argsort(pixel, kind="stable")
    return Membership(pixel[order], zone[order], size)


def snapped(geometry, transform):
    """``geometry`` with its coordinates rounded to a ten-millionth of a pixel: an edge through
    pixel centres (a boundary digitised on a 5 m grid, a diagonal through corners) keeps the
    same pixels when the polygons were reprojected on the way (nanometres off, which took or
    left a whole row of centres: 0.06 ha of 7 ha between EPSG:25832 and 32632)."""
    import shapely

    return shapely.set_precision(geometry, abs(transform.a) * 1e-7, mode="pointwise")


def _window_pixels(geometry, transform, shape):
    """(row slice, column slice, mask) of the pixels whose centre is in ``geometry``, in its
    bounding window of the grid (mask None when the window is empty)."""
    from rasterio.features import rasterize
    from rasterio.transform import rowcol

    west, south, east, north = geometry.bounds
    corners = rowcol(transform, [west, east, west, east], [south, south, north, north])
    rows = slice(max(0, min(corners[0]) - 1), min(shape[0], max(corners[0]) + 2))
    cols = slice(max(0, min(corners[1]) - 1), min(shape[1], max(corners[1]) + 2))
    if rows.stop <= rows.start or cols.stop <= cols.start:
        return rows, cols, None
    local = rasterize([(geometry, 1)], out_shape=(rows.stop - rows.start,
                                                 cols.stop - cols.start),
                      transform=transform * transform.translation(cols.start, rows.start),
                      fill=0, dtype="uint8")
    return rows, cols, local.astype(bool)
