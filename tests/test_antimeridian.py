"""A forest split at 180° (parts at +179.9 and -179.9, as near Fiji) is one area in one UTM
zone, as when it is drawn in UTM; UTM zones come from wrapped longitudes."""

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from affine import Affine
from shapely.geometry import MultiPolygon, box
from shapely.ops import unary_union

from raster_collect_plugin.core.areas.aoi import AoiError, load_aoi
from raster_collect_plugin.core.areas.utm import (
    area_utm,
    longitude_span,
    utm_epsg,
    utm_zone,
    zones_of_span,
)
from raster_collect_plugin.core.sentinel_hub.rules import request_epsg
from raster_collect_plugin.core.zonal.of_raster import RasterZonalRequest, run_zonal_raster

EAST, WEST = box(179.9, -16.9, 180.0, -16.8), box(-180.0, -16.9, -179.95, -16.8)


def test_zones_of_wrapped_longitudes():
    assert [utm_zone(lon) for lon in (179.99, 180.0, -180.0, 540.0, -186.0)] == [60, 1, 1, 1, 60]
    assert utm_epsg(178.5, -17.0) == 32760
    west, east = longitude_span([(179.9, 180.0), (-180.0, -179.95)])
    assert (west, east) == pytest.approx((179.9, 180.05))
    assert zones_of_span(west, east) == [60, 1]
    assert zones_of_span(150.0, 156.0) == [56]  # ending on a boundary is not the next zone
    assert zones_of_span(*longitude_span([(-10.0, 10.0)])) == [29, 30, 31, 32]
    assert area_utm([(179.9, -16.9, 180.0, -16.8), (-180.0, -16.9, -179.95, -16.8)]) == (
        32760, [60, 1])


def test_forest_split_at_the_antimeridian_is_one_area_in_utm(tmp_path):
    split = gpd.GeoDataFrame({"forest_id": [1]}, geometry=[MultiPolygon([EAST, WEST])],
                             crs="EPSG:4326")
    aoi = load_aoi(split)
    assert aoi.crs.to_epsg() == 32760
    assert request_epsg(split) == 32760  # Sentinel Hub requests: the same zone, not zone 31
    # both parts side by side (one area ~15.9 km x 11.1 km), not half a world apart
    xmin, ymin, xmax, ymax = aoi.frame.total_bounds
    assert 15_000 < xmax - xmin < 17_000 and 10_000 < ymax - ymin < 12_000


def test_split_forest_against_a_utm_60s_raster_as_when_drawn_in_utm(tmp_path):
    """Zonal statistics of a UTM 60S raster over the split forest: the same cells as the same
    area drawn in UTM 60S."""
    in_utm = unary_union([gpd.GeoSeries([part], crs="EPSG:4326").to_crs(32760).iloc[0]
                          for part in (EAST, WEST)])
    x0, y0 = np.floor(in_utm.bounds[0] / 100) * 100 - 500, np.ceil(in_utm.bounds[3] / 100) * 100
    transform = Affine(100, 0, x0, 0, -100, y0 + 500)
    data = np.arange(200 * 150, dtype="float32").reshape(1, 150, 200)
    raster = tmp_path / "utm60s.tif"
    with rasterio.open(raster, "w", driver="GTiff", count=1, height=150, width=200,
                       dtype="float32", transform=transform, crs="EPSG:32760") as dataset:
        dataset.write(data)
    tables = {}
    for name, frame in (
            ("split", gpd.GeoDataFrame({"forest_id": [1]},
                                       geometry=[MultiPolygon([EAST, WEST])], crs="EPSG:4326")),
            ("utm", gpd.GeoDataFrame({"forest_id": [1]}, geometry=[in_utm], crs="EPSG:32760"))):
        result = run_zonal_raster(RasterZonalRequest(aoi=frame, raster=raster,
                                                     output_dir=tmp_path / name))
        tables[name] = gpd.read_file(result["files"]["forests_gpkg"]).iloc[0]
    split, drawn = tables["split"], tables["utm"]
    assert split["pixel_count"] == pytest.approx(in_utm.area / 10_000, rel=1e-3)  # 100 m cells
    assert split["clear_fraction"] == 1.0
    assert split["pixel_count"] == pytest.approx(drawn["pixel_count"], rel=1e-6)
    assert split["mean"] == pytest.approx(drawn["mean"], rel=1e-6)


def test_an_area_over_three_zones_is_still_refused():
    wide = gpd.GeoDataFrame({"forest_id": [1]}, geometry=[MultiPolygon([
        box(171.0, -17.0, 180.0, -16.9), box(-180.0, -17.0, -173.5, -16.9)])], crs="EPSG:4326")
    with pytest.raises(AoiError, match="span UTM zones 59-2 \\(4 zones\\)"):
        load_aoi(wide)
