"""Issue 19, item by item: the Sentinel Hub path against a loopback deployment that follows
the CDSE documentation and runs the project's evalscript in node (tests/servers), plus parsing
of responses shaped like sentinelhub-py's recorded real ones (tests/TestInputs there)."""

import json
import time
from datetime import date, datetime, timezone

import geopandas as gpd
import numpy as np
import pytest

from raster_collect_plugin.core.sentinel_hub import rules as rules
from raster_collect_plugin.core.sentinel_hub.batch import results_location
from raster_collect_plugin.core.sentinel_hub.evalscripts import (
    process_evalscript,
    statistics_evalscript,
)
from raster_collect_plugin.core.sentinel_hub.process import process_index_raster
from raster_collect_plugin.core.sentinel_hub.statistical import _rows, statistics_table
from raster_collect_plugin.core.sources.providers.base import ProviderError
from tests.sentinel_hub_helpers import monthly_sample, server_starter
from tests.sentinel_hub_helpers import settings_for as shared_settings
from tests.servers import sentinel_hub as fixture

CLIENT_ID, SECRET = "rc-contract-client", "contract-secret-0b7e"
STATS = "/api/v1/statistics"


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    return monthly_sample(tmp_path_factory.mktemp("sh-contract"))


@pytest.fixture
def hub(sample, monkeypatch):
    yield from server_starter(sample, monkeypatch, CLIENT_ID, SECRET)


def settings_for(server):
    return shared_settings(server, CLIENT_ID, SECRET)


def zones(sample, n=None):
    frame = gpd.read_file(sample.forests_path)
    return frame if n is None else frame.iloc[:n]


def run(server, frame, start=date(2025, 10, 1), end=date(2025, 12, 31), **extra):
    return statistics_table(frame, id_field="forest_id", indices=extra.pop("indices", ["NDVI"]),
                            start=start, end=end, settings=settings_for(server), **extra)


# 1 -------------------------------------------------------------------- harmonised values

def test_1_evalscript_runs_on_harmonised_values_in_node():
    """Dense pine: harmonised red 300 DN, NIR 5155 DN -> NDVI 0.89 (the old script's
    baseline-5 fallback subtracted 1000 DN again: (4155 - -700) / (4155 + -700) = 1.41)."""
    one_day = [{"dateFrom": "2025-10-05T00:00:00Z", "dateTo": "2025-10-06T00:00:00Z"}]
    result = fixture._run_evalscript(statistics_evalscript(["NDVI"]), {}, 3, orbits=[{
        "B04": [300, 300, 1000], "B08": [5155, 5155, 1000], "SCL": [4, 9, 4],
        "dataMask": [1, 1, 0]}], scenes=one_day)
    ndvi = [float(v) for v in result["outputs"]["NDVI"][0]]
    assert ndvi[0] == pytest.approx((5155 - 300) / (5155 + 300), abs=1e-9)
    assert ndvi[0] == pytest.approx(0.89, abs=1e-4)
    # dataMask per output: NDVI where clear (SCL 9 is cloud), polygon_pixels where imaged
    assert result["outputs"]["dataMask"] == [[1, 0, 0], [1, 1, 0]]
    raster = fixture._run_evalscript(process_evalscript(["NDVI"]), {}, 2, orbits=[{
        "B04": [300, 300], "B08": [5155, 5155], "SCL": [4, 8], "dataMask": [1, 1]}],
        scenes=one_day)
    assert float(raster["outputs"]["default"][0][0]) == pytest.approx(0.8900, abs=1e-4)
    assert raster["outputs"]["default"][0][1] == "NaN"


def test_1_statistics_are_those_of_the_harmonised_scene(hub, sample):
    """The fixture feeds harmonised DN (raw minus 1000 for baseline 05.11) into the script;
    the service's mean NDVI then lies where healthy pine does, and far from the 1000-DN
    double correction."""
    server = hub()
    outcome = run(server, zones(sample, 2), end=date(2025, 10, 31))
    assert [b["input"]["data"][0]["processing"] for b in server.bodies(STATS)] == \
        [{"harmonizeValues": True}] * 2
    usable = outcome.table[outcome.table["usable"]]
    assert len(usable) and usable["mean"].between(0.7, 0.85).all()
    assert (outcome.table["max"].dropna() <= 1.0).all()


# 2 -------------------------------------------------------------------- last month kept

def test_2_a_single_month_returns_its_row(hub, sample):
    # the old request (to 23:59:59 with the default SKIP) gives the service no interval
    assert fixture.interval_count("2025-10-01T00:00:00Z", "2025-10-31T23:59:59Z", "P1M") == 0
    server = hub()
    outcome = run(server, zones(sample, 1), end=date(2025, 10, 31), indices=["NDVI", "EVI"])
    assert outcome.table["period"].tolist() == ["2025-10", "2025-10"]
    [body] = server.bodies(STATS)
    assert body["aggregation"]["timeRange"]["to"] == "2025-11-01T00:00:00Z"
    assert body["aggregation"]["aggregationInterval"]["lastIntervalBehavior"] == "SHORTEN"


@pytest.mark.parametrize("start,end,duration", [
    ("2025-10-01", "2025-12-31", "P1M"), ("2025-10-15", "2025-12-31", "P1M"),
    ("2025-01-31", "2025-04-30", "P1M"), ("2025-10-01", "2025-10-20", "P7D")])
def test_2_client_and_service_agree_on_intervals(start, end, duration):
    begin, stop = rules.time_range(date.fromisoformat(start), date.fromisoformat(end))
    ours = rules.aggregation_intervals(begin, stop, duration, "SHORTEN")
    service = fixture.aggregation_intervals(begin, stop, duration, "SHORTEN")
    assert ours == service and ours[-1][1] == stop and ours[0][0] == begin


# 3 -------------------------------------------------------------------- period labels

def test_3_periods_are_the_service_intervals(hub, sample):
    server = hub()
    outcome = run(server, zones(sample, 1), start=date(2025, 10, 15), end=date(2025, 12, 14))
    # intervals from timeRange.from: Oct 15 - Nov 15 (Nov 5 scene), Nov 15 - Dec 15 (Dec 5)
    assert outcome.table["period"].tolist() == ["2025-10-15", "2025-11-15"]
    assert rules.period_label("2025-11-01T00:00:00Z", "2025-12-01T00:00:00Z", "P1M") == "2025-11"


# 4 -------------------------------------------------------------------- clear fractions

def test_4_counts_are_the_polygons_pixels_not_the_bounding_box(hub, sample):
    server = hub()
    frame = zones(sample, 1)
    outcome = run(server, frame, end=date(2025, 11, 30))
    [body] = server.bodies(STATS)
    raw = server.statistics(body)  # what the service answered
    xmin, ymin, xmax, ymax = body["input"]["bounds"]["bbox"]
    bbox_px = round((xmax - xmin) / 10) * round((ymax - ymin) / 10)
    polygon = frame.to_crs(32756).geometry.iloc[0]
    for interval, row in zip(raw["data"], outcome.table.itertuples()):
        ndvi = interval["outputs"]["NDVI"]["bands"]["B0"]["stats"]
        assert ndvi["sampleCount"] == bbox_px  # the whole sample matrix
        assert row.pixel_count < bbox_px
        assert row.pixel_count == pytest.approx(polygon.area / 100, rel=0.02)
        assert row.clear_count == ndvi["sampleCount"] - ndvi["noDataCount"]
        assert row.clear_fraction == pytest.approx(row.clear_count / row.pixel_count)


# 5 -------------------------------------------------------------------- partial results

def test_5_a_transient_interval_error_is_retried(hub, sample, tmp_path):
    server = hub(interval_failures={"2025-11-01": 1})
    outcome = run(server, zones(sample, 1), cache_dir=tmp_path / "cache")
    assert outcome.errors == {}
    assert outcome.table["period"].tolist() == ["2025-10", "2025-11", "2025-12"]
    first, retry = server.bodies(STATS)
    assert retry["aggregation"]["timeRange"] == {"from": "2025-11-01T00:00:00Z",
                                                 "to": "2025-12-01T00:00:00Z"}
    assert len(list((tmp_path / "cache").glob("*.json"))) == 1  # complete: cached


def test_5_a_failing_interval_keeps_the_rest_and_is_not_cached(hub, sample, tmp_path):
    server = hub(interval_failures={"2025-11-01": 100})
    frame = zones(sample, 1)
    outcome = run(server, frame, cache_dir=tmp_path / "cache", interval_retries=2)
    assert outcome.table["period"].tolist() == ["2025-10", "2025-12"]
    [(key, reason)] = outcome.errors.items()
    assert key == "forest_id=281" and "2025-11-01 (EXECUTION_ERROR)" in reason
    # the request, sentinelhub-py's own interval retry, then our 2 interval requests (each
    # again retried once inside sentinelhub-py): bounded, and all for the failing interval
    bodies = server.bodies(STATS)
    assert len(bodies) == 6
    assert all(b["aggregation"]["timeRange"]["from"] == "2025-11-01T00:00:00Z"
               for b in bodies[1:])
    assert not list((tmp_path / "cache").glob("*.json"))
    server.interval_failures.clear()  # the service recovers: a rerun asks again
    again = run(server, frame, cache_dir=tmp_path / "cache")
    assert again.errors == {} and again.requests == 1
    assert again.table["period"].tolist() == ["2025-10", "2025-11", "2025-12"]
    assert len(list((tmp_path / "cache").glob("*.json"))) == 1


def test_5_recorded_response_shapes_are_parsed():
    """Shaped like sentinelhub-py's tests/TestInputs: normal_stat_partial_result (interval
    error as a string), batch_stat_failed_results (as an object), "NaN" strings for an
    interval without clear pixels, percentiles keyed "50.0", histograms with
    underflowCount/overflowCount."""
    def stats(mean, samples, nodata):
        return {"bands": {"B0": {"stats": {
            "min": mean - 0.1 if mean == mean else "NaN", "max": mean + 0.1 if mean == mean
            else "NaN", "mean": mean if mean == mean else "NaN", "stDev": 0.05,
            "sampleCount": samples, "noDataCount": nodata,
            **({"percentiles": {"50.0": mean}} if mean == mean else {})}}}}

    response = {"status": "PARTIAL", "data": [
        {"interval": {"from": "2020-06-07T00:00:00Z", "to": "2020-06-08T00:00:00Z"},
         "error": "EXECUTION_ERROR"},
        {"interval": {"from": "2020-06-09T00:00:00Z", "to": "2020-06-10T00:00:00Z"},
         "error": {"type": "EXECUTION_ERROR"}},
        {"interval": {"from": "2020-06-11T00:00:00Z", "to": "2020-06-12T00:00:00Z"},
         "outputs": {"NDVI": stats(float("nan"), 112, 112),
                     "polygon_pixels": stats(1.0, 112, 12)}},
        {"interval": {"from": "2020-06-12T00:00:00Z", "to": "2020-06-13T00:00:00Z"},
         "outputs": {"NDVI": stats(0.384, 112, 3 + 12),
                     "polygon_pixels": stats(1.0, 112, 12)}}]}
    rows = _rows([response], 7, "id", ["NDVI"], 0.5, "P1D")
    assert [r["period"] for r in rows] == ["2020-06-11", "2020-06-12"]
    empty, full = rows
    assert np.isnan(empty["mean"]) and empty["clear_count"] == 0 and not empty["usable"]
    assert full["pixel_count"] == 100 and full["clear_count"] == 97
    assert full["clear_fraction"] == pytest.approx(0.97) and full["median"] == 0.384


# 6 -------------------------------------------------------------------- CRS and size

def test_6_polygons_go_in_a_supported_crs(hub, sample, tmp_path):
    assert 28356 not in rules.SUPPORTED_EPSG and 32756 in rules.SUPPORTED_EPSG
    server = hub()
    wgs84 = gpd.read_file(sample.forests_wgs84_path).iloc[:1]
    outcome = run(server, wgs84, end=date(2025, 10, 31))
    assert outcome.crs_epsg == 32756 and len(outcome.table) == 1
    assert server.bodies(STATS)[0]["input"]["bounds"]["properties"]["crs"] == \
        "http://www.opengis.net/def/crs/EPSG/0/32756"
    with pytest.raises(ProviderError, match="EPSG:28356 is not a CRS Sentinel Hub supports"):
        process_index_raster(wgs84.to_crs(28356).geometry.iloc[0], crs_epsg=28356,
                             indices=["NDVI"], start=date(2025, 10, 1), end=date(2025, 10, 31),
                             settings=settings_for(server), destination=tmp_path / "x.tif")


def test_6_polygons_without_a_crs_are_refused_with_the_fix(hub, sample):
    server = hub()
    with pytest.raises(ProviderError, match="the polygons have no CRS; set one"):
        run(server, zones(sample, 1).set_crs(None, allow_override=True))
    assert not server.requests_to(STATS)


def test_6_large_sample_matrices_are_split_and_merged(hub, sample, monkeypatch):
    server = hub()
    frame = zones(sample, 1)
    whole = run(server, frame, end=date(2025, 11, 30))
    monkeypatch.setattr(fixture, "MAX_SIDE_PX", 40)  # the service's limit, scaled down
    refused = run(server, frame, end=date(2025, 11, 30))
    assert "exceeds 40 x 40 pixels" in refused.errors["forest_id=281"]
    split = run(server, frame, end=date(2025, 11, 30), max_side_px=40)
    bodies = server.bodies(STATS)[-9:]
    assert len({tuple(b["input"]["bounds"]["bbox"]) for b in bodies}) == 9  # 3 x 3 pieces
    assert bodies[0]["calculations"]["default"]["histograms"]["default"]["binWidth"] == 0.001
    assert split.errors == {} and "split into 9 requests" in split.notes[0]
    for column in ("mean", "std", "min", "max", "pixel_count", "clear_count", "sum"):
        np.testing.assert_allclose(split.table[column], whole.table[column], rtol=1e-9)
    # percentiles from the summed histograms: within the 0.001 bin width of the whole
    usable = whole.table["clear_count"] > 100
    for column in ("p10", "median", "p90"):
        np.testing.assert_allclose(split.table.loc[usable, column],
                                   whole.table.loc[usable, column], atol=0.0015)


# 8 -------------------------------------------------------------------- processing units

def test_8_processing_units_follow_the_documented_rules():
    # ProcessingUnit.qmd "NDVI calculation for a parcel": 20 x 20 px, 2 bands, 16-bit
    assert rules.process_pu(width_px=20, height_px=20, input_bands=["B04", "B08"],
                            float32_output=False) == pytest.approx(0.01 * 2 / 3)
    # "Sentinel-1 change detection" without orthorectification: 1024 px, 4 bands, float, 2
    assert rules.process_pu(width_px=1024, height_px=1024, input_bands=["a", "b", "c", "d"],
                            samples=2) == pytest.approx(4 * 4 / 3 * 2 * 2)
    ndvi = ["B04", "B08", "SCL", "dataMask"]  # dataMask is free: 3 bands -> factor 1
    assert rules.band_factor(ndvi) == 1 and rules.band_factor(["dataMask"]) == pytest.approx(1 / 3)
    # a 1 ha parcel, a year of months: the 0.01 area minimum per interval
    assert rules.statistical_pu(width_px=10, height_px=10, input_bands=ndvi,
                                intervals=12) == pytest.approx(0.12)
    # a 20 x 20 km estate block at 10 m, a year
    assert rules.statistical_pu(width_px=2000, height_px=2000, input_bands=ndvi,
                                intervals=12) == pytest.approx(2000 * 2000 / 512**2 * 12)
    assert rules.statistical_pu(width_px=10, height_px=10, input_bands=ndvi,
                                intervals=0) == 0.01  # per-request minimum
    # ORBIT mosaicking: one sample per acquisition, estimated at one every 5 days
    assert rules.statistical_pu(width_px=10, height_px=10, input_bands=ndvi, intervals=1,
                                samples=7) == pytest.approx(0.07)
    october = rules.time_range(date(2025, 10, 1), date(2025, 10, 31))
    assert rules.acquisitions_estimate(*october) == 7
    assert rules.acquisitions_estimate(*rules.time_range(date(2025, 11, 1),
                                                         date(2025, 11, 30))) == 6
    assert rules.batch_statistical_pu([0.5] * 10) == 100.0
    assert rules.batch_statistical_pu([60.0, 70.0]) == 130.0


def test_8_budget_stops_before_sending_and_counts_what_was_sent(hub, sample, tmp_path):
    server = hub()
    ledger = tmp_path / "usage.json"
    tight = rules.QuotaBudget(pu_per_month=0.05, requests_per_month=100, ledger=ledger)
    with pytest.raises(ProviderError, match="exceeds what is left of this month's budget"):
        run(server, zones(sample), budget=tight, cache_dir=tmp_path / "cache")
    assert not server.requests_to(STATS)  # nothing sent
    budget = rules.QuotaBudget(pu_per_month=10.0, requests_per_month=100, ledger=ledger)
    outcome = run(server, zones(sample), budget=budget, cache_dir=tmp_path / "cache")
    month = datetime.now(timezone.utc).strftime("%Y-%m")
    spent = json.loads(ledger.read_text())[month]
    assert spent["requests"] == 6 and spent["pu"] == pytest.approx(outcome.estimated_pu)
    assert outcome.estimated_pu == pytest.approx(sum(
        rules.statistical_pu(width_px=round((b["input"]["bounds"]["bbox"][2]
                                             - b["input"]["bounds"]["bbox"][0]) / 10),
                             height_px=round((b["input"]["bounds"]["bbox"][3]
                                              - b["input"]["bounds"]["bbox"][1]) / 10),
                             input_bands=["B04", "B08", "SCL"], intervals=3, samples=20)
        for b in server.bodies(STATS)))
    # cached answers cost nothing, so they fit even a spent budget
    spent_out = rules.QuotaBudget(pu_per_month=outcome.estimated_pu, requests_per_month=6,
                                  ledger=ledger)
    again = run(server, zones(sample), budget=spent_out, cache_dir=tmp_path / "cache")
    assert again.requests == 0 and again.table.equals(outcome.table)


# 9 -------------------------------------------------------------------- service behaviour

def test_9_rate_limit_waits_retry_after_milliseconds(hub, sample):
    server = hub(rate_limit_after=0, rate_limit_times=1, retry_after_ms=400)
    began = time.monotonic()
    outcome = run(server, zones(sample, 1), end=date(2025, 10, 31))
    elapsed = time.monotonic() - began
    assert len(outcome.table) == 1 and outcome.stopped is None
    assert len(server.requests_to(STATS)) == 2
    assert 0.4 <= elapsed < 10  # milliseconds, not seconds


def test_9_short_lived_tokens_are_renewed_before_expiry(hub, sample):
    server = hub()
    assert server.token_lifetime == 600  # CDSE tokens live 10 minutes
    short = hub(token_lifetime=121.0)  # sentinelhub-py renews 120 s before expiry
    run(short, zones(sample, 1), end=date(2025, 10, 31))
    time.sleep(1.2)
    run(short, zones(sample).iloc[1:2], end=date(2025, 10, 31))
    assert len(short.requests_to("/oauth/token")) == 2
    tokens = [e["headers"].get("Authorization") for e in short.requests_to(STATS)]
    assert tokens == ["Bearer token-1", "Bearer token-2"]  # renewed, never refused


def test_7_results_location_follows_the_output_url():
    assert results_location("s3://b/out", "abc") == "s3://b/out/abc/<ID>.json"
    assert results_location("s3://b/<REQUEST_ID>/<IDENTIFIER>.json", "abc") == \
        "s3://b/abc/<IDENTIFIER>.json"


def test_8_a_request_over_the_per_minute_limit_is_refused_before_sending(hub, sample):
    server = hub()
    budget = rules.QuotaBudget(pu_per_minute=0.05)  # the free tier allows 300
    # one polygon of about 86 x 99 px (0.0325) x 1 (3 bands) x 20 samples (ORBIT: 7 + 6 + 7
    # expected acquisitions in October-December) = 0.65 PU
    with pytest.raises(ProviderError, match=r"one request would cost 0\.6 PU, more than the "
                                            r"0\.05 PU a minute"):
        run(server, zones(sample, 1), budget=budget)
    assert not server.requests_to(STATS)


def test_1_the_fixture_catches_the_double_offset_and_honours_harmonize_values(hub, sample):
    """The fixture is not the project's model: the old evalscript (baseline from ``scenes``,
    which SIMPLE mosaicking leaves empty, so 1000 DN subtracted again) gives impossible NDVI
    on the harmonised values the service delivers; asking for ``harmonizeValues: false``
    gives the raw offset DNs instead."""
    server = hub()
    run(server, zones(sample, 1), end=date(2025, 10, 31))
    [body] = server.bodies(STATS)
    good = server.statistics(body)["data"][0]["outputs"]["NDVI"]["bands"]["B0"]["stats"]
    old = json.loads(json.dumps(body))
    old["aggregation"]["evalscript"] = body["aggregation"]["evalscript"].replace(
        "function reflectance(dn) {",
        "function reflectance(dn, baseline) {\n  baseline = 5;\n"
        "  return (dn - (baseline >= 4 ? 1000 : 0)) / 10000;\n}\nfunction unused(dn) {")
    bad = server.statistics(old)["data"][0]["outputs"]["NDVI"]["bands"]["B0"]["stats"]
    assert 0.7 < good["mean"] < 0.85 and good["max"] <= 1
    assert bad["max"] > 1.5 or bad["min"] < -1.5  # the 1000 DN double correction
    raw = json.loads(json.dumps(body))
    raw["input"]["data"][0]["processing"]["harmonizeValues"] = False
    unharmonised = server.statistics(raw)["data"][0]["outputs"]["NDVI"]["bands"]["B0"]["stats"]
    # raw DN carry +1000 on both bands: NDVI shrinks towards 0
    assert unharmonised["mean"] < good["mean"] - 0.2


def test_6_percentiles_of_split_pieces_come_from_summed_histograms():
    """Two pieces each carrying the histogram of sentinelhub-py's recorded normal_stat_result
    (10 bins over [-1, 1]: 68, 35 and 6 values in [0.2, 0.8), median 0.3446 recorded)."""
    from raster_collect_plugin.core.sentinel_hub.statistical import _merge_stats

    edges = np.round(np.linspace(-1, 1, 11), 10)
    counts = [0, 0, 0, 0, 0, 0, 68, 35, 6, 0]
    piece = {"stats": {"min": 0.2348, "max": 0.7735, "mean": 0.3840, "stDev": 0.1115,
                       "sampleCount": 112, "noDataCount": 3, "percentiles": {"50.0": 0.3446}},
             "histogram": {"bins": [{"lowEdge": a, "highEdge": b, "count": c}
                                    for a, b, c in zip(edges[:-1], edges[1:], counts)],
                           "overflowCount": 0, "underflowCount": 0}}
    merged = _merge_stats([piece, piece])
    assert merged["sampleCount"] == 224 and merged["noDataCount"] == 6
    assert merged["mean"] == pytest.approx(0.3840) and merged["stDev"] == pytest.approx(0.1115)
    # rank 109 of 218 falls in [0.2, 0.4) holding 136: 0.2 + 109 / 136 * 0.2
    assert merged["percentiles"]["50.0"] == pytest.approx(0.2 + 109 / 136 * 0.2)
    assert abs(merged["percentiles"]["50.0"] - 0.3446) < 0.2  # within the recorded bin width
    assert merged["percentiles"]["90.0"] == pytest.approx(0.4 + (0.9 * 218 - 136) / 70 * 0.2)
