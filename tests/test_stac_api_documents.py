"""What a STAC API's documents say, read as a static catalog's are: a collection's own
document names its bands, and an asset href naming a local file is refused."""

from __future__ import annotations

import json

from raster_collect_plugin import cli


def _my_s2(small_sample, files_url: str, lacking: str) -> tuple:
    """The sample's Sentinel-2 scenes as collection ``my-s2`` (not in the band table), served
    from ``files_url``, the first one without asset ``lacking``; and the collection's document
    naming every asset its scenes have in ``item_assets``."""
    features = small_sample.item_collection("sentinel-2-l2a", files_url)
    for feature in features["features"]:
        feature["collection"] = "my-s2"
    first = min(features["features"], key=lambda item: item["properties"]["datetime"])
    item_assets = {key: {name: value for name, value in asset.items() if name != "href"}
                   for key, asset in first["assets"].items()}
    del first["assets"][lacking]
    document = json.loads((small_sample.catalog_path.parent / "sentinel-2-l2a" /
                           "collection.json").read_text())
    document |= {"id": "my-s2", "links": [], "item_assets": item_assets,
                 "stac_extensions": ["https://stac-extensions.github.io/item-assets/v1.0.0/"
                                     "schema.json"]}
    return features, document, first


def test_a_stac_apis_collection_document_names_its_bands(small_sample, file_server, stac_api,
                                                         tmp_path, capsys):
    """A collection the band table does not know had its bands read from a static catalog's
    collection file and its scenes, but from a STAC API only from its scenes: a period whose
    only scene lacks B08 said 'nothing to compute: my-s2 has no nir band' (exit 2, as if the
    collection had none). The API's collection document is now read (STAC API - Collections:
    ``GET /collections/{collectionId}``, served here by ``rustac serve``) and its
    ``item_assets`` name the bands, as a static catalog's do: that scene is the one named,
    skipped for lacking B08."""
    files = file_server(small_sample.catalog_path.parent)
    features, document, first = _my_s2(small_sample, files.url, "B08")
    api = stac_api({"my-s2": features}, [document])
    common = ["--gpkg", str(small_sample.forests_path), "--collections", "my-s2",
              "--indices", "NDVI", "--start", "2025-10-01"]
    assert cli.main(["composite", *common, "--end", "2025-10-10", "--stac-url", api.url,
                     "--output", str(tmp_path / "one")]) == 2
    assert capsys.readouterr().err.strip() == (
        "raster-collect: error: nothing to compute: Custom STAC my-s2: no scene has every band the "
        "run needs (the scene has no nir (B08) asset)")
    assert cli.main(["--json", "composite", *common, "--end", "2025-10-31", "--stac-url",
                     api.url, "--output", str(tmp_path / "october")]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["errors"] == {} and summary["outputs"]["Custom STAC/my-s2"]["NDVI"]
    assert (f"Custom STAC my-s2: 1 scene(s) skipped: {first['id']}: the scene has no nir "
            "(B08) asset" in summary["notes"])


def test_a_remote_stac_apis_local_file_assets_are_never_read(small_sample, file_server,
                                                             stac_api, tmp_path, capsys):
    """A STAC API on a host (http) answering with ``file://`` asset hrefs made the tool read
    this computer's files as if they were its scenes. Such an asset is now refused: the scene
    needing it is skipped with the reason (notes, ``skipped_scenes``), the others are used;
    when every scene is such, the run says so and reads nothing. A static local catalog's
    files are still read (the other tests)."""
    root = small_sample.catalog_path.parent
    files = file_server(root)
    features = small_sample.item_collection("sentinel-2-l2a", files.url)
    october = sorted((f for f in features["features"]
                      if f["properties"]["datetime"] < "2025-11"),
                     key=lambda item: item["properties"]["datetime"])
    local = october[0]
    local["assets"]["B08"]["href"] = (root / local["assets"]["B08"]["href"].split(
        files.url.rstrip("/") + "/", 1)[1]).as_uri()
    assert local["assets"]["B08"]["href"].startswith("file:///")
    api = stac_api({"s2": features})
    common = ["--gpkg", str(small_sample.forests_path), "--collections", "sentinel-2-l2a",
              "--indices", "NDVI", "--start", "2025-10-01", "--stac-url", api.url]
    assert cli.main(["--json", "composite", *common, "--end", "2025-10-31", "--output",
                     str(tmp_path / "october")]) == 0
    summary = json.loads(capsys.readouterr().out)
    reason = (f"refused: the STAC API at {api.url} points its B08 asset at a local file "
              f"({local['assets']['B08']['href']}), which is never read from a remote catalog")
    assert summary["errors"] == {}
    assert f"Custom STAC sentinel-2-l2a: 1 scene(s) skipped: {local['id']}: {reason}" in \
        summary["notes"]
    [metadata] = (tmp_path / "october").glob("*sentinel-2-l2a_metadata.json")
    metadata = json.loads(metadata.read_text())
    assert metadata["skipped_scenes"] == {local["id"]: reason}
    assert [scene["items"] for scene in metadata["scenes"]] == [[october[1]["id"]]]
    assert cli.main(["composite", *common, "--end", "2025-10-10", "--output",
                     str(tmp_path / "first")]) == 2
    assert capsys.readouterr().err.strip() == (
        "raster-collect: error: nothing to compute: Custom STAC sentinel-2-l2a: no scene has every "
        f"band the run needs ({reason})")
    assert not (tmp_path / "first").exists() or not any((tmp_path / "first").rglob("*.tif"))
