"""Compartments the monitoring skips or repairs are named in its notes, as zonal's and storm's
are: a compartment with an empty geometry vanished from every monitoring table without a
word, and a self-intersecting one was repaired in silence (the command line's summary and a
monitor job's result had no ``notes``). Compartments none of which holds a pixel centre are
refused as such: the run fitted the whole history, then said "no pixel has 10 clear
observations ... start the history earlier", the wrong cause and the wrong fix."""

import json
import subprocess
import sys
from datetime import date

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import Polygon, box

from raster_collect_plugin.core.sample.disturbance_catalog import write_scenario
from raster_collect_plugin.core.sample.disturbance_scenario import Event, ScenarioSpec

SPEC = ScenarioSpec(start=date(2024, 1, 1), end=date(2025, 6, 30), columns=2, rows=1,
                    events=(Event(1, "windthrow", date(2025, 3, 14)),))
EMPTY, BOWTIE, TINY, SLIVER = 903, 904, 905, 906


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    scenario = write_scenario(tmp_path_factory.mktemp("scenario"), SPEC)
    return scenario, gpd.read_file(scenario.compartments, layer="compartments")


def _monitor(scenario, forests, tmp_path) -> subprocess.CompletedProcess:
    path = tmp_path / "forests.gpkg"
    forests.to_file(path, layer="compartments")
    return subprocess.run(
        [sys.executable, "-m", "raster_collect_plugin", "--json", "monitor", "--gpkg",
         str(path), "--catalog", str(scenario.catalog), "--history-start", "2024-01-01",
         "--history-end", "2024-12-31", "--end", "2025-06-30", "--output",
         str(tmp_path / "monitoring")], capture_output=True, text=True, timeout=600)


def test_skipped_and_repaired_compartments_are_in_the_notes(scenario, tmp_path):
    scenario, forests = scenario
    x, y = forests.geometry.iloc[0].centroid.coords[0]
    # a bow tie (self-intersecting: two triangles of 1.28 ha) and a feature without geometry
    bowtie = Polygon([(x - 80, y - 80), (x + 80, y + 80), (x + 80, y - 80), (x - 80, y + 80)])
    extra = gpd.GeoDataFrame({"forest_id": [EMPTY, BOWTIE], "name": ["empty", "bow tie"]},
                             geometry=[Polygon(), bowtie], crs=forests.crs)
    done = _monitor(scenario, pd.concat([forests, extra], ignore_index=True), tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    notes = result.get("notes", [])
    assert f"skipped forest_id={EMPTY}: empty geometry" in notes
    assert f"repaired invalid geometry of forest_id={BOWTIE}" in notes
    rows = {row["forest_id"]: row for row in result["compartments"]}
    assert EMPTY not in rows and rows[BOWTIE]["area_ha"] == 1.28  # both triangles kept


def test_compartments_without_a_pixel_centre_are_refused_as_such(scenario, tmp_path):
    scenario, forests = scenario
    west, south, _, north = forests.geometry.iloc[0].bounds
    # a 3 m square inside a pixel, and a 1 m strip along an edge of pixels
    small = gpd.GeoDataFrame(
        {"forest_id": [TINY, SLIVER]},
        geometry=[box(west + 1, north - 4, west + 4, north - 1),
                  box(west, south + 20, west + 1, north - 20)], crs=forests.crs)
    done = _monitor(scenario, small, tmp_path)
    assert done.returncode == 2, done.stderr[-2000:]
    message = json.loads(done.stdout)["error"]["message"]
    assert "no compartment holds a pixel centre of the 10 m grid" in message
    assert f"{TINY}, {SLIVER}" in message and "history" not in message
    assert not (tmp_path / "monitoring" / "monitoring_state.npz").exists()
