"""The lock of an ``s3://`` output prefix. A store that ignores S3's conditional PUT (the
lock was "created only where none is") gave no lock at all: two runs wrote the same prefix.
A lock left by another machine's killed run had to be deleted by hand: it now has a
heartbeat, and one whose heartbeat stopped long ago is taken over with a warning."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from raster_collect_plugin.core.runs import remote_lock
from raster_collect_plugin.core.runs.folder import FolderLocked
from raster_collect_plugin.core.runs.remote import RemoteRun
from tests.servers.scale_out import moto_s3

pytestmark = pytest.mark.skipif(
    not (Path(sys.executable).parent / "moto_server").exists(), reason="needs moto_server")
RECORD = {"fingerprint": "f" * 32, "kind": "composite", "parameters": {}, "item_ids": []}


@pytest.fixture(scope="module", params=["conditional", "unconditional"])
def store(request):
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()  # a cached one knows an earlier moto's port
    with moto_s3("raster-collect", conditional=request.param == "conditional") as env:
        yield request.param, env
    s3fs.S3FileSystem.clear_instance_cache()


@pytest.fixture
def s3(store, monkeypatch):
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()
    for key, value in store[1].items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    return store[0], s3fs.S3FileSystem(endpoint_url=store[1]["AWS_ENDPOINT_URL"],
                                       key="testing", secret="testing")


def _lock_of(fs, prefix: str):
    path = f"raster-collect/{prefix}/.raster-collect.lock"
    return json.loads(fs.cat_file(path)) if fs.exists(path) else None


def test_two_concurrent_runs_into_one_prefix_one_writes(s3, caplog):
    kind, fs = s3
    location = f"s3://raster-collect/race-{kind}"
    start, loser_done = threading.Barrier(2), threading.Event()
    outcomes: dict = {}

    def run(name: str) -> None:
        start.wait()
        try:
            with RemoteRun(location, RECORD):
                outcomes[name] = "wrote"
                loser_done.wait(30)  # hold the prefix while the other run tries
        except FolderLocked as error:
            outcomes[name] = str(error)
            loser_done.set()

    with caplog.at_level(logging.WARNING):
        threads = [threading.Thread(target=run, args=(name,)) for name in "ab"]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    assert sorted(outcomes) == ["a", "b"]
    assert sorted(outcomes.values())[1] == "wrote", outcomes  # exactly one
    refused = sorted(outcomes.values())[0]
    assert refused.startswith(f"another raster-collect run is writing to {location} (pid ")
    assert _lock_of(fs, f"race-{kind}") is None  # the winner released it
    warned = [r.getMessage() for r in caplog.records if "conditional writes" in r.getMessage()]
    if kind == "unconditional":  # the risk is named
        assert warned and "ignores conditional writes (If-None-Match): its lock is best " \
                          "effort" in warned[0]
    else:
        assert not warned


def _put_lock(fs, prefix: str, minutes_ago: float) -> None:
    beat = datetime.now(timezone.utc) - timedelta(minutes=minutes_ago)
    fs.pipe_file(f"raster-collect/{prefix}/.raster-collect.lock", json.dumps(
        {"host": "other-machine", "pid": 4242, "started": "2026-12-07T08:00:00+00:00",
         "heartbeat": beat.isoformat(timespec="seconds"), "token": "theirs"}).encode())


def test_another_machines_lock_is_taken_over_once_its_heartbeat_is_stale(s3, caplog):
    kind, fs = s3
    prefix = f"stale-{kind}"
    location = f"s3://raster-collect/{prefix}"
    _put_lock(fs, prefix, minutes_ago=3)  # alive: refused, with when it would be taken over
    with pytest.raises(FolderLocked) as refused:
        RemoteRun(location, RECORD).__enter__()
    assert str(refused.value).startswith(
        f"another raster-collect run is writing to {location} (pid 4242 on other-machine, "
        "started 2026-12-07T08:00:00+00:00, last heartbeat ")
    assert str(refused.value).endswith(
        "if that run is gone (killed), its lock is taken over once its heartbeat is 10 minutes "
        f"old, or delete {location}/.raster-collect.lock")
    assert _lock_of(fs, prefix)["token"] == "theirs"
    _put_lock(fs, prefix, minutes_ago=61)  # killed an hour ago: taken over, with a warning
    with caplog.at_level(logging.WARNING):
        with RemoteRun(location, RECORD):
            held = _lock_of(fs, prefix)
            assert held["token"] not in (None, "theirs") and held["host"] != "other-machine"
    assert any(f"took over the lock of {location} held by (pid 4242 on other-machine" in m
               and "its heartbeat stopped 61 minutes ago" in m
               for m in (r.getMessage() for r in caplog.records)), caplog.text
    assert _lock_of(fs, prefix) is None


def test_the_heartbeat_is_refreshed_and_a_lock_taken_over_is_left_alone(s3, monkeypatch,
                                                                        caplog):
    kind, fs = s3
    monkeypatch.setattr(remote_lock, "HEARTBEAT_SECONDS", 0.3)
    prefix = f"heartbeat-{kind}"
    lock = remote_lock.RemoteLock(f"s3://raster-collect/{prefix}")
    lock.acquire()
    try:
        first = _lock_of(fs, prefix)
        deadline = datetime.now(timezone.utc) + timedelta(seconds=10)
        while _lock_of(fs, prefix)["heartbeat"] == first["heartbeat"]:
            assert datetime.now(timezone.utc) < deadline, "no heartbeat"
            time.sleep(0.1)
        assert _lock_of(fs, prefix)["token"] == first["token"] == lock.token
        _put_lock(fs, prefix, minutes_ago=0)  # another run took it over (this one stalled)
        with caplog.at_level(logging.WARNING):
            lock._beat.join(10)
    finally:
        lock.release()
    assert _lock_of(fs, prefix)["token"] == "theirs"  # not removed by this run
    assert any("is no longer this run's (now (pid 4242 on other-machine" in r.getMessage()
               for r in caplog.records), caplog.text


CHILD = """
import sys, time
from raster_collect_plugin.core.runs.folder import FolderLocked
from raster_collect_plugin.core.runs.remote import RemoteRun
record = {"fingerprint": "f" * 32, "kind": "composite", "parameters": {}, "item_ids": []}
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))  # both try at the same moment
try:
    with RemoteRun(sys.argv[1], record):
        print("wrote", flush=True)
        time.sleep(2)  # hold the prefix while the other process tries
except FolderLocked as error:
    print(error, flush=True)
"""


def test_two_processes_into_one_prefix_one_writes(s3, store, tmp_path):
    """Two runs on this machine (another pid, alive: not a killed run's lock)."""
    kind, fs = s3
    location = f"s3://raster-collect/processes-{kind}"
    at = time.time() + 2  # after both have imported
    env = dict(os.environ, **store[1], PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    children = [subprocess.Popen([sys.executable, "-c", CHILD, location, str(at)], env=env,
                                 stdout=subprocess.PIPE, text=True, cwd=tmp_path)
                for _ in range(2)]
    said = sorted(child.communicate(timeout=60)[0].strip() for child in children)
    assert said[0].startswith(f"another raster-collect run is writing to {location} (pid "), said
    assert said[1] == "wrote", said
    assert _lock_of(fs, f"processes-{kind}") is None


def test_ctrl_c_while_the_lock_settles_leaves_no_lock(s3, monkeypatch):
    """Interrupted while its lock was being read back, a run left it for the next run to
    wait out (another machine's: ten minutes)."""
    kind, fs = s3
    prefix = f"settle-{kind}"
    if kind == "conditional":  # there only a takeover settles
        _put_lock(fs, prefix, minutes_ago=61)

    def interrupted(seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(remote_lock.time, "sleep", interrupted)
    with pytest.raises(KeyboardInterrupt):
        remote_lock.RemoteLock(f"s3://raster-collect/{prefix}").acquire()
    assert _lock_of(fs, prefix) is None
