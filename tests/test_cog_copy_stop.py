"""A signal while GDAL copies a stack into its COG: the run waited for GDAL's one C call (9 s
for this stack with an 8 MB block cache, minutes on a long real one); GDAL's progress callback
now stops the copy, and the partial COG is removed."""

import os
import signal
import threading
import time

import numpy as np
import pytest
import rasterio
from affine import Affine

from raster_collect_plugin.core.compute.interrupts import (
    Interrupted,
    install_handlers,
    restore_handlers,
)
from raster_collect_plugin.core.outputs.files import StackWriter


def a_stack(folder, bands=100, size=512) -> StackWriter:
    writer = StackWriter(folder / "stack.tif", count=bands, height=size, width=size,
                         dtype="float32", transform=Affine(10, 0, 500000, 0, -10, 6000000),
                         crs="EPSG:32633", nodata=float("nan"), fill=float("nan"),
                         band_descriptions=[f"period {band}" for band in range(bands)])
    block = np.random.default_rng(0).random((size, size), dtype=np.float32)
    for band in range(bands):
        writer.write(band, block)
    return writer


def signal_once_copying(folder, sent: dict) -> threading.Thread:
    """SIGTERM to this process once GDAL's COG copy has started (its destination exists)."""
    def watch() -> None:
        deadline = time.monotonic() + 60
        while not list(folder.glob(".stack.*.part.tif")) and time.monotonic() < deadline:
            time.sleep(0.02)
        sent["at"] = time.monotonic()
        os.kill(os.getpid(), signal.SIGTERM)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    return watcher


def test_sigterm_stops_the_cog_copy_within_a_second(tmp_path):
    writer = a_stack(tmp_path)
    sent: dict = {}
    previous = install_handlers()
    try:
        with pytest.raises(Interrupted):
            with rasterio.Env(GDAL_CACHEMAX=8):  # a copy of several seconds
                watcher = signal_once_copying(tmp_path, sent)
                writer.finish()
        stopped = time.monotonic()
        watcher.join(5)
    finally:
        restore_handlers(previous)
    assert "at" in sent
    assert stopped - sent["at"] < 1.5, f"{stopped - sent['at']:.1f} s after SIGTERM"
    assert sorted(path.name for path in tmp_path.iterdir()) == []  # no partial COG, no scratch


def test_the_copy_is_the_cog_it_was(tmp_path):
    """Unstopped, the copy through GDAL's progress callback is the COG rasterio made."""
    writer = a_stack(tmp_path, bands=3, size=300)
    writer.finish()
    with rasterio.open(tmp_path / "stack.tif") as cog:
        assert cog.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        assert cog.profile["compress"] == "zstd" and cog.profile["blockxsize"] == 128
        assert cog.descriptions == ("period 0", "period 1", "period 2")
        assert cog.overviews(1) == [2, 4]
        expected = np.random.default_rng(0).random((300, 300), dtype=np.float32)
        assert np.array_equal(cog.read(3), expected)
    assert [path.name for path in tmp_path.iterdir()] == ["stack.tif"]
