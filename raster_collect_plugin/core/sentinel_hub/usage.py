"""Usage you can trust: the monthly ledger (``rules.QuotaBudget``: estimates, as sent)
reconciled with what the service reports where it reports it.

- Process and Statistical responses carry ``x-processingunits-spent`` (seen on Sentinel Hub
  responses; not in the CDSE documentation, so used only where present): the ledger keeps,
  per month, the reported PU and the estimate of the same requests, and this month's spending
  counts the reported value instead of the estimate for those requests.
- A batch request's status carries ``costPu`` once it ran (``BatchStatistical.qmd``): kept per
  request id (so reading it twice never counts twice) in place of its estimate.

The account's own figures are on the CDSE dashboard (``DASHBOARD_URL``); this tool never
fetches it. Standard library only: the QGIS options page reads this module.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Optional

from .ledger import reconciled_pu, update_month

HEADER = "x-processingunits-spent"
DASHBOARD_URL = "https://shapps.dataspace.copernicus.eu/dashboard/"


def reported_pu(headers: Optional[Mapping[str, Any]]) -> Optional[float]:
    """The PU the service says a response cost (None when it does not say)."""
    for key, value in (headers or {}).items():
        if str(key).lower() == HEADER:
            try:
                return float(value)
            except (TypeError, ValueError):
                return None
    return None


def _month() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m")


def _update(ledger: Optional[Path], change) -> None:
    if ledger is not None:
        update_month(Path(ledger), _month(), change)


def record_reported(ledger: Optional[Path], *, estimated_pu: float, spent_pu: float) -> None:
    """One request whose response said what it cost (its estimate is already in ``pu``)."""
    def change(month: dict) -> None:
        month["reported_pu"] = round(month.get("reported_pu", 0.0) + spent_pu, 6)
        month["reported_estimate_pu"] = round(month.get("reported_estimate_pu", 0.0)
                                              + estimated_pu, 6)
        month["reported_requests"] = month.get("reported_requests", 0) + 1

    _update(ledger, change)


def record_batch_cost(ledger: Optional[Path], request_id: str, *, cost_pu: Optional[float],
                      estimated_pu: float, api: str = "batch", status: Optional[str] = None,
                      started: bool = True) -> None:
    """A batch request in the ledger, the one place batch costs are written: counted once (one
    request; its estimate if it was started, since a request stopped or failed before
    ``start`` costs nothing), and its ``costPu`` once known, in place of that estimate.
    Calling again for the same request id updates it (reading a status twice never counts
    twice)."""
    def change(month: dict) -> None:
        batches = month["batches"] = _as_dict(month.get("batches"))
        old = batches.get(request_id)
        counted = round(float(estimated_pu), 6) if started else 0.0
        month["pu"] = round(month.get("pu", 0.0) + counted
                            - (old.get("counted_pu", 0.0) if old else 0.0), 6)
        month["requests"] = month.get("requests", 0) + (0 if old else 1)
        batches[request_id] = {
            "api": api, "status": status, "estimated_pu": round(float(estimated_pu), 6),
            "counted_pu": counted, "cost_pu": None if cost_pu is None else float(cost_pu)}

    _update(ledger, change)


@dataclass
class MonthUsage:
    """This month's spending as the ledger knows it."""

    month: str
    estimated_pu: float  # what was estimated before sending
    pu: float  # reconciled: reported values where the service gave them
    requests: int
    reported_requests: int
    batches: int
    budget_pu: float

    def sentence(self) -> str:
        """One line for the options page."""
        reported = (f"; the service reported the cost of {self.reported_requests} of "
                    f"{self.requests} requests" if self.reported_requests else
                    "; no cost reported by the service yet")
        if self.batches:
            reported += f" and of {self.batches} batch request(s)"
        return (f"{self.month}: {self.pu:,.2f} PU of {self.budget_pu:,.0f} PU budget "
                f"({self.pu / self.budget_pu:.0%}) in {self.requests} requests{reported}. "
                "Only this computer's requests are counted: the CDSE dashboard shows the "
                "account's.") if self.budget_pu else f"{self.month}: {self.pu:,.2f} PU"


def month_usage(ledger: Path, budget_pu: float) -> MonthUsage:
    """This month's usage from the ledger file (zeros when it does not exist)."""
    path = Path(ledger)
    data = json.loads(path.read_text()) if path.exists() else {}
    month = data.get(_month(), {})
    return MonthUsage(_month(), float(month.get("pu", 0.0)), reconciled_pu(month),
                      int(month.get("requests", 0)), int(month.get("reported_requests", 0)),
                      sum(1 for b in _batches(month) if b.get("cost_pu") is not None),
                      float(budget_pu))


def _batches(month: dict) -> list:
    return list(_as_dict(month.get("batches")).values())


def _as_dict(batches) -> dict:
    """The ledger's batches by request id; an early ledger kept a list whose ``pu`` already
    held each request's charge (``reported_pu``, else its estimate): read it as counted."""
    if isinstance(batches, dict):
        return batches
    out = {}
    for entry in batches or []:
        reported = entry.get("reported_pu")
        counted = reported if reported is not None else entry.get("estimated_pu", 0.0)
        out[entry["request_id"]] = {
            "api": entry.get("api"), "status": entry.get("status"),
            "estimated_pu": entry.get("estimated_pu", 0.0), "counted_pu": counted,
            "cost_pu": reported}
    return out


def get_and_record(request, *, save: bool, max_wait_seconds: float, budget,
                   estimated_pu: float) -> list:
    """``get_data`` of a sentinelhub request, decoded, with its estimate written to the
    budget's ledger and, when the response says what it cost, that too."""
    from .client import _get_with_fresh_token

    responses = _get_with_fresh_token(request, save=save, max_wait_seconds=max_wait_seconds,
                                      decode=False)
    if budget is not None:  # PU are charged only for 2XX responses
        budget.record(pu=estimated_pu, requests=1)
        spent = [reported_pu(getattr(r, "headers", None)) for r in responses]
        if spent and all(s is not None for s in spent):
            record_reported(budget.ledger, estimated_pu=estimated_pu, spent_pu=sum(spent))
    return [r.decode() if hasattr(r, "decode") else r for r in responses]
