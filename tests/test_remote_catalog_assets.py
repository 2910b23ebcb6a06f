"""A remote static catalog (an http catalog.json) one of whose items points an asset at a local
file failed the whole crawl; an ``ftp://`` or ``s3://`` address was called a "local file". Such
a scene is now skipped with the reason (as a remote STAC API's is), the others run; addresses
that are not files are named by their scheme, with the fix."""

from __future__ import annotations

import json
import shutil

import pystac
import pytest

from raster_collect_plugin import cli
from raster_collect_plugin.core.pixels.bands import refused_assets

S2 = "sentinel-2-l2a"


def _point_b08_at(root, scene: str, href: str) -> None:
    [path] = (root / S2).glob(f"{scene}*/*.json")
    item = json.loads(path.read_text())
    item["assets"]["B08"]["href"] = href
    path.write_text(json.dumps(item))


def test_a_remote_catalogs_local_and_ftp_assets_skip_their_scenes(small_sample, file_server,
                                                                  tmp_path, capsys):
    root = tmp_path / "served"
    shutil.copytree(small_sample.catalog_path.parent, root)
    local = next((root / S2).glob("S2A_MSIL2A_20251005*/*.json")).parent / "B08.tif"
    _point_b08_at(root, "S2A_MSIL2A_20251005", local.as_uri())
    _point_b08_at(root, "S2B_MSIL2A_20251020", "ftp://127.0.0.1:9/B08.tif")
    server = file_server(root)
    catalog = f"{server.url}/catalog.json"
    assert cli.main(["--json", "composite", "--gpkg", str(small_sample.forests_path),
                     "--catalog", catalog, "--collections", S2, "--indices", "NDVI",
                     "--start", "2025-10-01", "--end", "2025-11-30", "--period", "month",
                     "--output", str(tmp_path / "out")]) == 0, capsys.readouterr().err
    summary = json.loads(capsys.readouterr().out)
    first = (f"refused: the remote catalog {catalog} points its B08 asset at a local file "
             f"({local.as_uri()}), which is never read from a remote catalog")
    second = (f"refused: the remote catalog {catalog} points its B08 asset at the ftp:// "
              "address ftp://127.0.0.1:9/B08.tif, which this tool cannot read (it reads "
              "http(s), s3, gs and az): ask the catalog's maintainers for an https:// href")
    assert summary["errors"] == {}
    [metadata] = (tmp_path / "out").glob(f"*{S2}_metadata.json")
    metadata = json.loads(metadata.read_text())
    assert metadata["skipped_scenes"] == {"S2A_MSIL2A_20251005T235000_R016_T56JNS": first,
                                          "S2B_MSIL2A_20251020T235000_R016_T56JNS": second}
    used = sorted(i for scene in metadata["scenes"] for i in scene["items"])
    assert used == ["S2A_MSIL2A_20251105T235000_R016_T56JNS",
                    "S2B_MSIL2A_20251120T235000_R016_T56JNS"]
    assert any(note.startswith("Static catalog sentinel-2-l2a: 2 scene(s) skipped")
               for note in summary["notes"])


@pytest.mark.parametrize("address, bucket", [("s3://bucket/stac/catalog.json", True),
                                             ("gs://bucket/catalog.json", True),
                                             ("ftp://127.0.0.1:9/catalog.json", False)])
def test_a_catalog_address_of_another_scheme_is_named_with_the_fix(small_sample, tmp_path,
                                                                   capsys, address, bucket):
    code = cli.main(["--quiet", "search", "--gpkg", str(small_sample.forests_path),
                     "--catalog", address, "--start", "2025-10-01", "--end", "2025-10-31"])
    scheme = address.split(":")[0]
    assert (code, capsys.readouterr().err.strip()) == (2, (
        f"raster-collect: error: Static catalog: the STAC catalog {address} has the scheme "
        f"{scheme}://, which a static catalog is not read from: give its https:// URL"
        f"{' (a bucket' + chr(39) + 's objects have one)' if bucket else ''} or the path of a "
        "copy on this computer"))


def test_a_stac_apis_ftp_asset_is_named_by_its_scheme():
    from raster_collect_plugin.core.sources.providers.guarded_io import refuse_unread_assets

    item = pystac.Item("a", None, None, pystac.utils.str_to_datetime("2025-10-05T00:00:00Z"),
                       {})
    item.add_asset("B08", pystac.Asset("ftp://example.invalid/B08.tif"))
    item.add_asset("B04", pystac.Asset("s3://bucket/B04.tif"))
    refuse_unread_assets(item, "the STAC API at http://127.0.0.1:9/")
    assert list(item.assets) == ["B04"]  # an s3 asset is read (GDAL's /vsis3/)
    assert refused_assets(item) == {"B08": (
        "refused: the STAC API at http://127.0.0.1:9/ points its B08 asset at the ftp:// "
        "address ftp://example.invalid/B08.tif, which this tool cannot read (it reads http(s), "
        "s3, gs and az): ask the catalog's maintainers for an https:// href")}
