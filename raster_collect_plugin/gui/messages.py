"""Sentences the dock and the plugin show a forester: plain words, lists as prose, nothing a
message bar could read as HTML. Package-level detail goes to the log, not the main text."""

from __future__ import annotations

import html
import re
from typing import Iterable, Mapping, Sequence

ENGINE_REPAIR = ("The processing engine needs to be set up or updated — Settings → Options → "
                 "Raster Collect → Create / Repair")


def for_message_bar(text: str) -> str:
    """``text`` as the message bar shows it whole (the bar renders HTML: ``<3`` would cut
    the rest of the sentence)."""
    return html.escape(str(text), quote=False)


def human_list(items: Iterable[str], conjunction: str = "and") -> str:
    """'a', 'a and b', 'a, b and c' (never Python's ``['a', 'b']``)."""
    words = [str(item) for item in items if str(item)]
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} {conjunction} {words[-1]}"


def no_scenes_message(start: str, end: str, max_cloud: float, sources: Sequence[str],
                      errors: Mapping[str, str]) -> str:
    """Why a search may have found nothing, most likely reason first."""
    reasons = []
    if errors:
        reasons.append(f"{human_list(errors)} could not be reached (offline?)")
    reasons.append(f"no {human_list(sources, 'or')} scene between {start} and {end}: check "
                   "the dates" if sources else f"check the dates ({start} to {end})")
    if max_cloud < 100:
        reasons.append(f"the scene cloud limit ({max_cloud:.0f} %) may be too low")
    return "0 scenes found. Likely reasons: " + "; ".join(reasons) + "."


# the engine's messages name the command line's options; the dock names its own fields
DOCK_FIELDS = {
    "history-start": "Disturbance monitoring → Stable history from",
    "history-end": "Disturbance monitoring → to",
    "start": "Period & indices → Start",
    "end": "Period & indices → End",
    "period": "Composite period",
    "resolution": "Outputs & compute → Resolution",
    "hex-area-ha": "Hexagon size",
    "memory-budget": "Outputs & compute → Memory budget",
    "max-cloud": "Max scene cloud",
    "mask": "Mask as cloud",
}
_OPTION = re.compile(r"--(" + "|".join(sorted(DOCK_FIELDS, key=len, reverse=True))
                     + r")(?![\w-])(?: (\d[\w.:-]*))?")


def in_dock_words(text: str) -> str:
    """``text`` with the command line's options the dock has a field for named as that field
    (``--history-end 2025-12-27`` -> ``Disturbance monitoring → to: 2025-12-27``)."""
    def field(match: re.Match) -> str:
        value = match.group(2)
        return DOCK_FIELDS[match.group(1)] + (f": {value}" if value else "")

    return _OPTION.sub(field, str(text))
