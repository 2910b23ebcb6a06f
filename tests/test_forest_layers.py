"""A forests file of several polygon layers given without a layer was read as its first
polygon layer, silently: a run over the wrong polygons. Every command and job kind that reads
forests now refuses it (exit 2, one line naming the file, its polygon layers and the option
or spec key choosing one); a file of one polygon layer beside roads or a table still reads."""

from __future__ import annotations

import json

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from raster_collect_plugin import cli


def _estate(small_sample, tmp_path, *, second_polygons: bool = True):
    """``estate.gpkg``: roads, the compartments, (old stands,) an attribute table."""
    forests = gpd.read_file(small_sample.forests_path).head(2)
    gpkg = tmp_path / "estate.gpkg"
    x, y = forests.geometry.iloc[0].centroid.coords[0]
    gpd.GeoDataFrame({"name": ["road"]}, geometry=[shapely.LineString([(x, y), (x + 50, y)])],
                     crs=forests.crs).to_file(gpkg, layer="roads")
    forests.to_file(gpkg, layer="compartments")
    if second_polygons:
        forests.to_file(gpkg, layer="old_stands")
    import pyogrio

    pyogrio.write_dataframe(pd.DataFrame({"owner": ["a"]}), gpkg, layer="owners")
    return gpkg


REFUSAL = ("raster-collect: error: estate.gpkg has 2 polygon layers ['compartments', "
           "'old_stands'] (its layers are ['roads', 'compartments', 'old_stands', 'owners']): "
           "choose one with --layer (a spec's 'layer')")


def _arguments(command, small_sample, tmp_path):
    catalog = ["--catalog", str(small_sample.catalog_path), "--collections", "sentinel-2-l2a"]
    output = ["--output", str(tmp_path / "out")]
    return {
        "search": [*catalog, "--start", "2025-10-01", "--end", "2025-10-31"],
        "zonal": [*catalog, "--start", "2025-10-01", "--end", "2025-10-31", *output],
        "composite": [*catalog, "--start", "2025-10-01", "--end", "2025-10-31", *output],
        "storm": [*catalog, "--event-date", "2025-11-13", *output],
        "monitor": [*catalog, "--history-start", "2025-09-01", "--history-end",
                    "2025-10-15", *output],
        "hexagons": ["--area-ha", "1", "--output", str(tmp_path / "out" / "cells.gpkg")],
    }[command]


@pytest.mark.parametrize("command", ["search", "zonal", "composite", "storm", "monitor",
                                     "hexagons"])
def test_several_polygon_layers_without_a_layer_are_refused(small_sample, tmp_path, capsys,
                                                             command):
    gpkg = _estate(small_sample, tmp_path)
    code = cli.main(["--quiet", command, "--gpkg", str(gpkg),
                     *_arguments(command, small_sample, tmp_path)])
    err = capsys.readouterr().err.strip()
    assert (code, err) == (2, REFUSAL)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.*"))


@pytest.mark.parametrize("kind", ["hexagons", "zonal", "monitor"])
def test_a_job_spec_without_its_layer_is_refused(small_sample, tmp_path, capsys, kind):
    gpkg = _estate(small_sample, tmp_path)
    spec = {"kind": kind, "aoi": str(gpkg)}
    spec.update({
        "hexagons": {"output": str(tmp_path / "out" / "cells.gpkg"), "hexagon_area_m2": 10000},
        "zonal": {"sources": [{"kind": "static", "href": str(small_sample.catalog_path)}],
                  "start": "2025-10-01", "end": "2025-10-31",
                  "output_dir": str(tmp_path / "out")},
        "monitor": {"sources": [{"kind": "static", "href": str(small_sample.catalog_path)}],
                    "history_start": "2025-09-01", "history_end": "2025-10-15",
                    "output_dir": str(tmp_path / "out")},
    }[kind])
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    assert cli.main(["--quiet", "job", str(path)]) == 2
    assert capsys.readouterr().err.strip() == REFUSAL
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.*"))


def test_one_polygon_layer_beside_roads_and_a_table_reads_and_layer_chooses(small_sample,
                                                                            tmp_path, capsys):
    one = tmp_path / "one"
    one.mkdir()
    gpkg = _estate(small_sample, one, second_polygons=False)
    assert cli.main(["--quiet", "hexagons", "--gpkg", str(gpkg), "--area-ha", "1", "--output",
                     str(tmp_path / "cells.gpkg")]) == 0, capsys.readouterr().err
    cells = gpd.read_file(tmp_path / "cells.gpkg")
    assert set(cells["forest_id"]) == set(gpd.read_file(gpkg, layer="compartments")["forest_id"])
    two = _estate(small_sample, tmp_path)
    assert cli.main(["--quiet", "hexagons", "--gpkg", str(two), "--layer", "old_stands",
                     "--area-ha", "1", "--output", str(tmp_path / "old.gpkg")]) == 0
    assert len(gpd.read_file(tmp_path / "old.gpkg")) == len(cells)

