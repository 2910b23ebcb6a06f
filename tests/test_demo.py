"""`make demo`: the main job on the embedded sample finds the storm-damaged compartments."""

import geopandas as gpd
import pandas as pd

from raster_collect_plugin.core.sample.demo import run_demo


def test_demo_outputs_and_damaged_compartments_on_top(tmp_path):
    summary = run_demo(tmp_path / "demo", verbose=False)
    assert summary["provider_errors"] == {}
    assert sorted(summary["most_damaged"]) == summary["truth_damaged"]
    assert summary["recall"] == 1.0
    chart = tmp_path / "demo" / "ndvi_timeseries.png"
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and chart.stat().st_size > 20_000
    forests = pd.read_parquet(tmp_path / "demo" / "zonal_forests.parquet")
    assert set(forests["index"]) == {"NDVI", "EVI"}
    assert set(forests["collection"]) == {"sentinel-2-l2a", "landsat-c2-l2"}
    assert forests["period"].nunique() == 12 and forests["forest_id"].nunique() == 20
    hexagons = pd.read_parquet(tmp_path / "demo" / "zonal_hexagons.parquet")
    assert hexagons["hex_id"].nunique() > 1000
    latest = gpd.read_file(tmp_path / "demo" / "forests_latest.gpkg")
    assert "sentinel-2-l2a_NDVI_mean" in latest.columns and len(latest) == 20
    assert list((tmp_path / "demo").glob("*NDVI_monthly_median.tif"))
