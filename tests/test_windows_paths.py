"""Windows path rules simulated: local catalogs (``ntpath``), and the 260-character limit."""

from __future__ import annotations

import ntpath
import os
import subprocess
import sys
import types
from datetime import date
from pathlib import Path

import pytest

from raster_collect_plugin import cli
from raster_collect_plugin.core.composites import path_budget
from raster_collect_plugin.core.composites.requests import CompositeRequest, Source
from raster_collect_plugin.core.runs import portable
from raster_collect_plugin.core.sources.providers import StaticCatalogProvider, guarded_io
from raster_collect_plugin.core.sources.providers.guarded_io import CatalogEscape, GuardedStacIO

ROOT = Path(__file__).resolve().parent.parent

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


# -- Windows' 260-character path limit ------------------------------------------------------

MEASURE = """
import os, runpy, sys
folder, report = os.path.realpath(sys.argv[1]), sys.argv[2]
deepest = [0, ""]

def hook(event, args):  # every path Python opens, makes, renames or removes below the folder
    if event in ("open", "os.rename", "os.mkdir", "os.remove", "os.rmdir", "os.listdir"):
        for arg in args[:2]:
            if isinstance(arg, (str, os.PathLike)) and os.fspath(arg).startswith(folder):
                path = os.fspath(arg)
                if len(path) - len(folder) > deepest[0]:
                    deepest[:] = [len(path) - len(folder), path]

sys.addaudithook(hook)
sys.argv = ["raster_collect_plugin", *sys.argv[3:]]
try:
    runpy.run_module("raster_collect_plugin", run_name="__main__")
finally:
    with open(report, "w") as out:
        out.write(f"{deepest[0]} {deepest[1]}")
"""


def deepest_path(output: Path, arguments) -> tuple:
    report = output.parent / f"{output.name}-deepest"
    result = subprocess.run([sys.executable, "-c", MEASURE, str(output), str(report),
                             *arguments], capture_output=True, text=True, timeout=600,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert result.returncode == 0, result.stderr[-2000:]
    depth, path = report.read_text().split(" ", 1)
    return int(depth), path


def sample_request(sample, output, **extra) -> CompositeRequest:
    provider = StaticCatalogProvider(StaticCatalogProvider.default_name, str(sample.catalog_path))
    return CompositeRequest(aoi=sample.forests_path,
                            sources=[Source(provider, ("sentinel-2-l2a", "landsat-c2-l2"))],
                            start=date(2025, 10, 1), end=date(2025, 10, 31), output_dir=output,
                            indices=("NDVI", "EVI"), **extra)


def cli_args(sample, output, command="composite", *extra):
    return ["--quiet", command, "--gpkg", str(sample.forests_path),
            "--catalog", str(sample.catalog_path), "--collections",
            "sentinel-2-l2a,landsat-c2-l2", "--start", "2025-10-01", "--end", "2025-10-31",
            "--indices", "NDVI,EVI", "--output", str(output), *extra]


def test_the_estimate_covers_every_path_a_real_run_writes(small_sample, tmp_path):
    """Measured with an audit hook (every path Python touches below the folder, the Zarr
    scratch store's temporaries included): the estimate is never short, and close."""
    request = sample_request(small_sample, tmp_path / "composite")
    measured, path = deepest_path(tmp_path / "composite", cli_args(small_sample,
                                                                   tmp_path / "composite"))
    estimate = path_budget.composite_depth(request)
    assert measured <= estimate <= measured + 16, path
    forest = str(sorted(small_sample.truth)[0])
    measured, path = deepest_path(tmp_path / "zonal", cli_args(
        small_sample, tmp_path / "zonal", "zonal", "--forest", forest))
    estimate = path_budget.forest_depth(request, [forest])
    assert measured <= estimate <= measured + 16, path
    assert measured > 110  # what a Windows user's folder loses


@pytest.mark.parametrize("command", ["composite", "zonal"])
def test_a_folder_too_deep_for_windows_is_refused_before_anything_is_written(
        small_sample, tmp_path, monkeypatch, capsys, command):
    monkeypatch.setenv("RASTER_COLLECT_SIMULATE_WINDOWS", "1")
    output = tmp_path / ("Forest inventory 2026 " * 4).strip() / "Storm Ingrid" / "results"
    assert cli.main(cli_args(small_sample, output, command)) == 2
    error = capsys.readouterr().err
    assert "too deep for Windows" in error and "enable long paths" in error
    assert str(output) in error
    assert not output.parent.parent.exists()


def test_the_limit_is_checked_where_windows_rules_apply_only(small_sample, tmp_path,
                                                             monkeypatch):
    folder = "C:\\" + "f" * 100
    request = sample_request(small_sample, folder)
    depth = path_budget.composite_depth(request)
    monkeypatch.setattr(portable.os.path, "abspath", lambda path: path)
    path_budget.check(folder, lambda: depth)  # Linux, macOS: no limit to speak of
    monkeypatch.setenv("RASTER_COLLECT_SIMULATE_WINDOWS", "1")
    fits = "C:\\" + "f" * (portable.WINDOWS_MAX_PATH - depth - 3)
    path_budget.check(fits, lambda: depth)
    with pytest.raises(portable.PathTooLong, match="folder 1 characters shorter"):
        path_budget.check(fits + "f", lambda: depth)
    monkeypatch.setattr(portable, "long_paths_enabled", lambda: True)  # as the message says
    path_budget.check(fits + "f", lambda: depth)


def test_a_job_too_deep_for_windows_is_bad_input(small_sample, tmp_path, monkeypatch):
    from raster_collect_plugin.core.jobs import run as jobs
    from raster_collect_plugin.core.jobs.errors import classify

    monkeypatch.setenv("RASTER_COLLECT_SIMULATE_WINDOWS", "1")
    output = tmp_path / ("x" * 120) / "storm"
    spec = {"kind": "storm", "aoi": str(small_sample.forests_path),
            "sources": [{"kind": "static", "href": str(small_sample.catalog_path),
                         "collections": ["sentinel-2-l2a"]}],
            "event_date": "2025-11-15", "output_dir": str(output)}
    with pytest.raises(portable.PathTooLong) as refused:
        jobs.run_job(spec)
    assert classify(refused.value)[0] == "bad_input"
    assert not output.exists()
