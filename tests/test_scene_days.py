"""Which day a scene belongs to: UTC days everywhere (README *Command line*), and the tiles
odc-stac fuses into one time step named by the scenes they really hold."""

from __future__ import annotations

import json
import shutil

import geopandas as gpd
from odc.geo.geobox import GeoBox

from raster_collect_plugin.core.pixels.load import LoadSpec, load_scenes
from raster_collect_plugin.core.sources.providers.base import SearchQuery
from raster_collect_plugin.core.sources.providers.static_catalog import StaticCatalogProvider


def _retimed_copy(sample, root, times):
    """The sample's catalog with its first Sentinel-2 items given other times (``times``:
    one ISO UTC time per item, in item order); returns their ids."""
    shutil.copytree(sample.catalog_path.parent, root)
    paths = sorted((root / "sentinel-2-l2a").glob("*/*.json"))
    ids = []
    for path, when in zip(paths, times):
        item = json.loads(path.read_text())
        item["properties"]["datetime"] = when
        path.write_text(json.dumps(item))
        ids.append(item["id"])
    assert len(ids) == len(times)
    return ids


def test_fused_tiles_are_named_by_odc_stac_s_own_days(small_sample, tmp_path):
    """odc-stac fuses the scenes of one solar day (UTC + whole hours of the grid's centre
    longitude: + 10 h over Queensland) into a time step; the run named each step's scenes
    by its own rule (each scene's longitude, to the second: + 10 h 12 min), so scenes near
    local midnight were fused in one place and reported, and given their DN rule, in
    another. Now the names follow odc-stac's grouping."""
    a, b, c = _retimed_copy(small_sample, tmp_path / "catalog", [
        "2025-10-10T13:50:00Z", "2025-10-10T14:05:00Z", "2025-10-11T13:55:00Z"])
    forests = gpd.read_file(small_sample.forests_path)
    bbox = tuple(forests.to_crs("EPSG:4326").total_bounds)
    provider = StaticCatalogProvider("catalog", str(tmp_path / "catalog"))
    items = provider.search(SearchQuery(bbox, *_days("2025-10-10", "2025-10-11"),
                                        ["sentinel-2-l2a"]))
    assert sorted(item.id for item in items) == sorted([a, b, c])
    utm = forests.to_crs("EPSG:32756")
    geobox = GeoBox.from_bbox(tuple(utm.total_bounds), "EPSG:32756", resolution=20)
    loaded = load_scenes(items, LoadSpec(provider.profile("sentinel-2-l2a", items[0]),
                                         ("nir", "red"), geobox))
    # 13:50 UTC is 23:50 on the 10th (+10 h); 14:05 and 13:55 the next day are the 11th
    assert loaded.scene_ids == [[a], [b, c]]
    first = {item.id: item.datetime.replace(tzinfo=None) for item in items}
    assert [str(t)[:19] for t in loaded.valid.time.values] == \
        [first[ids[0]].isoformat() for ids in loaded.scene_ids]


def _days(*texts):
    from datetime import date

    return [date.fromisoformat(text) for text in texts]
