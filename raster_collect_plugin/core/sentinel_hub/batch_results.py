"""Batch Statistical results read back from the bucket into the local engine's table, and the
cost the service reported written to the usage ledger beside the estimate.

Each result is one JSON file per feature (BatchStatistical.qmd "Processing results"), shaped
as sentinelhub-py's recorded tests/TestInputs/batch_stat_results.json and
batch_stat_failed_results.json: ``{"id", "identifier", "response": {"data": [...],
"status"}}``, or ``"response": null`` / ``"error": {...}`` for a feature that failed.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import pandas as pd

from ..zonal.reduce import STATISTICS
from . import rules as rules
from .bucket import list_files, read_bytes
from .statistical import _interval_error, _rows
from .units import polygon_pixels


def results_prefix(results_url: str) -> str:
    """The folder of a request's results (``results_location`` without the file part)."""
    return results_url.rsplit("/", 1)[0] + "/"


def batch_statistics_table(prefix: str, zones, identifiers: Dict[str, object], *,
                           id_field: str, indices: Sequence[str], resolution: float,
                           min_clear_fraction: float = 0.5, interval: str = "P1M"
                           ) -> Tuple[pd.DataFrame, Dict[str, str]]:
    """The per-feature JSON files under ``prefix`` as the local engine's long table
    (``identifier`` mapped back to the forest id), and what is missing: features without a
    result, failed features, failed intervals. ``zones`` are in the request's CRS."""
    geometries = {str(zone_id): geometry for zone_id, geometry
                  in zip(zones[id_field], zones.geometry)}
    rows: List[dict] = []
    errors: Dict[str, str] = {}
    seen = set()
    for url in list_files(prefix, ".json"):
        result = json.loads(read_bytes(url))
        if not isinstance(result, dict) or "identifier" not in result and "id" not in result:
            continue
        identifier = str(result.get("identifier", result.get("id")))
        if identifier not in identifiers:
            continue
        seen.add(identifier)
        zone_id = identifiers[identifier]
        key = f"{id_field}={zone_id}"
        response = result.get("response")
        if not response:
            errors[key] = f"{key}: no statistics ({_describe(result.get('error'))})"
            continue
        geometry = geometries[identifier]
        footprint = polygon_pixels(geometry, rules.snapped_bounds(geometry.bounds, resolution),
                                   resolution)
        rows += _rows([response], zone_id, id_field, indices, min_clear_fraction, interval,
                      footprint)
        failed = [f"{item['interval']['from'][:10]} ({_interval_error(item)})"
                  for item in response.get("data") or [] if _interval_error(item)]
        if failed:
            errors[key] = f"{key}: intervals failed on the service: " + ", ".join(failed)
    for identifier, zone_id in identifiers.items():
        if identifier not in seen:
            errors[f"{id_field}={zone_id}"] = f"{id_field}={zone_id}: no result in {prefix}"
    columns = [id_field, "period", "provider", "collection", "index", *STATISTICS, "usable"]
    return pd.DataFrame(rows, columns=columns), errors


def _describe(error) -> str:
    if isinstance(error, dict):
        return str(error.get("type") or error.get("message") or error)
    return str(error) if error else "the service wrote none"


def record_batch_cost(budget: Optional[rules.QuotaBudget], *, api: str, request_id: str,
                      estimated_pu: float, reported_pu: Optional[float], status: str,
                      started: bool) -> None:
    """Count a batch request in the month's ledger: the PU the service reported
    (``costPu``) when it did, else the estimate if it was started (a request stopped or failed
    before ``start`` costs nothing); and keep both side by side (``batches``) so the ledger can
    be reconciled with the CDSE dashboard."""
    if budget is None or budget.ledger is None:
        return
    charged = reported_pu if reported_pu is not None else (estimated_pu if started else 0.0)
    path = Path(budget.ledger)
    data = json.loads(path.read_text()) if path.exists() else {}
    month = data.setdefault(datetime.now(timezone.utc).strftime("%Y-%m"),
                            {"pu": 0.0, "requests": 0})
    month["pu"] = round(month["pu"] + charged, 6)
    month["requests"] += 1
    month.setdefault("batches", []).append({
        "api": api, "request_id": request_id, "status": status,
        "estimated_pu": round(float(estimated_pu), 6), "reported_pu": reported_pu})
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(data, indent=1))
    temporary.replace(path)
