"""The Catalog API's Filter and Fields extensions as the loopback Sentinel Hub applies them,
written from the CDSE documentation (eu-cdse/documentation, APIs/SentinelHub/Catalog.qmd,
"Extensions"): CQL2 text comparisons (``eq``/``=``, ``neq``/``<>``, ``lt``, ``lte``, ``gt``,
``gte``) joined by ``and`` (the only logical operator supported), and ``fields`` include/exclude
around the default set."""

from __future__ import annotations

import re
from typing import Callable, List, Optional

DEFAULT_FIELDS = ("id", "type", "geometry", "bbox", "links", "assets", "properties.datetime")
_OPERATORS = {"=": lambda a, b: a == b, "<>": lambda a, b: a != b, "<": lambda a, b: a < b,
              "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}
_COMPARISON = re.compile(r"\s*([\w:.\-]+)\s*(<=|>=|<>|=|<|>)\s*('(?:[^']*)'|-?[\d.]+)\s*")


def cql2_text_filter(text: Optional[str]) -> Callable[[dict], bool]:
    """A predicate on an item from a CQL2 text filter; ValueError for what the service does
    not accept (so the fixture answers 400)."""
    if not text:
        return lambda item: True
    tests = []
    for part in re.split(r"\s+and\s+", text, flags=re.IGNORECASE):
        match = _COMPARISON.fullmatch(part)
        if not match:
            raise ValueError(f"cannot parse filter {part!r}")
        name, operator, literal = match.groups()
        value = literal[1:-1] if literal.startswith("'") else float(literal)
        tests.append((name, _OPERATORS[operator], value))

    def accept(item: dict) -> bool:
        properties = item.get("properties", {})
        for name, compare, value in tests:
            # sentinelhub-py adds its collection's own filters (e.g. s2:processing_baseline)
            # that the synthetic scenes do not carry: a missing property does not exclude
            if name in properties and not compare(properties[name], value):
                return False
        return True

    return accept


def trim_fields(item: dict, fields: Optional[dict]) -> dict:
    """The item as the ``fields`` extension returns it (no ``fields``: everything)."""
    if fields is None:
        return item
    include: List[str] = [*DEFAULT_FIELDS, *(fields.get("include") or [])]
    exclude = set(fields.get("exclude") or [])
    kept = [name for name in include if name not in exclude]
    out: dict = {}
    for name in kept:
        top, _, sub = name.partition(".")
        if top not in item:
            continue
        if not sub:
            out[top] = item[top]
        elif sub in item[top]:
            out.setdefault(top, {})[sub] = item[top][sub]
    return out
