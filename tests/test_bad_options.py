"""Options out of range or naming what does not exist: exit 2 with one line naming the fix,
before any work, in the command line and the job spec alike; a search whose list is
incomplete exits 1 with the source's message."""

import functools
import json

import numpy as np
import pytest
import rasterio
from affine import Affine

from raster_collect_plugin import cli
from raster_collect_plugin.core.composites import pipeline as workflow
from raster_collect_plugin.core.sources.providers.base import SearchQuery
from tests.test_bad_input_cli import one_line_error

BAND_LIST = "the band names are blue, coastal, green, nir, nir08, red, rededge1"


def source_args(sample, *extra):
    return ["--gpkg", str(sample.forests_path), "--catalog", str(sample.catalog_path),
            "--collections", "sentinel-2-l2a", "--start", "2025-10-01", "--end", "2025-12-31",
            "--max-cloud", "100", *extra]


def nothing_written(folder) -> bool:
    return not folder.exists() or not any(folder.iterdir())


@pytest.fixture
def no_search(monkeypatch):
    """Fails the test if a command searches: the options are checked before any work."""
    def refuse(*args, **kwargs):
        raise AssertionError("searched before checking the options")

    monkeypatch.setattr(workflow, "search_all", refuse)


@pytest.mark.parametrize("command,extra", [
    ("zonal", ["--min-clear", "5"]),
    ("zonal", ["--min-clear", "-0.1"]),
    ("storm", ["--min-clear-fraction", "5", "--event-date", "2025-11-13"]),
])
def test_min_clear_out_of_range_exits_2_before_any_work(small_sample, tmp_path, capsys,
                                                       no_search, command, extra):
    output = tmp_path / "out"
    code = cli.main(["--quiet", command, *source_args(small_sample, *extra),
                     "--output", str(output)])
    assert code == 2
    line = one_line_error(capsys)
    assert f"{extra[0]} must be a fraction from 0 to 1" in line  # the option as typed
    assert nothing_written(output)
    if "5" in extra:
        assert "for 5 % give 0.05" in line


def test_min_clear_out_of_range_with_an_existing_raster(small_sample, tmp_path, capsys):
    raster = tmp_path / "values.tif"
    with rasterio.open(raster, "w", driver="GTiff", count=1, height=10, width=10,
                       dtype="float32", crs="EPSG:32756",
                       transform=Affine(10, 0, 500_000, 0, -10, 7_000_100)) as dataset:
        dataset.write(np.ones((1, 10, 10), "float32"))
    output = tmp_path / "out"
    assert cli.main(["--quiet", "zonal", "--gpkg", str(small_sample.forests_path), "--raster",
                     str(raster), "--min-clear", "5", "--output", str(output)]) == 2
    assert "--min-clear must be a fraction from 0 to 1" in one_line_error(capsys)
    assert nothing_written(output)


def test_unknown_band_in_an_expression_beside_a_valid_index_exits_2(small_sample, tmp_path,
                                                                    capsys, no_search):
    output = tmp_path / "out"
    code = cli.main(["--quiet", "composite", *source_args(
        small_sample, "--indices", "NDVI", "--expression", "GNDVI=(nir - grene)/(nir + grene)"),
        "--output", str(output)])
    assert code == 2
    line = one_line_error(capsys)
    assert "custom index 'GNDVI' uses unknown band(s) grene" in line
    assert BAND_LIST in line and "swir22, vh, vv, yellow" in line
    assert nothing_written(output)


@pytest.mark.parametrize("change,message", [
    ({"kind": "zonal", "min_clear_fraction": 5}, "'min_clear_fraction' must be a number from 0"),
    ({"custom_indices": {"GNDVI": "(nir - grene) / (nir + grene)"}},
     "custom index 'GNDVI' uses unknown band(s) grene"),
])
def test_job_spec_gets_the_same_checks(small_sample, tmp_path, capsys, no_search, change,
                                       message):
    spec = {"kind": "composite", "aoi": str(small_sample.forests_path),
            "sources": [{"kind": "static", "href": str(small_sample.catalog_path),
                         "collections": ["sentinel-2-l2a"]}],
            "start": "2025-10-01", "end": "2025-10-31", "indices": ["NDVI"],
            "output_dir": str(tmp_path / "out"), **change}
    path = tmp_path / "job.json"
    path.write_text(json.dumps(spec))
    assert cli.main(["job", str(path), "--events"]) == 2
    captured = capsys.readouterr()
    event = json.loads(captured.out.strip().splitlines()[-1])
    assert event["event"] == "error" and event["kind"] == "bad_input"
    assert message in event["message"]
    assert nothing_written(tmp_path / "out")


def test_search_matching_too_many_scenes_exits_1_with_the_message(small_sample, tmp_path,
                                                                  monkeypatch, capsys):
    # the real cap is 100,000 scenes; the sample's 3 months have more than 2
    monkeypatch.setattr(workflow, "SearchQuery", functools.partial(SearchQuery, max_items=2))
    code = cli.main(["search", *source_args(small_sample)])
    assert code == 1
    line = one_line_error(capsys)
    assert line.startswith("raster-collect: error: Static catalog: more than 2 scenes match")
    assert "split the period or the area" in line
