"""Threaded computes own their pool: when one task fails (or the run is cancelled or
interrupted), no sibling task is still running once ``compute`` raises."""

import threading
import time

import dask
import pytest

from raster_collect_plugin.core.compute import scheduling

THREADS = 16


class Siblings:
    """``THREADS - 1`` tasks that meet the failing one at a barrier, then keep working."""

    def __init__(self):
        self.barrier = threading.Barrier(THREADS, timeout=60)
        self.lock = threading.Lock()
        self.started = 0
        self.finished = 0

    def sibling(self, n: int) -> int:
        with self.lock:
            self.started += 1
        self.barrier.wait()
        time.sleep(0.3)  # still writing when the failing task raises
        with self.lock:
            self.finished += 1
        return n

    def failing(self) -> None:
        self.barrier.wait()
        raise OSError(28, "No space left on device")


def _graph(siblings: Siblings):
    tasks = [dask.delayed(siblings.sibling, pure=False)(n) for n in range(THREADS - 1)]
    return tasks + [dask.delayed(siblings.failing, pure=False)()]


def _compute_threads() -> list:
    return [t for t in threading.enumerate() if t.name.startswith("raster-collect-compute")]


def test_a_failing_task_returns_only_after_every_sibling_finished():
    siblings = Siblings()
    with dask.config.set(num_workers=THREADS), pytest.raises(OSError, match="No space"):
        scheduling.compute(_graph(siblings))
    assert siblings.started == THREADS - 1
    assert siblings.finished == THREADS - 1  # none still running when cleanup would start
    assert _compute_threads() == []


@pytest.mark.parametrize("stop", [scheduling.ComputeCancelled("cancelled by the user"),
                                  KeyboardInterrupt()])
def test_cancel_and_interrupt_wait_for_running_tasks(stop):
    siblings = Siblings()
    tasks = [dask.delayed(siblings.sibling, pure=False)(n) for n in range(THREADS)]
    done = []

    def cancel() -> bool:  # called after each finished task
        done.append(1)
        raise stop

    with dask.config.set(num_workers=THREADS), pytest.raises(type(stop)):
        scheduling.compute(tasks, cancel=cancel)
    assert done
    assert siblings.finished == siblings.started == THREADS
    assert _compute_threads() == []


def test_thread_count_is_the_cores_unless_configured():
    assert scheduling.thread_count() == dask.system.CPU_COUNT
    with dask.config.set(num_workers=16):
        assert scheduling.thread_count() == 16


def test_results_are_the_graphs():
    values = [dask.delayed(pow)(n, 2) for n in range(40)]
    assert scheduling.compute(values, threads=THREADS)[0] == [n * n for n in range(40)]
    assert _compute_threads() == []
