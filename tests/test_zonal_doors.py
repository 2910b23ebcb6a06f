"""Zonal statistics of an existing raster through the command line and the job spec: options
(bands, nodata override / ignore, categorical) reach the engine, definitions are written into
the outputs' metadata, bad input is one line with the fix."""

import json
from datetime import date

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from affine import Affine
from shapely.geometry import box

from raster_collect_plugin import cli
from raster_collect_plugin.core.jobs.run import run_job

CRS = "EPSG:28356"
TRANSFORM = Affine(10, 0, 500_000, 0, -10, 7_000_100)  # 10 x 10 cells of 10 m


@pytest.fixture
def inputs(tmp_path):
    classes = np.full((10, 10), 4, dtype="uint8")
    classes[:, 5:] = 9
    classes[0, :] = 0
    second = (np.arange(100, dtype="uint16").reshape(10, 10) + 1)
    raster = tmp_path / "scl.tif"
    with rasterio.open(raster, "w", driver="GTiff", count=2, height=10, width=10, dtype="uint16",
                       transform=TRANSFORM, crs=CRS, nodata=0) as dataset:
        dataset.write(np.stack([classes.astype("uint16"), second]))
        dataset.set_band_description(1, "2025-11")
        dataset.set_band_description(2, "2025-12")
    forests = tmp_path / "forests.gpkg"
    gpd.GeoDataFrame({"forest_id": [10, 20]},
                     geometry=[box(500_000, 7_000_000, 500_050, 7_000_100),
                               box(500_050, 7_000_000, 500_100, 7_000_100)],
                     crs=CRS).to_file(forests, driver="GPKG")
    return raster, forests


def test_cli_zonal_on_an_existing_raster_without_searching(inputs, tmp_path):
    raster, forests = inputs
    output = tmp_path / "out"
    assert cli.main(["--quiet", "zonal", "--gpkg", str(forests), "--raster", str(raster),
                     "--bands", "1", "--categorical", "--coverage", "centre",
                     "--output", str(output)]) == 0
    table = pd.read_csv(output / "zonal_forests.csv").set_index("forest_id")
    assert list(table["period"]) == ["2025-11", "2025-11"]
    assert table.loc[10, "majority"] == 4 and table.loc[20, "majority"] == 9
    assert table.loc[10, "nodata_count"] == 5 and table.loc[10, "clear_count"] == 45
    classes = pd.read_csv(output / "zonal_forests_classes.csv")
    forest20 = classes[classes["forest_id"] == 20].set_index("value")
    assert forest20.loc[9, "count"] == 45 and forest20.loc[9, "area"] == 4500
    assert forest20.loc[9, "fraction"] == 1.0
    metadata = json.loads((output / "zonal_forests_metadata.json").read_text())
    assert metadata["coverage"] == "centre" and metadata["nodata_source"] == "file"
    assert "np.percentile" in metadata["statistics"]["median"]


def test_cli_nodata_override_and_ignore(inputs, tmp_path):
    raster, forests = inputs
    base = ["--quiet", "zonal", "--gpkg", str(forests), "--raster", str(raster),
            "--bands", "1", "--coverage", "centre"]
    assert cli.main(base + ["--nodata", "9", "--output", str(tmp_path / "a")]) == 0
    override = pd.read_csv(tmp_path / "a" / "zonal_forests.csv").set_index("forest_id")
    # 9 is now nodata and 0 is data: forest 20 holds only 0 (row 0) and 9
    assert override.loc[20, "clear_count"] == 5 and override.loc[20, "mean"] == 0
    assert cli.main(base + ["--ignore-nodata", "--output", str(tmp_path / "b")]) == 0
    ignored = pd.read_csv(tmp_path / "b" / "zonal_forests.csv").set_index("forest_id")
    assert ignored.loc[10, "clear_count"] == 50 and ignored.loc[10, "mean"] == 3.6


def test_cli_bad_band_and_raster_only_options(inputs, tmp_path, capsys):
    raster, forests = inputs
    assert cli.main(["zonal", "--gpkg", str(forests), "--raster", str(raster), "--bands", "5",
                     "--output", str(tmp_path / "o")]) == 2
    assert "band(s) [5] do not exist: the raster has bands 1-2" in capsys.readouterr().err
    assert cli.main(["zonal", "--gpkg", str(forests), "--categorical", "--catalog", "x.json",
                     "--output", str(tmp_path / "o")]) == 2
    assert "--categorical need(s) --raster FILE" in capsys.readouterr().err


def test_job_spec_zonal_raster_options(inputs, tmp_path):
    raster, forests = inputs
    result = run_job({"kind": "zonal-raster", "aoi": str(forests), "raster": str(raster),
                      "bands": [2], "coverage": "exact", "output_dir": str(tmp_path / "j")})
    table = pd.read_parquet(result["files"]["forests_parquet"]).set_index("forest_id")
    # band 2 = 1..100 row by row; forest 10 = columns 0-4
    values = (np.arange(100).reshape(10, 10) + 1)[:, :5]
    assert table.loc[10, "sum"] == values.sum() and table.loc[10, "period"] == "2025-12"
    assert table.loc[10, "median"] == pytest.approx(np.percentile(values, 50))


def test_imagery_zonal_run_writes_the_definitions(small_sample, tmp_path):
    from raster_collect_plugin.core.composites.requests import CompositeRequest, Source
    from raster_collect_plugin.core.sources.providers import StaticCatalogProvider
    from raster_collect_plugin.core.zonal.pipeline import ZonalRequest, run_zonal

    provider = StaticCatalogProvider("Sample", str(small_sample.catalog_path))
    result = run_zonal(ZonalRequest(CompositeRequest(
        aoi=small_sample.forests_path, sources=[Source(provider, ("sentinel-2-l2a",))],
        start=date(2025, 10, 1), end=date(2025, 10, 31), output_dir=tmp_path / "out",
        indices=("NDVI",), max_cloud_cover=None), coverage="all_touched"))
    metadata = json.loads(result.files["forests_metadata"].read_text())
    assert metadata["coverage"] == "all_touched"
    assert "np.percentile" in metadata["statistics"]["p10"]
    assert set(result.forest_table.columns) >= {"majority", "nodata_count", "variety"}
