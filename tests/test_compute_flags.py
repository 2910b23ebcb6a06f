"""The command line's dask options, checked as a job spec's ``compute`` (one rule): an option
that would not be used is refused (exit 2) before any work, never silently ignored."""

from __future__ import annotations

import json

import pytest

from raster_collect_plugin import cli


@pytest.fixture
def composite_args(small_sample, tmp_path):
    def build(*extra, command="composite"):
        return [command, "--gpkg", str(small_sample.forests_path), "--catalog",
                str(small_sample.catalog_path), "--collections", "sentinel-2-l2a",
                "--start", "2025-10-01", "--end", "2025-10-31", "--output",
                str(tmp_path / "out"), *extra]
    return build


@pytest.mark.parametrize("command", ["composite", "zonal"])
@pytest.mark.parametrize("extra, message", [
    (["--workers", "3"], "--workers sizes a local cluster, which threads in this process "
                         "(the default) does not start: add --dask local, or drop --workers"),
    (["--dask", "local", "--memory-limit", "0 MB"],
     "--memory-limit must be a size such as 2GB, not 0 MB"),
    (["--dask", "threads", "--memory-limit", "1GB"],
     "--memory-limit sizes a local cluster, which --dask threads does not start"),
    (["--scheduler", "tcp://127.0.0.1:1", "--threads-per-worker", "2"],
     "--threads-per-worker sizes a local cluster, which --scheduler does not start"),
    (["--scheduler", "tcp://127.0.0.1:1", "--dask", "local"],
     "--dask local and --scheduler both say where to compute"),
])
def test_unused_compute_options_are_refused(composite_args, tmp_path, capsys, command, extra,
                                            message):
    assert cli.main(["--json", *composite_args(*extra, command=command)]) == 2
    printed = json.loads(capsys.readouterr().out)
    assert printed["error"]["kind"] == "bad_input"
    assert message in printed["error"]["message"]
    assert not (tmp_path / "out").exists()  # nothing made


def test_overwrite_with_an_unreachable_scheduler_keeps_the_zonal_results(composite_args,
                                                                         tmp_path, capsys):
    """The cluster is reached before --overwrite drops the folder's manifest: a scheduler
    that does not answer (exit 2) loses nothing."""
    assert cli.main(["--quiet", *composite_args(command="zonal")]) == 0
    manifest = tmp_path / "out" / "manifest.json"
    listed = json.loads(manifest.read_text())["files"]
    assert cli.main(["--quiet", *composite_args("--indices", "NDVI", "--overwrite",
                                                "--scheduler", "tcp://127.0.0.1:1",
                                                command="zonal")]) == 2
    assert "unreachable" in capsys.readouterr().err
    assert json.loads(manifest.read_text())["files"] == listed


@pytest.mark.parametrize("extra, message", [
    (["--workers", "0"], "--workers must be a whole number of worker processes (1 or more)"),
    (["--threads", "0"], "--threads must be a whole number of threads (1 or more), not 0"),
    (["--memory-limit", "junk"], "--memory-limit must be a size such as 2GB, not junk"),
    (["--memory-limit", "0"], "--memory-limit must be a size such as 2GB, not 0"),
])
def test_cluster_refuses_a_wrong_size(capsys, monkeypatch, extra, message):
    from raster_collect_plugin.core import compute

    def started(settings):  # the cluster would run until stopped: fail instead
        raise AssertionError(f"a cluster was started with {settings}")

    monkeypatch.setattr(compute, "start_local_cluster", started)
    assert cli.main(["cluster", *extra]) == 2  # before any cluster starts
    assert message in capsys.readouterr().err
