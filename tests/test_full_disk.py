"""A full disk ends in one clear line and leaves nothing behind (a real, tiny tmpfs mounted in
a private mount namespace with ``unshare -m``)."""

import os
import shutil
import subprocess
import sys

import pytest


def _can_mount_tmpfs(tmp_path) -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-m", "sh", "-c",
                            f"mount -t tmpfs -o size=64k tmpfs {tmp_path}"],
                           capture_output=True, timeout=30)
    return probe.returncode == 0


@pytest.mark.parametrize("size", ["48k", "400k"])
def test_no_space_left_is_one_line_and_nothing_is_left(small_sample, tmp_path, size):
    disk = tmp_path / "disk"
    disk.mkdir()
    if not _can_mount_tmpfs(disk):
        pytest.skip("needs unshare -m and tmpfs mounts (root)")
    output = disk / "out"
    command = " ".join([
        f"mount -t tmpfs -o size={size} tmpfs {disk} &&",
        sys.executable, "-m", "raster_collect_plugin", "composite",
        "--gpkg", str(small_sample.forests_path), "--catalog", str(small_sample.catalog_path),
        "--collections", "sentinel-2-l2a", "--start", "2025-10-01", "--end", "2025-12-31",
        "--indices", "NDVI,EVI,NDMI,NBR", "--output", str(output), ";",
        "echo EXIT=$?; find", str(disk), "-mindepth 1"])
    # many threads: a task still writing when another hits ENOSPC must not outlive the cleanup
    result = subprocess.run(["unshare", "-m", "sh", "-c", command], capture_output=True,
                            text=True, timeout=300, cwd=tmp_path,
                            env=dict(os.environ, DASK_NUM_WORKERS="16"))
    lines = result.stdout.strip().splitlines()
    assert "EXIT=1" in lines, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "raster-collect:" in line]
    assert errors == ["raster-collect: error: no space left on device: free space or choose "
                      "another --output"], result.stderr
    assert lines[lines.index("EXIT=1") + 1:] == []  # nothing left in the (full) disk
