"""Your own files in a forest's folder of ``zonal`` (which no run published) survive a rerun
that replaces the forest's results: the folder was replaced whole, deleting them."""

from __future__ import annotations

import json

from raster_collect_plugin import cli


def test_own_files_in_a_forest_folder_survive_an_overwrite(small_sample, tmp_path):
    output = tmp_path / "zonal"
    (output / "forest_281" / "field").mkdir(parents=True)
    (output / "forest_281" / "notes.txt").write_text("thinned in 2024", encoding="utf-8")
    (output / "forest_281" / "field" / "plot.csv").write_text("1,2", encoding="utf-8")
    args = ["--quiet", "zonal", "--gpkg", str(small_sample.forests_path), "--forest", "281",
            "--catalog", str(small_sample.catalog_path), "--collections", "sentinel-2-l2a",
            "--start", "2025-10-01", "--end", "2025-10-31", "--output", str(output)]
    assert cli.main(args) == 0
    assert cli.main([*args, "--indices", "NDVI", "--overwrite"]) == 0
    forest = output / "forest_281"
    assert (forest / "notes.txt").read_text(encoding="utf-8") == "thinned in 2024"
    assert (forest / "field" / "plot.csv").read_text(encoding="utf-8") == "1,2"
    assert not list(forest.glob("*EVI*"))  # the earlier run's files are replaced
    listed = json.loads((output / "manifest.json").read_text())["files"]
    assert "forest_281/notes.txt" not in listed and "forest_281/complete.json" in listed


def test_own_files_in_a_forest_folder_the_overwrite_no_longer_makes_survive(small_sample,
                                                                          tmp_path):
    """An --overwrite of other forests removed the old forests' folders whole, with your
    own files in them; now only the files the old manifest listed (and a folder left empty)."""
    output = tmp_path / "zonal"
    args = ["--quiet", "zonal", "--gpkg", str(small_sample.forests_path),
            "--catalog", str(small_sample.catalog_path), "--collections", "sentinel-2-l2a",
            "--indices", "NDVI", "--start", "2025-10-01", "--end", "2025-10-31",
            "--output", str(output)]
    assert cli.main([*args, "--forest", "281,282"]) == 0
    (output / "forest_281" / "notes.txt").write_text("thinned in 2024", encoding="utf-8")
    assert cli.main([*args, "--forest", "283", "--overwrite"]) == 0
    assert (output / "forest_281" / "notes.txt").read_text(encoding="utf-8") \
        == "thinned in 2024"
    assert [p.name for p in (output / "forest_281").iterdir()] == ["notes.txt"]
    assert not (output / "forest_282").exists()  # nothing of yours in it: gone
    listed = json.loads((output / "manifest.json").read_text())["files"]
    assert {name.split("/")[0] for name in listed if "/" in name} == {"forest_283"}
