"""A dask cluster that loses all its workers ends the run with one clear error after a
bounded grace period (it used to wait forever), and nothing is published."""

import threading
import time

import dask
import pytest
from distributed import Client, LocalCluster

from raster_collect_plugin.core.compute import cluster as cluster_module
from raster_collect_plugin.core.compute import scheduling
from raster_collect_plugin.core.jobs.errors import classify
from raster_collect_plugin.core.jobs.run import run_job

started, release = threading.Event(), threading.Event()
SAFETY = 120  # seconds: a broken check fails the test (cancelled) instead of hanging it


def blocking(value):
    started.set()
    release.wait(SAFETY)
    return value


def in_process_cluster(settings):
    return LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                        dashboard_address=None)


def test_workers_closed_mid_run_end_the_compute(monkeypatch):
    started.clear()
    release.clear()
    begun = time.monotonic()
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster, Client(cluster):
        def close_workers():
            started.wait(SAFETY)
            cluster.scale(0)

        closer = threading.Thread(target=close_workers, daemon=True)
        closer.start()
        try:
            with scheduling.no_worker_grace(0.5), pytest.raises(scheduling.NoWorkers) as caught:
                scheduling.compute(dask.delayed(blocking)(1),
                                   cancel=lambda: time.monotonic() - begun > SAFETY)
        finally:
            release.set()
            closer.join(SAFETY)
    assert str(caught.value).startswith("the dask cluster has had no workers for 0.5 s")
    assert "start workers (`dask worker <scheduler address>`)" in str(caught.value)
    assert classify(caught.value) == ("failure", str(caught.value))


def test_a_job_whose_cluster_loses_its_workers_publishes_nothing(small_sample, tmp_path,
                                                                  monkeypatch):
    monkeypatch.setattr(cluster_module, "start_local_cluster", in_process_cluster)
    output = tmp_path / "out"
    spec = {"kind": "composite", "aoi": str(small_sample.forests_path),
            "sources": [{"kind": "static", "href": str(small_sample.catalog_path),
                         "collections": ["sentinel-2-l2a"]}],
            "start": "2025-10-01", "end": "2025-11-30", "indices": ["NDVI"],
            "output_dir": str(output),
            "compute": {"mode": "local", "workers": 1, "no_worker_grace": 0.5}}
    begun = time.monotonic()

    def progress(fraction, message):
        if message.endswith("periods"):  # the run has begun: its workers go away
            scheduling.active_client().cluster.scale(0)

    with pytest.raises(scheduling.NoWorkers, match="no workers for 0.5 s"):
        run_job(spec, progress=progress, cancel=lambda: time.monotonic() - begun > SAFETY)
    assert not output.exists() or [p for p in output.rglob("*")] == []
