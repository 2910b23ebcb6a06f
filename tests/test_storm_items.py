"""A storm's scenes given as items (``--before-item`` / ``--after-item``): an item that cannot
be read said "cannot read the STAC item X: [Errno 2] No such file..." (or "'utf-8' codec can't
decode byte 0xc0", or "does not represent a Item instance") with no fix and no option named;
and with only after items it said "no scene before the event ... in any source, at most 80%
cloud" although nothing was searched. Each is now one line naming the option and the fix,
exit 2, before any work."""

from __future__ import annotations

import pytest

from raster_collect_plugin import cli


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def _item(sample, day: str):
    """The sample's Sentinel-2 item of that day (YYYYMMDD)."""
    return next(sample.root.glob(f"sentinel-2-l2a/*_{day}T*/*_{day}T*.json"))


@pytest.mark.parametrize("given, why", [
    ("missing.json", "no such file: check the path"),
    ("folder", "it is a folder: give the item's .json inside it"),
    ("image.tif", "not a JSON file (an image?): give the scene's STAC item .json"),
    ("catalog", "not a STAC item (a catalog or collection?): give one scene's item .json")])
def test_an_unreadable_item_names_the_option_and_the_fix(small_sample, tmp_path, capsys,
                                                         given, why):
    (tmp_path / "folder").mkdir()
    (tmp_path / "image.tif").write_bytes(b"II*\x00\xc0\xff\x00\x01")
    path = (small_sample.catalog_path if given == "catalog" else tmp_path / given)
    before = _item(small_sample, "20251020")
    output = tmp_path / "out"
    assert cli.main(["--quiet", "storm", "--gpkg", str(small_sample.forests_path),
                     "--event-date", "2025-11-13", "--before-item", str(before),
                     "--after-item", str(path), "--output", str(output)]) == 2
    assert _error(capsys) == (f"raster-collect: error: cannot read the STAC item {path}: {why} "
                              "(--after-item, a spec's 'after_items')")
    assert not output.exists()


def test_only_after_items_asks_for_a_before_item(small_sample, tmp_path, capsys):
    after = _item(small_sample, "20251120")
    assert cli.main(["--quiet", "storm", "--gpkg", str(small_sample.forests_path),
                     "--event-date", "2025-11-13", "--after-item", str(after),
                     "--output", str(tmp_path / "out")]) == 2
    assert _error(capsys) == ("raster-collect: error: no scene before the event (2025-08-15 to "
                              "2025-11-12) among the items given: give --before-item too (a "
                              "spec's 'before_items')")
    assert not (tmp_path / "out").exists()
