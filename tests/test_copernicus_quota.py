"""Issue 29, items 2, 4 and 7: dry runs that send no billable request and a budgeted,
ledgered Process path; a quota stop within seconds that says when the quota resets; interval
errors in the string form. Against the loopback deployment in tests/servers/sentinel_hub.py,
which follows the CDSE documentation (eu-cdse/documentation: APIs/SentinelHub/Overview/
ProcessingUnit.qmd for what is billed, Overview/RateLimiting.qmd for 429 and Retry-After in
milliseconds, Statistical.qmd for interval errors) and sentinelhub-py's recorded
tests/TestInputs/normal_stat_partial_result.json (``"error": "EXECUTION_ERROR"``)."""

import json
import time
from dataclasses import replace
from datetime import date, datetime, timezone

import geopandas as gpd
import pytest
from shapely.geometry import box

from raster_collect_plugin.core.sentinel_hub import rules as rules
from raster_collect_plugin.core.sentinel_hub.process import process_index_raster
from raster_collect_plugin.core.sentinel_hub.statistical import statistics_table
from raster_collect_plugin.core.sources.providers.base import ProviderError
from tests.sentinel_hub_helpers import monthly_sample, server_starter
from tests.sentinel_hub_helpers import settings_for as shared_settings

CLIENT_ID, SECRET = "rc-quota-client", "quota-secret-5c2a"
STATS, PROCESS = "/api/v1/statistics", "/api/v1/process"
TWENTY_MINUTES_MS = 20 * 60 * 1000


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    return monthly_sample(tmp_path_factory.mktemp("sh-quota"))


@pytest.fixture
def hub(sample, monkeypatch):
    yield from server_starter(sample, monkeypatch, CLIENT_ID, SECRET)


def settings_for(server, **extra):
    return shared_settings(server, CLIENT_ID, SECRET, **extra)


def zones(sample, n=None):
    frame = gpd.read_file(sample.forests_path)
    return frame if n is None else frame.iloc[:n]


def run(server, frame, start=date(2025, 10, 1), end=date(2025, 12, 31), settings=None, **extra):
    return statistics_table(frame, id_field="forest_id", indices=["NDVI"], start=start,
                            end=end, settings=settings or settings_for(server), **extra)


def month_spent(ledger):
    month = datetime.now(timezone.utc).strftime("%Y-%m")
    return json.loads(ledger.read_text())[month] if ledger.exists() else {"pu": 0, "requests": 0}


# 2 ------------------------------------------------------------- dry runs and the Process path

def test_2_raster_dry_run_sends_no_billable_request_and_the_raster_is_ledgered(
        hub, sample, tmp_path, monkeypatch, capsys):
    from raster_collect_plugin import cli

    server = hub()
    monkeypatch.setenv("SH_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("SH_CLIENT_SECRET", SECRET)
    ledger = tmp_path / "usage.json"
    common = ["--json", "sentinel-hub", "--gpkg", str(sample.forests_path), "--start",
              "2025-10-01", "--end", "2025-10-31", "--base-url", server.base_url,
              "--token-url", server.token_url, "--usage-ledger", str(ledger), "--raster",
              "--output", str(tmp_path / "raster")]
    assert cli.main([*common, "--dry-run"]) == 0
    dry = json.loads(capsys.readouterr().out)
    assert server.billable_requests() == []  # the fixture counts Process + Statistical
    assert dry["dry_run"] is True and dry["tiles"] == 1 and dry["estimated_processing_units"] > 0
    assert not ledger.exists() and not list((tmp_path / "raster").rglob("*.tif"))
    assert cli.main(common) == 0
    real = json.loads(capsys.readouterr().out)
    assert len(server.billable_requests()) == 1
    assert real["estimated_processing_units"] == pytest.approx(dry["estimated_processing_units"])
    spent = month_spent(ledger)
    assert spent["requests"] == 1 and spent["pu"] == pytest.approx(real["requests"] * dry[
        "estimated_processing_units"])
    # the rerun is served from the cache: nothing sent, nothing charged
    assert cli.main(common) == 0
    assert json.loads(capsys.readouterr().out)["requests"] == 0
    assert len(server.billable_requests()) == 1 and month_spent(ledger)["requests"] == 1


def test_2_process_budget_stops_before_sending(hub, sample, tmp_path):
    server = hub()
    area = box(493_900, 7_019_300, 495_300, 7_020_200)  # 140 x 90 pixels, about 0.1 PU
    tight = rules.QuotaBudget(pu_per_month=0.05, requests_per_month=100,
                              ledger=tmp_path / "usage.json")
    arguments = dict(crs_epsg=32756, indices=["NDVI"], start=date(2025, 10, 1),
                     end=date(2025, 10, 31), settings=settings_for(server),
                     destination=tmp_path / "x.tif", budget=tight)
    with pytest.raises(ProviderError, match="exceeds what is left of this month's budget"):
        process_index_raster(area, **arguments)
    dry = process_index_raster(area, dry_run=True, **arguments)
    assert dry.path is None and "would stop" in dry.notes[-1]
    assert server.billable_requests() == [] and not (tmp_path / "x.tif").exists()


def test_2_statistics_dry_run_sends_no_billable_request(hub, sample, tmp_path):
    server = hub()
    outcome = run(server, zones(sample), dry_run=True,
                  budget=rules.QuotaBudget(ledger=tmp_path / "usage.json"))
    assert outcome.planned_requests == 6 and outcome.estimated_pu > 0
    assert server.billable_requests() == []


# 4 ------------------------------------------------------------- quota stop within seconds

def test_4_a_long_retry_after_stops_at_once_with_the_reset_time(hub, sample, tmp_path):
    server = hub(rate_limit_after=2, retry_after_ms=TWENTY_MINUTES_MS)
    began = time.monotonic()
    outcome = run(server, zones(sample), end=date(2025, 10, 31), cache_dir=tmp_path / "cache")
    elapsed = time.monotonic() - began
    assert "quota exhausted; it resets at" in outcome.stopped
    assert "UTC (in 20 min); completed work is kept" in outcome.stopped
    assert "2 of 6 requests done" in outcome.stopped
    assert len(server.requests_to(STATS)) == 3  # no retries of the long wait
    assert sorted(outcome.table["forest_id"].unique()) == [281, 282]
    assert elapsed < 10  # not the 3 x 20 minutes sentinelhub-py would sleep


def test_4_the_process_path_stops_the_same_way(hub, sample, tmp_path):
    server = hub(rate_limit_after=0, retry_after_ms=TWENTY_MINUTES_MS)
    with pytest.raises(ProviderError, match=r"quota exhausted; it resets at \d\d:\d\d UTC "
                                            r"\(in 20 min\)"):
        process_index_raster(box(493_900, 7_019_300, 495_300, 7_020_200), crs_epsg=32756,
                             indices=["NDVI"], start=date(2025, 10, 1), end=date(2025, 10, 31),
                             settings=settings_for(server), destination=tmp_path / "x.tif")
    assert len(server.requests_to(PROCESS)) == 1


def test_4_short_waits_are_retried_and_the_cap_is_configurable(hub, sample):
    server = hub(rate_limit_after=0, rate_limit_times=1, retry_after_ms=400)
    waited = run(server, zones(sample, 1), end=date(2025, 10, 31))
    assert waited.stopped is None and len(waited.table) == 1
    assert len(server.requests_to(STATS)) == 2
    strict = hub(rate_limit_after=0, rate_limit_times=1, retry_after_ms=400)
    stopped = run(strict, zones(sample, 1), end=date(2025, 10, 31),
                  settings=replace(settings_for(strict), max_retry_wait_seconds=0.1))
    assert "quota exhausted; it resets at" in stopped.stopped and "(in 1 min)" in stopped.stopped
    assert len(strict.requests_to(STATS)) == 1


# 7 ------------------------------------------------------------- interval error as a string

def test_7_a_string_interval_error_is_retried(hub, sample, tmp_path):
    server = hub(interval_failures={"2025-11-01": 1}, interval_error_as_string=True)
    outcome = run(server, zones(sample, 1), cache_dir=tmp_path / "cache")
    assert outcome.errors == {} and outcome.stopped is None
    assert outcome.table["period"].tolist() == ["2025-10", "2025-11", "2025-12"]
    first, retry = server.bodies(STATS)
    assert retry["aggregation"]["timeRange"]["from"] == "2025-11-01T00:00:00Z"


def test_7_a_string_interval_error_that_persists_is_reported(hub, sample, tmp_path):
    server = hub(interval_failures={"2025-11-01": 100}, interval_error_as_string=True)
    outcome = run(server, zones(sample, 1), cache_dir=tmp_path / "cache")
    assert outcome.table["period"].tolist() == ["2025-10", "2025-12"]
    [(key, reason)] = outcome.errors.items()
    assert key == "forest_id=281" and "2025-11-01 (EXECUTION_ERROR)" in reason
    assert not list((tmp_path / "cache").glob("*.json"))
