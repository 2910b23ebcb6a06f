"""``monitoring_series.csv`` (the dock's chart) is appended by each run: the earlier rows were
read back with pandas' defaults, so a compartment id written as text such as "0101" came back
as 101 (the chart, keyed by the id as text, lost every scene of the earlier runs) and the
values lost their last digits. A run and the same period in increments now give the same file,
byte for byte."""

import csv

import geopandas as gpd
from shapely.geometry import box

from raster_collect_plugin.core.monitoring.run import MonitorRequest, run_monitor
from raster_collect_plugin.core.monitoring.state import MonitorParams
from raster_collect_plugin.core.monitoring.zone_series import SERIES_FILE
from tests.monitoring_helpers import HISTORY, small_series


def _request(folder):
    zones = gpd.GeoDataFrame({"code": ["0101", "0102"]},
                             geometry=[box(372_000, 5_351_990, 372_020, 5_352_010),
                                       box(372_020, 5_351_990, 372_030, 5_352_010)],
                             crs="EPSG:32632")
    return MonitorRequest(folder, MonitorParams(*HISTORY), zones=zones, id_field="code")


def test_increments_append_the_same_series_with_text_ids(tmp_path):
    series = small_series()
    run_monitor(_request(tmp_path / "once"), series)
    for end in ("2025-03-31", "2025-08-31", "2025-12-31"):
        run_monitor(_request(tmp_path / "steps"), series.sel(time=slice(None, end)))
    with open(tmp_path / "steps" / SERIES_FILE, newline="", encoding="utf-8") as handle:
        ids = {row["code"] for row in csv.DictReader(handle)}
    assert ids == {"0101", "0102"}
    once = (tmp_path / "once" / SERIES_FILE).read_bytes()
    assert (tmp_path / "steps" / SERIES_FILE).read_bytes() == once
