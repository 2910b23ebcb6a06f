"""Catalogs and collections the tool does not know: only the collections asked for are
read, an unknown collection's bands come from the collection and all its scenes, and a STAC
API's relative asset links are read where they point."""

from __future__ import annotations

import json
import shutil

from raster_collect_plugin import cli
from tests.servers.range_http import RangeFileServer


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
                body = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

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
