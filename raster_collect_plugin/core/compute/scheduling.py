"""Running a dask graph with progress and cancel, on whatever scheduler is active.

With a ``dask.distributed`` client (local cluster or remote scheduler) the graph is submitted
and only the (small) results come back; otherwise it runs on the threaded scheduler in this
process. Either way the caller gets a progress fraction and can cancel between tasks.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Callable, Optional, Sequence

import dask
import dask.threaded
from dask.callbacks import Callback


class ComputeCancelled(RuntimeError):
    """The cancel check said stop; outstanding tasks were cancelled."""


def active_client():
    """The default ``dask.distributed`` client (set by ``cluster.compute_client``) or None."""
    if "distributed" not in sys.modules:  # no client without it (and importing it takes time)
        return None
    try:
        from distributed import get_client

        return get_client()
    except (ImportError, ValueError):
        return None


class _ThreadProgress(Callback):
    def __init__(self, progress, cancel):
        super().__init__()
        self.progress, self.cancel = progress, cancel
        self.total, self.done, self.last = 1, 0, 0.0

    def _start_state(self, dsk, state):
        self.total = max(1, sum(len(state[k]) for k in ("ready", "waiting", "running")
                                if k in state))

    def _posttask(self, key, result, dsk, state, worker_id):
        self.done += 1
        if self.cancel is not None and self.cancel():
            raise ComputeCancelled("cancelled by the user")
        now = time.monotonic()
        if self.progress is not None and now - self.last > 0.5:
            self.last = now
            self.progress(min(1.0, self.done / self.total))


def compute(*collections: Any, progress: Optional[Callable[[float], None]] = None,
            cancel: Optional[Callable[[], bool]] = None, poll: float = 0.25,
            local: bool = False) -> Sequence[Any]:
    """``dask.compute(*collections)`` with a progress callback (fraction of tasks done) and a
    cancel check. On a cluster the client receives only the results of ``collections``;
    ``local`` runs on this process's threads even when a cluster client is active."""
    client = None if local else active_client()
    if client is None:
        with _ThreadProgress(progress, cancel):
            # the function, not "threads": dask would import distributed (0.15 s) to look
            # for a client first
            return dask.compute(*collections, scheduler=dask.threaded.get)
    from distributed import wait

    futures = client.compute([dask.delayed(c) for c in collections])
    try:
        while True:
            try:
                wait(futures, timeout=poll)
                break
            except TimeoutError:
                pass
            if cancel is not None and cancel():
                raise ComputeCancelled("cancelled by the user")
            if progress is not None:
                progress(_cluster_fraction(client))
        return tuple(client.gather(futures))
    except BaseException:
        client.cancel(futures)
        raise


def _cluster_fraction(client) -> float:
    """Rough share of the scheduler's tasks that are finished."""
    try:
        counts = client.run_on_scheduler(_task_counts)
    except Exception:  # progress must never fail the run
        return 0.0
    total = max(1, counts[0])
    return min(1.0, counts[1] / total)


def _task_counts(dask_scheduler=None):
    tasks = dask_scheduler.tasks
    finished = sum(1 for t in tasks.values() if t.state in ("memory", "forgotten", "released"))
    return len(tasks), finished
