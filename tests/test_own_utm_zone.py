"""Forests given in degrees were all moved to the UTM zone of the selection's centre: a forest
near a zone boundary got other hexagons, hex_ids and pixel statistics when a forest on the
other side of the boundary was selected with it. Each forest's numbers are now those it has
when selected alone (its own zone), whichever forests are selected with it."""

from __future__ import annotations

import json
import shutil

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from raster_collect_plugin import cli
from raster_collect_plugin.core.areas.aoi import load_aoi

# 155.9 E is in zone 56, 156.1 E in zone 57; together their centre (156.0 E) is in zone 57
WEST, EAST = box(155.9, -27.5, 155.906, -27.496), box(156.1, -27.5, 156.106, -27.496)


def _degrees(tmp_path, polygons):
    path = tmp_path / "degrees.gpkg"
    gpd.GeoDataFrame({"forest_id": list(polygons)}, geometry=list(polygons.values()),
                     crs="EPSG:4326").to_file(path)
    return path


def test_a_forest_alone_is_as_when_selected_alone():
    both = load_aoi(gpd.GeoDataFrame({"forest_id": ["W", "E"]}, geometry=[WEST, EAST],
                                     crs="EPSG:4326"))
    assert both.crs.to_epsg() == 32757 and both.own_zones() == [32756, 32757]
    for forest_id, polygon in (("W", WEST), ("E", EAST)):
        alone = load_aoi(gpd.GeoDataFrame({"forest_id": [forest_id]}, geometry=[polygon],
                                          crs="EPSG:4326"))
        taken = both.alone(forest_id)
        assert taken.crs == alone.crs
        assert taken.frame.geometry.geom_equals_exact(alone.frame.geometry, tolerance=0).all()


def test_hexagons_of_forests_in_degrees_do_not_depend_on_the_selection(tmp_path):
    path = _degrees(tmp_path, {"W": WEST, "E": EAST})
    grids = {}
    for selection in ("W", "E", "W,E"):
        output = tmp_path / f"cells_{selection.replace(',', '')}.gpkg"
        assert cli.main(["--quiet", "hexagons", "--gpkg", str(path), "--forest", selection,
                         "--area-ha", "1", "--output", str(output)]) == 0
        grids[selection] = gpd.read_file(output)
    for forest_id, zone in (("W", 32756), ("E", 32757)):
        alone = grids[forest_id].to_crs(zone)
        together = grids["W,E"][grids["W,E"].forest_id == forest_id].to_crs(zone)
        assert len(alone) > 10 and together.hex_id.tolist() == alone.hex_id.tolist()
        assert alone.hex_id.str.startswith(f"{forest_id}-{zone % 100}S-").all()
        assert together.reset_index(drop=True).geom_equals_exact(
            alone.geometry.reset_index(drop=True), tolerance=1e-6).all()


def _zonal(sample, gpkg, forests, output, *extra):
    return ["--json", "zonal", "--gpkg", str(gpkg), "--forest", forests,
            "--catalog", str(sample.catalog_path), "--collections", "sentinel-2-l2a",
            "--indices", "NDVI", "--start", "2025-10-01", "--end", "2025-10-31",
            "--hex-area-ha", "1", "--output", str(output), *extra]


def test_zonal_rows_of_a_forest_in_degrees_do_not_depend_on_the_selection(
        small_sample, tmp_path, capsys):
    """Forest 281 of the sample (153 E, zone 56) alone, and with a forest at 159.5 E (zone 57,
    no scenes) that moves the selection's centre into zone 57: the same rows, hex_ids and
    values; its mean NDVI is exactextract's over the forest's composite."""
    from exactextract import exact_extract

    sample = gpd.read_file(small_sample.forests_wgs84_path)
    forest = sample[sample.forest_id == 281].geometry.iloc[0]
    far = box(159.5, -27.0, 159.506, -26.996)
    gpkg = _degrees(tmp_path, {281: forest, 900: far})
    tables = {}
    for name, selection in (("alone", "281"), ("together", "281,900")):
        output = tmp_path / name
        assert cli.main(_zonal(small_sample, gpkg, selection, output)) == 0
        capsys.readouterr()
        tables[name] = {kind: pd.read_parquet(output / f"zonal_{kind}_all.parquet")
                        for kind in ("forests", "hexagons")}
    for kind in ("forests", "hexagons"):
        alone, together = tables["alone"][kind], tables["together"][kind]
        together = together[together.forest_id == 281].reset_index(drop=True)
        pd.testing.assert_frame_equal(alone, together, check_exact=False, rtol=1e-9)
    hexagons = tables["alone"]["hexagons"]
    assert len(hexagons) > 10 and hexagons.hex_id.str.startswith("281-56S-").all()
    # the forest's mean NDVI: exactextract's coverage-weighted mean over its composite
    composite = next((tmp_path / "alone" / "forest_281").rglob("*NDVI*.tif"))
    row = tables["alone"]["forests"].dropna(subset=["mean"]).iloc[0]
    with_crs = gpd.GeoDataFrame({"forest_id": [281]}, geometry=[forest], crs="EPSG:4326")
    import rasterio

    with rasterio.open(composite) as dataset:
        band = [d for d in dataset.descriptions].index(row["period"]) + 1
        with_crs = with_crs.to_crs(dataset.crs)
    expected = exact_extract(str(composite), with_crs, "mean", output="pandas")
    assert row["mean"] == pytest.approx(float(np.asarray(expected.iloc[0, band - 1])),
                                        rel=1e-6)


def test_a_resumed_zonal_run_redoes_forests_finished_with_old_hexagon_ids(
        small_sample, tmp_path, capsys, monkeypatch):
    """A Web Mercator run finished before hex_id named the zone (cells laid in Web Mercator,
    ids ``281-<column>-<row>``): resuming it kept those forests as they were and wrote the
    others' ids in the new format, two formats in one table. Such a forest is now redone."""
    from raster_collect_plugin.core.areas import hexagons

    mercator = tmp_path / "mercator.gpkg"
    gpd.read_file(small_sample.forests_wgs84_path).to_crs("EPSG:3857").to_file(mercator)
    output = tmp_path / "zonal"
    with monkeypatch.context() as old:  # the old format: no zone, cells in Web Mercator
        old.setattr(hexagons, "lattice_zones", lambda forests, zones=None: [None] * len(forests))
        assert cli.main(_zonal(small_sample, mercator, "281,282", output)) == 0
    capsys.readouterr()
    first = pd.read_parquet(output / "zonal_hexagons_all.parquet")
    assert first.hex_id.str.fullmatch(r"28[12]--?\d+--?\d+").all()  # the old format
    shutil.rmtree(output / "forest_282")  # as if stopped before forest 282
    (output / "forest_281" / "notes.txt").write_text("mine")
    assert cli.main(_zonal(small_sample, mercator, "281,282", output)) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["computed"], summary["skipped_complete"]) == ([281, 282], [])
    table = pd.read_parquet(output / "zonal_hexagons_all.parquet")
    assert set(table.forest_id) == {281, 282}
    assert table.hex_id.str.fullmatch(r"28[12]-56S--?\d+--?\d+").all()
    assert (output / "forest_281" / "notes.txt").read_text() == "mine"  # nothing lost
    # a rerun finds both complete in the new format
    assert cli.main(_zonal(small_sample, mercator, "281,282", output)) == 0
    assert json.loads(capsys.readouterr().out)["skipped_complete"] == [281, 282]
