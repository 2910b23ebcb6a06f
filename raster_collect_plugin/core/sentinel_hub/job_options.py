"""What a job spec says about Sentinel Hub, read one way by every job kind: the deployment
(``base_url``, ``token_url``; CDSE by default) and the monthly budget (``pu_budget``,
``request_budget``: the free tier's 10,000 each by default; ``usage_ledger``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict


def settings_from_spec(spec: Dict[str, Any]):
    """The ``CopernicusSettings`` a job spec names."""
    from ..sources.endpoints import CDSE_BASE_URL, CDSE_TOKEN_URL
    from .client import CopernicusSettings

    return CopernicusSettings(base_url=spec.get("base_url") or CDSE_BASE_URL,
                              token_url=spec.get("token_url") or CDSE_TOKEN_URL)


def budget_from_spec(spec: Dict[str, Any]):
    """The ``QuotaBudget`` a job spec names (its ledger: ``usage_ledger`` or the user's)."""
    from .rules import FREE_TIER, QuotaBudget, default_usage_ledger

    pu, requests = spec.get("pu_budget"), spec.get("request_budget")
    return QuotaBudget(
        pu_per_month=float(FREE_TIER["pu_per_month"] if pu is None else pu),
        requests_per_month=int(FREE_TIER["requests_per_month"] if requests is None
                               else requests),
        ledger=Path(spec.get("usage_ledger") or default_usage_ledger()))
