"""Compartments the monitoring skips or repairs are named in its notes, as zonal's and storm's
are: a compartment with an empty geometry vanished from every monitoring table without a
word, and a self-intersecting one was repaired in silence (the command line's summary and a
monitor job's result had no ``notes``)."""

import json
import subprocess
import sys
from datetime import date

import geopandas as gpd
import pandas as pd
from shapely.geometry import Polygon

from raster_collect_plugin.core.sample.disturbance_catalog import write_scenario
from raster_collect_plugin.core.sample.disturbance_scenario import Event, ScenarioSpec

SPEC = ScenarioSpec(start=date(2024, 1, 1), end=date(2025, 6, 30), columns=2, rows=1,
                    events=(Event(1, "windthrow", date(2025, 3, 14)),))
EMPTY, BOWTIE = 903, 904


def test_skipped_and_repaired_compartments_are_in_the_notes(tmp_path):
    scenario = write_scenario(tmp_path / "scenario", SPEC)
    forests = gpd.read_file(scenario.compartments, layer="compartments")
    x, y = forests.geometry.iloc[0].centroid.coords[0]
    # a bow tie (self-intersecting: two triangles of 1.28 ha) and a feature without geometry
    bowtie = Polygon([(x - 80, y - 80), (x + 80, y + 80), (x + 80, y - 80), (x - 80, y + 80)])
    extra = gpd.GeoDataFrame({"forest_id": [EMPTY, BOWTIE], "name": ["empty", "bow tie"]},
                             geometry=[Polygon(), bowtie], crs=forests.crs)
    path = tmp_path / "forests.gpkg"
    pd.concat([forests, extra], ignore_index=True).to_file(path, layer="compartments")
    done = subprocess.run(
        [sys.executable, "-m", "raster_collect_plugin", "--json", "monitor", "--gpkg",
         str(path), "--catalog", str(scenario.catalog), "--history-start", "2024-01-01",
         "--history-end", "2024-12-31", "--end", "2025-06-30", "--output",
         str(tmp_path / "monitoring")], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    notes = result.get("notes", [])
    assert f"skipped forest_id={EMPTY}: empty geometry" in notes
    assert f"repaired invalid geometry of forest_id={BOWTIE}" in notes
    rows = {row["forest_id"]: row for row in result["compartments"]}
    assert EMPTY not in rows and rows[BOWTIE]["area_ha"] == 1.28  # both triangles kept
