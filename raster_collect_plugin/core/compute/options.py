"""The ``compute`` options (job spec ``"compute"``, ``ComputeSettings``) checked in one place,
without importing dask: a wrong key or value is one bad-input line before any work, never a
``TypeError`` from a constructor."""

from __future__ import annotations

import re
from numbers import Real
from typing import Any, Callable, Dict, Mapping, Tuple

DEFAULT_NO_WORKER_GRACE = 60.0  # seconds a cluster may have no workers before a run fails

COMPUTE_MODES = ("threads", "local", "remote")
# the job kinds that run a dask graph (and size it against a memory budget); every other kind
# (search, hexagons, sample, zonal-raster, the Sentinel Hub kinds, sign, validate) refuses
# 'compute' and 'memory_budget' (core/jobs/kind_keys.py USED_BY), and the plugin sends it
# no 'compute'
DASK_KINDS = ("composite", "zonal", "storm", "monitor")
# the options that size a local cluster (mode local): threads and a scheduler's cluster have
# their own size, so given with another mode they were silently not used
LOCAL_ONLY = ("workers", "threads_per_worker", "memory_limit")
# the other options only some modes use: key -> (those modes, what the option is)
CLUSTER_ONLY = {"connect_timeout": (("remote",), "how long to wait for the scheduler"),
                "no_worker_grace": (("local", "remote"),
                                    "how long a cluster may have no workers")}


class ComputeOptionsError(ValueError):
    """A compute option is unknown or has a wrong value; the message says which and why."""

    exit_kind = "bad_input"


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _positive(value: Any) -> bool:
    return (isinstance(value, Real) and not isinstance(value, bool) and value == value
            and value > 0)


def _text(value: Any) -> bool:
    return isinstance(value, str) and value.strip() != ""


# what dask reads as a worker's memory limit: "auto", or a number with a byte unit ("2GB",
# "1.5 GiB", "500MB"); anything else was dask's ValueError traceback when the cluster started
_MEMORY = re.compile(r"\s*(auto|(\d+\.?\d*|\.\d+)(e[+-]?\d+)?\s*([kmgtp]i?b?|b)?)\s*", re.I)


def _memory(value: Any) -> bool:
    """A size above 0 (dask reads 0 as no limit at all), or "auto"."""
    if _positive(value):
        return True
    match = _MEMORY.fullmatch(value) if _text(value) else None
    return match is not None and (match.group(2) is None or float(match.group(2)) > 0)


# key -> (check, what is expected)
COMPUTE_OPTIONS: Dict[str, Tuple[Callable[[Any], bool], str]] = {
    "mode": (lambda v: v in COMPUTE_MODES, "threads, local or remote"),
    "scheduler_address": (_text, "an address like tcp://10.0.0.5:8786"),
    "workers": (_whole, "a whole number of worker processes (1 or more)"),
    "threads_per_worker": (_whole, "a whole number of threads (1 or more)"),
    "memory_limit": (_memory, "a size such as 2GB"),
    "connect_timeout": (_positive, "a positive number of seconds"),
    "no_worker_grace": (_positive, "a positive number of seconds (how long a cluster may "
                                   "have no workers before the run fails)"),
}


def check_compute_options(values: Any, where: str = "compute") -> Dict[str, Any]:
    """``values`` as a dict if every key is known and every value right; else
    ComputeOptionsError naming ``where``.key, what it must be, and the allowed keys."""
    if values is None:
        return {}
    if not isinstance(values, Mapping):
        raise ComputeOptionsError(f"'{where}' must be an object such as "
                                  f"{{\"mode\": \"local\", \"workers\": 2}}, not {_show(values)}")
    for key, value in values.items():
        if key not in COMPUTE_OPTIONS:
            raise ComputeOptionsError(
                f"'{where}' has an unknown key {key!r}; allowed keys: "
                f"{', '.join(COMPUTE_OPTIONS)}")
        check, expected = COMPUTE_OPTIONS[key]
        if value is not None and not check(value):
            raise ComputeOptionsError(f"'{where}.{key}' must be {expected}, not {_show(value)}")
    mode, address = values.get("mode"), values.get("scheduler_address")
    if mode == "remote" and not address:
        raise ComputeOptionsError(f"'{where}': remote compute needs 'scheduler_address', e.g. "
                                  "tcp://10.0.0.5:8786")
    if address and mode in ("threads", "local"):  # the address was silently not used
        raise ComputeOptionsError(f"'{where}.scheduler_address' is the scheduler of mode "
                                  f"remote, not {mode}: give \"mode\": \"remote\" to run "
                                  "there, or leave the address out")
    effective = mode or ("remote" if address else "threads")
    unused = local_only_unused(effective,
                               [key for key in LOCAL_ONLY if values.get(key) is not None])
    if unused:
        raise ComputeOptionsError(f"'{where}.{unused}' sizes a local cluster, which mode "
                                  f"{effective} does not start: give \"mode\": \"local\" to "
                                  f"start one, or leave '{unused}' out")
    for key, (modes, what) in CLUSTER_ONLY.items():
        if values.get(key) is not None and effective not in modes:
            raise ComputeOptionsError(f"'{where}.{key}' is {what}, which mode {effective} "
                                      f"does not use: leave '{key}' out (it is for mode "
                                      f"{' or '.join(modes)})")
    checked = {key: value for key, value in values.items() if value is not None}
    if address and mode is None:  # as the command line's --scheduler: that scheduler
        checked["mode"] = "remote"
    return checked


def local_only_unused(mode: str, given: Any) -> Any:
    """The first of ``given`` (LOCAL_ONLY options, by key or by the command line's flag) that
    ``mode`` would not use: every one unless mode is local; None when there is none."""
    given = list(given)
    return given[0] if given and mode != "local" else None


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
