"""A signal while a single COG (``write_cog``, one array) is written: rasterio's COG writer
copies the whole file on close in one C call with no progress callback, so a large one ran to
its end before the run stopped. It now goes the stack's way (a scratch GeoTIFF, then GDAL's
copy with a callback that stops it) and leaves nothing behind."""

import os
import signal
import subprocess
import threading
import time

import numpy as np
import pytest
import rasterio
from affine import Affine

from raster_collect_plugin.core.compute.interrupts import (
    Interrupted,
    deferred_signals,
    install_handlers,
    restore_handlers,
)
from raster_collect_plugin.core.outputs.files import write_cog

TRANSFORM = Affine(10, 0, 500000, 0, -10, 6000000)


def signal_after(seconds: float) -> subprocess.Popen:
    """SIGTERM to this process ``seconds`` from now, sent by another process (a thread here
    waits for the GIL, which rasterio's writer held until its copy was done)."""
    return subprocess.Popen(["sh", "-c", f"sleep {seconds}; kill -TERM {os.getpid()}"])


def test_sigterm_stops_a_large_single_cog_within_a_second(tmp_path):
    data = np.random.default_rng(1).random((2, 3000, 3000), dtype=np.float32)
    previous = install_handlers()
    try:
        with pytest.raises(Interrupted):
            with rasterio.Env(GDAL_CACHEMAX=8):  # 6 s or more unstopped
                sent, sender = time.monotonic() + 0.5, signal_after(0.5)
                write_cog(tmp_path / "big.tif", data, transform=TRANSFORM, crs="EPSG:32633",
                          nodata=float("nan"))
        stopped = time.monotonic()
        sender.wait(5)
    finally:
        restore_handlers(previous)
    assert sender.returncode == 0
    assert stopped - sent < 1.5, f"{stopped - sent:.1f} s after SIGTERM"
    assert sorted(path.name for path in tmp_path.iterdir()) == []  # no COG, part or scratch


def test_the_single_cog_is_as_before(tmp_path):
    """Unstopped: a COG with the same layout, values, descriptions, tags and overviews."""
    data = np.arange(2 * 600 * 500, dtype=np.int16).reshape(2, 600, 500)
    write_cog(tmp_path / "one.tif", data, transform=TRANSFORM, crs="EPSG:32633", nodata=-1,
              band_descriptions=["a", "b"], tags={"source": "test"}, blocksize=256)
    with rasterio.open(tmp_path / "one.tif") as cog:
        assert cog.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        assert cog.profile["compress"] == "deflate" and cog.profile["blockxsize"] == 256
        assert cog.tags(ns="IMAGE_STRUCTURE").get("PREDICTOR") == "2"
        assert cog.descriptions == ("a", "b") and cog.tags()["source"] == "test"
        assert cog.nodata == -1 and cog.crs.to_epsg() == 32633 and cog.transform == TRANSFORM
        assert cog.overviews(1) == [2, 4]
        assert np.array_equal(cog.read(), data)
    assert [path.name for path in tmp_path.iterdir()] == ["one.tif"]


def test_copies_in_two_threads_ending_out_of_order_leave_signals_raising():
    """Two COG copies side by side (dask threads): the deferral was one flag each block saved
    and restored, so blocks that ended out of order left it set and Ctrl-C never raised."""
    first_in, second_in, first_out = (threading.Event() for _ in range(3))

    def first() -> None:
        with deferred_signals():
            first_in.set()
            second_in.wait(5)
        first_out.set()

    def second() -> None:
        first_in.wait(5)
        with deferred_signals():
            second_in.set()
            first_out.wait(5)

    threads = [threading.Thread(target=target) for target in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    previous = install_handlers()
    try:
        with pytest.raises(Interrupted):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(2)  # the handler raises here
    finally:
        restore_handlers(previous)
