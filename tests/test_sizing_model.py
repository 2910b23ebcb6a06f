"""The memory model's structure (issue 31: it assumed one period at a time and left out the
engine itself, 3.6x low). Not timed: benchmarks/memory_model.py measures it against peak RSS."""

from __future__ import annotations

import pytest

from raster_collect_plugin.core.composites import sizing
from raster_collect_plugin.core.compute.gdal_env import RUN_BLOCK_CACHE_MB

MB = 2**20


def size(**overrides) -> sizing.CompositeSize:
    fields = dict(label="s2", width=2000, height=2000, resolution=10.0, periods=12, bands=4,
                  indices=2, busiest_scenes=1, threads=2, cache=1000 * MB)
    fields.update(overrides)
    return sizing.CompositeSize(**fields)


def test_every_period_counts_not_only_the_busiest():
    one, twelve = size(periods=1), size(periods=12)
    per_period = 2000 * 2000 * (2 + 4 * 2)  # clear count + two float32 indices
    assert twelve.memory_bytes - one.memory_bytes == 11 * per_period


def test_the_engine_itself_is_counted():
    tiny = size(width=10, height=10, periods=1)
    assert sizing.ENGINE_BYTES <= tiny.memory_bytes < sizing.ENGINE_BYTES + MB
    zonal = sizing.ZonalSize(zones=3, hexagons=0, largest_zone_pixels=100, periods=1,
                             indices=1)
    assert sizing.ZONAL_ENGINE_BYTES <= zonal.memory_bytes < sizing.ZONAL_ENGINE_BYTES + MB


def test_periods_are_held_up_to_gdals_cache_then_the_peak_is_flat_in_periods():
    sizes = [size(periods=n, cache=300 * MB) for n in (24, 30, 36)]
    assert [s.cog_copy_bytes for s in sizes] == [0, 0, 0]  # a row of tiles fits the cache
    capped = [s.memory_bytes for s in sizes]
    assert capped[0] == capped[1] == capped[2]
    assert size(periods=36, cache=300 * MB).memory_bytes < size(periods=36).memory_bytes


def test_the_cog_copies_hold_rows_of_every_period_beyond_the_cache():
    """A small AOI over 600 months: each stack becomes its COG a row of 128-px tiles of all
    its 600 periods at a time, outside GDAL's block cache (the sample: 1.2 GB peak against an
    estimate of 474 MB without this term)."""
    from raster_collect_plugin.core.outputs.files import STACK_BLOCK_SIZE

    long = size(width=424, height=411, periods=600, indices=1, cache=128 * MB)
    row = STACK_BLOCK_SIZE * 424 * 600 * (4 + 2)
    assert long.cog_copy_bytes == sizing.COG_COPY_ROWS * row - 128 * MB > 300 * MB
    shorter = size(width=424, height=411, periods=120, indices=1, cache=128 * MB)
    assert long.memory_bytes - shorter.memory_bytes > long.cog_copy_bytes - 128 * MB


def _pixel_terms(size: sizing.CompositeSize) -> int:
    return size.pixels * sizing.AOI_BYTES_PER_PIXEL \
        + size.band_pixels * sizing.BAND_BYTES_PER_PIXEL


def test_working_set_is_per_thread_and_chunk_not_per_area():
    small, large = size(width=1024, height=1024), size(width=4096, height=4096)
    working = 2 * 1024 * 1024 * 1 * (4 + 2) * sizing.LOAD_BYTES_PER_VALUE
    assert small.data_bytes - _pixel_terms(small) - small.pixels * 12 * 10 == working
    assert large.data_bytes - _pixel_terms(large) - large.cache == working \
        or large.pixels * 12 * 10 < large.cache
    assert size(threads=4).data_bytes - size(threads=2).data_bytes == working


def test_past_one_band_of_chunk_rows_only_the_aoi_mask_grows_with_the_area():
    band = sizing.STORE_BAND_PIXELS
    small = size(width=1024, height=1024)
    assert small.band_pixels == small.pixels  # one band holds it all
    wide = [size(width=8192, height=side) for side in (4096, 8192, 16384)]
    assert [s.band_pixels for s in wide] == [8192 * 1024] * 3  # a row of chunks each
    assert all(s.band_pixels <= max(band, 8192 * 1024) for s in wide)
    growth = [(b.data_bytes - a.data_bytes) / (b.pixels - a.pixels)
              for a, b in zip(wide, wide[1:])]
    assert growth == [sizing.AOI_BYTES_PER_PIXEL] * 2  # bytes per added pixel


@pytest.mark.parametrize("setting, expected", [("512", 512 * MB), ("300000000", 300_000_000),
                                               ("10%", None)])
def test_gdal_cache_size_follows_gdal_cachemax(monkeypatch, setting, expected):
    import psutil

    monkeypatch.setenv("GDAL_CACHEMAX", setting)
    total = psutil.virtual_memory().total
    assert sizing.gdal_cache_bytes() == (expected if expected else int(total * 0.1))
    monkeypatch.delenv("GDAL_CACHEMAX")
    assert sizing.gdal_cache_bytes() == RUN_BLOCK_CACHE_MB * MB  # the run's own bound


@pytest.mark.parametrize("setting, expected", [(None, RUN_BLOCK_CACHE_MB * MB),
                                               ("300", 300 * MB)])
def test_a_run_bounds_gdals_block_cache_unless_the_user_set_it(setting, expected):
    """GDAL's own default is 5 % of the machine's memory, and a composite run's peak grew with
    its AOI up to that size (issue 31): loading scenes sets the run's bound, in a fresh
    process as a job runs, and a user's GDAL_CACHEMAX stays GDAL's."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {k: v for k, v in os.environ.items() if k != "GDAL_CACHEMAX"}
    if setting:
        env["GDAL_CACHEMAX"] = setting
    code = ("import rasterio\n"
            "from rasterio.env import get_gdal_config\n"
            "before = int(get_gdal_config('GDAL_CACHEMAX'))\n"
            "from raster_collect_plugin.core.compute.gdal_env import configure_gdal\n"
            "configure_gdal()\n"
            "print(before, int(get_gdal_config('GDAL_CACHEMAX')))\n")
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          cwd=root, check=True)
    before, after = (int(v) for v in done.stdout.split())
    assert after == expected
    if not setting:
        assert before > after  # GDAL's default was larger on this machine


def test_a_refusal_suggests_a_resolution_that_fits():
    big = size(width=40_000, height=40_000, cache=500 * MB)
    budget = 2000 * MB
    with pytest.raises(sizing.SizeError) as refused:
        sizing.check(big, budget)
    coarser = float(str(refused.value).split("--resolution ")[1].split()[0])
    side = int(40_000 * 10 / coarser) + 1
    assert sizing.check(size(width=side, height=side, cache=500 * MB), budget)
    assert coarser >= 20


def test_a_zonal_jobs_composites_count_the_zonal_engine_and_tables():
    zonal = sizing.ZonalSize(zones=10, hexagons=50_000, largest_zone_pixels=10_000, periods=12,
                             indices=2)
    seen = {}

    @sizing.zonal_engine_job
    def run():
        sizing.check(zonal, 10**12)
        seen["engine"] = sizing._composite_engine()

    run()
    assert seen["engine"] == sizing.ZONAL_ENGINE_BYTES + zonal.data_bytes
    assert sizing._composite_engine() == sizing.ENGINE_BYTES  # only inside the job


def test_a_storm_jobs_composites_count_its_pixel_arrays():
    seen = {}

    @sizing.storm_engine_job
    def run():
        seen["engine"] = sizing._composite_engine(1_000_000)

    run()
    assert seen["engine"] == sizing.ZONAL_ENGINE_BYTES + 1_000_000 * sizing.STORM_BYTES_PER_PIXEL
