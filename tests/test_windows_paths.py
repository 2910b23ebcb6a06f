"""Windows path rules simulated with ``ntpath``: local catalogs, and the 260-character limit."""

from __future__ import annotations

import ntpath
import types

import pytest

from raster_collect_plugin.core.providers import guarded_io
from raster_collect_plugin.core.providers.guarded_io import CatalogEscape, GuardedStacIO

ROOT = "C:\\Users\\Ana\\Documents\\sample\\catalog.json"


@pytest.mark.parametrize("href", [
    "C:\\Users\\Ana\\Documents\\sample\\sentinel-2-l2a\\collection.json",
    "C:/Users/Ana/Documents/sample/sentinel-2-l2a/item-1/item-1.json",  # pystac's posix style
    "c:\\users\\ana\\documents\\SAMPLE\\item.json",  # Windows paths ignore case
    "C:\\Users\\Ana\\Documents\\sample\\a\\..\\b\\item.json",
    "file:///C:/Users/Ana/Documents/sample/item.json",
    ROOT,
])
def test_a_local_catalog_on_windows_reads_its_own_links(href):
    GuardedStacIO(ROOT, path_module=ntpath).check_link(href)


@pytest.mark.parametrize("href", [
    "C:\\Users\\Ana\\Documents\\secret.json",
    "C:\\Users\\Ana\\Documents\\sample\\..\\secret.json",
    "C:\\Users\\Ana\\Documents\\sample2\\item.json",  # a sibling sharing the prefix
    "D:\\Users\\Ana\\Documents\\sample\\item.json",
    "file:///C:/Windows/win.ini",
])
def test_a_local_catalog_on_windows_still_cannot_leave_its_folder(href):
    with pytest.raises(CatalogEscape, match="outside its folder"):
        GuardedStacIO(ROOT, path_module=ntpath).check_link(href)


def test_a_catalog_at_the_root_of_a_drive():
    guard = GuardedStacIO("E:\\catalog.json", path_module=ntpath)
    guard.check_link("E:\\items\\a.json")
    with pytest.raises(CatalogEscape):
        guard.check_link("F:\\items\\a.json")


def test_the_default_path_rules_are_the_systems(monkeypatch):
    """With no path_module the running system's rules apply: Windows' when os.path is
    ntpath (the sample, the demo and every local catalog were refused there)."""
    monkeypatch.setattr(guarded_io, "os", types.SimpleNamespace(path=ntpath))
    GuardedStacIO(ROOT).check_link("C:\\Users\\Ana\\Documents\\sample\\item.json")
