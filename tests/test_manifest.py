"""The publish manifest lists what a run published; readers trust only that."""

import json

from raster_collect_plugin.core.runs.manifest import (
    MANIFEST_NAME,
    published_files,
    read_manifest,
    write_manifest,
)


def test_manifest_lists_files_with_sizes_and_checksums(tmp_path):
    (tmp_path / "a.tif").write_bytes(b"abc")
    (tmp_path / "tables").mkdir()
    (tmp_path / "tables" / "b.csv").write_text("x,y\n1,2\n")
    write_manifest(str(tmp_path), ["a.tif", "tables/b.csv"], run={"fingerprint": "f00"})
    manifest = json.loads((tmp_path / MANIFEST_NAME).read_text())
    assert manifest["run"] == {"fingerprint": "f00"}
    assert manifest["files"]["a.tif"] == {
        "size": 3, "sha256": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"}
    assert manifest["files"]["tables/b.csv"]["size"] == 8
    assert sorted(published_files(str(tmp_path))) == ["a.tif", "tables/b.csv"]
    assert not list(tmp_path.glob("*.partial-*"))


def test_readers_trust_only_listed_intact_files(tmp_path):
    assert read_manifest(str(tmp_path)) is None and published_files(str(tmp_path)) == []
    (tmp_path / "a.tif").write_bytes(b"abc")
    (tmp_path / "b.tif").write_bytes(b"abcd")
    write_manifest(str(tmp_path), ["a.tif", "b.tif"], run={}, checksums=False)
    (tmp_path / "b.tif").write_bytes(b"ab")  # truncated after publishing
    (tmp_path / "c.tif").write_bytes(b"unlisted")
    assert published_files(str(tmp_path)) == ["a.tif"]
    (tmp_path / MANIFEST_NAME).write_text("{not json")
    assert read_manifest(str(tmp_path)) is None
