"""A composite run on threads writing a local folder stores its stacks straight into the
COGs' scratch files: no Zarr scratch store written and read back (issue 31), the same COGs,
nothing left behind, also when a block fails to write."""

from __future__ import annotations

import numpy as np
import rasterio

from raster_collect_plugin import cli
from raster_collect_plugin.core.composites import collection, scratch_store

ARGS = ["--quiet", "composite", "--collections", "sentinel-2-l2a", "--start", "2025-10-01",
        "--end", "2025-12-31", "--indices", "NDVI,EVI"]


def _run(sample, output) -> int:
    return cli.main([*ARGS, "--gpkg", str(sample.forests_path), "--catalog",
                     str(sample.catalog_path), "--output", str(output)])


def test_threads_write_no_zarr_store(small_sample, tmp_path, monkeypatch):
    def no_zarr(*args, **kwargs):
        raise AssertionError("a Zarr scratch store was written")

    monkeypatch.setattr(collection.da, "to_zarr", no_zarr)
    assert _run(small_sample, tmp_path / "out") == 0
    written = sorted(p.name for p in (tmp_path / "out").rglob("*"))
    assert not [name for name in written if name.startswith(".")], written  # no scratch left
    [ndvi] = (tmp_path / "out").glob("*sentinel-2-l2a_NDVI_monthly_median.tif")
    [counts] = (tmp_path / "out").glob("*sentinel-2-l2a_clear_count.tif")
    with rasterio.open(ndvi) as cog, rasterio.open(counts) as clear:
        values, number = cog.read(), clear.read()
        assert cog.count == 3 and cog.profile["blockxsize"] == 128 and cog.overviews(1) != []
        assert cog.descriptions == ("2025-10", "2025-11", "2025-12")
    assert np.array_equal(np.isnan(values), number == 0)  # NaN exactly where never clear
    assert -1 <= np.nanmin(values) and np.nanmax(values) <= 1 and np.nanmedian(values) > 0.2


def test_a_failed_block_write_leaves_nothing(small_sample, tmp_path, monkeypatch):
    calls = []

    def failing(self, block, location):
        calls.append(location)
        if len(calls) == 3:
            raise RuntimeError("simulated write failure")

    monkeypatch.setattr(scratch_store.ScratchTarget, "write", failing)
    assert _run(small_sample, tmp_path / "out") != 0
    left = [p for p in (tmp_path / "out").rglob("*")] if (tmp_path / "out").exists() else []
    assert not [p for p in left if p.suffix in (".tif", ".zarr") or ".scratch" in p.name], left

