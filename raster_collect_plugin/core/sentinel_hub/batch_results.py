"""Batch Statistical results read back from the bucket into the local engine's table (the cost
the service reported goes to the usage ledger through ``usage.record_batch_cost``).

Each result is one JSON file per feature (BatchStatistical.qmd "Processing results"), shaped
as sentinelhub-py's recorded tests/TestInputs/batch_stat_results.json and
batch_stat_failed_results.json: ``{"id", "identifier", "response": {"data": [...],
"status"}}``, or ``"response": null`` / ``"error": {...}`` for a feature that failed.
"""

from __future__ import annotations

import json
from typing import Dict, List, Sequence, Tuple

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
