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
    [estimate] = [n for n in summary["notes"] if n.startswith("Static catalog sentinel-2-l2a:")]
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
    assert not output.exists() or not list(output.iterdir())
    # below the engine's own memory no resolution fits: it suggested one that needed more
    # than the budget; now the budget that fits, which is then enough
    engine = sizing.human(sizing.ENGINE_BYTES)
    assert f"the engine alone takes about {engine}, so no resolution fits" in error
    enough = error.split("give a --memory-budget of at least ")[1].split(" (")[0]
    assert sizing.parse_size(enough) > sizing.ENGINE_BYTES
    assert cli.main(composite_args(small_sample, output, "--memory-budget",
                                   enough.replace(" ", ""))) == 0, capsys.readouterr().err


def test_colour_composites_are_counted(small_sample, tmp_path, capsys):
    """Three colour composites read four more bands and write nine more per period: the
    estimate left them out (a run past the budget went ahead)."""
    notes = {}
    for name, colour in (("plain", []), ("colour", ["--colour", "true-colour,false-colour,swir"])):
        output = tmp_path / name
        assert cli.main(["--json"] + composite_args(small_sample, output, *colour)[1:]) == 0
        [notes[name]] = [n for n in json.loads(capsys.readouterr().out)["notes"]
                         if n.startswith("Static catalog sentinel-2-l2a:")]
    assert "× 4 bands (2 indices, up to" in notes["plain"]
    # B02, B04, B08 + SCL for NDVI and EVI; + B03, B11, B12 for the three colour composites
    assert "× 7 bands (2 indices, 9 colour composite bands, up to" in notes["colour"]

    def megabytes(note, what):
        return sizing.parse_size(note.split(f" of {what}")[0].split("about ")[-1]
                                 .replace(" ", "")) if what == "memory" else \
            sizing.parse_size(note.split(", ")[-1].split(" uncompressed")[0].replace(" ", ""))

    assert megabytes(notes["colour"], "memory") > megabytes(notes["plain"], "memory")
    written = {name: sum(f.stat().st_size for f in (tmp_path / name).glob("*.tif"))
               for name in notes}
    assert written["colour"] > written["plain"]
    plain, colour = (megabytes(notes[n], "output") for n in ("plain", "colour"))
    assert colour / plain == pytest.approx((4 * (2 + 9) + 2) / (4 * 2 + 2), rel=0.01)


def test_hexagon_count_is_estimated_up_front(small_sample, tmp_path):
    spec = {"kind": "zonal", "aoi": str(small_sample.forests_path),
            "sources": [{"kind": "static", "href": str(small_sample.catalog_path),
                         "collections": ["sentinel-2-l2a"]}],
            "start": "2025-10-01", "end": "2025-12-31", "indices": ["NDVI"],
            "hexagon_area_m2": 10.0, "memory_budget": "20MB",
            "output_dir": str(tmp_path / "out")}
    from raster_collect_plugin.core.jobs.run import run_job

    with pytest.raises(sizing.SizeError, match=r"6 forests \+ \d{5,} hexagons × 3 periods") \
            as refused:
        run_job(spec)
    # 20 MB is below the engine's own memory: only a larger budget helps, and it is named
    assert "the engine alone takes about" in str(refused.value)
    assert "give a --memory-budget of at least " in str(refused.value)
    assert not (tmp_path / "out").exists()


def test_a_zonal_budget_below_the_engine_names_the_budget_that_fits(small_sample, tmp_path,
                                                                    capsys):
    """``zonal --memory-budget 10MB``: the engine alone is above it, yet the line advised
    larger hexagons, fewer forests and a coarser --resolution, none of which fits; now the
    budget that does (README: "answered with the budget that does"), which then runs."""
    output = tmp_path / "out"
    args = ["zonal", "--gpkg", str(small_sample.forests_path), "--forest", "281",
            "--catalog", str(small_sample.catalog_path), "--collections", "sentinel-2-l2a",
            "--indices", "NDVI", "--start", "2025-10-01", "--end", "2025-10-31",
            "--output", str(output)]
    assert cli.main([*args, "--memory-budget", "10MB"]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "use larger hexagons" not in error
    assert "the engine alone takes about" in error and "--resolution" not in error
    enough = error.split("give a --memory-budget of at least ")[1].split(" (")[0]
    assert not output.exists()
    assert cli.main([*args, "--memory-budget", enough.replace(" ", "")]) == 0, \
        capsys.readouterr().err


def test_the_way_out_is_never_cut_off(small_sample, tmp_path, capsys):
    """The engine's error line was cut at 400 characters: a composite's refusal ended "... a
    dask cluster (--scheduler) with the budget raised, or a larger --", its last way out lost."""
    output = tmp_path / "out"
    big = composite_args(small_sample, output, "--memory-budget", "1GB", "--resolution", "0.5",
                         "--start", "1976-01-01", "--end", "2025-12-31",
                         "--indices", "NDVI,EVI,NDMI,NBR")
    assert cli.main(big) == 2
    error = capsys.readouterr().err.strip()
    assert len(error) > 400 and "use a coarser resolution (--resolution " in error
    assert error.endswith(sizing.CLUSTER_ADVICE)
    assert not output.exists() or not list(output.iterdir())
