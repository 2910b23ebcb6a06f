"""Ctrl-C and SIGTERM are never ignored: not while GDAL blocks reading the polygon file, and
not when the signal's exception is swallowed inside library code."""

import os
import signal
import subprocess
import sys
import time

import pytest

from raster_collect_plugin import cli
from raster_collect_plugin.cli import imagery
from raster_collect_plugin.core.compute.interrupts import (
    check_interrupted,
    install_handlers,
    interrupted,
    restore_handlers,
)


def wait_for_reader(fifo, deadline: float) -> int:
    """Open the FIFO's write end once the child has opened it for reading."""
    while time.monotonic() < deadline:
        try:
            return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:
            time.sleep(0.05)
    pytest.fail("the child never started reading the polygon file")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_while_gdal_blocks_reading_polygons(small_sample, tmp_path, signum):
    fifo = tmp_path / "forests.geojson"
    os.mkfifo(fifo)  # GDAL's read blocks in C until data arrives: it never will
    output = tmp_path / "out"
    child = subprocess.Popen(
        [sys.executable, "-m", "raster_collect_plugin", "composite", "--gpkg", str(fifo),
         "--catalog", str(small_sample.catalog_path), "--output", str(output)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    writer = None
    try:
        writer = wait_for_reader(fifo, time.monotonic() + 120)
        time.sleep(0.3)  # the child is now blocked inside GDAL
        signalled = time.monotonic()
        child.send_signal(signum)
        _, err = child.communicate(timeout=15)
        assert time.monotonic() - signalled < 10
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        if writer is not None:
            os.close(writer)
    assert child.returncode == 1, err
    assert "interrupted" in err and "Traceback" not in err
    assert not output.exists()


def test_swallowed_signal_is_still_honoured():
    previous = install_handlers()
    try:
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.2)
        except KeyboardInterrupt:
            pass  # what a C callback does with an exception it cannot propagate
        assert interrupted()
        with pytest.raises(KeyboardInterrupt):
            check_interrupted()
    finally:
        restore_handlers(previous)
    assert not interrupted()  # the next run starts clean


def test_cli_run_cancelled_when_the_signal_was_swallowed(small_sample, tmp_path, monkeypatch,
                                                         capsys):
    real = imagery.load_aoi_from_args

    def swallowing(args):
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.2)
        except KeyboardInterrupt:
            pass
        return real(args)

    monkeypatch.setattr(imagery, "load_aoi_from_args", swallowing)
    output = tmp_path / "out"
    code = cli.main(["composite", "--gpkg", str(small_sample.forests_path),
                     "--catalog", str(small_sample.catalog_path), "--collections",
                     "sentinel-2-l2a", "--start", "2025-10-01", "--end", "2025-10-31",
                     "--output", str(output)])
    assert code == 1
    assert "interrupted" in capsys.readouterr().err
    assert not output.exists() or [p for p in output.rglob("*") if p.is_file()] == []
