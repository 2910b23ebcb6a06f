"""Monitoring's hexagons are the hexagons ``hexagons`` and ``zonal`` lay for the same forests
and area (README, *Zonal statistics*: each forest's hexagons in its own UTM zone when given in
degrees, in its own CRS when it measures true metres). They were laid in the scenes' grid CRS:
forests in degrees got ``hex_id``s without their zone (``102-5-30`` where ``hexagons`` writes
``102-32N-5-30``), and forests in a national CRS (Lambert-93 over the Vosges) cells shifted to
the scenes' UTM lattice, so the two commands' tables did not join. Near a zone boundary (forests
at 5.8° E, in zone 31, under scenes in 32N) the cells themselves differed."""

import json
from dataclasses import replace
from datetime import date

import geopandas as gpd
import pytest

from raster_collect_plugin import cli
from raster_collect_plugin.core.sample.disturbance_catalog import write_scenario
from raster_collect_plugin.core.sample.disturbance_scenario import Event, ScenarioSpec

SPEC = ScenarioSpec(start=date(2024, 1, 1), end=date(2025, 4, 30), columns=2, rows=1,
                    events=(Event(1, "windthrow", date(2025, 3, 14)),))


WEST_OF_6E = replace(SPEC, origin=(259_980.0, 5_352_000.0))  # 5.76° E: zone 31's forests


@pytest.fixture(scope="module")
def scenarios(tmp_path_factory):
    return {spec.origin: write_scenario(tmp_path_factory.mktemp("scenario"), spec)
            for spec in (SPEC, WEST_OF_6E)}


@pytest.mark.parametrize("crs, spec, zone", [("EPSG:4326", SPEC, "32N"),
                                             ("EPSG:2154", SPEC, None),
                                             ("EPSG:4326", WEST_OF_6E, "31N")])
def test_monitoring_hexagons_are_the_hexagons_command_s(scenarios, tmp_path, capsys, crs,
                                                        spec, zone):
    scenario = scenarios[spec.origin]
    forests = tmp_path / "forests.gpkg"
    gpd.read_file(scenario.compartments).to_crs(crs).to_file(forests, layer="compartments")
    assert cli.main(["hexagons", "--gpkg", str(forests), "--area-ha", "0.5", "--output",
                     str(tmp_path / "hexagons.gpkg")]) == 0
    capsys.readouterr()
    assert cli.main(["--json", "monitor", "--gpkg", str(forests), "--catalog",
                     str(scenario.catalog), "--history-start", "2024-01-01",
                     "--history-end", "2024-12-31", "--end", "2025-04-30", "--hex-area-ha",
                     "0.5", "--output", str(tmp_path / "monitoring")]) == 0
    assert json.loads(capsys.readouterr().out)["changes"]["scenes"] > 0
    laid = gpd.read_file(tmp_path / "hexagons.gpkg").set_index("hex_id")
    monitored = gpd.read_file(tmp_path / "monitoring" / "monitoring_hexagons.gpkg")
    monitored = monitored.set_index("hex_id").to_crs(laid.crs)
    # before the fix: no id in common (the zone missing, or another lattice)
    assert sorted(monitored.index) == sorted(laid.index)
    if zone:  # each forest's own zone (the scenes are in 32N)
        assert all(f"-{zone}-" in hex_id for hex_id in laid.index)
    # the same cells: each monitored hexagon is the hexagons command's, to a centimetre
    gap = monitored.geometry.symmetric_difference(laid.geometry.loc[monitored.index]).area
    assert float(gap.max()) < 0.01 * float(laid.geometry.area.max()) ** 0.5
