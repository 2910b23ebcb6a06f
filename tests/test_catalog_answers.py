"""Catalogs and STAC APIs that answer badly or are laid out unusually: one line naming the
source and the fix (exit 1: a source failed), the right scenes, never a traceback."""

from __future__ import annotations

import json
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from raster_collect_plugin import cli
from tests.servers.json_reply import send_json


class _NotStac:
    """A loopback server answering /404 with an HTML 404 page, /html with a login page and
    /json with JSON that is not a STAC catalog."""

    def __init__(self):
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):  # noqa: N802
                if self.path.startswith("/404"):
                    return self.send_error(404)
                if self.path.startswith("/500"):
                    return self.send_error(500)
                body, kind = ((b"<html><body>Sign in</body></html>", "text/html")
                              if self.path.startswith("/html") else
                              (b'{"hello": 1}', "application/json"))
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.http.daemon_threads = True
        threading.Thread(target=self.http.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"

    def stop(self) -> None:
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture
def not_stac():
    server = _NotStac()
    yield server
    server.stop()


@pytest.mark.parametrize("path,expected", [
    ("404", "cannot open the STAC API at {url}/404 (HTTP 404); check the URL"),
    ("500", "cannot open the STAC API at {url}/500 (the server kept answering with an error "
            "(HTTP 5xx)); check the URL"),
    ("html", "{url}/html did not answer as a STAC API while opening"),
    ("json", "{url}/json did not answer as a STAC API while opening")])
def test_stac_url_that_is_not_a_stac_api(small_sample, not_stac, capsys, path, expected):
    """An HTML page (a login, a 404) or other JSON at --stac-url said
    'stac: JSONDecodeError: Expecting value...' or quoted the page's '<!DOCTYPE HTML>' (a
    500, urllib3's retry message); now one line naming the URL and what to check, exit 1 (a
    source failed), as --json too."""
    args = ["search", "--gpkg", str(small_sample.forests_path), "--stac-url",
            f"{not_stac.url}/{path}", "--collections", "sentinel-2-l2a",
            "--start", "2025-10-01", "--end", "2025-10-31"]
    assert cli.main(args) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith(
        f"raster-collect: error: Custom STAC: {expected.format(url=not_stac.url)}")
    assert "JSONDecodeError" not in lines[0] and "DOCTYPE" not in lines[0]
    assert "HTTPConnectionPool" not in lines[0]
    assert cli.main(["--json", *args]) == 1
    summary = json.loads(capsys.readouterr().out)
    assert summary["scenes"] == 0
    assert summary["errors"]["Custom STAC"] == lines[0].removeprefix("raster-collect: error: ")


def _nested_copy(sample, root):
    """The sample's catalog with its collections below sub-catalogs (a region, a second one
    linking the Sentinel-2 collection again) and an empty collection."""
    shutil.copytree(sample.catalog_path.parent, root)
    collections = ("sentinel-2-l2a", "landsat-c2-l2", "sentinel-1-rtc")

    def catalog(folder, children):
        (root / folder).mkdir(exist_ok=True)
        links = [{"rel": "root", "href": "../catalog.json" if folder != "." else "./catalog.json"}]
        links += [{"rel": "child", "href": href} for href in children]
        (root / folder / "catalog.json").write_text(json.dumps({
            "type": "Catalog", "stac_version": "1.0.0", "id": folder.strip("./") or "root",
            "description": folder, "links": links}))

    (root / "empty").mkdir()
    (root / "empty" / "collection.json").write_text(json.dumps({
        "type": "Collection", "stac_version": "1.0.0", "id": "empty-collection",
        "description": "no items", "license": "proprietary", "links": [],
        "extent": {"spatial": {"bbox": [[-180, -90, 180, 90]]},
                   "temporal": {"interval": [[None, None]]}}}))
    catalog("queensland", [f"../{c}/collection.json" for c in collections] +
            ["../empty/collection.json"])
    catalog("again", ["../sentinel-2-l2a/collection.json"])
    catalog(".", ["./queensland/catalog.json", "./again/catalog.json"])
    return root / "catalog.json"


def test_collections_below_sub_catalogs_are_searched_once(small_sample, tmp_path, capsys):
    """A catalog whose collections sit below sub-catalogs (root -> region -> collections)
    found 0 scenes, listing the region as if it were a collection, and
    `--collections sentinel-2-l2a` was refused as unknown; a collection linked from two
    sub-catalogs listed each scene twice. Now its collections are found at any depth, each
    scene once, in a stable order (day, then id)."""
    nested = _nested_copy(small_sample, tmp_path / "nested catalog")
    base = ["--json", "search", "--gpkg", str(small_sample.forests_path), "--start",
            "2025-10-01", "--end", "2025-12-31"]
    assert cli.main([*base, "--catalog", str(small_sample.catalog_path)]) == 0
    flat = json.loads(capsys.readouterr().out)
    assert cli.main([*base, "--catalog", str(nested)]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["errors"] == {} and found["scenes"] == flat["scenes"] > 0
    assert [(r["collection"], r["id"]) for r in found["items"]] == \
        [(r["collection"], r["id"]) for r in flat["items"]]
    assert cli.main([*base, "--catalog", str(nested), "--collections", "sentinel-2-l2a"]) == 0
    only = json.loads(capsys.readouterr().out)
    assert only["scenes"] == sum(r["collection"] == "sentinel-2-l2a" for r in flat["items"])
    assert cli.main([*base, "--catalog", str(nested), "--collections", "queensland"]) == 2
    message = json.loads(capsys.readouterr().out)["error"]["message"]
    assert "has no collection 'queensland'" in message
    assert "empty-collection, landsat-c2-l2, sentinel-1-rtc, sentinel-2-l2a" in message


def test_scene_whose_footprint_misses_the_forests_is_not_picked(small_sample, tmp_path,
                                                                  capsys):
    """Searches ask for the forests' bounding box: a scene whose footprint lies in a corner
    of that box, touching no forest, was listed (and loaded, counted in the clear fractions);
    now only scenes whose footprint meets a forest are picked."""
    import geopandas as gpd
    from shapely.geometry import box, mapping

    root = tmp_path / "catalog"
    shutil.copytree(small_sample.catalog_path.parent, root)
    forests = gpd.read_file(small_sample.forests_path).to_crs("EPSG:4326").geometry
    union, (west, south, east, north) = forests.union_all(), forests.total_bounds
    gaps = box(west, south, east, north).difference(union).buffer(-1e-6)  # ~10 cm clear
    gap = max(getattr(gaps, "geoms", [gaps]), key=lambda part: part.area)
    assert not gap.is_empty and not gap.intersects(union)
    item_path = sorted((root / "sentinel-2-l2a").glob("*/*.json"))[0]
    item = json.loads(item_path.read_text())
    item["geometry"] = mapping(gap)  # its bbox still covers the forests
    item_path.write_text(json.dumps(item))
    args = ["--json", "search", "--gpkg", str(small_sample.forests_path), "--catalog",
            str(root), "--collections", "sentinel-2-l2a", "--start", "2025-01-01", "--end",
            "2026-12-31"]
    assert cli.main(args) == 0
    ids = [row["id"] for row in json.loads(capsys.readouterr().out)["items"]]
    assert item["id"] not in ids and len(ids) > 0
    item["geometry"] = mapping(box(west, south, east, north).buffer(0.01))
    item_path.write_text(json.dumps(item))
    assert cli.main(args) == 0
    assert item["id"] in [row["id"] for row in json.loads(capsys.readouterr().out)["items"]]
    # the monitoring's (and series') search too
    item["geometry"] = mapping(gap)
    item_path.write_text(json.dumps(item))
    from datetime import date

    from raster_collect_plugin.core.series.harmonised import search_stacks
    from raster_collect_plugin.core.sources.providers.static_catalog import (
        StaticCatalogProvider,
    )

    stacks, errors = search_stacks(
        [(StaticCatalogProvider("catalog", str(root)), ["sentinel-2-l2a"])],
        gpd.read_file(small_sample.forests_path), date(2025, 1, 1), date(2026, 12, 31))
    found = [i.id for stack in stacks for i in stack.items]
    assert errors == {} and found and item["id"] not in found


def test_item_dated_by_a_time_range_is_listed_and_composited(small_sample, tmp_path, capsys):
    """STAC lets an item give `datetime: null` with `start_datetime`/`end_datetime`: the
    static catalog's search found it by its start, then `search` and `composite` ended in
    a traceback (TypeError comparing None with a datetime). Now it is dated by its start."""
    root = tmp_path / "catalog"
    shutil.copytree(small_sample.catalog_path.parent, root)
    path = sorted((root / "sentinel-2-l2a").glob("*/*.json"))[0]
    item = json.loads(path.read_text())
    when = item["properties"]["datetime"]
    item["properties"].update(datetime=None, start_datetime=when, end_datetime=when)
    path.write_text(json.dumps(item))
    common = ["--gpkg", str(small_sample.forests_path), "--catalog", str(root),
              "--collections", "sentinel-2-l2a", "--start", when[:10], "--end", when[:10]]
    assert cli.main(["--json", "search", *common]) == 0
    rows = json.loads(capsys.readouterr().out)["items"]
    assert [(row["id"], row["datetime"][:19]) for row in rows] == [(item["id"], when[:19])]
    assert cli.main(["--json", "composite", *common, "--indices", "NDVI", "--output",
                     str(tmp_path / "out")]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["errors"] == {} and summary["outputs"]["Static catalog/sentinel-2-l2a"]["NDVI"]


def test_empty_search_footprints_have_the_fields_of_a_full_one(small_sample, tmp_path,
                                                                capsys, monkeypatch):
    """A search job's footprints GeoPackage had the fields provider, collection, datetime,
    cloud_cover and id, but only id when nothing was found: a script or a QGIS style reading
    the layer broke on the empty week. Now the same fields, no rows, exit 0."""
    import geopandas as gpd

    monkeypatch.chdir(tmp_path)
    fields = {}
    for name, start in (("full", "2025-10-01"), ("empty", "2030-10-01")):
        spec = tmp_path / f"{name}.json"
        spec.write_text(json.dumps({
            "kind": "search", "aoi": str(small_sample.forests_path),
            "sources": [{"kind": "static", "href": str(small_sample.catalog_path)}],
            "start": start, "end": start[:8] + "31", "output": f"{name}.gpkg"}))
        assert cli.main(["job", str(spec), "--events"]) == 0
        result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["result"]
        frame = gpd.read_file(tmp_path / f"{name}.gpkg", layer="footprints")
        assert len(frame) == len(result["items"]) and (len(frame) > 0) == (name == "full")
        fields[name] = list(frame.columns)
    assert fields["empty"] == fields["full"] == ["provider", "collection", "datetime",
                                                 "cloud_cover", "id", "geometry"]


class _QueryingStacApi:
    """A STAC API declaring the query extension, which (as pgstac and stac-server do)
    matches no item without the property it compares: radar has no eo:cloud_cover."""

    def __init__(self, items, looping: bool = False):
        self.bodies = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _json(self, payload):
                send_json(self, payload)

            def do_GET(self):  # noqa: N802
                base = server.url
                self._json({"type": "Catalog", "id": "q", "stac_version": "1.0.0",
                            "description": "q", "conformsTo": [
                                "https://api.stacspec.org/v1.0.0/core",
                                "https://api.stacspec.org/v1.0.0/item-search",
                                "https://api.stacspec.org/v1.0.0/item-search#query"],
                            "links": [{"rel": "self", "href": base + "/"},
                                      {"rel": "root", "href": base + "/"},
                                      {"rel": "search", "href": base + "/search",
                                       "method": "POST", "type": "application/geo+json"}]})

            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.bodies.append(body)
                limit = body.get("query", {}).get("eo:cloud_cover", {}).get("lte")
                found = [item for item in items if item["collection"] in body["collections"]
                         and (limit is None or item["properties"].get("eo:cloud_cover",
                                                                      1e9) <= limit)]
                links = [{"rel": "next", "method": "POST", "href": f"{server.url}/search",
                          "body": {"token": "again"}, "merge": True}] if looping else []
                self._json({"type": "FeatureCollection", "features": found, "links": links})

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.http.daemon_threads = True
        threading.Thread(target=self.http.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"

    def stop(self):
        self.http.shutdown()
        self.http.server_close()


def test_cloud_limit_on_a_querying_api_keeps_radar(small_sample):
    """On a STAC API with the query extension (Planetary Computer) the scene cloud limit was
    sent to the server, which drops every scene without eo:cloud_cover: `--collections
    sentinel-2-l2a,sentinel-1-rtc` (a storm's radar) found no Sentinel-1 scene; here radar
    always passes the limit. Now a collection the filtered search found nothing in is
    searched again without it (the limit applied here, radar passing)."""
    from datetime import date

    from raster_collect_plugin.core.sources.providers.base import SearchQuery
    from raster_collect_plugin.core.sources.providers.stac_api import StacApiProvider

    items = []
    for collection in ("sentinel-2-l2a", "sentinel-1-rtc"):
        for path in sorted((small_sample.catalog_path.parent / collection).glob("*/*.json")):
            item = json.loads(path.read_text())
            item.update(links=[], collection=collection)
            items.append(item)
    cloudy = {i["id"] for i in items if i["properties"].get("eo:cloud_cover", 0) > 5}
    assert cloudy and any("eo:cloud_cover" not in i["properties"] for i in items)
    server = _QueryingStacApi(items)
    try:
        found = StacApiProvider("stac", server.url).search(SearchQuery(
            tuple(items[0]["bbox"]), date(2025, 10, 1), date(2025, 12, 31),
            ["sentinel-2-l2a", "sentinel-1-rtc"], max_cloud_cover=5))
    finally:
        server.stop()
    expected = {i["id"] for i in items if i["id"] not in cloudy and
                "2025-10-01" <= i["properties"]["datetime"][:10] <= "2025-12-31"}
    assert {item.id for item in found} == expected
    assert any(item.collection_id == "sentinel-1-rtc" for item in found)
    assert server.bodies[0]["query"] == {"eo:cloud_cover": {"lte": 5}}  # still filtered there


def test_catalog_given_as_a_collection_json(small_sample, tmp_path, capsys):
    """`--catalog .../sentinel-2-l2a/collection.json` (a static collection, as Maxar Open
    Data publishes each event) was 'cannot read the catalog ... does not represent a Catalog
    instance' (exit 1), its folder 'a folder without a catalog.json'. Now the collection is
    the catalog (its file or its folder), its scenes those of the full catalog's collection;
    an item's JSON is refused naming what to give."""
    folder = small_sample.catalog_path.parent / "sentinel-2-l2a"
    base = ["--json", "search", "--gpkg", str(small_sample.forests_path), "--start",
            "2025-10-01", "--end", "2025-12-31"]
    assert cli.main([*base, "--catalog", str(small_sample.catalog_path), "--collections",
                     "sentinel-2-l2a"]) == 0
    expected = [row["id"] for row in json.loads(capsys.readouterr().out)["items"]]
    for given in (folder / "collection.json", folder):
        assert cli.main([*base, "--catalog", str(given)]) == 0
        found = json.loads(capsys.readouterr().out)
        assert found["errors"] == {} and [row["id"] for row in found["items"]] == expected
    item = next(folder.glob("*/*.json"))
    assert cli.main([*base, "--catalog", str(item)]) == 1
    assert json.loads(capsys.readouterr().out)["error"]["message"] == (
        f"Static catalog: {item} is a STAC Item, not a catalog or collection: give the "
        "catalog.json (or collection.json) that links to it")
    output = tmp_path / "out"
    assert cli.main(["--json", "composite", "--gpkg", str(small_sample.forests_path),
                     "--catalog", str(folder), "--start", "2025-10-01", "--end", "2025-10-31",
                     "--indices", "NDVI", "--output", str(output)]) == 0
    assert json.loads(capsys.readouterr().out)["outputs"]["Static catalog/sentinel-2-l2a"]["NDVI"]


def test_static_item_without_assets_is_skipped(small_sample, tmp_path, capsys):
    """A static catalog's item with no assets (a stub, which the STAC API provider already
    skipped) was listed, and as the collection's first scene made composite refuse the whole
    collection: 'its items name no known bands' (exit 2). Now it is skipped in both."""
    root = tmp_path / "catalog"
    shutil.copytree(small_sample.catalog_path.parent, root)
    path = sorted((root / "sentinel-2-l2a").glob("*/*.json"))[0]
    stub = json.loads(path.read_text())
    stub["assets"] = {}
    path.write_text(json.dumps(stub))
    common = ["--gpkg", str(small_sample.forests_path), "--catalog", str(root),
              "--collections", "sentinel-2-l2a", "--start", "2025-10-01", "--end", "2025-10-31"]
    assert cli.main(["--json", "search", *common]) == 0
    ids = [row["id"] for row in json.loads(capsys.readouterr().out)["items"]]
    assert ids and stub["id"] not in ids
    assert cli.main(["--json", "composite", *common, "--indices", "NDVI", "--output",
                     str(tmp_path / "out")]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["errors"] == {} and summary["outputs"]["Static catalog/sentinel-2-l2a"]["NDVI"]


@pytest.mark.parametrize("missing", ["landsat-c2-l2/collection.json", "sentinel-2-l2a/item"])
def test_catalog_with_a_missing_file_is_one_line(small_sample, tmp_path, capsys, missing):
    """A catalog whose collection.json (or an item's JSON) was deleted or not copied ended in
    a traceback ('unexpected STACError', listing its collections) or 'catalog: STACError:
    HREF ... does not resolve' (searching); now one line naming the catalog and the file,
    and what to check, exit 1 (a source failed)."""
    root = tmp_path / "catalog"
    shutil.copytree(small_sample.catalog_path.parent, root)
    gone = root / missing if missing.endswith(".json") else \
        sorted((root / "sentinel-2-l2a").glob("*/*.json"))[0]
    gone.unlink()
    args = ["search", "--gpkg", str(small_sample.forests_path), "--catalog",
            str(root / "catalog.json"), "--start", "2025-10-01", "--end", "2025-12-31"]
    assert cli.main(args) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and len(captured.err.strip().splitlines()) == 1
    line = captured.err.strip()
    assert line.startswith(f"raster-collect: error: Static catalog: a link in the catalog "
                           f"{root / 'catalog.json'} cannot be read (")
    assert f"'{gone}'" in line
    assert line.endswith("check that the catalog's files are all there (or rebuild it)")


@pytest.mark.parametrize("url", ["127.0.0.1:8080/stac", ""])
def test_stac_url_without_a_scheme_is_bad_input(small_sample, tmp_path, capsys,
                                                monkeypatch, url):
    """`--stac-url 127.0.0.1:8080/stac` (no http://) was read by pystac-client as a local
    file: 'No such file or directory: .../127.0.0.1:8080/stac' (an empty one: 'Is a
    directory'), exit 1 as if the server failed. Now bad input, exit 2, one line, in the
    command line and a job spec alike (with --events too)."""
    monkeypatch.chdir(tmp_path)
    expected = (f"the STAC API address {url!r} is not an http(s) URL: give it like "
                "https://host/path")
    assert cli.main(["search", "--gpkg", str(small_sample.forests_path), "--stac-url", url,
                     "--collections", "sentinel-2-l2a"]) == 2
    line = capsys.readouterr().err.strip()
    assert line.startswith(f"raster-collect: error: Custom STAC: {expected}")
    spec = tmp_path / "job.json"
    spec.write_text(json.dumps({
        "kind": "search", "aoi": str(small_sample.forests_path), "start": "2025-10-01",
        "end": "2025-10-31", "sources": [{"kind": "stac", "url": url or " ",
                                          "collections": ["sentinel-2-l2a"]}]}))
    if url:
        assert cli.main(["job", str(spec), "--events"]) == 2
        event = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert event["event"] == "error" and event["kind"] == "bad_input"
        assert event["message"].startswith(f"Custom STAC: {expected}")


def test_stac_url_where_nothing_listens(small_sample, capsys):
    """A --stac-url whose port has no server quoted urllib3's objects ('Max retries exceeded
    ... <urllib3.connection.HTTPConnection object at 0x7f...>: Failed to establish a new co',
    cut mid-word); now what happened, in one line, exit 1."""
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert cli.main(["search", "--gpkg", str(small_sample.forests_path), "--stac-url",
                     f"http://127.0.0.1:{port}/", "--collections", "sentinel-2-l2a"]) == 1
    assert capsys.readouterr().err.strip() == (
        f"raster-collect: error: Custom STAC: cannot open the STAC API at http://127.0.0.1:{port}/ "
        "(no server answers at that address (connection refused)); check the URL and your "
        "connection")


def test_catalog_of_scenes_without_collections(small_sample, tmp_path, capsys):
    """A static catalog whose catalog.json links its items directly (no collections, as
    rio-stac or a hand-made catalog writes) found '0 scenes (no collection ...)', exit 0; and
    an item whose own "collection" named one the catalog does not have was dropped. Now the
    catalog is a collection of its scenes, by its id, each scene reported where it was
    found."""
    root = tmp_path / "scenes"
    root.mkdir()
    links = [{"rel": "root", "href": "./catalog.json"}, {"rel": "self",
                                                         "href": str(root / "catalog.json")}]
    sources = sorted((small_sample.catalog_path.parent / "sentinel-2-l2a").glob("*/*.json"))
    for n, source in enumerate(sources):
        shutil.copytree(source.parent, root / source.parent.name)
        item = json.loads(source.read_text())
        item["links"] = [{"rel": "root", "href": "../catalog.json"},
                         {"rel": "parent", "href": "../catalog.json"}]
        if n % 2:
            del item["collection"]  # the other half keep "sentinel-2-l2a"
        (root / source.parent.name / source.name).write_text(json.dumps(item))
        links.append({"rel": "item", "href": f"./{source.parent.name}/{source.name}"})
    (root / "catalog.json").write_text(json.dumps({
        "type": "Catalog", "stac_version": "1.0.0", "id": "my-scenes",
        "description": "scenes", "links": links}))
    common = ["--gpkg", str(small_sample.forests_path), "--catalog", str(root), "--start",
              "2025-10-01", "--end", "2025-12-31"]
    assert cli.main(["--json", "search", *common]) == 0
    rows = json.loads(capsys.readouterr().out)["items"]
    collected = [*common]
    collected[collected.index(str(root))] = str(small_sample.catalog_path)
    assert cli.main(["--json", "search", *collected, "--collections", "sentinel-2-l2a"]) == 0
    expected = json.loads(capsys.readouterr().out)["items"]  # the same scenes, as collected
    assert {row["collection"] for row in rows} == {"my-scenes"}
    assert [row["id"] for row in rows] == [row["id"] for row in expected] != []
    assert cli.main(["--json", "composite", *common, "--end", "2025-10-31", "--indices",
                     "NDVI", "--output", str(tmp_path / "out")]) == 0
    assert json.loads(capsys.readouterr().out)["outputs"]["Static catalog/my-scenes"]["NDVI"]


def test_api_whose_next_link_goes_round_stops_at_once(small_sample):
    """A STAC API whose 'next' link sent the same page again was paged until 100,000 scenes
    ('more than 100,000 scenes match': the wrong problem) or the 10-minute bound. Now the
    search stops at the first repeated page and says so."""
    import time
    from datetime import date

    from raster_collect_plugin.core.sources.providers.base import ProviderError, SearchQuery
    from raster_collect_plugin.core.sources.providers.stac_api import StacApiProvider

    items = []
    for path in sorted((small_sample.catalog_path.parent / "sentinel-2-l2a").glob("*/*.json")):
        item = json.loads(path.read_text())
        item.update(links=[], collection="sentinel-2-l2a")
        items.append(item)
    server = _QueryingStacApi(items, looping=True)
    began = time.monotonic()
    try:
        with pytest.raises(ProviderError) as failed:
            StacApiProvider("stac", server.url).search(SearchQuery(
                tuple(items[0]["bbox"]), date(2025, 10, 1), date(2025, 12, 31),
                ["sentinel-2-l2a"]))
    finally:
        server.stop()
    assert time.monotonic() - began < 10 and len(server.bodies) == 2
    assert str(failed.value) == (
        f"stac: the STAC API at {server.url} sent a page of scenes it had already sent (its "
        f"'next' link goes round), after {len(items)} scenes; nothing was cut silently: try "
        "again later, or tell the API's maintainers")
