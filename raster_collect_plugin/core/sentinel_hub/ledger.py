"""A ledger month's processing units, reconciled (``usage`` writes the reported values;
``rules.QuotaBudget`` checks against this). No imports: both read it without a circle."""

from __future__ import annotations

from typing import Any, Mapping


def reconciled_pu(month: Mapping[str, Any]) -> float:
    """A month's PU: estimates, except where the service reported the cost."""
    pu = float(month.get("pu", 0.0))
    pu += float(month.get("reported_pu", 0.0)) - float(month.get("reported_estimate_pu", 0.0))
    for batch in (month.get("batches") or {}).values():
        pu += float(batch.get("cost_pu", 0.0)) - float(batch.get("estimated_pu", 0.0))
    return max(pu, 0.0)
