"""Issue 29, usage you can trust: the ledger reconciled with what the service reports
(``x-processingunits-spent``, batch ``costPu``), and the options page showing this month's
spending against the budget with a link to the CDSE dashboard (headless)."""

from __future__ import annotations

import json

import pytest

from raster_collect_plugin.core.sentinel_hub import usage
from raster_collect_plugin.core.sentinel_hub.rules import QuotaBudget


def test_reported_costs_replace_estimates_and_batches_count_once(tmp_path):
    ledger = tmp_path / "usage.json"
    budget = QuotaBudget(pu_per_month=100.0, ledger=ledger)
    budget.record(pu=2.0, requests=1)  # no header: the estimate stays
    budget.record(pu=3.0, requests=1)
    usage.record_reported(ledger, estimated_pu=3.0, spent_pu=1.25)
    assert budget.spent() == (pytest.approx(3.25), 2)
    for cost in (None, 140.0):  # started (the 100 PU minimum), then its costPu: counted once
        usage.record_batch_cost(ledger, "b-1", cost_pu=cost, estimated_pu=100.0)
    assert budget.spent()[1] == 3
    usage.record_batch_cost(ledger, "b-2", cost_pu=None, estimated_pu=100.0, started=False)
    assert budget.spent() == (pytest.approx(143.25), 4)  # b-2 stopped before start: 0 PU
    assert budget.check(pu=1.0, requests=1) is not None  # over the 100 PU budget
    month = usage.month_usage(ledger, 100.0)
    assert (month.estimated_pu, month.pu, month.reported_requests, month.batches) == (
        105.0, pytest.approx(143.25), 1, 1)
    assert usage.reported_pu({"X-ProcessingUnits-Spent": "0.5"}) == 0.5
    assert usage.reported_pu({"content-type": "image/tiff"}) is None


def test_options_page_shows_this_months_usage_and_the_dashboard_link(qgis_app, tmp_path,
                                                                       monkeypatch):
    from qgis.PyQt.QtWidgets import QLabel

    from raster_collect_plugin import settings
    from raster_collect_plugin.gui.copernicus_usage import CopernicusUsageBox

    ledger = tmp_path / "usage.json"
    monkeypatch.setenv("RASTER_COLLECT_SH_LEDGER", str(ledger))
    QuotaBudget(ledger=ledger).record(pu=40.0, requests=8)
    usage.record_reported(ledger, estimated_pu=10.0, spent_pu=4.0)
    before = settings.value("copernicus/pu_budget")
    settings.set_value("copernicus/pu_budget", 200.0)
    try:
        box = CopernicusUsageBox()
        text = box.usage_label.text()
        assert "34.00 PU of 200 PU budget (17%) in 8 requests" in text
        assert "reported the cost of 1 of 8 requests" in text
        link = box.findChild(QLabel, "dashboard_link")
        assert usage.DASHBOARD_URL in link.text() and link.openExternalLinks()
        box.budget_spin.setValue(50.0)
        box.apply()
        assert settings.value("copernicus/pu_budget") == 50.0
        assert "(68%)" in box.usage_label.text()
        assert json.loads(ledger.read_text())  # the page only reads the ledger

        from raster_collect_plugin.gui.engine_options import EngineOptionsPage

        page = EngineOptionsPage()  # the plugin's options page holds the box
        assert "(68%)" in page.findChild(CopernicusUsageBox).usage_label.text()
        page.deleteLater()
    finally:
        settings.set_value("copernicus/pu_budget", before)


def test_an_early_ledger_with_a_list_of_batches_is_read_and_kept(tmp_path):
    """The batch branch first kept ``batches`` as a list with the charge already in ``pu``."""
    ledger = tmp_path / "usage.json"
    month_key = usage._month()
    ledger.write_text(json.dumps({month_key: {"pu": 120.0, "requests": 2, "batches": [
        {"api": "batch-statistical", "request_id": "a", "status": "DONE",
         "estimated_pu": 100.0, "reported_pu": 120.0}]}}))
    budget = QuotaBudget(pu_per_month=1000.0, ledger=ledger)
    assert budget.spent() == (pytest.approx(120.0), 2)
    assert usage.month_usage(ledger, 1000.0).batches == 1
    usage.record_batch_cost(ledger, "b", cost_pu=130.0, estimated_pu=100.0)
    assert budget.spent() == (pytest.approx(250.0), 3)
    assert set(json.loads(ledger.read_text())[month_key]["batches"]) == {"a", "b"}


@pytest.fixture(scope="module")
def one_scene_sample(tmp_path_factory):
    from tests.sentinel_hub_helpers import monthly_sample

    return monthly_sample(tmp_path_factory.mktemp("sh-usage-sample"))


def test_reported_costs_of_statistics_and_process_are_this_months_figure(
        qgis_app, one_scene_sample, tmp_path, monkeypatch, capsys):
    """The fixture sends ``x-processingunits-spent`` on every 200 Statistical and Process
    answer (report_pu): the ledger keeps them, and the options page's month figure is their
    sum, not the estimates'."""
    from raster_collect_plugin import cli, settings
    from raster_collect_plugin.gui.copernicus_usage import CopernicusUsageBox
    from tests.sentinel_hub_helpers import server_starter

    client_id, secret = "rc-usage-client", "usage-secret-3b9e"
    starter = server_starter(one_scene_sample, monkeypatch, client_id, secret)
    start = next(starter)
    try:
        server = start(report_pu=True)
        ledger = tmp_path / "usage.json"
        monkeypatch.setenv("RASTER_COLLECT_SH_LEDGER", str(ledger))
        monkeypatch.setenv("SH_CLIENT_ID", client_id)
        monkeypatch.setenv("SH_CLIENT_SECRET", secret)
        common = ["--json", "sentinel-hub", "--gpkg", str(one_scene_sample.forests_path),
                  "--start", "2025-10-01", "--end", "2025-11-30", "--base-url",
                  server.base_url, "--token-url", server.token_url, "--usage-ledger",
                  str(ledger)]
        assert cli.main([*common, "--output", str(tmp_path / "stats")]) == 0
        stats = json.loads(capsys.readouterr().out)
        assert cli.main([*common, "--raster", "--output", str(tmp_path / "raster")]) == 0
        raster = json.loads(capsys.readouterr().out)
    finally:
        next(starter, None)
    billable = server.billable_requests()
    assert len(server.reported) == len(billable) == stats["requests"] + raster["tiles"] == 7
    [month] = json.loads(ledger.read_text()).values()
    assert month["reported_requests"] == 7
    spent = sum(server.reported)
    estimated = stats["estimated_processing_units"] + raster["estimated_processing_units"]
    assert month["pu"] == pytest.approx(estimated) and abs(spent - estimated) > 0.01
    month_usage = usage.month_usage(ledger, 300.0)
    assert month_usage.pu == pytest.approx(spent, abs=1e-5)
    before = settings.value("copernicus/pu_budget")
    settings.set_value("copernicus/pu_budget", 300.0)
    try:
        box = CopernicusUsageBox()
        text = box.usage_label.text()
    finally:
        settings.set_value("copernicus/pu_budget", before)
    assert f"{spent:,.2f} PU of 300 PU budget" in text
    assert "reported the cost of 7 of 7 requests" in text
