"""The README's scenario commands print no rasterio "Dataset has no geotransform" warning (it
came from rasterio's temporary MEM datasets racing ``catch_warnings`` in the read threads, in
about one run in three: ``core/compute/thread_warnings.py``, ``tests/test_thread_warnings.py``)."""

import subprocess
import sys
from datetime import date

import pytest

from raster_collect_plugin.core.sample.disturbance_catalog import write_scenario
from raster_collect_plugin.core.sample.disturbance_scenario import Event, ScenarioSpec

SPEC = ScenarioSpec(start=date(2024, 1, 1), end=date(2025, 6, 30), columns=2, rows=1,
                    events=(Event(1, "windthrow", date(2025, 3, 14)),))


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    return write_scenario(tmp_path_factory.mktemp("scenario"), SPEC)


def _stderr(*arguments) -> str:
    done = subprocess.run([sys.executable, "-m", "raster_collect_plugin", *arguments],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stderr


def test_zonal_and_monitor_print_no_georeferencing_warning(scenario, tmp_path):
    sources = ["--gpkg", str(scenario.compartments), "--catalog", str(scenario.catalog)]
    printed = [_stderr("zonal", *sources, "--collections", "sentinel-2-l2a,landsat-c2-l2",
                       "--start", "2025-01-01", "--end", "2025-06-30", "--indices", "NDVI",
                       "--output", str(tmp_path / f"zonal{n}")) for n in range(2)]
    printed.append(_stderr("monitor", *sources, "--history-start", "2024-01-01",
                           "--history-end", "2024-12-31", "--end", "2025-06-30",
                           "--output", str(tmp_path / "monitoring")))
    for text in printed:
        assert "NotGeoreferencedWarning" not in text and "no geotransform" not in text, text
