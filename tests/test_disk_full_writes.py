"""A COG write that fails on a full disk is reported as one: GDAL's TIFF writer says "IO error
writing tag data" (no ENOSPC), which would otherwise read as a failure to read the scenes."""

import errno
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
