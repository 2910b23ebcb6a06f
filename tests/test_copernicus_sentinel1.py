"""Sentinel-1 GRD on the Copernicus Data Space as the storm's radar evidence: the documented
request (data type, backCoeff, orthorectify, demInstance, ORBIT mosaicking, dB in the
evalscript), the same window composites as the local radar path, and the same storm ranking
when Planetary Computer (here the sample's RTC scenes through STAC) is not used for radar."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pytest
import rasterio

from raster_collect_plugin.core.composites.requests import CompositeRequest, Source
from raster_collect_plugin.core.sample import scenes as sd
from raster_collect_plugin.core.sentinel_hub.rules import QuotaBudget
from raster_collect_plugin.core.sentinel_hub.sentinel1 import (
    Sentinel1Options,
    SentinelHubRadar,
    window_pu,
)
from raster_collect_plugin.core.sources.providers import StaticCatalogProvider
from raster_collect_plugin.core.storm.assessment import StormRequest, run_storm
from tests.sentinel_hub_helpers import server_starter, settings_for
from tests.servers.sentinel_hub_s1 import Sentinel1Server

CLIENT_ID, SECRET = "rc-s1-client", "s3cr3t-s1-never-in-outputs"


@pytest.fixture
def hub(small_sample, monkeypatch):
    for start in server_starter(small_sample, monkeypatch, CLIENT_ID, SECRET, Sentinel1Server):
        yield start()


def storm(sample, output, collections, **extra):
    provider = StaticCatalogProvider("Sample", str(sample.catalog_path))
    composites = CompositeRequest(aoi=sample.forests_path, sources=[Source(provider, collections)],
                                  start=date(2025, 1, 1), end=date(2025, 12, 31),
                                  output_dir=output, max_cloud_cover=100)
    return run_storm(StormRequest(composites, event_date=sample.spec.storm_date, **extra))


def test_options_follow_the_documentation():
    with pytest.raises(ValueError, match="orthorectify"):
        Sentinel1Options(back_coeff="GAMMA0_TERRAIN", orthorectify=False)
    with pytest.raises(ValueError, match="backCoeff"):
        Sentinel1Options(back_coeff="GAMMA0")
    # 512 x 512 px, VV + VH (2/3), FLOAT32 (x2), 5 orbits in 30 days, RTC x2.5
    assert window_pu(512, 512, 30, Sentinel1Options()) == pytest.approx(2 / 3 * 2 * 5 * 2.5)
    assert window_pu(512, 512, 30, Sentinel1Options("SIGMA0_ELLIPSOID")) == pytest.approx(
        2 / 3 * 2 * 5 * 2)


def test_sentinel_hub_radar_gives_the_local_radar_evidence(hub, small_sample, tmp_path):
    ledger = tmp_path / "ledger.json"
    radar = SentinelHubRadar(settings_for(hub, CLIENT_ID, SECRET), budget=QuotaBudget(
        ledger=ledger))
    remote = storm(small_sample, tmp_path / "hub", (sd.S2_COLLECTION,), sentinel_hub_radar=radar)
    local = storm(small_sample, tmp_path / "local", (sd.S2_COLLECTION, sd.S1_COLLECTION))

    bodies = hub.bodies("/api/v1/process")
    assert len(bodies) == 3  # early, before, after
    data = bodies[0]["input"]["data"][0]
    assert data["type"] == "sentinel-1-grd" and data["processing"] == {
        "backCoeff": "GAMMA0_TERRAIN", "orthorectify": True, "demInstance": "COPERNICUS_30"}
    assert data["dataFilter"]["acquisitionMode"] == "IW" and \
        data["dataFilter"]["polarization"] == "DV"
    assert 'mosaicking: "ORBIT"' in bodies[0]["evalscript"]
    month = json.loads(ledger.read_text()).popitem()[1]
    assert month["requests"] == 3 and month["pu"] > 0
    # the service's x-processingunits-spent (orbits actually found, every 12 days here)
    # replaces the estimate (one orbit every 6 days): the budget counts what was charged
    assert len(hub.reported) == month["reported_requests"] == 3
    assert month["reported_pu"] == pytest.approx(sum(hub.reported), abs=1e-5)
    assert month["reported_pu"] < month["pu"] * 0.8
    assert QuotaBudget(ledger=ledger).spent() == (pytest.approx(sum(hub.reported), abs=1e-5), 3)

    ours = tmp_path / "hub" / "sentinel-hub_sentinel-1-grd_VH.tif"
    theirs = next((tmp_path / "local").rglob("*sentinel-1-rtc_VH*.tif"))
    with rasterio.open(ours) as a, rasterio.open(theirs) as b:
        assert a.descriptions == b.descriptions == ("early", "before", "after")
        col = int(round((a.transform.c - b.transform.c) / 10))
        row = int(round((b.transform.f - a.transform.f) / 10))
        assert a.res == b.res == (10, 10) and col >= 0 and row >= 0
        mine = a.read()
        window = b.read()[:, row:row + a.height, col:col + a.width]
    both = np.isfinite(mine) & np.isfinite(window)
    assert both.sum() == np.isfinite(window).sum() == np.isfinite(mine).sum() > 0
    np.testing.assert_allclose(mine[both], window[both], atol=1e-3)  # dB

    assert "radar" in set(remote.ranking["evidence"]) or "both" in set(remote.ranking["evidence"])
    columns = ["forest_id", "damage_class", "evidence"]
    a = remote.ranking[columns].sort_values("forest_id").reset_index(drop=True)
    b = local.ranking[columns].sort_values("forest_id").reset_index(drop=True)
    assert a.equals(b), (a, b)
    np.testing.assert_allclose(
        remote.ranking.sort_values("forest_id")["radar_damaged_fraction"],
        local.ranking.sort_values("forest_id")["radar_damaged_fraction"], atol=1e-6)


def test_storm_command_line_takes_radar_from_sentinel_hub(hub, small_sample, tmp_path,
                                                          monkeypatch, capsys):
    from raster_collect_plugin import cli
    from raster_collect_plugin.core.jobs import JobError, validate_spec

    monkeypatch.setenv("SH_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("SH_CLIENT_SECRET", SECRET)
    monkeypatch.setenv("RASTER_COLLECT_SH_LEDGER", str(tmp_path / "ledger.json"))
    code = cli.main(["--json", "storm", "--gpkg", str(small_sample.forests_path),
                     "--catalog", str(small_sample.catalog_path),
                     "--collections", sd.S2_COLLECTION,
                     "--event-date", small_sample.spec.storm_date.isoformat(),
                     "--output", str(tmp_path / "out"), "--sentinel-hub-radar",
                     "--sentinel-hub-url", hub.base_url, "--sentinel-hub-token-url",
                     hub.token_url])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert sorted(result["damaged"]) == sorted(small_sample.damaged_ids)
    assert len(hub.bodies("/api/v1/process")) == 3
    assert json.loads((tmp_path / "ledger.json").read_text()).popitem()[1]["requests"] == 3
    with pytest.raises(JobError, match="sentinel_hub_radar"):
        validate_spec({"kind": "storm", "aoi": "a.gpkg", "event_date": "2025-11-13",
                       "output_dir": "out", "sentinel_hub_radar": "yes"})
