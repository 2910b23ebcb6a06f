"""Bad input through the command line: one line naming the problem and the fix, exit 2, no
traceback; bounded expressions; catalogs that try to leave their root."""

import json
import time
from datetime import date

import pytest

from raster_collect_plugin import cli
from raster_collect_plugin.core.pixels.bands import refused_assets
from raster_collect_plugin.core.pixels.expression import ExpressionError, parse
from raster_collect_plugin.core.sources.providers import StaticCatalogProvider
from raster_collect_plugin.core.sources.providers.base import ProviderError, SearchQuery


def composite_args(sample, output, *extra):
    return ["--quiet", "composite", "--gpkg", str(sample.forests_path),
            "--catalog", str(sample.catalog_path), "--collections", "sentinel-2-l2a",
            "--start", "2025-10-01", "--end", "2025-10-31", "--indices", "NDVI",
            "--output", str(output), *extra]


def one_line_error(capsys) -> str:
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    return lines[0]


def test_unreadable_geopackage(small_sample, tmp_path, capsys):
    broken = tmp_path / "forests.gpkg"
    broken.write_bytes(b"SQLite format 3\x00" + b"\x00" * 200)
    args = composite_args(small_sample, tmp_path / "out")
    args[args.index("--gpkg") + 1] = str(broken)
    assert cli.main(args) == 2
    assert "cannot read the polygon file" in one_line_error(capsys)


@pytest.mark.parametrize("extra,message", [
    (["--layer", "compartments"], "has no layer 'compartments'; its layers are"),
    (["--mask", "cloud_high,fog"], "unknown cloud-mask classes ['fog']"),
    (["--crs", "EPSG:999999"], "unknown CRS 'EPSG:999999' (--crs)"),
    (["--resolution", "nan"], "resolution must be a positive number of metres"),
    (["--resolution", "inf"], "resolution must be a positive number of metres"),
    (["--expression", "X=9**9**9"], "exponent '9**9' is not allowed"),
    (["--expression", "X=" + "+".join(["nir"] * 400)], "at most 500 are allowed"),
    (["--expression", "ndvi=red"], "custom index 'ndvi' has the name of a built-in index"),
])
def test_bad_options_exit_2_with_one_line(small_sample, tmp_path, capsys, extra, message):
    started = time.monotonic()
    assert cli.main(composite_args(small_sample, tmp_path / "out", *extra)) == 2
    assert message in one_line_error(capsys)
    assert time.monotonic() - started < 30
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_expression_bounds():
    deep = "(" * 300 + "1" + ")" * 300
    for text in ("9**9**9", "nir**red", "nir ** (2 + 1)", "1e300 * nir", deep):
        with pytest.raises(ExpressionError):
            parse(text)
    assert parse("(nir - red) / (nir + red)").evaluate({"nir": 3.0, "red": 1.0}) == 0.5
    assert parse("nir ** 2 - 2 ** -1").evaluate({"nir": 3.0}) == 8.5
    assert isinstance(parse("7 / 2").evaluate({}), float)


def _remote_catalog(root, child_href=None, asset_href=None):
    root.mkdir(parents=True, exist_ok=True)
    collection = {"type": "Collection", "stac_version": "1.0.0", "id": "evil",
                  "description": "d", "license": "CC-BY-4.0",
                  "extent": {"spatial": {"bbox": [[-180, -90, 180, 90]]},
                             "temporal": {"interval": [[None, None]]}},
                  "links": [{"rel": "item", "href": "./item.json"}]}
    item = {"type": "Feature", "stac_version": "1.0.0", "id": "i", "collection": "evil",
            "bbox": [152, -27, 153, -26],
            "geometry": {"type": "Polygon", "coordinates": [[[152, -27], [153, -27], [153, -26],
                                                            [152, -26], [152, -27]]]},
            "properties": {"datetime": "2025-10-05T00:00:00Z"},
            "links": [], "assets": {"red": {"href": asset_href or "./red.tif"}}}
    (root / "evil").mkdir(exist_ok=True)
    (root / "evil" / "collection.json").write_text(json.dumps(collection))
    (root / "evil" / "item.json").write_text(json.dumps(item))
    catalog = {"type": "Catalog", "stac_version": "1.0.0", "id": "c", "description": "d",
               "links": [{"rel": "child", "href": child_href or "./evil/collection.json"}]}
    (root / "catalog.json").write_text(json.dumps(catalog))


QUERY = SearchQuery(bbox=(152.2, -26.8, 152.8, -26.2), start=date(2025, 10, 1),
                    end=date(2025, 10, 31), collections=[])


def test_remote_catalog_cannot_open_local_files(tmp_path, file_server):
    secret = tmp_path / "secret"
    _remote_catalog(secret)  # a readable local catalog the remote one points into
    served = tmp_path / "served"
    _remote_catalog(served / "a", child_href=f"file://{secret}/evil/collection.json")
    _remote_catalog(served / "b", child_href="../../secret/evil/collection.json")
    _remote_catalog(served / "c", asset_href="file:///etc/hostname")
    _remote_catalog(served / "d", child_href="ftp://127.0.0.1:9/evil/collection.json")
    server = file_server(served)
    for name, message in (("a", "links to a local file"), ("b", "links outside its folder"),
                          ("d", "links to the ftp:// address ftp://127.0.0.1:9/evil/")):
        provider = StaticCatalogProvider("Remote", f"{server.url}/{name}/catalog.json")
        with pytest.raises(ProviderError, match=f"refused: the remote catalog {message}"
                           if name != "b" else "refused: the catalog links outside"):
            provider.search(QUERY)
    # a local asset skips its scene (named), not the whole crawl
    [item] = StaticCatalogProvider("Remote", f"{server.url}/c/catalog.json").search(QUERY)
    assert not item.assets and refused_assets(item) == {"red": (
        f"refused: the remote catalog {server.url}/c/catalog.json points its red asset at a "
        "local file (file:///etc/hostname), which is never read from a remote catalog")}
    fine = StaticCatalogProvider("Remote", f"{server.url}/a/../c/catalog.json")
    assert fine.list_collections() == ["evil"]


def test_wrong_sentinel_hub_secret_is_an_authentication_error(small_sample, tmp_path,
                                                              monkeypatch, capsys):
    from sentinelhub.download.sentinelhub_client import SentinelHubDownloadClient

    from tests.servers.sentinel_hub import SentinelHubServer

    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    monkeypatch.setenv("SH_CLIENT_ID", "rc-test-client")
    monkeypatch.setenv("SH_CLIENT_SECRET", "not-the-secret")
    server = SentinelHubServer(small_sample, client_id="rc-test-client",
                               client_secret="the-real-secret").start()
    SentinelHubDownloadClient.clear_cache()
    try:
        code = cli.main(["--quiet", "sentinel-hub", "--gpkg", str(small_sample.forests_path),
                         "--start", "2025-10-01", "--end", "2025-10-31",
                         "--base-url", server.base_url, "--token-url", server.token_url,
                         "--output", str(tmp_path / "out")])
    finally:
        server.stop()
        SentinelHubDownloadClient.clear_cache()
    assert code == 2
    line = one_line_error(capsys)
    assert line == ("raster-collect: error: authentication failed: check the client id/secret "
                    "(SH_CLIENT_ID / SH_CLIENT_SECRET or the QGIS authentication "
                    "configuration)")
    assert "not-the-secret" not in line


@pytest.mark.parametrize("extra", [["--indices", "NDVI"], ["--resolution", "3"],
                                   ["--period", "year"], ["--method", "median"],
                                   ["--mask", "none"],
                                   ["--crs", "EPSG:28356"], ["--dask", "local"],
                                   ["--workers", "2"], ["--expression", "X=nir"],
                                   ["--overwrite"], ["--min-clear=0.3"], ["--ind", "NDVI"],
                                   ["--output", "scenes.gpkg"]],
                         ids=lambda extra: extra[0])
def test_search_refuses_what_only_a_run_reading_pixels_uses(small_sample, capsys, extra):
    """A search lists scenes: options for composites were accepted and silently not used
    (a search job refuses its keys); then argparse's "unrecognized arguments", which named
    neither the problem nor the command that takes them. Now one line naming the option and
    where it belongs, exit 2, before any search (also as --json's error)."""
    args = ["search", "--gpkg", str(small_sample.forests_path), "--catalog",
            str(small_sample.catalog_path), "--start", "2025-10-01", "--end", "2025-10-31"]
    option = {"--ind": "--indices"}.get(extra[0], extra[0].split("=")[0])
    with pytest.raises(SystemExit) as exited:
        cli.main([*args, *extra])
    assert exited.value.code == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith("raster-collect search: error: search lists scenes and reads no "
                           f"pixels: {option} ")
    # a storm refuses --period and --method (its windows decide): not named for them
    assert ("is for zonal" if option == "--min-clear" else "--json search" if
            option == "--output" else "is for composite or zonal (" if
            option in ("--period", "--method") else "is for composite, zonal or storm") in line
    with pytest.raises(SystemExit):
        cli.main(["--json", *args, *extra])
    error = json.loads(capsys.readouterr().out)
    assert error["exit_code"] == 2 and option in error["error"]["message"]
    assert cli.main(["--json", *args, "--max-cloud", "50"]) == 0  # what it does take
    assert json.loads(capsys.readouterr().out)["scenes"] > 0


@pytest.mark.parametrize("command", [
    ["composite", "--catalog", "c.json"], ["zonal", "--catalog", "c.json"],
    ["storm", "--catalog", "c.json", "--event-date", "2025-11-13"],
    ["hexagons", "--area-ha", "1"], ["monitor", "--catalog", "c.json", "--history-start",
                                     "2024-01-01", "--history-end", "2024-12-31"]],
    ids=lambda command: command[0])
def test_an_empty_output_is_refused(small_sample, tmp_path, monkeypatch, capsys, command):
    """`--output ""` (a script's unset variable) was the current folder: the run wrote its
    results beside whatever was there, exit 0."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exited:
        cli.main([command[0], "--gpkg", str(small_sample.forests_path), *command[1:],
                  "--output", " "])
    assert exited.value.code == 2
    assert capsys.readouterr().err.strip().endswith(
        "error: argument --output: is empty: give a folder (or an s3://bucket/prefix where "
        "the command takes one)")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("extra,says", [
    (["--start", "2025-07-01"], "monitor has no --start: it learns from --history-start to "
                                "--history-end"),
    (["--indices", "NDVI"], "monitor follows one index: give --index NAME"),
    (["--period", "month"], "monitor has no periods")], ids=lambda v: str(v[0]))
def test_monitor_names_the_composite_options_it_does_not_take(small_sample, tmp_path,
                                                               capsys, extra, says):
    """`monitor --start ...` or `--indices NDVI` (what composite takes) said only
    "unrecognized arguments"; now one line saying what monitor takes instead, exit 2,
    before any work (nothing written)."""
    args = ["monitor", "--gpkg", str(small_sample.forests_path), "--catalog",
            str(small_sample.catalog_path), "--history-start", "2025-01-01", "--history-end",
            "2025-06-30", "--output", str(tmp_path / "monitoring"), *extra]
    with pytest.raises(SystemExit) as exited:
        cli.main(args)
    assert exited.value.code == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith(f"raster-collect monitor: error: {says}")
    assert not (tmp_path / "monitoring").exists()


def test_monitor_end_before_the_history_names_the_options(small_sample, tmp_path, capsys):
    """`monitor --end` before `--history-end` was refused in the job spec's words ("'end'
    (...) is before 'history_end'"), options the command line does not have; now named as
    typed, exit 2, nothing written."""
    assert cli.main(["monitor", "--gpkg", str(small_sample.forests_path), "--catalog",
                     str(small_sample.catalog_path), "--history-start", "2025-01-01",
                     "--history-end", "2025-06-30", "--end", "2025-03-01", "--output",
                     str(tmp_path / "monitoring")]) == 2
    assert one_line_error(capsys) == (
        "raster-collect: error: --end (2025-03-01) must be after --history-end (2025-06-30): "
        "monitoring starts after the history; give a later --end (default: today)")
    assert not (tmp_path / "monitoring").exists()
