"""The monthly usage ledger file: the one writer (``update_month``) and the one reading of a
month's processing units (``reconciled_pu``). ``rules.QuotaBudget`` records estimates as sent,
``usage`` the costs the service reported; both go through here. Standard library only: both
read it without a circle, and the QGIS options page reads it.

A month holds ``pu``/``requests`` (estimates as sent, batch requests included once),
``reported_pu``/``reported_estimate_pu``/``reported_requests`` (responses that carried
``x-processingunits-spent``) and ``batches`` (request id -> ``api``, ``status``,
``estimated_pu``, ``counted_pu`` (the part of ``pu`` that is this request's), ``cost_pu``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Mapping


def update_month(ledger: Path, month: str, change: Callable[[dict], None]) -> None:
    """Apply ``change`` to the ledger's ``month`` and write the file back atomically."""
    path = Path(ledger)
    data = json.loads(path.read_text()) if path.exists() else {}
    change(data.setdefault(month, {"pu": 0.0, "requests": 0}))
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(data, indent=1))
    temporary.replace(path)


def reconciled_pu(month: Mapping[str, Any]) -> float:
    """A month's PU: estimates, except where the service reported the cost."""
    pu = float(month.get("pu", 0.0))
    pu += float(month.get("reported_pu", 0.0)) - float(month.get("reported_estimate_pu", 0.0))
    batches = month.get("batches") or {}
    # a list is an early ledger whose ``pu`` already holds the batches' reported cost
    for batch in batches.values() if isinstance(batches, dict) else ():
        if batch.get("cost_pu") is not None:
            counted = batch.get("counted_pu", batch.get("estimated_pu", 0.0))
            pu += float(batch["cost_pu"]) - float(counted)
    return max(pu, 0.0)
