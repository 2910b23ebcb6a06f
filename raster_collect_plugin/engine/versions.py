"""PEP 440 versions compared with the standard library only (the engine's checks run before
anything is installed): a sortable key and one comparison per operator."""

from __future__ import annotations

import re
from typing import Tuple

_VERSION = re.compile(
    r"^v?(?P<release>\d+(?:\.\d+)*)"
    r"(?:[-_.]?(?P<pre>a|b|c|rc|alpha|beta|pre|preview)[-_.]?(?P<pre_n>\d*))?"
    r"(?:[-_.]?(?:post|rev|r)[-_.]?(?P<post>\d*))?"
    r"(?:[-_.]?dev[-_.]?(?P<dev>\d*))?", re.IGNORECASE)
_PRE_RANK = {"a": 0, "alpha": 0, "b": 1, "beta": 1, "c": 2, "rc": 2, "pre": 2, "preview": 2}


def version_key(version: str) -> Tuple:
    """A sortable key for a PEP 440 version (release, pre-release, post, dev)."""
    match = _VERSION.match(version.strip())
    if not match:
        return ((), (-1,), -1, 0)
    release = [int(p) for p in match.group("release").split(".")]
    while len(release) > 1 and release[-1] == 0:
        release.pop()
    pre = match.group("pre")
    dev = match.group("dev")
    if pre:
        pre_key: Tuple = (0, _PRE_RANK[pre.lower()], int(match.group("pre_n") or 0))
    elif dev is not None and match.group("post") is None:
        pre_key = (-1,)  # 1.0.dev1 sorts before 1.0a1
    else:
        pre_key = (1,)
    post = int(match.group("post") or 0) if match.group("post") is not None else -1
    return (tuple(release), pre_key, post, 0 if dev is None else -1)


def compare(installed: str, operator: str, wanted: str) -> bool:
    have, want = version_key(installed), version_key(wanted)
    if operator in ("==", "==="):
        if wanted.endswith(".*"):
            prefix = version_key(wanted[:-2])[0]
            return have[0][:len(prefix)] == prefix
        return have == want
    if operator == "!=":
        return have != want
    if operator == ">=":
        return have >= want
    if operator == "<=":
        return have <= want
    if operator == ">":
        return have > want
    if operator == "<":
        return have < want
    # ~=: at least ``wanted`` and the same release series
    parts = version_key(wanted)[0]
    series = parts[:-1] if len(parts) > 1 else parts
    return have >= want and have[0][:len(series)] == series
