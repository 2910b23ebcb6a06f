"""Long date ranges with few scenes: `composite --start 1970-01-01 --end 2100-12-31` on the
sample (scenes in 2025 only) ran for many minutes making 1,572-band COGs and ignored SIGTERM
until they were done."""

import json
import signal
import subprocess
import sys
import time
from datetime import date
from types import SimpleNamespace

import pytest

from raster_collect_plugin import cli
from raster_collect_plugin.core.composites import sizing

REFUSED = ("--start 1970-01-01 to --end 2100-12-31 makes 1,572 monthly periods, more than "
           "the 600 one run writes (a band each, empty ones too): choose a longer --period "
           "(quarter or year) or fewer years between --start and --end (split the dates into "
           "runs)")


@pytest.mark.parametrize("command", ["composite", "zonal"])
def test_too_many_periods_are_refused_before_any_work(small_sample, tmp_path, capsys,
                                                      command):
    output = tmp_path / "out"
    started = time.monotonic()
    assert cli.main([command, "--gpkg", str(small_sample.forests_path), "--catalog",
                     str(small_sample.catalog_path), "--collections", "sentinel-2-l2a",
                     "--start", "1970-01-01", "--end", "2100-12-31",
                     "--output", str(output)]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == f"raster-collect: error: {REFUSED}"
    assert time.monotonic() - started < 30 and not output.exists()


def test_a_job_spec_with_too_many_periods_is_refused(small_sample, tmp_path, capsys):
    spec = tmp_path / "job.json"
    spec.write_text(json.dumps({
        "kind": "composite", "aoi": str(small_sample.forests_path),
        "sources": [{"kind": "static", "href": str(small_sample.catalog_path),
                     "collections": ["sentinel-2-l2a"]}],
        "start": "1970-01-01", "end": "2100-12-31", "indices": ["NDVI"],
        "output_dir": str(tmp_path / "out")}))
    assert cli.main(["job", str(spec), "--events"]) == 2
    event = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert event["message"] == REFUSED
    assert not (tmp_path / "out").exists()


def test_the_period_limit_is_inclusive():
    fifty_years = SimpleNamespace(start=date(1976, 1, 1), end=date(2025, 12, 31),
                                  period="month")
    sizing.check_periods(sizing.MAX_PERIODS, fifty_years)  # 600 months pass
    one_more = SimpleNamespace(start=date(1976, 1, 1), end=date(2026, 1, 31), period="month")
    with pytest.raises(sizing.SizeError, match="makes 601 monthly periods, more than the 600"):
        sizing.check_periods(sizing.MAX_PERIODS + 1, one_more)


def test_sigterm_while_a_long_stack_becomes_its_cog(small_sample, tmp_path):
    """A 524-band stack (1970-2100 by quarter): SIGTERM while the stack is made ends the run at
    once (between bands, or GDAL's progress callback stops the COG copy), exit 1, and its
    staging folder goes with it (the 1,572-band run it was went on for minutes)."""
    output = tmp_path / "out"
    child = subprocess.Popen(
        [sys.executable, "-m", "raster_collect_plugin", "composite", "--gpkg",
         str(small_sample.forests_path), "--catalog", str(small_sample.catalog_path),
         "--collections", "sentinel-2-l2a", "--start", "1970-01-01", "--end", "2100-12-31",
         "--period", "quarter", "--indices", "NDVI", "--output", str(output)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 120
        # the stack being made (its scratch file; the COG copy is test_cog_copy_stop's)
        while not list(output.glob(".raster-collect-partial-*/**/*.scratch.tif")):
            assert child.poll() is None and time.monotonic() < deadline, child.communicate()
            time.sleep(0.05)
        signalled = time.monotonic()
        child.send_signal(signal.SIGTERM)
        _, err = child.communicate(timeout=60)
        took = time.monotonic() - signalled
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 1, err
    assert "interrupted" in err and "Traceback" not in err
    assert took < 5, f"{took:.1f} s after SIGTERM"
    assert not output.exists() or not any(output.iterdir())
