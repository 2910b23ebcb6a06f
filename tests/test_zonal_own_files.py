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
