"""Running a dask graph with progress and cancel, on whatever scheduler is active.

With a ``dask.distributed`` client (local cluster or remote scheduler) the graph is submitted
and only the (small) results come back; otherwise it runs on threads in this process. Either
way the caller gets a progress fraction and can cancel between tasks.

On threads every call owns its pool and joins it before returning or raising: dask's threaded
scheduler re-raises the first task error at once while sibling tasks keep running in its shared
pool, and a sibling still writing a Zarr chunk would recreate a staging folder the caller's
cleanup has just removed. On a cluster, a scheduler with no workers left for longer than a
grace period (tasks would wait forever) ends the run with an error.
"""

from __future__ import annotations

import contextlib
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from typing import Any, Callable, Iterator, Optional, Sequence

import dask
import dask.threaded
from dask.callbacks import Callback
from dask.system import CPU_COUNT

from .options import DEFAULT_NO_WORKER_GRACE
from .thread_warnings import thread_safe_warnings

# dask's own pool class (contextvars reach the tasks) where this dask has it
_Pool = getattr(dask.threaded, "ContextAwareThreadPoolExecutor", ThreadPoolExecutor)
_no_worker_grace: ContextVar[float] = ContextVar("no_worker_grace",
                                                 default=DEFAULT_NO_WORKER_GRACE)


class ComputeCancelled(RuntimeError):
    """The cancel check said stop; outstanding tasks were cancelled."""


class NoWorkers(RuntimeError):
    """The dask cluster has had no workers for longer than the grace period."""

    exit_kind = "failure"  # errors.classify: one line, exit 1


def active_client():
    """The default ``dask.distributed`` client (set by ``cluster.compute_client``) or None."""
    if "distributed" not in sys.modules:  # no client without it (and importing it takes time)
        return None
    try:
        from distributed import get_client

        return get_client()
    except (ImportError, ValueError):
        return None


def thread_count() -> int:
    """Threads of a local compute: dask's ``num_workers`` setting (e.g. the environment
    variable ``DASK_NUM_WORKERS``) if set, else one per core, as dask's own default."""
    configured = dask.config.get("num_workers", None)
    return max(1, int(configured)) if configured else CPU_COUNT


@contextlib.contextmanager
def no_worker_grace(seconds: float) -> Iterator[None]:
    """Within the block, a cluster compute fails after ``seconds`` without workers."""
    token = _no_worker_grace.set(float(seconds))
    try:
        yield
    finally:
        _no_worker_grace.reset(token)


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
            local: bool = False, threads: Optional[int] = None) -> Sequence[Any]:
    """``dask.compute(*collections)`` with a progress callback (fraction of tasks done) and a
    cancel check. On a cluster the client receives only the results of ``collections``;
    ``local`` runs on this process's threads (``threads`` of them, default
    :func:`thread_count`) even when a cluster client is active. When it raises (a task's error,
    a cancel, Ctrl-C), no task of the call is still running."""
    client = None if local else active_client()
    if client is None:
        return _compute_on_threads(collections, progress, cancel, threads or thread_count())
    return _compute_on_cluster(client, collections, progress, cancel, poll)


def _compute_on_threads(collections, progress, cancel, threads: int) -> Sequence[Any]:
    # the filters are put back once no task runs: the tasks' own catch_warnings race
    # (rasterio's temporary datasets, thread_warnings.py)
    with thread_safe_warnings():
        pool = _Pool(threads, thread_name_prefix="raster-collect-compute")
        try:
            with _ThreadProgress(progress, cancel):
                # the function, not "threads": dask would import distributed (0.15 s) to
                # look for a client first
                result = dask.compute(*collections, scheduler=dask.threaded.get, pool=pool)
        except BaseException:
            # queued tasks are dropped and running ones waited for, so the caller's cleanup
            # never races a task still writing
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
    return result


def _compute_on_cluster(client, collections, progress, cancel, poll: float) -> Sequence[Any]:
    from distributed import wait

    grace = _no_worker_grace.get()
    futures = client.compute([dask.delayed(c) for c in collections])
    try:
        without_workers: Optional[float] = None
        while True:
            try:
                wait(futures, timeout=poll)
                break
            except TimeoutError:
                pass
            if cancel is not None and cancel():
                raise ComputeCancelled("cancelled by the user")
            if _worker_count(client) == 0:
                now = time.monotonic()
                without_workers = without_workers if without_workers is not None else now
                if now - without_workers >= grace:
                    raise NoWorkers(
                        f"the dask cluster has had no workers for {grace:g} s, so the run "
                        "cannot finish: start workers (`dask worker <scheduler address>`) or "
                        "compute with threads, then rerun")
            else:
                without_workers = None
            if progress is not None:
                progress(_cluster_fraction(client))
        return tuple(client.gather(futures))
    except BaseException:
        client.cancel(futures)
        raise


def _worker_count(client) -> Optional[int]:
    """Workers the scheduler knows now (None if it cannot be asked)."""
    try:
        return len(client.nthreads())
    except Exception:  # the check must never fail the run itself
        return None


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
