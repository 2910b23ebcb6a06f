"""Load chunks on the scenes' tile edges (core/pixels/tile_grid.py, issue 31): what the grid
learns from a scene file's header, and the chunks it gives."""

from __future__ import annotations

import numpy as np
import pystac
from affine import Affine
from odc.geo.geobox import GeoBox

from raster_collect_plugin.core.outputs.files import write_cog
from raster_collect_plugin.core.pixels.tile_grid import (
    SceneTiles,
    axis_chunks,
    scene_tiles,
    spatial_chunks,
)

SCENE = Affine(10, 0, 300_000, 0, -10, 7_100_000)


def _scene(tmp_path, tile: int = 512) -> pystac.Item:
    path = tmp_path / "B04.tif"
    write_cog(path, np.ones((2000, 2000), "uint16"), transform=SCENE, crs="EPSG:32756",
              nodata=0, blocksize=tile, overviews=False)
    item = pystac.Item("scene", None, None, pystac.utils.str_to_datetime("2025-10-01"), {})
    item.add_asset("B04", pystac.Asset(str(path)))
    return item


def _grid(column: float, row: float, resolution: float = 10.0,
          shape=(1500, 1700)) -> GeoBox:
    origin = SCENE * (column, row)
    return GeoBox(shape, Affine(resolution, 0, origin[0], 0, -resolution, origin[1]),
                  "EPSG:32756")


def test_the_grid_learns_where_the_tiles_start(tmp_path):
    item = _scene(tmp_path)
    assert scene_tiles([item], ["B04"], _grid(1124, 530)) == SceneTiles(512, 512, 18, 100)
    assert scene_tiles([item], ["B04"], _grid(1024, 512)) == SceneTiles(512, 512, 0, 0)
    # before the scene's corner: the tile edges continue outside it
    assert scene_tiles([item], ["B04"], _grid(-12, -3)) == SceneTiles(512, 512, 509, 500)


def test_no_alignment_when_the_pixels_are_not_the_grids(tmp_path):
    item = _scene(tmp_path)
    assert scene_tiles([item], ["B04"], _grid(100.5, 30)) is None  # half a pixel off
    assert scene_tiles([item], ["B04"], _grid(100, 30, resolution=20)) is None
    assert scene_tiles([item], ["B08"], _grid(100, 30)) is None  # no such asset
    missing = item.clone()
    missing.assets["B04"].href = str(tmp_path / "gone.tif")
    assert scene_tiles([missing], ["B04"], _grid(100, 30)) is None  # the load reports it


def test_chunks_start_short_then_follow_the_tiles():
    assert axis_chunks(2500, 100, 1024) == (924, 1024, 552)
    assert axis_chunks(500, 100, 1024) == (500,)
    assert axis_chunks(2048, 0, 1024) == (1024, 1024)
    tiles = SceneTiles(512, 256, 18, 100)
    assert tiles.step(1024) == (1024, 1024)
    assert SceneTiles(1536, 1536, 0, 0).step(1024) == (1536, 1536)  # at least one tile
    assert spatial_chunks((1500, 1700), 1024, tiles) == ((1006, 494), (924, 776))
    assert spatial_chunks((1500, 1700), 1024, None) == ((1024, 476), (1024, 676))
    padded = tiles.padded(_grid(1124, 530))
    assert padded.shape == (1518, 1800)
    assert padded.affine * (0, 0) == SCENE * (1024, 512)  # on a tile edge
