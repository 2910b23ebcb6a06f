"""The headline lines of a validation summary (``validation.json``, a validate job's result)
in words, for every door (the command line prints them, Processing logs them). Plain Python:
light enough for QGIS's own interpreter.

How to call::

    from raster_collect_plugin.core.validation.headline import headline_lines
    print("\n".join(headline_lines(result)))
"""

from __future__ import annotations

from typing import Dict, List

UNITS = {"days": "days", "observations": "clear observations"}


def score(value) -> str:
    """A score with 3 decimals, 'n/a' for None or NaN (nothing to score)."""
    return "n/a" if value is None or value != value else f"{value:.3f}"


def headline_lines(result: Dict) -> List[str]:
    """Compartment and pixel scores, the delays (days and clear observations) and the count
    of references not scored."""
    lines = []
    for level in ("compartment", "pixel"):
        s = result[level]
        lines.append(f"{level}: precision {score(s['precision'])}, recall "
                     f"{score(s['recall'])}, F1 {score(s['f1'])} (TP {s['tp']}, FP {s['fp']}, "
                     f"FN {s['fn']})")
    for name, per in result["delay"].items():
        parts = [f"mean {score(v['mean'])} / median {score(v['median'])} "
                 f"{UNITS.get(unit, unit)}" for unit, v in per.items()]
        lines.append(f"delay to {name.replace('_', ' ')}: " + "; ".join(parts)
                     + f" ({per['days']['n']} pixels)")
    unscored = result.get("not_scored") or []
    if unscored:
        reasons = sorted({entry["reason"].split(" (")[0].split(":")[0] for entry in unscored})
        lines.append(f"not scored: {len(unscored)} reference polygon(s) ({'; '.join(reasons)})"
                     ": listed with their reasons in validation.json and the report")
    return lines
