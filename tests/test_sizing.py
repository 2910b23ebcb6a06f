"""The size of a run is known before any pixel is read; too-large runs are refused with the
numbers and the fix, within a memory budget the user sets."""

import json

import pytest
import rasterio

from raster_collect_plugin import cli
from raster_collect_plugin.core.composites import sizing


def composite_args(sample, output, *extra):
    return ["--quiet", "composite", "--gpkg", str(sample.forests_path),
            "--catalog", str(sample.catalog_path), "--collections", "sentinel-2-l2a",
            "--start", "2025-10-01", "--end", "2025-12-31", "--indices", "NDVI,EVI",
            "--output", str(output), *extra]


def test_parse_size():
    assert sizing.parse_size("4GB") == 4_000_000_000
    assert sizing.parse_size("512 MiB") == 512 * 2 ** 20
    assert sizing.parse_size(1000) == 1000 and sizing.parse_size(None) is None
    with pytest.raises(sizing.SizeError, match="use a size like 4GB"):
        sizing.parse_size("lots")


def test_estimate_matches_the_written_grid(small_sample, tmp_path, capsys):
    output = tmp_path / "out"
    assert cli.main(["--json"] + composite_args(small_sample, output)[1:]) == 0
    summary = json.loads(capsys.readouterr().out)
    [estimate] = [n for n in summary["notes"] if n.startswith("catalog sentinel-2-l2a:")]
    with rasterio.open(next(output.glob("*_NDVI_monthly_median.tif"))) as cog:
        width, height, periods = cog.width, cog.height, cog.count
    assert f"{width} × {height} pixels at 10 m" in estimate
    assert f"× {periods} periods × 4 bands (2 indices" in estimate  # red, nir, blue + SCL


def test_too_large_is_refused_with_numbers_and_fix(small_sample, tmp_path, capsys):
    output = tmp_path / "out"
    assert cli.main(composite_args(small_sample, output, "--memory-budget", "1MB")) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "Traceback" not in error
    assert "too large for the memory budget of 1.0 MB" in error
    assert "Mpixels × 3 periods × 4 bands" in error
    assert "dask cluster" in error and "larger --memory-budget" in error
    suggested = float(error.split("use a coarser resolution (--resolution ")[1].split()[0])
    assert suggested >= 20
    assert not output.exists() or not list(output.iterdir())


def test_hexagon_count_is_estimated_up_front(small_sample, tmp_path):
    spec = {"kind": "zonal", "aoi": str(small_sample.forests_path),
            "sources": [{"kind": "static", "href": str(small_sample.catalog_path),
                         "collections": ["sentinel-2-l2a"]}],
            "start": "2025-10-01", "end": "2025-12-31", "indices": ["NDVI"],
            "hexagon_area_m2": 1.0, "memory_budget": "20MB",
            "output_dir": str(tmp_path / "out")}
    from raster_collect_plugin.core.jobs.run import run_job

    with pytest.raises(sizing.SizeError, match=r"6 forests \+ \d{5,} hexagons × 3 periods") \
            as refused:
        run_job(spec)
    assert "use larger hexagons" in str(refused.value)
    assert not (tmp_path / "out").exists()
