"""What a refused rerun says: what differs between the run whose results an output folder
holds and this one, in the door's words. A job spec's keys by default (the dock and
Processing send job specs); the command line passes ``name``, which gives its options."""

from __future__ import annotations

import json
from typing import Callable, List, Mapping, Tuple

from .defaults import REPLACE_ADVICE

# a parameter key -> (the door's word for it, the factor from the key's unit to the word's)
Namer = Callable[[str], Tuple[str, float]]

# the kinds of run record, as a user knows them: a zonal run of every forest at once and one
# forest at a time keep their files differently, so one cannot resume or add to the other
KIND_WORDS = {
    "zonal": "a zonal run of every forest at once (a job spec, the dock, Processing, or "
             "zonal into s3://)",
    "zonal-forests": "a zonal run one forest at a time (raster-collect zonal into a folder)",
}
_RERUN = {"zonal": "to add to them, rerun with the door that wrote them",
          "zonal-forests": "to add to them, rerun raster-collect zonal"}


def spec_words(key: str) -> Tuple[str, float]:
    """A parameter key in a job spec's words: the key itself (the polygons' fingerprint: the
    forests chosen, in words the dock and Processing share)."""
    if key == "geometry":
        return "forests (the selection, or their polygons)", 1.0
    return key, 1.0


def differences(old: Mapping, new: Mapping) -> List[str]:
    """The parameter keys that changed between two run records (``thresholds.x`` inside a
    mapping; "scenes" for the scene ids; "source names (...)" when only those changed)."""
    changed = []
    old_p, new_p = old.get("parameters") or {}, new.get("parameters") or {}
    for key in sorted(k for k in set(old_p) | set(new_p) if old_p.get(k) != new_p.get(k)):
        before, after = old_p.get(key), new_p.get(key)
        if isinstance(before, dict) and isinstance(after, dict):  # e.g. monitoring.threshold
            changed += [f"{key}.{name}" for name in sorted(set(before) | set(after))
                        if before.get(name) != after.get(name)] or [key]
        elif key == "sources" and _renamed(before, after):
            changed.append("source names (" + ", ".join(
                f"{a!r} is now {b!r}" for a, b in _renamed(before, after)) + ")")
        else:
            changed.append(key)
    if old.get("item_ids") != new.get("item_ids"):
        changed.append("scenes")
    return changed


def conflict_message(location, old: Mapping, record: Mapping, name: Namer = spec_words) -> str:
    """The line refusing a run (``record``) into ``location``, which holds the results of
    another (``old``): what differs, each in ``name``'s words with both values when short, or
    the other kind of run, and the way out."""
    kind, new_kind = old.get("kind"), record.get("kind")
    if kind and kind != new_kind:  # another kind of run: its parameters all differ
        theirs, ours = (KIND_WORDS.get(k, f"a {k} run") for k in (kind, new_kind))
        rerun = f"{_RERUN[kind]}, or " if kind in _RERUN and new_kind in _RERUN else ""
        return (f"{location} holds results of {theirs}, not of {ours}: the two keep their "
                f"files differently; {rerun}{REPLACE_ADVICE}")
    changed = differences(old, record)
    words = [_worded(key, old, record, name) for key in changed]
    return (f"{location} holds results of another run (different "
            f"{', '.join(words) or 'inputs'}): {REPLACE_ADVICE}")


def _worded(key: str, old: Mapping, new: Mapping, name: Namer) -> str:
    if key == "scenes" or key.startswith("source names"):
        return key
    word, factor = name(key)
    values = [_value(record.get("parameters") or {}, key, factor) for record in (old, new)]
    if None in values or key == "geometry":
        return word
    return f"{word} (the folder's run: {values[0]}, this run: {values[1]})"


def _value(parameters: Mapping, key: str, factor: float):
    """A parameter's value as a user typed it, or None when it is long (a list of sources)."""
    value = parameters
    for part in key.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    if isinstance(value, bool) or value is None:
        return "none" if value is None else str(value).lower()
    if isinstance(value, (int, float)):
        return f"{value * factor:g}"
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        value = ",".join(value) or "none"
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= 40 else None


def _renamed(before, after) -> List[Tuple[str, str]]:
    """(old, new) names when two ``describe_sources`` lists differ in their names alone (a
    folder written by an older version, which named --catalog's source 'catalog')."""
    if not (isinstance(before, list) and isinstance(after, list)) or len(before) != len(after):
        return []

    def unnamed(sources):
        return sorted((json.dumps({k: v for k, v in s.items() if k != "name"}, sort_keys=True),
                       s.get("name")) for s in sources if isinstance(s, dict))

    old, new = unnamed(before), unnamed(after)
    if len(old) != len(before) or [o for o, _ in old] != [n for n, _ in new]:
        return []
    return [(a, b) for (_, a), (_, b) in zip(old, new) if a != b]
