"""The engine's set-up steps and the session's dask cluster leave nothing open (issue 26)."""

import gc
import io
import sys
import warnings

import pytest

from raster_collect_plugin.engine import install
from tests.test_dock import dock, forests  # noqa: F401 (fixtures)


def _resource_warnings(action):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        action()
        gc.collect()
    return [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]


def test_a_set_up_step_closes_its_pipe_when_it_ends_and_when_cancelled():
    lines = []
    log = io.StringIO()
    assert _resource_warnings(lambda: lines.append(install._run_step(
        [sys.executable, "-c", "print('one'); print('two')"], log, cancel=lambda: False,
        on_line=lines.append))) == []
    assert lines == ["one", "two", 0] and "one" in log.getvalue()

    def cancelled() -> None:
        with pytest.raises(install.SetupCancelled):
            install._run_step([sys.executable, "-c", "import time; print('x'); time.sleep(60)"],
                              io.StringIO(), cancel=lambda: True, on_line=lambda _: None)

    assert _resource_warnings(cancelled) == []


def test_unloading_the_dock_does_not_wait_for_the_dask_cluster(dock, tmp_path):  # noqa: F811
    """The cluster is asked to stop and left to a background thread: ``shutdown`` returns
    while it is still closing (here: until the test lets it go), then it is reaped."""
    import subprocess

    release = tmp_path / "release"
    child = subprocess.Popen(
        [sys.executable, "-c",
         "import os, signal, sys, time\n"
         "def stop(*_):\n"
         f"    while not os.path.exists({str(release)!r}): time.sleep(0.01)\n"
         "    sys.exit(0)\n"
         "signal.signal(signal.SIGTERM, stop)\n"
         "print('ready', flush=True)\n"
         "time.sleep(600)\n"],
        stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline() == "ready\n"
    dock.cluster.process = child
    dock.shutdown()
    assert child.poll() is None  # shutdown returned while the cluster was still stopping
    assert not dock.cluster.running and dock.cluster.process is None
    release.write_text("")
    dock.cluster_stopping.join(timeout=60)
    assert child.poll() == 0 and child.stdout.closed
