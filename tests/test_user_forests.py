"""The forests a user brings: ids typed as numbers or text, CRSs in feet, layers and files of
every kind, through the command line and the job spec alike."""

import json

import geopandas as gpd
import pytest
from shapely.geometry import box

from raster_collect_plugin import cli
from raster_collect_plugin.core.areas.aoi import AoiError, load_aoi


def _forests(tmp_path, crs="EPSG:28356", name="forests.gpkg"):
    """Three 200 m x 200 m (4 ha) compartments near Beerburrum, integer ids 281-283."""
    frame = gpd.GeoDataFrame(
        {"forest_id": [281, 282, 283]},
        geometry=[box(494000 + 400 * i, 7019000, 494200 + 400 * i, 7019200) for i in range(3)],
        crs="EPSG:28356").to_crs(crs)
    path = tmp_path / name
    frame.to_file(path)
    return path


def test_a_whole_number_written_as_decimal_chooses_an_integer_id(tmp_path, capsys):
    """--forest 283.0 (or a spec's "ids": [283.0]) on an Integer id field was "no polygons
    with forest_id in ['283.0']", the reverse of a Real field's 283 (which worked)."""
    path = _forests(tmp_path)
    assert load_aoi(path, ids=["283.0", 282.0]).ids == [282, 283]
    with pytest.raises(AoiError, match=r"no polygons with forest_id in \['283.5'\]"):
        load_aoi(path, ids=["283.5"])
    assert cli.main(["--quiet", "hexagons", "--gpkg", str(path), "--forest", "283.0",
                     "--area-ha", "1", "--output", str(tmp_path / "cli.gpkg")]) == 0
    spec = {"kind": "hexagons", "aoi": str(path), "ids": [283.0], "hexagon_area_m2": 10_000,
            "output": str(tmp_path / "job.gpkg")}
    (tmp_path / "job.json").write_text(json.dumps(spec))
    assert cli.main(["--quiet", "job", str(tmp_path / "job.json")]) == 0, \
        capsys.readouterr().err
    for name in ("cli.gpkg", "job.gpkg"):
        assert set(gpd.read_file(tmp_path / name)["forest_id"]) == {283}


def _california(tmp_path, crs):
    """Two 300 m x 300 m (9 ha) compartments near San Diego, in ``crs``."""
    frame = gpd.GeoDataFrame(
        {"forest_id": [1, 2]},
        geometry=[box(490000 + 500 * i, 3620000, 490300 + 500 * i, 3620300) for i in range(2)],
        crs="EPSG:32611").to_crs(crs)
    path = tmp_path / f"forests_{crs.replace(':', '_')}.gpkg"
    frame.to_file(path)
    return path


def test_a_crs_in_feet_gets_cells_and_buffers_in_metres(tmp_path):
    """EPSG:2230 (California zone 6, US feet) measures true lengths there, but in feet: an
    --area-ha 1 hexagon was 1 ha of square feet (0.093 ha), a job's buffer_m grew the
    polygons by feet, and the zonal size counted 10.8 times the pixels."""
    from raster_collect_plugin.core.composites.sizing import zonal_size

    feet, metres = _california(tmp_path, "EPSG:2230"), _california(tmp_path, "EPSG:32611")
    assert cli.main(["--quiet", "hexagons", "--gpkg", str(feet), "--area-ha", "1", "--no-clip",
                     "--output", str(tmp_path / "cells.gpkg")]) == 0
    cells = gpd.read_file(tmp_path / "cells.gpkg")
    assert cells.crs.to_epsg() == 2230  # written in the polygons' CRS
    assert cells.to_crs("EPSG:32611").area.to_numpy() == pytest.approx(10_000, rel=1e-3)
    grown = load_aoi(feet, buffer_m=50).frame.to_crs("EPSG:32611").area
    assert grown.to_numpy() == pytest.approx(400 * 400 - (4 - 3.1416) * 50 ** 2, rel=1e-3)
    sizes = [zonal_size(load_aoi(path), resolution=10, periods=3, indices=2,
                        hexagon_area_m2=10_000) for path in (feet, metres)]
    assert sizes[0].hexagons == sizes[1].hexagons == 22  # 18 ha x 1.2 of 1 ha cells
    assert sizes[0].largest_zone_pixels == pytest.approx(900, abs=1)  # 9 ha of 10 m pixels


def test_a_long_text_id_gets_a_folder_a_file_system_holds(small_sample, tmp_path, capsys):
    """A 300-character id (a name field chosen as the id) made forest_<id> longer than the
    255 bytes a file name holds: a traceback (File name too long) and nothing computed. Ids
    sharing a long beginning still get folders of their own."""
    forests = gpd.read_file(small_sample.forests_path).iloc[:2]
    forests["forest_id"] = ["Ä" * 150, "Ä" * 150 + "x"]  # 300 and 301 bytes in UTF-8
    path = tmp_path / "long_ids.gpkg"
    forests.to_file(path)
    args = ["--json", "zonal", "--gpkg", str(path), "--catalog", str(small_sample.catalog_path),
            "--collections", "sentinel-2-l2a", "--start", "2025-10-01", "--end", "2025-10-31",
            "--indices", "NDVI", "--output", str(tmp_path / "out")]
    assert cli.main(args) == 0, capsys.readouterr().err
    assert len(json.loads(capsys.readouterr().out)["computed"]) == 2
    folders = [p for p in (tmp_path / "out").iterdir() if p.name.startswith("forest_")]
    assert len(folders) == 2 and all(len(p.name.encode()) <= 200 for p in folders)
    assert all((p / "complete.json").exists() for p in folders)
    assert cli.main(args) == 0  # the rerun finds them complete
    assert len(json.loads(capsys.readouterr().out)["skipped_complete"]) == 2


def _two_band_raster(path):
    """A 2-band raster of ones over _forests' compartments (two rows per forest)."""
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    with rasterio.open(path, "w", driver="GTiff", width=140, height=40, count=2,
                       dtype="float32", crs="EPSG:28356",
                       transform=from_origin(493900, 7019300, 10, 10)) as raster:
        raster.write(np.ones((2, 40, 140), dtype="float32"))
    return path


def test_an_id_field_named_fid_is_written_as_a_column(tmp_path, capsys):
    """A "fid" id field (QGIS exports one to GeoJSON and shapefiles): GDAL took the column
    for the GeoPackage's feature id, which must be unique, so a forest's second hexagon or
    period was a traceback (UNIQUE constraint failed) and the run's tables were lost."""
    frame = gpd.read_file(_forests(tmp_path)).rename(columns={"forest_id": "fid"})
    path = tmp_path / "forests.geojson"
    frame.to_file(path, driver="GeoJSON")
    assert cli.main(["--quiet", "hexagons", "--gpkg", str(path), "--id-field", "fid",
                     "--area-ha", "1", "--output", str(tmp_path / "cells.gpkg")]) == 0, \
        capsys.readouterr().err
    cells = gpd.read_file(tmp_path / "cells.gpkg")
    assert set(cells["fid"]) == {281, 282, 283} and cells["fid"].value_counts().min() > 1
    assert cells.area.sum() == pytest.approx(3 * 40_000)  # clipped to the forests
    assert cli.main(["--quiet", "zonal", "--gpkg", str(path), "--id-field", "fid", "--raster",
                     str(_two_band_raster(tmp_path / "ones.tif")),
                     "--output", str(tmp_path / "stats")]) == 0, capsys.readouterr().err
    table = gpd.read_file(tmp_path / "stats" / "zonal_forests.gpkg")
    assert sorted(table["fid"]) == [281, 281, 282, 282, 283, 283]
    assert table["sum"].to_numpy() == pytest.approx(400)  # 4 ha of 10 m pixels


def test_a_geopackages_feature_id_can_be_the_id_field(tmp_path, capsys):
    """QGIS lists a GeoPackage's fid among the fields (and the dock's id field box offers
    it); --id-field fid (a spec's "id_field": "fid") was "the polygons have no field 'fid'".
    A shapefile's row numbers are not a field: still refused there."""
    path = _forests(tmp_path)  # fids 1, 2, 3 for forest_id 281, 282, 283
    aoi = load_aoi(path, id_field="fid", ids=[2])
    assert aoi.ids == [2] and list(aoi.frame["forest_id"]) == [282]
    spec = {"kind": "hexagons", "aoi": str(path), "id_field": "fid", "ids": [2, 3],
            "hexagon_area_m2": 10_000, "output": str(tmp_path / "job.gpkg")}
    (tmp_path / "job.json").write_text(json.dumps(spec))
    assert cli.main(["--quiet", "job", str(tmp_path / "job.json")]) == 0, \
        capsys.readouterr().err
    assert set(gpd.read_file(tmp_path / "job.gpkg")["fid"]) == {2, 3}
    shapefile = tmp_path / "forests.shp"
    gpd.read_file(path).to_file(shapefile)
    with pytest.raises(AoiError, match="no field 'fid'"):
        load_aoi(shapefile, id_field="fid")


def test_a_layer_not_in_the_file_names_the_option_and_the_spec_key(tmp_path, capsys):
    """A job spec's unknown 'layer' was told to "choose one with --layer", an option a spec
    does not have."""
    path = _forests(tmp_path)
    spec = {"kind": "hexagons", "aoi": str(path), "layer": "Wälder", "hexagon_area_m2": 1e4,
            "output": str(tmp_path / "job.gpkg")}
    (tmp_path / "job.json").write_text(json.dumps(spec))
    for args in (["job", str(tmp_path / "job.json")],
                 ["hexagons", "--gpkg", str(path), "--layer", "Wälder", "--area-ha", "1",
                  "--output", str(tmp_path / "cli.gpkg")]):
        assert cli.main(["--quiet"] + args) == 2
        assert capsys.readouterr().err.strip().endswith(
            "has no layer 'Wälder'; its layers are ['forests']: choose one with --layer (a "
            "spec's 'layer')")
    assert not (tmp_path / "job.gpkg").exists() and not (tmp_path / "cli.gpkg").exists()


def test_a_storm_over_forests_far_apart_is_told_the_resolution_that_fits():
    """Two forests 400 km apart make a storm grid of 80 Mpixels; its per-pixel arrays were
    counted as the engine's own memory at every resolution, so the refusal said "no
    resolution fits: give a --memory-budget of at least 17.9 GB" where --resolution 25 fits
    in 4 GB."""
    import math
    import re

    from raster_collect_plugin.core.composites import sizing

    def size_at(resolution):
        width, height = (math.ceil(side * 10 / resolution) for side in (39452, 2043))
        return sizing.CompositeSize("sentinel-2-l2a", width, height, resolution, periods=3,
                                    bands=5, indices=2, busiest_scenes=4,
                                    engine=sizing._composite_engine(width * height))

    @sizing.storm_engine_job
    def refusal_and_its_fix(budget):
        with pytest.raises(sizing.SizeError) as refused:
            sizing.check(size_at(10.0), budget)
        fix = re.search(r"--resolution (\d+)", str(refused.value))
        return str(refused.value), fix and sizing.check(size_at(float(fix.group(1))), budget)

    message, fits = refusal_and_its_fix(4 * 10**9)
    assert "no resolution fits" not in message and "use a coarser resolution" in message
    assert fits.startswith("sentinel-2-l2a:")  # the resolution named fits the budget


def test_an_empty_layer_is_named_not_asked_to_select_features(tmp_path, capsys):
    """An empty layer (or file) was "no polygons to work on: select at least one feature",
    as if features had been selected in QGIS."""
    path = _forests(tmp_path)
    forests = gpd.read_file(path)
    forests.iloc[:0].to_file(path, layer="empty")
    assert cli.main(["--quiet", "hexagons", "--gpkg", str(path), "--layer", "empty",
                     "--area-ha", "1", "--output", str(tmp_path / "cells.gpkg")]) == 2
    assert capsys.readouterr().err.strip().endswith(
        "layer 'empty' of forests.gpkg has no features: choose the file or layer holding the "
        "compartment polygons (--gpkg, --layer; a spec's 'aoi', 'layer')")
    assert not (tmp_path / "cells.gpkg").exists()
    forests.iloc[:0].to_file(tmp_path / "two.gpkg", layer="a", geometry_type="Polygon")
    forests.to_file(tmp_path / "two.gpkg", layer="compartments")
    with pytest.raises(AoiError, match=r"^layer 'a' of two.gpkg has no features"):
        load_aoi(tmp_path / "two.gpkg", layer="a")


def test_a_polygon_with_no_area_is_skipped_as_an_empty_one(tmp_path, capsys):
    """A polygon collapsed to a line (its corners in a row) was refused as "feature
    forest_id=2 is Polygon, not a polygon", stopping every door for one bad feature."""
    from shapely.geometry import Polygon

    from raster_collect_plugin.core.areas.zones import prepare_zones

    flat = Polygon([(494300, 7019000), (494400, 7019000), (494500, 7019000)])
    frame = gpd.GeoDataFrame({"forest_id": [1, 2]},
                             geometry=[box(494000, 7019000, 494200, 7019200), flat],
                             crs="EPSG:28356")
    note = "skipped forest_id=2: no area (a polygon collapsed to a line or a point)"
    aoi = load_aoi(frame)
    assert aoi.ids == [1] and aoi.notes == [note]
    zones, notes, kept = prepare_zones(frame, "EPSG:28356", id_fields=["forest_id"])
    assert kept == [0] and notes == [note.replace("skipped", "skipped zone")]
    path = tmp_path / "forests.gpkg"
    frame.to_file(path)
    assert cli.main(["--json", "hexagons", "--gpkg", str(path), "--area-ha", "1",
                     "--output", str(tmp_path / "cells.gpkg")]) == 0
    assert json.loads(capsys.readouterr().out)["notes"] == [note]


def test_polygons_with_result_columns_keep_the_documented_names(tmp_path, capsys):
    """forests_latest.gpkg given back as the polygons of the next run (or a layer with its own
    area_ha) made the map's columns ones_mean_x (old) and ones_mean_y (new): the documented
    ones_mean was gone. The run's columns keep their names, the polygons' are <name>_input."""
    import pandas as pd

    from raster_collect_plugin.core.outputs.tables import write_zone_layer

    raster = _two_band_raster(tmp_path / "ones.tif")
    first = ["--quiet", "zonal", "--gpkg", str(_forests(tmp_path)), "--raster", str(raster),
             "--bands", "1", "--output", str(tmp_path / "first")]
    assert cli.main(first) == 0, capsys.readouterr().err
    again = first[:3] + [str(tmp_path / "first" / "forests_latest.gpkg")] + first[4:-1] + \
        [str(tmp_path / "again")]
    assert cli.main(again) == 0, capsys.readouterr().err
    latest = gpd.read_file(tmp_path / "again" / "forests_latest.gpkg")
    assert not [c for c in latest.columns if c.endswith(("_x", "_y"))], list(latest.columns)
    assert list(latest["ones_mean"]) == [1.0, 1.0, 1.0]
    assert "ones_mean_input" in latest.columns
    zones = gpd.read_file(_forests(tmp_path)).assign(area_ha=[4.1, 4.2, 4.3])
    ranking = pd.DataFrame({"forest_id": [281, 282, 283], "area_ha": [4.0, 4.0, 4.0]})
    layer = gpd.read_file(write_zone_layer(zones, ranking, "forest_id",
                                           tmp_path / "storm_damage.gpkg", layer="storm"))
    assert list(layer["area_ha"]) == [4.0, 4.0, 4.0]
    assert list(layer["area_ha_input"]) == [4.1, 4.2, 4.3]


@pytest.mark.parametrize("door", ["storm", "composite job"])
def test_an_output_crs_in_feet_is_refused(small_sample, tmp_path, capsys, door):
    """--crs EPSG:2230 (a spec's "crs"), a CRS in US feet: 10 m pixels were 10 ft and a
    storm's 77 ha stands 830 ha, with exit 0. Refused as a geographic CRS is, before any
    work."""
    if door == "storm":
        args = ["storm", "--gpkg", str(small_sample.forests_path), "--catalog",
                str(small_sample.catalog_path), "--collections", "sentinel-2-l2a",
                "--event-date", "2025-11-13", "--crs", "EPSG:2230",
                "--output", str(tmp_path / "out")]
    else:
        spec = {"kind": "composite", "aoi": str(small_sample.forests_path), "crs": "EPSG:2230",
                "sources": [{"kind": "static", "href": str(small_sample.catalog_path),
                             "collections": ["sentinel-2-l2a"]}],
                "start": "2025-10-01", "end": "2025-10-31", "output_dir": str(tmp_path / "out")}
        (tmp_path / "job.json").write_text(json.dumps(spec))
        args = ["job", str(tmp_path / "job.json")]
    assert cli.main(["--quiet"] + args) == 2
    assert "EPSG:2230 measures in US survey foot; --resolution and the areas (ha) are in " \
           "metres: give a projected CRS in metres" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("problem", ["duplicated ids", "points"])
def test_ids_given_twice_and_points_are_refused_with_the_fix(tmp_path, capsys, problem):
    """Both were refused naming the problem only ("forest_id values are not unique:
    ['281']"; "feature forest_id=1 is Point, not a polygon"), not what to do."""
    frame = gpd.read_file(_forests(tmp_path))
    if problem == "points":
        frame["geometry"] = frame.centroid
        expected = ("feature forest_id=281 is Point, not a polygon: give the compartment "
                    "polygons (a point or line layer has no area to take statistics over)")
    else:
        frame.loc[1, "forest_id"] = 281
        expected = ("forest_id values are not unique: ['281']: give each polygon its own id, "
                    "or choose another id field (--id-field, a spec's 'id_field')")
    frame.to_file(tmp_path / "odd.gpkg")
    assert cli.main(["--quiet", "hexagons", "--gpkg", str(tmp_path / "odd.gpkg"), "--area-ha",
                     "1", "--output", str(tmp_path / "cells.gpkg")]) == 2
    assert capsys.readouterr().err.strip() == f"raster-collect: error: {expected}"


@pytest.mark.parametrize("door, name", [("zonal --raster", "period"), ("zonal", "mean"),
                                        ("storm", "rank"), ("zonal job", "index")])
def test_an_id_field_named_like_an_output_column_is_refused_before_the_work(
        small_sample, tmp_path, capsys, door, name):
    """An id field called "period" (or "mean", a storm's "rank") made two columns of that
    name: "The column label 'period' is not unique", a traceback after the statistics."""
    frame = gpd.read_file(small_sample.forests_path).rename(columns={"forest_id": name})
    polygons = tmp_path / "odd.gpkg"
    frame.to_file(polygons)
    sources = ["--catalog", str(small_sample.catalog_path), "--collections", "sentinel-2-l2a"]
    out = str(tmp_path / "out")
    if door == "zonal --raster":
        args = ["zonal", "--raster", str(_two_band_raster(tmp_path / "ones.tif"))]
    elif door == "zonal":
        args = ["zonal", *sources, "--start", "2025-10-01", "--end", "2025-10-31"]
    elif door == "storm":
        args = ["storm", *sources, "--event-date", "2025-11-13"]
    else:
        spec = {"kind": "zonal", "aoi": str(polygons), "id_field": name, "output_dir": out,
                "sources": [{"kind": "static", "href": str(small_sample.catalog_path)}],
                "start": "2025-10-01", "end": "2025-10-31"}
        (tmp_path / "job.json").write_text(json.dumps(spec))
    if door != "zonal job":
        args += ["--gpkg", str(polygons), "--id-field", name, "--output", out]
    else:
        args = ["job", str(tmp_path / "job.json")]
    assert cli.main(["--quiet"] + args) == 2
    assert capsys.readouterr().err.strip() == (
        f"raster-collect: error: the id field {name!r} has the name of a column the outputs "
        "write: rename it in the polygon file, or choose another id field (--id-field, a "
        "spec's 'id_field')")
    assert not (tmp_path / "out").exists()


def test_a_web_mercator_forests_hexagons_do_not_depend_on_the_selection(tmp_path):
    """Hexagons of Web Mercator (or feet) forests were laid in the UTM zone of the selection's
    centre: forest A at 11.9° E (zone 32) got other cells and ids when a forest at 22.5° E
    (zone 34) was selected with it. Each forest's cells are now laid in its own zone, and the
    id says which."""
    wgs84 = gpd.GeoDataFrame({"forest_id": ["A", "B"]},
                             geometry=[box(11.9, 50.0, 11.906, 50.004),
                                       box(22.5, 50.0, 22.506, 50.004)], crs="EPSG:4326")
    path = tmp_path / "mercator.gpkg"
    wgs84.to_crs("EPSG:3857").to_file(path)
    grids = {}
    for selection in ("A", "A,B"):
        output = tmp_path / f"cells_{selection.replace(',', '')}.gpkg"
        assert cli.main(["--quiet", "hexagons", "--gpkg", str(path), "--forest", selection,
                         "--area-ha", "1", "--output", str(output)]) == 0
        cells = gpd.read_file(output)
        grids[selection] = cells[cells.forest_id == "A"].reset_index(drop=True)
    alone, together = grids["A"], grids["A,B"]
    assert len(alone) > 10 and together.hex_id.tolist() == alone.hex_id.tolist()
    assert together.geom_equals_exact(alone.geometry, tolerance=1e-6).all()
    assert alone.hex_id.str.startswith("A-32N-").all()
    whole = gpd.read_file(tmp_path / "cells_AB.gpkg")
    assert whole[whole.forest_id == "B"].hex_id.str.startswith("B-34N-").all()
    # every unclipped cell is 1 ha on the ground, in A's zone
    assert cli.main(["--quiet", "hexagons", "--gpkg", str(path), "--forest", "A,B", "--area-ha",
                     "1", "--no-clip", "--output", str(tmp_path / "whole.gpkg")]) == 0
    whole = gpd.read_file(tmp_path / "whole.gpkg")
    for forest, zone in (("A", 32632), ("B", 32634)):
        areas = whole[whole.forest_id == forest].to_crs(zone).area.to_numpy()
        assert areas == pytest.approx(10_000, rel=1e-3)


def _shapefile(tmp_path, encoding, cpg=None):
    """Two compartments named "Bärenwald" and "Fichtenhöhe", written in ``encoding``; the
    .cpg GDAL writes is removed, or replaced by one declaring ``cpg``."""
    frame = gpd.GeoDataFrame({"name": ["Bärenwald", "Fichtenhöhe"]},
                             geometry=[box(494000, 7019000, 494200, 7019200),
                                       box(494400, 7019000, 494600, 7019200)],
                             crs="EPSG:28356")
    path = tmp_path / f"forests_{encoding}.shp"
    frame.to_file(path, encoding=encoding)
    path.with_suffix(".cpg").unlink(missing_ok=True)
    if cpg is not None:
        path.with_suffix(".cpg").write_text(cpg)
    return path


def test_a_utf8_shapefile_without_its_cpg_keeps_its_names(tmp_path, capsys):
    """Without a .cpg GDAL reads a shapefile as Latin-1: a UTF-8 one's "Bärenwald" was
    "BÃ¤renwald" in every table. Valid UTF-8 text is read as UTF-8, and the notes say so."""
    path = _shapefile(tmp_path, "utf-8")
    assert cli.main(["--json", "hexagons", "--gpkg", str(path), "--id-field", "name",
                     "--forest", "Bärenwald,Fichtenhöhe", "--area-ha", "1",
                     "--output", str(tmp_path / "cells.gpkg")]) == 0
    notes = json.loads(capsys.readouterr().out)["notes"]
    assert notes == ["forests_utf-8.shp declares no encoding (no .cpg file) and its text is "
                     "UTF-8: read as UTF-8, not as Latin-1 (GDAL's and QGIS's default); add a "
                     ".cpg file holding UTF-8 so QGIS reads it so too"]
    cells = gpd.read_file(tmp_path / "cells.gpkg")
    assert sorted(set(cells.name)) == ["Bärenwald", "Fichtenhöhe"]
    assert cells.hex_id.str.startswith(("Bärenwald-", "Fichtenhöhe-")).all()


@pytest.mark.parametrize("encoding, cpg, names", [
    ("ISO-8859-1", None, ["Bärenwald", "Fichtenhöhe"]),  # Latin-1 text is not valid UTF-8
    ("utf-8", "CP1252", ["BÃ¤renwald", "FichtenhÃ¶he"]),  # a declaration is kept, even wrong
])
def test_a_shapefiles_declared_or_latin1_encoding_is_kept(tmp_path, encoding, cpg, names):
    aoi = load_aoi(_shapefile(tmp_path, encoding, cpg), id_field="name")
    assert sorted(aoi.ids) == names and aoi.notes == []
