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
    budget.record(pu=100.0, requests=1)  # a batch estimate (the 100 PU minimum)
    for _ in range(2):  # status read twice: counted once
        usage.record_batch_cost(ledger, "b-1", cost_pu=140.0, estimated_pu=100.0)
    assert budget.spent() == (pytest.approx(143.25), 3)
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
