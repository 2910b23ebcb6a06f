"""A COG write that fails on a full disk is reported as one: GDAL's TIFF writer says "IO error
writing tag data" (no ENOSPC), which would otherwise read as a failure to read the scenes."""

import errno
import os
import shutil
from collections import namedtuple

import numpy as np
import pytest
from affine import Affine
from rasterio.errors import RasterioIOError

from raster_collect_plugin.core.jobs.errors import classify
from raster_collect_plugin.core.outputs import files

Usage = namedtuple("Usage", "total used free")


def failing_open(*args, **kwargs):
    raise RasterioIOError("TIFFWriteDirectoryTagData:IO error writing tag data")


def write(destination):
    files.write_cog(destination, np.zeros((4, 4), "float32"), transform=Affine.identity(),
                    crs="EPSG:32756")


def test_a_write_failing_on_a_full_disk_is_no_space(tmp_path, monkeypatch):
    monkeypatch.setattr(files.rasterio, "open", failing_open)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: Usage(1 << 20, 1 << 20, 4096))
    with pytest.raises(OSError) as raised:
        write(tmp_path / "out.tif")
    assert raised.value.errno == errno.ENOSPC
    assert "out.tif" in str(raised.value) and "IO error writing" in str(raised.value)
    assert classify(raised.value)[1].startswith("no space left on device")


def test_the_same_failure_with_room_left_keeps_its_own_error(tmp_path, monkeypatch):
    monkeypatch.setattr(files.rasterio, "open", failing_open)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: Usage(1 << 40, 0, 1 << 39))
    with pytest.raises(RasterioIOError):
        write(tmp_path / "out.tif")


@pytest.mark.parametrize("free, full", [(4096, True), (1 << 39, False)])
def test_a_table_write_failing_on_a_full_disk_is_no_space(tmp_path, monkeypatch, free, full):
    """GDAL's GeoPackage writer on a full disk ends with "no such table: gpkg_contents" (its
    "database or disk is full" goes to the log only): `zonal --raster` printed that traceback.
    Every atomic write now says a full disk is one; with room left the error is its own."""
    import pandas as pd
    import pyogrio
    from pyogrio.errors import FeatureError

    from raster_collect_plugin.core.outputs.tables import write_table

    def failing(*args, **kwargs):
        raise FeatureError("Could not add feature to layer at index 0: sqlite3_exec(INSERT "
                           "INTO gpkg_contents ...) failed: no such table: gpkg_contents")

    monkeypatch.setattr(pyogrio, "write_dataframe", failing)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: Usage(1 << 40, 0, free))
    with pytest.raises(OSError if full else FeatureError) as raised:
        write_table(pd.DataFrame({"forest_id": [1], "mean": [0.5]}), tmp_path / "zonal_forests",
                    formats=("gpkg",))
    if full:
        assert raised.value.errno == errno.ENOSPC and "zonal_forests.gpkg" in str(raised.value)
        assert classify(raised.value)[1].startswith("no space left on device")
    assert list(tmp_path.iterdir()) == []  # no partial file left


def _lazy_series(scenes=3, rows=40, cols=50):
    import dask.array as da
    import xarray as xr

    data = da.from_array(np.ones((scenes, rows, cols), "float32"), chunks=(1, 20, 25))
    return xr.DataArray(data, dims=("time", "y", "x"))


def test_the_monitoring_scratch_file_on_a_full_disk_is_no_space(tmp_path, monkeypatch):
    """A lazy history is staged in a memory-mapped scratch file; on a full disk the first
    write into the map killed the process (SIGBUS: `monitor` exited 135 with no message and
    left its lock). Its space is reserved first: a full disk is an OSError, the file removed."""
    from raster_collect_plugin.core.monitoring.detector import _history

    monkeypatch.setattr(shutil, "disk_usage", lambda path: Usage(1 << 20, 1 << 20, 4096))
    with pytest.raises(OSError) as raised:
        with _history(_lazy_series(), np.arange(3), tmp_path, None):
            pass
    assert raised.value.errno == errno.ENOSPC and "scratch file" in str(raised.value)
    assert classify(raised.value)[1].startswith("no space left on device")
    assert list(tmp_path.iterdir()) == []


def test_the_monitoring_scratch_file_holds_its_space_before_it_is_mapped(tmp_path,
                                                                      monkeypatch):
    from raster_collect_plugin.core.monitoring import detector

    reserved = []
    original = detector._reserve
    monkeypatch.setattr(detector, "_reserve", lambda name, size: (
        original(name, size), reserved.append((os.stat(name).st_size, size))))
    with detector._history(_lazy_series(), np.arange(3), tmp_path, None) as history:
        np.testing.assert_array_equal(history(slice(0, 40)), np.ones((3, 40, 50), "float32"))
    expected = 3 * 40 * 50 * 4
    if hasattr(os, "posix_fallocate"):
        assert reserved == [(expected, expected)]  # the blocks are the file's before the map
    else:
        assert reserved == [(0, expected)]
    assert list(tmp_path.iterdir()) == []
