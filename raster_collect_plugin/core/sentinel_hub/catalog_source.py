"""The Catalog API as a job source (``{"kind": "copernicus"}``): Sentinel-2 L2A scenes found
on the Copernicus Data Space like the STAC providers' (search only: the items carry no COG
assets), every page budgeted and written to the usage ledger."""

from __future__ import annotations

from typing import Any, Dict

from .catalog import CopernicusProvider
from .client import CopernicusSettings
from .rules import QuotaBudget, default_usage_ledger


def copernicus_source(entry: Dict[str, Any]) -> CopernicusProvider:
    """The provider of a job's source entry (``url``/``token_url`` default to CDSE's,
    ``pu_budget`` to the free tier's 10,000 PU a month); credentials from SH_CLIENT_ID /
    SH_CLIENT_SECRET in the environment."""
    from ..sources.endpoints import CDSE_BASE_URL, CDSE_TOKEN_URL

    settings = CopernicusSettings(base_url=entry.get("url") or CDSE_BASE_URL,
                                  token_url=entry.get("token_url") or CDSE_TOKEN_URL)
    pu_budget = entry.get("pu_budget")
    budget = QuotaBudget(ledger=default_usage_ledger()) if pu_budget is None else \
        QuotaBudget(pu_per_month=float(pu_budget), ledger=default_usage_ledger())
    return CopernicusProvider(entry.get("name") or "Copernicus Data Space", settings,
                              budget=budget)
