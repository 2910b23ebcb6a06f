"""``centre`` and ``all_touched`` coverage take the same cells from a polygon that passed
through another CRS on the way: a 300 x 200 m compartment whose edges run through cell
centres (drawn on a 5 m grid) had 630 cells in its own CRS and 651 from EPSG:4326 or 7856,
as reprojection moved its edges by nanometres."""

import pytest
from affine import Affine
from pyproj import Transformer
from shapely import affinity
from shapely.geometry import Polygon, box
from shapely.ops import transform as reproject

from raster_collect_plugin.core.zonal.cells import burned_cells

TRANSFORM = Affine(10, 0, 493_840, 0, -10, 7_020_260)
X, Y = 495_005.0, 7_018_005.0
COMPARTMENTS = [box(X, Y, X + 300, Y + 200),  # edges through cell centres
                Polygon([(X + 500, Y), (X + 800, Y + 300), (X + 800, Y)]),  # and a diagonal
                box(X - 5, Y - 5, X + 1, Y + 295)]  # a 6 m strip, its left edge on a line


def _cells(geometry, all_touched):
    rows, cols = burned_cells(geometry, TRANSFORM, all_touched)
    return sorted(zip(rows.tolist(), cols.tolist()))


@pytest.mark.parametrize("all_touched", [False, True])
@pytest.mark.parametrize("polygon", COMPARTMENTS)
def test_the_same_cells_after_a_round_trip_through_degrees(polygon, all_touched):
    there = Transformer.from_crs(32756, 4326, always_xy=True).transform
    back = Transformer.from_crs(4326, 32756, always_xy=True).transform
    own = _cells(polygon, all_touched)
    assert own and _cells(reproject(back, reproject(there, polygon)), all_touched) == own
    for shift in (1e-9, -2e-9):
        assert _cells(affinity.translate(polygon, shift, -shift), all_touched) == own


def test_centre_cells_of_the_box_on_centres():
    assert len(_cells(COMPARTMENTS[0], False)) == 630  # 30 x 21: one edge of each pair
