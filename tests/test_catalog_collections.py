"""Catalogs and collections the tool does not know: only the collections asked for are
read, an unknown collection's bands come from the collection and all its scenes, and a STAC
API's relative asset links are read where they point."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from raster_collect_plugin import cli
from tests.servers.json_reply import send_json
from tests.servers.range_http import RangeFileServer


def _copy(sample, root):
    shutil.copytree(sample.catalog_path.parent, root)
    return root


def test_collections_asked_for_are_read_without_the_others(small_sample, tmp_path, capsys):
    """A static catalog whose landsat-c2-l2/collection.json is missing made
    `--collections sentinel-2-l2a` fail ('a link in the catalog ... cannot be read'), exit 1:
    every collection was read to list them. Now the collections asked for are searched; a
    missing file of a collection asked for is one line naming that file (not another
    missing one)."""
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
    assert json.loads(capsys.readouterr().out)["outputs"]["Static catalog/sentinel-2-l2a"]["NDVI"]
    (root / "sentinel-1-rtc" / "collection.json").unlink()  # linked before Landsat
    assert cli.main(["search", *common, "--catalog", str(root), "--collections",
                     "landsat-c2-l2"]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and f"'{gone}'" in lines[0], lines
    assert lines[0].startswith("raster-collect: error: Static catalog: a link in the catalog ")


class _ApiBesideItsFiles(RangeFileServer):
    """A STAC API (landing page, POST /search) serving the sample's files on the same host,
    whose answers give relative asset hrefs: an item with a ``self`` link relative to it
    (``./B04.tif``), one without relative to the answer's URL (``sentinel-2-l2a/.../B04.tif``
    from ``/search``)."""

    def __init__(self, root, items):
        super().__init__(root)
        self.items = items

    def _handler_class(self):
        files, server = super()._handler_class(), self

        class Handler(files):
            def _json(self, payload):
                send_json(self, payload)

            def do_GET(self):  # noqa: N802
                if self.path.rstrip("/") != "":
                    return super().do_GET()
                self._json({"type": "Catalog", "id": "api", "stac_version": "1.0.0",
                            "description": "relative assets", "conformsTo": [
                                "https://api.stacspec.org/v1.0.0/core",
                                "https://api.stacspec.org/v1.0.0/item-search"],
                            "links": [{"rel": "self", "href": server.url + "/"},
                                      {"rel": "root", "href": server.url + "/"},
                                      {"rel": "search", "href": server.url + "/search",
                                       "method": "POST", "type": "application/geo+json"}]})

            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                found = []
                for n, item in enumerate(i for i in server.items
                                         if i["collection"] in body["collections"]):
                    item = json.loads(json.dumps(item))
                    if n % 2 == 0:  # a self link: hrefs relative to the item's own file
                        folder = item["assets"]["B04"]["href"].rsplit("/", 1)[0]
                        item["links"] = [{"rel": "self", "href":
                                          f"{server.url}/{folder}/{item['id']}.json"}]
                        for asset in item["assets"].values():
                            asset["href"] = "./" + asset["href"].rsplit("/", 1)[1]
                    found.append(item)
                self._json({"type": "FeatureCollection", "features": found, "links": []})

        return Handler


def test_relative_asset_hrefs_of_a_stac_api_are_read_where_they_point(small_sample, tmp_path,
                                                                     capsys):
    """A STAC API answering with relative asset hrefs (``./B04.tif``) stopped the run: 'nothing
    to compute: cannot load sentinel-2-l2a: Can not determine absolute path for asset: B01'
    (exit 1). Now they are resolved as the STAC spec says (commons/assets.md: an asset's
    href may be relative; RFC 3986 section 5.1: against the item's ``self`` link, else the
    URL of the answer) and the composites are those of the same scenes given absolute."""
    items = small_sample.items["sentinel-2-l2a"]
    api = _ApiBesideItsFiles(small_sample.catalog_path.parent, items).start()
    try:
        common = ["--gpkg", str(small_sample.forests_path), "--collections", "sentinel-2-l2a",
                  "--start", "2025-10-01", "--end", "2025-10-31", "--indices", "NDVI"]
        assert cli.main(["--json", "composite", *common, "--stac-url", api.url,
                         "--output", str(tmp_path / "api")]) == 0
        summary = json.loads(capsys.readouterr().out)
    finally:
        api.stop()
    assert summary["errors"] == {}
    assert cli.main(["--json", "composite", *common, "--catalog",
                     str(small_sample.catalog_path), "--output", str(tmp_path / "static")]) == 0
    expected = json.loads(capsys.readouterr().out)
    import rasterio

    [got] = summary["outputs"].values()
    [want] = expected["outputs"].values()
    with rasterio.open(got["NDVI"]) as a, rasterio.open(want["NDVI"]) as b:
        values, reference = a.read(), b.read()
    assert values.shape == reference.shape and (values == values).any()
    assert ((values == reference) | (values != values) & (reference != reference)).all()


@pytest.mark.parametrize("lacking", ["B08", "SCL"])
def test_an_unknown_collections_first_scene_does_not_decide_its_bands(small_sample, tmp_path,
                                                                      capsys, lacking):
    """A collection the band table does not know had its bands read from its first scene: a
    first scene without B08 gave 'nothing to compute: my-s2 has no nir band' (exit 2), one
    without SCL 'its items name no known bands'. Now the bands are those of all its scenes
    (and of its collection.json); the scene lacking a band the run needs is skipped, with
    the reason in the notes and the metadata, and October is the other scene's."""
    root = _copy(small_sample, tmp_path / "catalog")
    document = root / "sentinel-2-l2a" / "collection.json"
    collection = json.loads(document.read_text())
    document.write_text(json.dumps(collection | {"id": "my-s2"}))
    paths = sorted((root / "sentinel-2-l2a").glob("*/*.json"),
                   key=lambda path: json.loads(path.read_text())["properties"]["datetime"])
    first, second = (json.loads(path.read_text()) for path in paths[:2])
    for n, path in enumerate(paths):
        item = json.loads(path.read_text()) | {"collection": "my-s2"}
        if n == 0:
            del item["assets"][lacking]
        path.write_text(json.dumps(item))
    assert first["properties"]["datetime"] < second["properties"]["datetime"] < "2025-11"
    assert cli.main(["--json", "composite", "--gpkg", str(small_sample.forests_path),
                     "--catalog", str(root), "--collections", "my-s2", "--start",
                     "2025-10-01", "--end", "2025-10-31", "--indices", "NDVI", "--output",
                     str(tmp_path / "out")]) == 0
    summary = json.loads(capsys.readouterr().out)
    name = "nir (B08)" if lacking == "B08" else "scl (SCL)"
    reason = f"the scene has no {name} asset"
    assert summary["errors"] == {}
    assert f"Static catalog my-s2: 1 scene(s) skipped: {first['id']}: {reason}" in summary["notes"]
    # the size estimate counts the scenes the run reads, not the one it skips
    [size_note] = [note for note in summary["notes"] if "a period)" in note]
    assert "up to 1 scene a period" in size_note
    [metadata_path] = (tmp_path / "out").glob("*my-s2_metadata.json")
    metadata = json.loads(metadata_path.read_text())
    assert metadata["skipped_scenes"] == {first["id"]: reason}
    assert [scene["items"] for scene in metadata["scenes"]] == [[second["id"]]]
    import rasterio

    with rasterio.open(summary["outputs"]["Static catalog/my-s2"]["NDVI"]) as stack:
        ndvi = stack.read(1)
    assert np.isfinite(ndvi).any() and np.nanmax(ndvi) <= 1


def test_the_collections_item_assets_name_its_bands():
    """Scenes that all lack the mask asset were 'no known bands' whatever the collection
    said; its ``item_assets`` (or ``summaries`` ``eo:bands``) now name the bands too."""
    from raster_collect_plugin.core.pixels import bands

    item = {"assets": {key: {"href": f"{key}.tif"} for key in ("B02", "B03", "B04", "B08")},
            "properties": {"s2:processing_baseline": "05.11"}}
    with pytest.raises(bands.UnknownCollection):
        bands.profile_for("stac", "my-s2", item)
    for described in ({"item_assets": {"SCL": {"roles": ["data"]}}},
                      {"summaries": {"eo:bands": [{"name": "SCL"}, {"name": "B04"}]}}):
        profile = bands.profile_for("stac", "my-s2", item, described)
        assert profile.mask_band == "scl" and profile.assets["scl"] == "SCL"
        assert profile.assets["nir"] == "B08" and "rule read from its items" in profile.notes[0]


def test_a_series_skips_the_scene_lacking_a_band_of_an_unknown_collection(small_sample):
    """The index series (monitoring, series) read an unknown collection's bands from its
    first scene as well; now from all of them, and a scene without the NIR band it reads is
    left out of the series, named in its ``skipped_scenes``."""
    import geopandas
    import pystac

    from raster_collect_plugin.core.series.harmonised import load_index_series

    items = []
    for item in sorted(small_sample.items["sentinel-2-l2a"],
                       key=lambda item: item["properties"]["datetime"])[:3]:
        item = json.loads(json.dumps(item)) | {"collection": "my-s2"}
        for asset in item["assets"].values():
            asset["href"] = str(small_sample.catalog_path.parent / asset["href"])
        items.append(item)
    del items[0]["assets"]["B8A"]  # read as the harmonised NIR
    scenes = [pystac.Item.from_dict(item) for item in items]
    series = load_index_series({"my-s2": scenes},
                               geopandas.read_file(small_sample.forests_path))
    assert list(series["scene_id"].values) == [items[1]["id"], items[2]["id"]]
    assert json.loads(series.attrs["skipped_scenes"]) == {
        items[0]["id"]: "the scene has no nir08 (B8A) asset"}
    assert np.isfinite(series.values).any()


def test_a_search_job_lists_the_scenes_of_a_collection_whose_bands_it_cannot_tell(
        small_sample, tmp_path, capsys):
    """A search job describes each scene for the viewer; a collection whose assets name no
    band this tool knows made the whole search job fail (exit 1), though a search reads no
    pixels. Its scenes are listed, without a viewer description."""
    root = _copy(small_sample, tmp_path / "catalog")
    document = root / "sentinel-2-l2a" / "collection.json"
    document.write_text(json.dumps(json.loads(document.read_text()) | {"id": "my-x"}))
    for path in (root / "sentinel-2-l2a").glob("*/*.json"):
        item = json.loads(path.read_text()) | {"collection": "my-x"}
        item["assets"] = {f"band_{key}": asset for key, asset in item["assets"].items()}
        path.write_text(json.dumps(item))
    spec = tmp_path / "search.json"
    spec.write_text(json.dumps({"kind": "search", "aoi": str(small_sample.forests_path),
                                "sources": [{"kind": "static", "href": str(root),
                                             "collections": ["my-x"]}],
                                "start": "2025-10-01", "end": "2025-10-31"}))
    assert cli.main(["--json", "job", str(spec)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["errors"] == {} and result["scenes"] == {}
    assert len(result["items"]) >= 1 and {row["collection"] for row in result["items"]} == {
        "my-x"}


def test_a_band_the_collection_names_and_no_scene_has_skips_its_index_only(small_sample,
                                                                          tmp_path, capsys):
    """A collection document's ``item_assets`` naming B11 while none of its scenes has it made
    NDMI (NIR, SWIR1) look computable; every scene was then skipped for lacking B11 and NDVI,
    which they all could give, was not computed either ("no scene has every band the run
    needs", exit 2). The band is now offered only when a scene has it: NDMI is skipped for
    the collection with the reason, NDVI computed from every scene."""
    root = _copy(small_sample, tmp_path / "catalog")
    document = root / "sentinel-2-l2a" / "collection.json"
    collection = json.loads(document.read_text())
    keys = ("B01", "B02", "B03", "B04", "B05", "B08", "B8A", "B11", "B12", "SCL")
    collection |= {"id": "my-s2", "item_assets": {key: {"roles": ["data"]} for key in keys}}
    document.write_text(json.dumps(collection))
    for path in (root / "sentinel-2-l2a").glob("*/*.json"):
        item = json.loads(path.read_text()) | {"collection": "my-s2"}
        del item["assets"]["B11"]
        path.write_text(json.dumps(item))
    assert cli.main(["--json", "composite", "--gpkg", str(small_sample.forests_path),
                     "--catalog", str(root), "--collections", "my-s2", "--start",
                     "2025-10-01", "--end", "2025-10-31", "--indices", "NDVI,NDMI", "--output",
                     str(tmp_path / "out")]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["errors"] == {}
    [outputs] = summary["outputs"].values()
    assert "NDVI" in outputs and "NDMI" not in outputs
    [metadata_path] = (tmp_path / "out").glob("*my-s2_metadata.json")
    metadata = json.loads(metadata_path.read_text())
    assert metadata["skipped_indices"] == {"NDMI": "my-s2 has no swir16 band"}
    assert metadata["skipped_scenes"] == {}
    october = sorted(json.loads(path.read_text())["id"]
                     for path in (root / "sentinel-2-l2a").glob("*/*.json")
                     if json.loads(path.read_text())["properties"]["datetime"] < "2025-11")
    assert len(october) == 2
    assert sorted(i for scene in metadata["scenes"] for i in scene["items"]) == october
