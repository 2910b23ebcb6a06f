"""The lock of an ``s3://`` output prefix. A store that ignores S3's conditional PUT (the
lock was "created only where none is") gave no lock at all: two runs wrote the same prefix.
A lock left by another machine's killed run had to be deleted by hand: it now has a
heartbeat, and one whose heartbeat stopped long ago is taken over with a warning."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
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


def test_another_machines_lock_is_taken_over_once_its_heartbeat_is_stale(s3, monkeypatch,
                                                                         caplog):
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
    monkeypatch.setattr(remote_lock, "STALE_AFTER_SECONDS", 2.0)  # killed 2 s ago: gone
    time.sleep(3.2)  # by the store's clock (its LastModified has whole seconds)
    with caplog.at_level(logging.WARNING):
        with RemoteRun(location, RECORD):
            held = _lock_of(fs, prefix)
            assert held["token"] not in (None, "theirs") and held["host"] != "other-machine"
    assert any(f"took over the lock of {location} held by (pid 4242 on other-machine" in m
               and re.search(r"its heartbeat stopped \d s ago by the store.s clock", m)
               for m in (r.getMessage() for r in caplog.records)), caplog.text
    assert _lock_of(fs, prefix) is None
    fs.invalidate_cache()
    assert fs.find(f"raster-collect/{prefix}") == []  # no clock probe left


def test_staleness_is_measured_on_the_stores_clock_not_this_machines(s3, monkeypatch):
    """The other machine's clock an hour behind (its heartbeat field looks an hour old), and
    then this machine's an hour ahead: a lock written just now is alive. The other machine's
    clock an hour ahead: its lock is stale once the store has not seen it for the limit."""
    kind, fs = s3
    prefix = f"skew-{kind}"
    location = f"s3://raster-collect/{prefix}"
    _put_lock(fs, prefix, minutes_ago=61)  # written now by a machine whose clock is behind
    with pytest.raises(FolderLocked, match="^another raster-collect run is writing"):
        RemoteRun(location, RECORD).__enter__()
    ahead = datetime.now(timezone.utc) + timedelta(hours=1)
    monkeypatch.setattr(remote_lock, "_utcnow", lambda: ahead)  # this machine's clock ahead
    with pytest.raises(FolderLocked, match="^another raster-collect run is writing"):
        RemoteRun(location, RECORD).__enter__()
    assert _lock_of(fs, prefix)["token"] == "theirs"
    monkeypatch.undo()
    monkeypatch.setattr(remote_lock, "STALE_AFTER_SECONDS", 2.0)
    _put_lock(fs, prefix, minutes_ago=-60)  # the other machine's clock an hour ahead
    time.sleep(3.2)
    with RemoteRun(location, RECORD):  # taken over
        assert _lock_of(fs, prefix)["token"] not in (None, "theirs")
    assert _lock_of(fs, prefix) is None


def test_the_heartbeat_is_refreshed_and_a_lock_taken_over_is_left_alone(s3, monkeypatch):
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
        assert not lock.lost()
        with _stalled(lock):
            _put_lock(fs, prefix, minutes_ago=0)  # another run took it over
        lock._beat.join(10)
        assert not lock._beat.is_alive()
        assert lock.lost()
    finally:
        lock.release()
    assert _lock_of(fs, prefix)["token"] == "theirs"  # not removed by this run


@contextlib.contextmanager
def _stalled(lock: remote_lock.RemoteLock):
    """This run is stalled (asleep): no heartbeat of it is between its read and its write.
    A takeover happens only then (its heartbeat is 10 minutes old). Without this, a store that
    ignores If-Match let a heartbeat in flight write over the test's takeover at random, as it
    would a real one; a real taker's read-back then finds it and stops (``_confirm``)."""
    with lock._guard:
        yield


def _taken_over_while_running(fs, prefix: str, manifest: bytes) -> None:
    """Another run takes the prefix over (this one slept) and writes its manifest."""
    with _stalled(remote_lock._HELD[f"s3://raster-collect/{prefix}"]):
        _put_lock(fs, prefix, minutes_ago=0)
    fs.pipe_file(f"raster-collect/{prefix}/manifest.json", manifest)


def test_a_run_whose_lock_was_taken_over_stops_at_its_next_cancel_check(s3, monkeypatch):
    """It logged a warning and went on writing: two runs wrote one prefix. Its heartbeat finds
    the other run's lock; the run stops at its next cancel check with one line (exit 1),
    publishing nothing and leaving the other run's objects alone."""
    from raster_collect_plugin.core.composites.requests import Cancelled, _check_cancel
    from raster_collect_plugin.core.jobs import classify

    kind, fs = s3
    monkeypatch.setattr(remote_lock, "HEARTBEAT_SECONDS", 0.3)
    prefix = f"lost-{kind}"
    location = f"s3://raster-collect/{prefix}"
    theirs = json.dumps({"version": 1, "files": {"a.tif": {"size": 1}}, "run": {}}).encode()
    with pytest.raises(remote_lock.LockLost) as stopped:
        with RemoteRun(location, RECORD) as run:
            cancel = run.cancel(lambda: False)
            _check_cancel(cancel)  # still this run's: goes on
            _taken_over_while_running(fs, prefix, theirs)
            deadline = time.monotonic() + 10
            with pytest.raises(Cancelled):  # the workflow's cancel check
                while time.monotonic() < deadline:
                    _check_cancel(cancel)
                    time.sleep(0.1)
            raise Cancelled("cancelled by the user")  # as the workflow does
    message = str(stopped.value)
    assert message == (
        f"this run's lock on {location} was taken over by another run (pid 4242 on "
        "other-machine) while this one was stalled 10+ minutes (e.g. the computer slept): it "
        "stopped and published nothing; rerun once that run has finished")
    assert classify(stopped.value) == ("failure", message)  # exit 1, not "cancelled"
    assert _lock_of(fs, prefix)["token"] == "theirs"
    assert fs.cat_file(f"raster-collect/{prefix}/manifest.json") == theirs  # untouched


def test_a_run_that_slept_stops_before_its_next_write(s3, monkeypatch):
    """The machine slept past the takeover: the heartbeat thread slept too. The first write
    after waking reads the lock (its last confirmation is older than two heartbeats) and
    stops; no manifest of this run is written."""
    from raster_collect_plugin.core.runs.manifest import write_manifest

    kind, fs = s3
    prefix = f"slept-{kind}"
    location = f"s3://raster-collect/{prefix}"
    theirs = json.dumps({"version": 1, "files": {}, "run": {}}).encode()
    run = RemoteRun(location, RECORD).__enter__()
    try:
        write_manifest(location, [], run={"kind": "composite"})  # before: this run's
        _taken_over_while_running(fs, prefix, theirs)
        woke = time.time() + 11 * 60
        monkeypatch.setattr(remote_lock.time, "time", lambda: woke)
        with pytest.raises(remote_lock.LockLost, match=f"^this run's lock on {location} was "):
            write_manifest(location, [], run={"kind": "composite"})
        with pytest.raises(remote_lock.LockLost):
            run.publish()
    finally:
        with pytest.raises(remote_lock.LockLost):
            run.__exit__(None, None, None)
    assert fs.cat_file(f"raster-collect/{prefix}/manifest.json") == theirs
    assert _lock_of(fs, prefix)["token"] == "theirs"
    assert remote_lock._HELD == {}


CHILD = """
import os, sys, time
from raster_collect_plugin.core.runs.folder import FolderLocked
from raster_collect_plugin.core.runs.remote import RemoteRun
record = {"fingerprint": "f" * 32, "kind": "composite", "parameters": {}, "item_ids": []}
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))  # both try at the same moment
try:
    with RemoteRun(sys.argv[1], record):
        print("wrote", flush=True)
        deadline = time.time() + 20  # (both wrote: the test fails, not hangs)
        while not os.path.exists("refused") and time.time() < deadline:
            time.sleep(0.05)  # hold the prefix until the other process has tried
except FolderLocked as error:
    print(error, flush=True)
    open("refused", "w").close()
"""


def test_two_processes_into_one_prefix_one_writes(s3, store, tmp_path):
    """Two runs on this machine (another pid, alive: not a killed run's lock)."""
    kind, fs = s3
    location = f"s3://raster-collect/processes-{kind}"
    at = time.time() + 2  # after both have imported (one that imports later still finds the
    # other's lock: it is held until the refusal; a fixed 2 s hold was over before a child
    # whose imports a loaded machine slowed by 5 s tried, and both wrote)
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
        monkeypatch.setattr(remote_lock, "STALE_AFTER_SECONDS", 0.0)  # by the store's clock

    def interrupted(seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(remote_lock.time, "sleep", interrupted)
    with pytest.raises(KeyboardInterrupt):
        remote_lock.RemoteLock(f"s3://raster-collect/{prefix}").acquire()
    assert _lock_of(fs, prefix) is None


def test_a_lock_released_while_its_age_is_read_is_claimed(s3, monkeypatch):
    """The other run ended between the lock's read and its age's: an unexpected
    FileNotFoundError; now the lock is looked at again and claimed."""
    kind, fs = s3
    prefix = f"released-{kind}"
    _put_lock(fs, prefix, minutes_ago=0)
    modified = remote_lock.RemoteLock._modified

    def released_first(lock, path):
        if path == lock.path and _lock_of(fs, prefix)["token"] == "theirs":
            fs.rm(path)  # the other run releases its lock now
        return modified(lock, path)

    monkeypatch.setattr(remote_lock.RemoteLock, "_modified", released_first)
    lock = remote_lock.RemoteLock(f"s3://raster-collect/{prefix}")
    lock.acquire()
    try:
        assert _lock_of(fs, prefix)["token"] == lock.token
    finally:
        lock.release()
    assert _lock_of(fs, prefix) is None


def test_a_heartbeat_in_flight_does_not_bring_back_a_removed_lock(s3, monkeypatch):
    """The heartbeat read the lock (this run's), then `unlock --force` removed it, then the
    heartbeat wrote it back: the forced unlock was undone and the run kept writing. The
    rewrite is now conditional on the version read (S3's If-Match): the run is lost."""
    kind, fs = s3
    if kind != "conditional":
        pytest.skip("a store without conditional writes is best effort (module docstring)")
    prefix = "in-flight"
    lock = remote_lock.RemoteLock(f"s3://raster-collect/{prefix}")
    lock.acquire()
    lock._stop.set()  # this test drives the heartbeat itself
    lock._beat.join(10)
    read = lock.fs.cat_file

    def read_then_removed(path, *args, **kwargs):
        body = read(path, *args, **kwargs)
        if path == lock.path:  # `unlock --force` between the read and the write
            fs.rm(f"raster-collect/{prefix}/.raster-collect.lock")
        return body

    monkeypatch.setattr(lock.fs, "cat_file", read_then_removed)
    try:
        assert lock._refresh() is False
        monkeypatch.setattr(lock.fs, "cat_file", read)
        assert lock.lost()
        assert _lock_of(fs, prefix) is None  # still removed
        with pytest.raises(remote_lock.LockLost, match="was removed"):
            lock.check()
    finally:
        lock.release()


def test_a_takeover_between_a_heartbeats_read_and_write_leaves_one_run_holding(s3, monkeypatch):
    """Another run took the lock over between this run's heartbeat read and its write. With
    If-Match the heartbeat's write fails and this run is lost; on a store that ignores it the
    heartbeat writes over the takeover and the taker's read-back refuses it. Either way one run
    holds the lock, and the lock names it. (S3's 412 says "pre-conditions": it was taken as a
    store not answering, and the run wrote on until its next heartbeat, a minute later.)"""
    kind, fs = s3
    monkeypatch.setattr(remote_lock, "SETTLE_SECONDS", 0.1)
    prefix = f"one-holder-{kind}"
    ours = remote_lock.RemoteLock(f"s3://raster-collect/{prefix}")
    ours.acquire()
    ours._stop.set()  # this test drives the heartbeat itself
    ours._beat.join(10)
    taker = remote_lock.RemoteLock(f"s3://raster-collect/{prefix}")
    read = ours.fs.cat_file

    def read_then_taken_over(path, *args, **kwargs):
        body = read(path, *args, **kwargs)
        if path == ours.path and taker.token.encode() not in body:
            taker._rewrite(None)  # the taker's overwrite, before its read-back
        return body

    monkeypatch.setattr(ours.fs, "cat_file", read_then_taken_over)
    try:
        assert ours._refresh() == (kind != "conditional")
        monkeypatch.setattr(ours.fs, "cat_file", read)
        try:
            taker._confirm()
            taker_holds = True
        except FolderLocked:
            taker_holds = False
        assert taker_holds == (kind == "conditional")
        assert ours.lost() == taker_holds
        holder = taker if taker_holds else ours
        assert _lock_of(fs, prefix)["token"] == holder.token
    finally:
        ours.release()
        fs.rm(f"raster-collect/{prefix}/.raster-collect.lock")
