"""The monitoring run's memory estimate follows its area: a few pixels are not 128 MB (the
history block was counted at its largest whatever the area), a large area still counts it."""

import dask.array as da
import pytest
import xarray as xr

from raster_collect_plugin.core.composites.sizing import SizeError
from raster_collect_plugin.core.monitoring.detector import ROW_BLOCK_VALUES
from raster_collect_plugin.core.monitoring.run import check_memory, memory_bytes
from tests.monitoring_helpers import small_series

MB = 2**20


def test_a_few_pixels_need_a_few_kilobytes():
    series = small_series()  # 2 x 3 pixels, 365 scenes
    needed = memory_bytes(series)
    assert needed < 100 * 1024, needed
    text = check_memory(series, 1 * MB)  # a 1 MB budget is enough
    assert text.startswith("monitoring 2 × 3 pixels: about ") and " KB of memory" in text
    with pytest.raises(SizeError, match="memory budget"):
        check_memory(series, needed - 1)


def test_a_large_lazy_area_counts_the_whole_history_block():
    scenes, rows, cols = 300, 2000, 2000
    series = xr.DataArray(da.zeros((scenes, rows, cols), dtype="float32",
                                   chunks=(1, 1000, 1000)), dims=("time", "y", "x"))
    needed = memory_bytes(series)
    block = ROW_BLOCK_VALUES * 8 * 4
    assert block < needed < block + 1024 * MB, needed / MB
    assert memory_bytes(series.isel(y=slice(0, 1000))) < needed  # half the area, less
