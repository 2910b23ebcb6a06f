"""Landsat 7 (ETM+) or 5 (TM) scenes in a Landsat collection (Planetary Computer's
landsat-c2-l2 holds them beside Landsat 8/9): the harmonised series took them as the HLS v2.0
reference, unadjusted, although that table is fitted for Sentinel-2 against Landsat 8 OLI (ETM+
reads NIR in a broader band: its NDVI runs lower, a monitor's false alarm). Harmonised, they
are left out and named; without harmonisation (each sensor's own values) they are kept."""

import json
from datetime import date
from pathlib import Path

import geopandas as gpd
import pystac
import pytest

from raster_collect_plugin.core.sample.disturbance_scenario import ScenarioSpec
from raster_collect_plugin.core.series.harmonised import (
    Stack,
    landsat_number,
    load_index_series,
    loadable,
)

SHORT = ScenarioSpec(start=date(2025, 2, 20), end=date(2025, 3, 31))


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    from raster_collect_plugin.core.sample.disturbance_catalog import write_scenario

    files = write_scenario(tmp_path_factory.mktemp("missions") / "scenario", SHORT)
    items = {}
    for collection in ("sentinel-2-l2a", "landsat-c2-l2"):
        items[collection] = []
        for doc in files.items[collection]:
            item = pystac.Item.from_dict(json.loads(json.dumps(doc)))
            for asset in item.assets.values():
                asset.href = str(Path(files.root) / asset.href)
            items[collection].append(item)
    first = items["landsat-c2-l2"][0]  # relabelled as a Landsat 7 scene
    first.properties["platform"] = "landsat-7"
    first.id = first.id.replace("LC08", "LE07").replace("LC09", "LE07")
    return items, gpd.read_file(files.compartments), first.id


def test_a_landsat_7_scene_is_left_out_of_the_harmonised_series(scenario):
    items, frame, etm = scenario
    series = load_index_series(items, frame, index="NDVI", resolution=30)
    assert etm not in set(series["scene_id"].values)
    assert "landsat-7" not in set(series["platform"].values)
    assert set(series["platform"].values) >= {"landsat-8", "landsat-9"}
    assert json.loads(series.attrs["skipped"]) == {"landsat-c2-l2": (
        "1 Landsat 7 scene(s) left out: the harmonised series is Landsat 8/9 OLI (the HLS "
        "v2.0 reference) and Sentinel-2; without harmonisation they are kept")}
    raw = load_index_series(items, frame, index="NDVI", resolution=30, harmonise=False)
    assert etm in set(raw["scene_id"].values)
    assert raw.sizes["time"] == series.sizes["time"] + 1
    assert json.loads(raw.attrs["skipped"]) == {}


def test_the_look_back_for_late_scenes_sees_the_same_scenes(scenario):
    """A monitor's look-back (``loadable``) must not list a scene the series leaves out,
    else every run named the Landsat 7 scenes as late."""
    items, _, etm = scenario
    from raster_collect_plugin.core.pixels.bands import profile_for

    landsat = items["landsat-c2-l2"]
    stack = Stack("landsat-c2-l2", profile_for("*", "landsat-c2-l2", landsat[1].to_dict()),
                  landsat)
    kept = loadable([stack], "NDVI")
    assert [i.id for i in kept[0].items] == [i.id for i in landsat[1:]]
    assert len(loadable([stack], "NDVI", harmonise=False)[0].items) == len(landsat)


def test_the_mission_from_the_platform_or_the_id():
    def item(identifier, platform=None):
        properties = {} if platform is None else {"platform": platform}
        return pystac.Item(identifier, None, None, date(2020, 1, 1), properties)

    assert landsat_number(item("x", "LANDSAT_9")) == 9
    assert landsat_number(item("LE07_L2SP_196026_20200101_02_T1")) == 7
    assert landsat_number(item("LT05_L2SP_196026_20100101_02_T1")) == 5
    assert landsat_number(item("LC08_L2SP_196026_20200101_02_T1")) == 8
    assert landsat_number(item("scene-1")) is None  # kept: nothing tells
