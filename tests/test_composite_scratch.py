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


def _run(sample, output, *more: str) -> int:
    return cli.main([*ARGS, "--gpkg", str(sample.forests_path), "--catalog",
                     str(sample.catalog_path), "--output", str(output), *more])


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

    def failing(self, band, rows, cols, block):
        calls.append((band, rows, cols))
        if len(calls) == 3:
            raise RuntimeError("simulated write failure")

    monkeypatch.setattr(scratch_store.ScratchTarget, "write", failing)
    assert _run(small_sample, tmp_path / "out") != 0
    left = [p for p in (tmp_path / "out").rglob("*")] if (tmp_path / "out").exists() else []
    assert not [p for p in left if p.suffix in (".tif", ".zarr") or ".scratch" in p.name], left



def test_bands_of_chunk_rows_give_the_same_cogs(tmp_path, monkeypatch):
    """Computed a band of chunk rows at a time (the memory bound of issue 31), a run writes
    the same pixels (indices, clear counts, colour composites) and clear fractions as in one
    band."""
    import functools
    import json

    from raster_collect_plugin.core.pixels.load import LoadSpec
    from raster_collect_plugin.core.sample.catalog import make_sample
    from raster_collect_plugin.core.sample.scenes import small_spec

    sample = make_sample(tmp_path / "sample", small_spec(s2_tile_size=64))  # small tiles

    def outputs(folder):
        files = sorted(folder.glob("*.tif"))
        [metadata] = folder.glob("*_metadata.json")
        arrays = {}
        for path in files:
            with rasterio.open(path) as cog:
                arrays[path.name] = cog.read()
        return arrays, json.loads(metadata.read_text())

    monkeypatch.setattr(collection, "LoadSpec", functools.partial(LoadSpec, chunk_size=64))
    bands_used = []
    compute = scratch_store.StoredPeriods.compute

    def recording(self, compute_fn, bands, **kwargs):
        bands_used.append(len(bands))
        return compute(self, compute_fn, bands, **kwargs)

    monkeypatch.setattr(scratch_store.StoredPeriods, "compute", recording)
    assert _run(sample, tmp_path / "one", "--colour", "true-colour") == 0
    monkeypatch.setattr(collection, "STORE_BAND_PIXELS", 1)  # one row of chunks a band
    assert _run(sample, tmp_path / "rows", "--colour", "true-colour") == 0
    assert bands_used[0] == 1 and bands_used[1] > 2, bands_used
    (one, one_meta), (rows, rows_meta) = outputs(tmp_path / "one"), outputs(tmp_path / "rows")
    assert one.keys() == rows.keys() and len(one) == 3 + 3  # 3 stacks, 3 monthly colours
    for name in one:
        assert np.array_equal(one[name], rows[name], equal_nan=True), name
        assert np.isfinite(one[name]).mean() > 0.3, name  # not equal by being empty
    assert rows_meta["period_clear_fraction"] == one_meta["period_clear_fraction"]
    assert [s["clear_fraction"] for s in rows_meta["scenes"]] == \
        [s["clear_fraction"] for s in one_meta["scenes"]]
    assert 0 < min(one_meta["period_clear_fraction"])


def test_bands_hold_whole_rows_of_chunks_within_the_pixel_bound():
    stores = scratch_store.StoredPeriods([], (1024, 1024, 1024, 512), 4000)
    assert stores.bands(4 * 1024 * 4000) == [slice(0, 4)]
    assert stores.bands(1) == [slice(0, 1), slice(1, 2), slice(2, 3), slice(3, 4)]
    assert stores.bands(2 * 1024 * 4000) == [slice(0, 2), slice(2, 4)]
    assert stores.bands(3 * 1024 * 4000) == [slice(0, 3), slice(3, 4)]


def test_a_run_with_empty_months_keeps_a_band_per_month(small_sample, tmp_path):
    """Months without scenes (here the six before the sample's) are bands of NaN with a clear
    count of 0, described by their month, in the stacks' order (their tiles left out of the
    scratch file, so they cost next to nothing)."""
    output = tmp_path / "out"
    assert cli.main([*ARGS[:5], "2025-04-01", "--end", "2025-12-31", "--indices", "NDVI",
                     "--gpkg", str(small_sample.forests_path), "--catalog",
                     str(small_sample.catalog_path), "--output", str(output)]) == 0
    [ndvi] = output.glob("*sentinel-2-l2a_NDVI_monthly_median.tif")
    [counts] = output.glob("*sentinel-2-l2a_clear_count.tif")
    months = tuple(f"2025-{m:02d}" for m in range(4, 13))
    with rasterio.open(ndvi) as cog, rasterio.open(counts) as clear:
        assert cog.descriptions == months and clear.descriptions == months
        values, number = cog.read(), clear.read()
    empty = [k for k in range(len(months)) if not number[k].any()]
    assert empty and len(empty) < len(months)
    assert np.isnan(values[empty]).all()
    assert np.array_equal(np.isnan(values), number == 0)
