"""Dask: a real scheduler and worker on loopback give the same results as local threads;
an unreachable scheduler fails fast; the plugin leaves no dask processes behind."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
import rasterio

from raster_collect_plugin.core.compute.cluster import (
    ClusterError,
    ComputeSettings,
    compute_client,
    version_problems,
)
from raster_collect_plugin.core.jobs.run import run_job

ROOT = Path(__file__).resolve().parent.parent


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def dask_processes():
    """Live descendants of this test process that belong to a dask cluster: the plugin's
    cluster process and every process under it (multiprocessing-spawned workers)."""
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if child.status() == psutil.STATUS_ZOMBIE:
                continue
            lineage = [child, *child.parents()]
            commands = " ".join(" ".join(p.cmdline()) for p in lineage)
        except psutil.Error:
            continue
        if "raster_collect_plugin cluster" in commands or "distributed" in commands:
            found.append(child)
    return found


@pytest.fixture
def loopback_cluster(tmp_path):
    """`dask scheduler` and one `dask worker` as real processes on 127.0.0.1."""
    port = free_port()
    dask = str(Path(sys.executable).parent / "dask")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    scheduler = subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                                  "--dashboard-address", ":0"], env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    address = f"tcp://127.0.0.1:{port}"
    worker = subprocess.Popen([dask, "worker", address, "--nthreads", "2", "--nworkers", "1",
                               "--memory-limit", "2GB", "--host", "127.0.0.1"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    from distributed import Client

    deadline = time.monotonic() + 60
    while True:
        try:
            with Client(address, timeout=2) as client:
                client.wait_for_workers(1, timeout=30)
                break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    yield address
    for process in (worker, scheduler):
        process.terminate()
        process.wait(timeout=30)


def composite_spec(sample, output, **extra):
    spec = {"kind": "composite", "aoi": str(sample.forests_path),
            "sources": [{"kind": "static", "href": str(sample.catalog_path),
                         "collections": ["sentinel-2-l2a", "landsat-c2-l2"]}],
            "start": "2025-10-01", "end": "2025-12-31", "indices": ["NDVI", "EVI"],
            "max_cloud_cover": 100, "output_dir": str(output)}
    spec.update(extra)
    return spec


def read_all(result):
    arrays = {}
    for collection in result["collections"]:
        for index, path in collection["indices"].items():
            with rasterio.open(path) as dataset:
                arrays[(collection["collection"], index)] = dataset.read()
    return arrays


def test_remote_scheduler_gives_the_same_results_as_threads(small_sample, tmp_path,
                                                            loopback_cluster):
    local = read_all(run_job(composite_spec(small_sample, tmp_path / "threads")))
    remote_result = run_job(composite_spec(
        small_sample, tmp_path / "remote",
        compute={"mode": "remote", "scheduler_address": loopback_cluster}))
    assert remote_result["dashboard"].startswith("http://")
    remote = read_all(remote_result)
    assert local.keys() == remote.keys() and len(local) == 4
    for key in local:
        np.testing.assert_array_equal(local[key], remote[key])


def test_unreachable_scheduler_fails_fast_with_advice():
    started = time.monotonic()
    settings = ComputeSettings(mode="remote", scheduler_address=f"tcp://127.0.0.1:{free_port()}")
    with pytest.raises(ClusterError, match="unreachable.*dask scheduler"):
        with compute_client(settings):
            pass
    assert time.monotonic() - started < 5
    with pytest.raises(ClusterError, match="needs a scheduler address"):
        ComputeSettings(mode="remote")


def test_credentials_in_a_scheduler_address_never_reach_the_message():
    """A scheduler address with ``user:password@`` is shown with the credentials masked."""
    address = f"tcp://analyst:s3cret-pass@127.0.0.1:{free_port()}"
    with pytest.raises(ClusterError, match="unreachable") as raised:
        with compute_client(ComputeSettings(mode="remote", scheduler_address=address)):
            pass
    assert "s3cret-pass" not in str(raised.value) and "analyst" not in str(raised.value)
    assert "tcp://***@127.0.0.1:" in str(raised.value)


def test_version_mismatches_are_explained():
    def entry(dask, python="3.11.2"):
        return {"host": {"python": python}, "packages": {"dask": dask, "distributed": dask,
                                                         "numpy": "1.26.4"}}

    versions = {"client": entry("2026.8.0"), "scheduler": entry("2026.8.1"),
                "workers": {"tcp://w1": entry("2025.1.0", python="3.10.12")}}
    problems = version_problems(versions)
    assert "dask 2025.1 on worker tcp://w1 but 2026.8 here" in problems
    assert "python 3.10 on worker tcp://w1 but 3.11 here" in problems
    assert not any("scheduler" in p for p in problems)  # patch releases are compatible


def test_session_cluster_stops_with_the_plugin(qgis_iface):
    import raster_collect_plugin
    from tests.recording_iface import RecordingIface

    iface = RecordingIface(qgis_iface.mainWindow())
    plugin = raster_collect_plugin.classFactory(iface)
    plugin.initGui()
    dock = plugin.dock
    dock.compute_mode.setCurrentIndex(1)
    dock.workers_spin.setValue(1)
    dock.threads_spin.setValue(1)
    dock.memory_edit.setText("1GB")
    assert dock.compute_spec() == {"mode": "session"}  # resolved in the task, not the UI
    assert dask_processes() == []  # nothing started before a job needs it
    spec = {"compute": dock.compute_spec()}
    dock.prepare_compute(spec)
    address = spec["compute"]["scheduler_address"]
    assert address.startswith("tcp://127.0.0.1:")
    assert len(dask_processes()) >= 2  # the cluster process and its worker
    again = {"compute": dock.compute_spec()}
    dock.prepare_compute(again)
    assert again["compute"]["scheduler_address"] == address  # one cluster per session
    plugin.unload()
    deadline = time.monotonic() + 20
    while dask_processes() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert dask_processes() == []


def test_command_line_compute_options(small_sample, tmp_path, capsys):
    from raster_collect_plugin import cli

    common = ["composite", "--gpkg", str(small_sample.forests_path), "--catalog",
              str(small_sample.catalog_path), "--collections", "sentinel-2-l2a", "--start",
              "2025-10-01", "--end", "2025-10-31", "--max-cloud", "100"]
    assert cli.main(["--quiet", *common, "--dask", "local", "--workers", "1",
                     "--threads-per-worker", "1", "--output", str(tmp_path / "local")]) == 0
    assert list((tmp_path / "local").glob("*NDVI*.tif"))
    started = time.monotonic()
    code = cli.main(["--quiet", *common, "--scheduler", f"tcp://127.0.0.1:{free_port()}",
                     "--output", str(tmp_path / "remote")])
    assert code == 2 and time.monotonic() - started < 10
    error = capsys.readouterr().err
    assert "unreachable" in error and len(error.strip().splitlines()) == 1


def test_zonal_reductions_on_a_local_cluster_match_threads(small_sample, tmp_path,
                                                           monkeypatch):
    import pandas as pd

    from raster_collect_plugin.core.compute import cluster
    from raster_collect_plugin.core.outputs import tables

    probes = []
    real = cluster.workers_share_storage

    def probed(client, folder):
        answer = real(client, folder)
        probes.append((len(client.scheduler_info()["workers"]), answer))
        return answer

    monkeypatch.setattr(cluster, "workers_share_storage", probed)
    written = []
    write_table = tables.write_table
    monkeypatch.setattr(tables, "write_table", lambda table, stem, **options: (
        written.append(Path(stem).name), write_table(table, stem, **options))[1])
    spec = dict(composite_spec(small_sample, tmp_path / "threads"), kind="zonal",
                hexagon_area_m2=40_000, table_formats=["parquet", "csv"])
    threads = run_job(spec)
    assert probes == []  # threads: no cluster, no probe
    assert sorted(written) == ["zonal_forests", "zonal_hexagons"]
    written.clear()
    cluster_run = run_job(dict(spec, output_dir=str(tmp_path / "cluster"),
                               compute={"mode": "local", "workers": 2, "threads_per_worker": 1,
                                        "memory_limit": "1GB"}))
    # the workers proved they read this machine's files, so the zonal tasks ran on them
    assert probes and set(probes) == {(2, True)}
    for name in ("forests_parquet", "hexagons_parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(threads["files"][name]),
                                      pd.read_parquet(cluster_run["files"][name]))
    # the workers wrote the hexagon tables (both formats asked for) into the shared folder
    assert written == ["zonal_forests"]
    assert Path(cluster_run["files"]["hexagons_csv"]).read_text() == \
        Path(threads["files"]["hexagons_csv"]).read_text()
    assert not [p.name for p in (tmp_path / "cluster").iterdir() if p.name.startswith(".")]


def test_the_cluster_command_stops_cleanly_on_sigterm(tmp_path):
    """`raster-collect cluster` runs until it is stopped: Ctrl-C or SIGTERM is its normal end.
    It exited 1 with "interrupted; completed work is kept, rerun to resume" (a cancelled
    run's words), so a service manager reported every stop as a failure."""
    import json
    import signal

    process = subprocess.Popen(
        [sys.executable, "-m", "raster_collect_plugin", "--json", "cluster", "--workers", "1",
         "--threads", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)), cwd=tmp_path)
    try:
        started = json.loads(process.stdout.readline())
        assert started["event"] == "cluster" and started["scheduler"].startswith("tcp://")
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 0, err[-2000:]
    assert json.loads(out) == {"event": "cluster stopped", "scheduler": started["scheduler"]}
    assert "interrupted" not in err
