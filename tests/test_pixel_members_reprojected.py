"""A compartment's pixels (those whose centre it holds: the monitoring's tables, validation)
do not change when its polygon was reprojected on the way. Boundaries through pixel centres
(digitised on a 5 m grid, a diagonal through pixel corners) lost or gained a whole row of
centres with a nanometre's shift: the same compartments in EPSG:25832 and 32632 were 0.06 ha
apart on 7.14 ha, and validation's pixel counts moved by dozens."""

import geopandas as gpd
import pytest
from affine import Affine
from pyproj import Transformer
from shapely import affinity
from shapely.geometry import Polygon
from shapely.ops import transform as reproject

from raster_collect_plugin.core.areas.pixel_members import zone_pixels

X0, Y0 = 372_000.0, 5_352_000.0
TRANSFORM = Affine(10, 0, X0, 0, -10, Y0)
SHAPE = (10, 10)
# a diagonal through pixel corners (and centres), and edges along columns of centres
DIAGONAL = Polygon([(X0 + 5, Y0 - 95), (X0 + 95, Y0 - 5), (X0 + 95, Y0 - 95)])
ON_CENTRES = Polygon([(X0 + 15, Y0 - 95), (X0 + 15, Y0 - 15), (X0 + 75, Y0 - 15),
                      (X0 + 75, Y0 - 95)])


def _pixels(geometry):
    return zone_pixels(gpd.GeoDataFrame(geometry=[geometry]), TRANSFORM, SHAPE).pixel.tolist()


@pytest.mark.parametrize("polygon", [DIAGONAL, ON_CENTRES])
def test_a_nanometre_shift_keeps_the_pixels(polygon):
    own = _pixels(polygon)
    assert len(own) in (45, 54)  # 9 + 8 + ... + 1 under the diagonal; 6 x 9 on the centres
    for shift in (1e-9, -1e-9, 2e-9, -3e-9):
        assert _pixels(affinity.translate(polygon, shift, -shift)) == own


@pytest.mark.parametrize("polygon", [DIAGONAL, ON_CENTRES])
def test_a_round_trip_through_another_crs_keeps_the_pixels(polygon):
    there = Transformer.from_crs(32632, 4326, always_xy=True).transform
    back = Transformer.from_crs(4326, 32632, always_xy=True).transform
    assert _pixels(reproject(back, reproject(there, polygon))) == _pixels(polygon)
