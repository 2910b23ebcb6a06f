"""``raster-collect unlock OUTPUT``: a lock left by a run on another machine (an ``s3://``
prefix) had to be found and deleted by hand, with no way to see whose it was. The command
names the run holding it (host, pid, started, last heartbeat) and removes it only when it is
stale or with --force; a local folder's lock file likewise."""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path

import pytest

from raster_collect_plugin.cli import main
from raster_collect_plugin.core.runs import remote_lock
from raster_collect_plugin.core.runs.portable import release_lock_file, try_lock


def _run(capsys, *arguments: str):
    code = main(["--json", "unlock", *arguments])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out.strip() else None), err


def test_a_local_lock_file_no_run_holds_is_removed(tmp_path, capsys):
    folder = tmp_path / "out"
    folder.mkdir()
    code, summary, _ = _run(capsys, str(folder))
    assert (code, summary["lock"], summary["removed"]) == (0, None, False)
    lock = folder / ".raster-collect.lock"
    lock.write_text("pid 999999")  # a killed run's: no process holds it
    code, summary, _ = _run(capsys, str(folder))
    assert (code, summary["stale"], summary["removed"]) == (0, True, True)
    assert summary["held_by"].startswith("pid 999999 on ") and not lock.exists()


def test_a_folder_that_does_not_exist_is_bad_input_not_no_lock(tmp_path, capsys):
    """A typo in the folder printed "no lock", exit 0, as an unlocked folder does: now one
    line naming the path and the fix, exit 2; a file given for the folder likewise."""
    typo = tmp_path / "ouptut"
    code, summary, err = _run(capsys, str(typo))
    assert code == 2 and summary["error"]["kind"] == "bad_input"
    assert err.strip() == (f"raster-collect: error: unlock: {typo} does not exist: give the "
                           "output folder the run wrote (its --output)")
    (tmp_path / "a.txt").write_text("x")
    code, summary, _ = _run(capsys, str(tmp_path / "a.txt"))
    assert code == 2 and "is a file, not an output folder" in summary["error"]["message"]
    assert not typo.exists()


# a run's process holding the folder's lock (the real RunFolder) until its stdin closes
HOLDER = """
import sys
from raster_collect_plugin.core.runs.folder import RunFolder
with RunFolder(sys.argv[1], {}):
    print("holding", flush=True)
    sys.stdin.read()
"""


@pytest.fixture
def holder():
    """``holder(folder)``: a child process holding ``folder``'s lock, as a run does."""
    import subprocess

    children = []

    def start(folder: Path) -> subprocess.Popen:
        child = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder)],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                 env={**os.environ, "PYTHONPATH": str(Path.cwd())})
        children.append(child)
        assert child.stdout.readline().strip() == "holding"
        return child

    yield start
    for child in children:
        child.stdin.close()
        child.wait(timeout=30)


def test_a_live_run_on_this_machine_keeps_its_lock_even_with_force(tmp_path, capsys, holder):
    """--force deleted the lock file of a run still writing here: another run could then
    write into the folder beside it. Refused (exit 2) naming the pid and how to stop it."""
    folder = tmp_path / "out"
    child = holder(folder)
    lock = folder / ".raster-collect.lock"
    assert lock.read_text() == f"pid {child.pid} on {socket.gethostname()}"
    for force in ([], ["--force"]):
        code, summary, err = _run(capsys, str(folder), *force)
        assert code == 2 and summary is not None  # --json: the error document
        line = err.strip()
        assert line.startswith(f"raster-collect: error: {lock} is held by pid {child.pid} on "
                               f"{socket.gethostname()}, started 20"), line
        assert line.endswith(
            f"(a live process on this machine): that run is still writing; wait for it to "
            f"finish, or stop that process (pid {child.pid}), which releases its lock"
            + ("; --force removes only a lock held from another machine sharing the folder"
               if force else "")), line
        assert lock.exists()
    child.stdin.close()  # the run ends (killed: its lock file stays, stale)
    child.wait(timeout=30)
    folder.mkdir(exist_ok=True)
    lock.write_text(f"pid {child.pid} on {socket.gethostname()}")
    code, summary, _ = _run(capsys, str(folder))
    assert (code, summary["stale"], summary["removed"]) == (0, True, True)
    assert not lock.exists()


def test_a_lock_held_from_another_machine_goes_only_with_force(tmp_path, capsys):
    """A folder shared with another machine: its run's pid means nothing here, so --force
    (for a run you know is gone) still removes the lock."""
    folder = tmp_path / "out"
    folder.mkdir()
    lock = folder / ".raster-collect.lock"
    lock.write_text(f"pid {os.getpid()} on other-machine")  # a live pid here, by chance
    handle = os.open(lock, os.O_RDWR)
    try_lock(handle)  # the other machine's run's hold (a lock on the shared file)
    try:
        code, summary, err = _run(capsys, str(folder))
        assert code == 2 and err.strip() == (
            f"raster-collect: error: {lock} is held by pid {os.getpid()} on other-machine: "
            "that run may still be writing; wait for it to finish, or if it is gone rerun "
            "with --force")
        code, summary, _ = _run(capsys, str(folder), "--force")
        assert (code, summary["held_by"], summary["stale"], summary["removed"]) == \
            (0, f"pid {os.getpid()} on other-machine", False, True)
        assert not lock.exists()
    finally:
        release_lock_file(handle, None)


@pytest.fixture(scope="module")
def store():
    if not (Path(sys.executable).parent / "moto_server").exists():
        pytest.skip("needs moto_server")
    import s3fs

    from tests.servers.scale_out import moto_s3

    s3fs.S3FileSystem.clear_instance_cache()
    with moto_s3("raster-collect") as env:
        yield env
    s3fs.S3FileSystem.clear_instance_cache()


def test_an_object_store_lock_is_shown_and_removed_when_stale_or_forced(store, monkeypatch,
                                                                       capsys):
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()
    for key, value in store.items():
        monkeypatch.setenv(key, value)
    fs = s3fs.S3FileSystem(endpoint_url=store["AWS_ENDPOINT_URL"], key="testing",
                           secret="testing")
    location = "s3://raster-collect/locked"
    path = "raster-collect/locked/.raster-collect.lock"
    body = {"host": "other-machine", "pid": 4242, "started": "2026-12-07T08:00:00+00:00",
            "heartbeat": "2026-12-07T09:00:00+00:00", "token": "theirs"}

    def put() -> None:
        fs.pipe_file(path, json.dumps(body).encode())

    code, summary, _ = _run(capsys, location)
    assert (code, summary["lock"], summary["removed"]) == (0, None, False)
    put()  # alive by the store's clock, whatever its heartbeat field says
    code, _, err = _run(capsys, location)
    assert code == 2
    assert err.startswith(
        f"raster-collect: error: {location}/.raster-collect.lock is held by pid 4242 on "
        "other-machine, started 2026-12-07T08:00:00+00:00, last heartbeat "
        "2026-12-07T09:00:00+00:00, heartbeat ")
    assert err.strip().endswith(
        "s old by the store's clock: that run may still be writing; if it is gone, it is "
        "removed once its heartbeat is 10 minutes old, or rerun with --force")
    assert fs.exists(path)
    code, summary, _ = _run(capsys, location, "--force")
    assert (code, summary["stale"], summary["removed"]) == (0, False, True)
    fs.invalidate_cache()
    assert not fs.exists(path)

    put()
    monkeypatch.setattr(remote_lock, "STALE_AFTER_SECONDS", 2.0)
    time.sleep(3.2)  # the store has not seen a heartbeat for longer than that: stale
    code, summary, _ = _run(capsys, location)
    assert (code, summary["stale"], summary["removed"]) == (0, True, True)
    assert summary["held_by"].startswith("pid 4242 on other-machine, started ")
    fs.invalidate_cache()
    assert fs.find("raster-collect/locked") == []  # the lock and the clock probe are gone


def test_a_run_whose_lock_was_forced_away_stops(store, monkeypatch, capsys):
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()
    for key, value in store.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(remote_lock, "HEARTBEAT_SECONDS", 0.3)
    location = "s3://raster-collect/forced"
    lock = remote_lock.RemoteLock(location)
    lock.acquire()
    try:
        code, summary, _ = _run(capsys, location, "--force")
        assert (code, summary["removed"]) == (0, True)
        assert summary["held_by"].startswith(f"pid {os.getpid()} on {socket.gethostname()}")
        lock._beat.join(10)
        with pytest.raises(remote_lock.LockLost) as stopped:
            lock.check()
    finally:
        lock.release()
    assert str(stopped.value) == (f"this run's lock on {location} was removed (unlock "
                                  "--force?): it stopped and published nothing; rerun it")
