"""The command line's dask options, checked as a job spec's ``compute`` (one rule): an option
that would not be used is refused (exit 2) before any work, never silently ignored."""

from __future__ import annotations

import pytest

from raster_collect_plugin import cli


@pytest.mark.parametrize("extra, message", [
    (["--workers", "0"], "--workers must be a whole number of worker processes (1 or more)"),
    (["--threads", "0"], "--threads must be a whole number of threads (1 or more), not 0"),
    (["--memory-limit", "junk"], "--memory-limit must be a size such as 2GB, not junk"),
])
def test_cluster_refuses_a_wrong_size(capsys, monkeypatch, extra, message):
    from raster_collect_plugin.core import compute

    def started(settings):  # the cluster would run until stopped: fail instead
        raise AssertionError(f"a cluster was started with {settings}")

    monkeypatch.setattr(compute, "start_local_cluster", started)
    assert cli.main(["cluster", *extra]) == 2  # before any cluster starts
    assert message in capsys.readouterr().err
