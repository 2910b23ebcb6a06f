"""Load chunks that follow the scenes' internal COG tiles (issue 31).

GDAL reads a COG a whole tile at a time. When a load chunk's edge cuts through a tile, every
chunk touching that tile fetches and decodes it again: with 1024-pixel tiles and 1024-pixel
chunks that start at the AOI's corner, each tile is read by up to four chunks. Chunks whose
edges fall on tile edges read each tile once.

odc-stac takes one chunk size per axis, counted from the grid's first pixel. So the grid is
padded up and to the left to the nearest tile edge of the scenes, loaded with a whole number
of tiles per chunk, and the padding sliced off again: the first chunk of each axis is shorter,
every other edge falls on a tile edge, and the padding is read from tiles the AOI needs anyway.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import pystac
from affine import Affine
from odc.geo.geobox import GeoBox

_log = logging.getLogger(__name__)
_ALIGNED = 1e-6  # pixel offsets closer than this to a whole number are whole


@dataclass(frozen=True)
class SceneTiles:
    """The scenes' tile grid seen from a load grid: tile size (grid pixels) and how far the
    grid's first row and column lie past the tile edge before them."""

    height: int
    width: int
    row_padding: int
    column_padding: int

    def step(self, chunk_size: int) -> Tuple[int, int]:
        """Chunk (rows, columns): the whole number of tiles nearest ``chunk_size`` from below,
        at least one tile."""
        return (max(self.height, chunk_size // self.height * self.height),
                max(self.width, chunk_size // self.width * self.width))

    def padded(self, geobox: GeoBox) -> GeoBox:
        """``geobox`` grown up and left to the tile edges before its first row and column."""
        height, width = geobox.shape
        transform = geobox.affine * Affine.translation(-self.column_padding,
                                                       -self.row_padding)
        return GeoBox((height + self.row_padding, width + self.column_padding), transform,
                      geobox.crs)


def axis_chunks(length: int, padding: int, step: int) -> Tuple[int, ...]:
    """Chunk lengths along an axis of ``length`` pixels whose first chunk starts ``padding``
    pixels after a chunk edge of ``step``."""
    sizes, start = [], 0
    first = step - padding
    while start < length:
        size = min(first if start == 0 else step, length - start)
        sizes.append(size)
        start += size
    return tuple(sizes)


def spatial_chunks(shape: Tuple[int, int], chunk_size: int,
                   tiles: Optional[SceneTiles]) -> Tuple[Tuple[int, ...], Tuple[int, ...]]:
    """The (rows, columns) chunks of a loaded grid of ``shape``: tile-aligned when ``tiles``
    is known, else uniform ``chunk_size`` from the grid's corner."""
    if tiles is None:
        return (axis_chunks(shape[0], 0, chunk_size), axis_chunks(shape[1], 0, chunk_size))
    rows, columns = tiles.step(chunk_size)
    return (axis_chunks(shape[0], tiles.row_padding, rows),
            axis_chunks(shape[1], tiles.column_padding, columns))


def scene_tiles(items: Sequence[pystac.Item], asset_keys: Sequence[str],
                geobox: GeoBox) -> Optional[SceneTiles]:
    """The tile grid, relative to ``geobox``, of the first scene's first file in
    ``asset_keys`` whose pixels are the grid's (same CRS and resolution, no sub-pixel shift:
    a 20 m band on a 10 m grid is skipped); None when no file is, a file is not tiled, or a
    header cannot be read (the load itself then reports that file). One header read per
    file tried."""
    import rasterio

    from ..compute.gdal_env import gdal_options

    for key in asset_keys:
        asset = next((item.assets[key] for item in items if key in item.assets), None)
        if asset is None:
            continue
        try:
            with rasterio.Env(**gdal_options()), rasterio.open(asset.href) as scene:
                block_height, block_width = scene.block_shapes[0]
                if block_height < 16 or block_height != block_width:  # strips, not tiles
                    return None
                tiles = _tiles_on_grid(scene.crs, scene.transform, scene.block_shapes[0],
                                       geobox)
        except Exception as error:  # an optimisation only: never the reason a run fails
            _log.debug("no tile grid from %s: %s", asset.href.split("?")[0], error)
            return None
        if tiles is not None:
            return tiles
    return None


def _tiles_on_grid(crs, transform: Affine, block: Tuple[int, int],
                   geobox: GeoBox) -> Optional[SceneTiles]:
    """A file's tiles seen from ``geobox``, None when its pixels are not the grid's."""
    from ..areas.zones import same_crs

    grid = geobox.affine
    if (not same_crs(crs, geobox.crs)
            or abs(transform.a - grid.a) > _ALIGNED * abs(grid.a)
            or abs(transform.e - grid.e) > _ALIGNED * abs(grid.e)
            or transform.b or transform.d or grid.b or grid.d):
        return None
    column = (grid.c - transform.c) / grid.a  # the grid's first column in the file's pixels
    row = (grid.f - transform.f) / grid.e
    if abs(column - round(column)) > _ALIGNED or abs(row - round(row)) > _ALIGNED:
        return None
    tile_height, tile_width = block
    return SceneTiles(tile_height, tile_width, round(row) % tile_height,
                      round(column) % tile_width)
