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
