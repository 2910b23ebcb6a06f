"""Increments on the monitoring state's grid (issue 30): a history with both sensors, then an
increment in which only one sensor's scenes are new (Landsat on the 10 m grid, Sentinel-2 on
the 30 m grid that follows Landsat's pixels) lands on the saved grid, not on a grid of that
sensor's own, and ends where a run from scratch over the same scenes ends."""

import json
import os
import shutil
from datetime import date

import numpy as np
import pytest
import rasterio
from affine import Affine

from raster_collect_plugin.core.jobs.monitor import run_monitor_job
from raster_collect_plugin.core.jobs.run import build_sources
from raster_collect_plugin.core.monitoring.state import MonitorState
from raster_collect_plugin.core.sample.catalog import write_static_catalog
from raster_collect_plugin.core.sample.disturbance_catalog import write_scenario
from raster_collect_plugin.core.sample.disturbance_scenario import Event, ScenarioSpec

SPEC = ScenarioSpec(start=date(2024, 1, 1), end=date(2025, 6, 30), columns=2, rows=1,
                    events=(Event(1, "windthrow", date(2025, 3, 14)),))
UNTIL = "2025-02-28"  # the other sensor's last scene


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    return write_scenario(tmp_path_factory.mktemp("scenario"), SPEC)


def one_sensor_tail(scenario, root, going_on: str):
    """The scenario's catalog where only the ``going_on`` collection has scenes after UNTIL,
    its Landsat pixels moved 15 m east as real ones sit (odd multiples of 15 m, so the 30 m
    grid follows Landsat and a Sentinel-2-only load would choose a grid of its own)."""
    items = {collection: [_shifted(item) if collection.startswith("landsat") else item
                          for item in found if collection == going_on
                          or item["properties"]["datetime"][:10] <= UNTIL]
             for collection, found in scenario.items.items()}
    write_static_catalog(root, items, None, catalog_id="one-sensor-tail")
    for collection, found in items.items():
        for item in found:
            for source in (scenario.root / collection / item["id"]).glob("*.tif"):
                target = root / collection / item["id"] / source.name
                if collection.startswith("landsat"):
                    shutil.copy(source, target)
                    with rasterio.open(target, "r+", IGNORE_COG_LAYOUT_BREAK="YES") as dataset:
                        dataset.transform = dataset.transform * Affine.translation(0.5, 0)
                else:
                    os.symlink(source, target)
    return root / "catalog.json"


def _shifted(item: dict) -> dict:
    """The item with every proj:transform half a 30 m pixel (15 m) further east."""
    text = json.dumps(item)
    doc = json.loads(text)
    for fields in (doc["properties"], *doc["assets"].values()):
        if "proj:transform" in fields:
            transform = list(fields["proj:transform"])
            transform[2] += transform[0] / 2
            fields["proj:transform"] = transform
    return doc


def _run(scenario, catalog, output, end, resolution):
    spec = {"kind": "monitor", "aoi": str(scenario.compartments), "layer": "compartments",
            "output_dir": str(output), "sources": [{"kind": "static", "href": str(catalog)}],
            "history_start": "2024-01-01", "history_end": "2024-12-31", "end": end,
            "resolution": resolution}
    return run_monitor_job(spec, build_sources(spec["sources"]))


@pytest.mark.parametrize(("resolution", "collection", "sensor"), [
    (10, "landsat-c2-l2", "landsat"), (30, "sentinel-2-l2a", "sentinel-2")])
def test_a_one_sensor_increment_lands_on_the_saved_grid(scenario, tmp_path, resolution,
                                                         collection, sensor):
    catalog = one_sensor_tail(scenario, tmp_path / "catalog", collection)
    first = _run(scenario, catalog, tmp_path / "steps", "2025-03-31", resolution)
    assert first["changes"]["scenes"] > 0
    later = _run(scenario, catalog, tmp_path / "steps", "2025-06-30", resolution)
    changes = later["changes"]
    assert changes["scenes"] > 0 and changes["zones_with_new_alerts"] == [102]
    series = (tmp_path / "steps" / "monitoring_series.csv").read_text().splitlines()
    new_rows = [row for row in series[1:] if row.split(",")[1] > "2025-03-31"]
    assert new_rows and all(f",{sensor}," in row for row in new_rows)  # one sensor was new
    once = _run(scenario, catalog, tmp_path / "once", "2025-06-30", resolution)
    assert once["changes"]["scenes"] == first["changes"]["scenes"] + changes["scenes"]
    steps, scratch = (MonitorState.load(tmp_path / name) for name in ("steps", "once"))
    assert steps.grid == scratch.grid and steps.shape == scratch.shape
    assert steps.last_time == scratch.last_time
    np.testing.assert_array_equal(steps.beta, scratch.beta)
    for name, values in scratch.arrays.items():
        np.testing.assert_array_equal(steps.arrays[name], values, err_msg=name)
