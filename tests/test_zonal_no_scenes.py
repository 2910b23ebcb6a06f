"""A forest no scene meets, beside forests that have scenes: the command line (one forest at a
time) listed it under ``failed`` and exited 1 on every rerun, while a job spec of kind
``zonal`` (every forest at once) wrote its rows with no clear cell and exited 0. Both doors now
write the same rows (``clear_count`` 0, no statistics), name the forest in the notes and
exit 0; a rerun skips it as complete."""

from __future__ import annotations

import json

import geopandas as gpd
import pandas as pd

from raster_collect_plugin import cli
from raster_collect_plugin.core.jobs.run import run_job

NOTE = ("no sentinel-2-l2a scene (Static catalog) between 2025-10-01 and 2025-10-31 meets "
        "forest(s) 999: their rows have clear_count 0 and no statistics (not a failure)")


def _forests(sample, tmp_path):
    """Forest 281 of the sample and a copy of it, 999, 3 km east of every scene."""
    frame = gpd.read_file(sample.forests_path)
    frame = frame[frame["forest_id"] == 281]
    far = frame.assign(forest_id=999, geometry=frame.geometry.translate(3_000, 0))
    path = tmp_path / "forests.gpkg"
    gpd.GeoDataFrame(pd.concat([frame, far]), crs=frame.crs).to_file(path, driver="GPKG")
    return path


def _rows(table: pd.DataFrame) -> pd.DataFrame:
    return table.sort_values(["forest_id", "period"]).reset_index(drop=True)


def test_a_forest_outside_every_scene_is_not_a_failure_in_either_door(small_sample, tmp_path,
                                                                      capsys):
    forests = _forests(small_sample, tmp_path)
    args = ["--json", "zonal", "--gpkg", str(forests), "--catalog",
            str(small_sample.catalog_path), "--collections", "sentinel-2-l2a", "--start",
            "2025-10-01", "--end", "2025-10-31", "--indices", "NDVI", "--output",
            str(tmp_path / "cli")]
    assert cli.main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["computed"], summary["failed"]) == ([281, 999], {})
    assert summary["notes"] == [NOTE]
    assert cli.main(args) == 0  # a rerun: both forests are complete
    again = json.loads(capsys.readouterr().out)
    assert (again["computed"], again["skipped_complete"]) == ([], [281, 999])

    result = run_job({"kind": "zonal", "aoi": str(forests), "sources": [
        {"kind": "static", "href": str(small_sample.catalog_path),
         "collections": ["sentinel-2-l2a"]}], "start": "2025-10-01", "end": "2025-10-31",
        "indices": ["NDVI"], "output_dir": str(tmp_path / "job")})
    assert NOTE in result["notes"] and result["errors"] == {}

    by_cli = _rows(pd.read_parquet(tmp_path / "cli" / "zonal_forests_all.parquet"))
    by_job = _rows(pd.read_parquet(result["files"]["forests_parquet"]))
    pd.testing.assert_frame_equal(by_cli, by_job)
    far = by_cli[by_cli["forest_id"] == 999].iloc[0]
    assert far["clear_count"] == 0 and far["pixel_count"] > 0 and not far["usable"]
    assert pd.isna(far["mean"])
    assert by_cli[by_cli["forest_id"] == 281].iloc[0]["clear_count"] > 0
