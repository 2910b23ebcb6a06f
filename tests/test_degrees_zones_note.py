"""Forests given in degrees are each projected in their own UTM zone where per-forest outputs
are written (``zonal``'s folders, hexagons), yet the run's note said "polygons were in a
geographic CRS; using UTM EPSG:x", the selection's zone, which none of them was in. The note
now names the zones used and how many forests each holds, and the shared grid's CRS where one
grid is used (a composite: the scenes')."""

from __future__ import annotations

import json

import geopandas as gpd
from shapely.geometry import box

from raster_collect_plugin import cli
from raster_collect_plugin.core.areas.aoi import load_aoi

# 155.9 E and 155.95 E are in zone 56, 156.1 E in zone 57; the selection's centre is in 57
WEST, MIDDLE = box(155.9, -27.5, 155.906, -27.496), box(155.95, -27.5, 155.956, -27.496)
EAST = box(156.1, -27.5, 156.106, -27.496)


def _degrees(tmp_path, polygons: dict):
    path = tmp_path / "degrees.gpkg"
    gpd.GeoDataFrame({"forest_id": list(polygons)}, geometry=list(polygons.values()),
                     crs="EPSG:4326").to_file(path)
    return path


def _notes(capsys) -> list:
    return json.loads(capsys.readouterr().out)["notes"]


def test_hexagons_name_each_forests_zone(tmp_path, capsys):
    path = _degrees(tmp_path, {"W": WEST, "M": MIDDLE, "E": EAST})
    assert cli.main(["--json", "hexagons", "--gpkg", str(path), "--area-ha", "1",
                     "--output", str(tmp_path / "cells.gpkg")]) == 0
    # before the fix: ["polygons were in a geographic CRS; using UTM EPSG:32757"], the zone
    # of two forests' hexagons that were laid in 56S
    assert _notes(capsys) == ["forests in degrees: each forest's hexagons in its own UTM zone "
                              "(56S: 2 forests, 57S: 1); the layer in 57S (EPSG:32757)"]
    cells = gpd.read_file(tmp_path / "cells.gpkg")
    assert cells.crs.to_epsg() == 32757  # the layer, as the note says
    zones = cells.groupby("forest_id").hex_id.first().str.split("-").str[1].to_dict()
    assert zones == {"E": "57S", "M": "56S", "W": "56S"}  # the lattices, as the note says


def test_hexagons_of_projected_forests_have_no_zone_note(tmp_path, capsys):
    path = tmp_path / "projected.gpkg"
    gpd.GeoDataFrame({"forest_id": ["W"]}, geometry=[WEST], crs="EPSG:4326").to_crs(
        32756).to_file(path)
    assert cli.main(["--json", "hexagons", "--gpkg", str(path), "--area-ha", "1",
                     "--output", str(tmp_path / "cells.gpkg")]) == 0
    assert _notes(capsys) == []


def test_a_job_specs_hexagons_say_the_same(tmp_path, capsys):
    path = _degrees(tmp_path, {"W": WEST, "E": EAST})
    spec = tmp_path / "job.json"
    spec.write_text(json.dumps({"kind": "hexagons", "aoi": str(path), "hexagon_area_m2": 10_000,
                                "output": str(tmp_path / "cells.gpkg")}))
    assert cli.main(["--json", "job", str(spec)]) == 0
    out = capsys.readouterr().out
    assert ("forests in degrees: each forest's hexagons in its own UTM zone (56S: 1 forest, "
            "57S: 1); the layer in 57S (EPSG:32757)") in out
    assert "geographic CRS" not in out


def _imagery(sample, gpkg) -> list:
    return ["--gpkg", str(gpkg), "--catalog", str(sample.catalog_path), "--collections",
            "sentinel-2-l2a", "--indices", "NDVI", "--start", "2025-10-01", "--end",
            "2025-10-31"]


def test_zonal_names_the_zone_of_each_forests_folder(small_sample, tmp_path, capsys):
    """Forest 281 of the sample (153 E, zone 56) with one at 159.5 E (zone 57, no scenes):
    ``zonal`` writes each in its own zone, the combined layers in the selection's."""
    sample = gpd.read_file(small_sample.forests_wgs84_path)
    forest = sample[sample.forest_id == 281].geometry.iloc[0]
    gpkg = _degrees(tmp_path, {281: forest, 900: box(159.5, -27.0, 159.506, -26.996)})
    assert load_aoi(gpkg).crs.to_epsg() == 32757  # the selection's zone (the old note's)
    assert cli.main(["--json", "zonal", *_imagery(small_sample, gpkg), "--output",
                     str(tmp_path / "z")]) == 0
    notes = _notes(capsys)
    # before the fix: "polygons were in a geographic CRS; using UTM EPSG:32757" only
    assert ("forests in degrees: each in its own UTM zone (56S: 1 forest, 57S: 1); the "
            "combined layers in 57S (EPSG:32757)") in notes
    assert not [note for note in notes if "geographic CRS" in note]
    assert gpd.read_file(tmp_path / "z" / "forests_latest.gpkg").crs.to_epsg() == 32757


def test_a_composite_names_its_shared_grid(small_sample, tmp_path, capsys):
    """Two forests of the sample in degrees (zone 56) composited on one grid in --crs
    EPSG:3577: the note names that grid, not the selection's UTM zone."""
    sample = gpd.read_file(small_sample.forests_wgs84_path).head(2)
    gpkg = _degrees(tmp_path, dict(zip(sample.forest_id, sample.geometry)))
    assert cli.main(["--json", "composite", *_imagery(small_sample, gpkg), "--crs",
                     "EPSG:3577", "--output", str(tmp_path / "c")]) == 0
    notes = _notes(capsys)
    # before the fix: "polygons were in a geographic CRS; using UTM EPSG:32756"
    assert "forests in degrees: one grid for the whole selection, in EPSG:3577" in notes
    assert not [note for note in notes if "geographic CRS" in note]
    import rasterio

    with rasterio.open(next((tmp_path / "c").rglob("*NDVI*.tif"))) as dataset:
        assert dataset.crs.to_epsg() == 3577


def test_a_storm_names_its_grid_and_its_hexagons_zones(small_sample, tmp_path, capsys):
    """A storm over forests in degrees: one composite grid (the scenes' 56S) for the
    verdicts, each forest's hexagons in its own zone."""
    sample = gpd.read_file(small_sample.forests_wgs84_path).head(2)
    gpkg = _degrees(tmp_path, dict(zip(sample.forest_id, sample.geometry)))
    assert cli.main(["--json", "storm", "--gpkg", str(gpkg), "--catalog",
                     str(small_sample.catalog_path), "--collections", "sentinel-2-l2a",
                     "--max-cloud", "100", "--event-date", "2025-11-13", "--hex-area-ha", "1",
                     "--output", str(tmp_path / "storm")]) == 0
    notes = _notes(capsys)
    assert "forests in degrees: one grid for the whole selection, in 56S (EPSG:32756)" in notes
    assert ("forests in degrees: each forest's hexagons in its own UTM zone (56S: 2 forests); "
            "the layer in 56S (EPSG:32756)") in notes
    assert not [note for note in notes if "geographic CRS" in note]
