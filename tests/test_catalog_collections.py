"""Catalogs and collections the tool does not know: only the collections asked for are
read, an unknown collection's bands come from the collection and all its scenes, and a STAC
API's relative asset links are read where they point."""

from __future__ import annotations

import json
import shutil

from raster_collect_plugin import cli


def _copy(sample, root):
    shutil.copytree(sample.catalog_path.parent, root)
    return root


def test_collections_asked_for_are_read_without_the_others(small_sample, tmp_path, capsys):
    """A static catalog whose landsat-c2-l2/collection.json is missing made
    `--collections sentinel-2-l2a` fail ('a link in the catalog ... cannot be read'), exit 1:
    every collection was read to list them. Now the collections asked for are searched; a
    missing file of a collection asked for is one line naming the file."""
    root = _copy(small_sample, tmp_path / "catalog")
    common = ["--gpkg", str(small_sample.forests_path), "--start", "2025-10-01", "--end",
              "2025-12-31"]
    assert cli.main(["--json", "search", *common, "--catalog", str(small_sample.catalog_path),
                     "--collections", "sentinel-2-l2a"]) == 0
    expected = [row["id"] for row in json.loads(capsys.readouterr().out)["items"]]
    gone = root / "landsat-c2-l2" / "collection.json"
    gone.unlink()
    assert cli.main(["--json", "search", *common, "--catalog", str(root), "--collections",
                     "sentinel-2-l2a"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["errors"] == {} and [row["id"] for row in found["items"]] == expected != []
    assert cli.main(["--json", "composite", *common, "--end", "2025-10-31", "--catalog",
                     str(root), "--collections", "sentinel-2-l2a", "--indices", "NDVI",
                     "--output", str(tmp_path / "out")]) == 0
    assert json.loads(capsys.readouterr().out)["outputs"]["catalog/sentinel-2-l2a"]["NDVI"]
    assert cli.main(["search", *common, "--catalog", str(root), "--collections",
                     "landsat-c2-l2"]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and f"'{gone}'" in lines[0], lines
    assert lines[0].startswith("raster-collect: error: catalog: a link in the catalog ")
