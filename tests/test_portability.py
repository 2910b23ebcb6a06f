"""Windows rules, simulated on Linux: no POSIX-only module in the project's code paths, and the
output-folder lock on ``msvcrt.locking`` with Windows' rule that an open file cannot be
deleted."""

from __future__ import annotations

import ast
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import rasterio

from raster_collect_plugin.core.runs import portable
from raster_collect_plugin.core.runs.folder import LOCK_NAME, FolderLocked, RunFolder, fingerprint
from tests.windows_rules import (
    CALLS_VARIABLE,
    POSIX_ONLY,
    fake_msvcrt,
    forbid_deleting_open_files,
)

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "raster_collect_plugin"


def _guarded(node: ast.AST, parents: dict) -> bool:
    """True when an import sits in a try that catches ImportError or under a platform test."""
    child, parent = node, parents.get(node)
    while parent is not None:
        if isinstance(parent, ast.Try) and child in parent.body:
            for handler in parent.handlers:
                names = ast.dump(handler.type) if handler.type is not None else "bare"
                if any(n in names for n in ("ImportError", "ModuleNotFoundError", "bare")):
                    return True
        if isinstance(parent, ast.If):
            test = ast.unparse(parent.test)
            if "sys.platform" in test or "os.name" in test:
                return True
        if isinstance(parent, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return False  # imported when called: still needs a guard, checked the same way
        child, parent = parent, parents.get(parent)
    return False


def unguarded_posix_imports(root: Path) -> list:
    """``file:line module`` for every import of a POSIX-only module outside a guard."""
    found = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                if module.split(".")[0] in POSIX_ONLY and not _guarded(node, parents):
                    found.append(f"{path.relative_to(root.parent)}:{node.lineno} {module}")
    return found


def test_no_project_module_imports_a_posix_only_module_unguarded():
    assert unguarded_posix_imports(PACKAGE) == []


def test_the_static_check_sees_an_unguarded_import(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "bad.py").write_text("import os\nimport fcntl\n")
    (package / "late.py").write_text("def f():\n    from resource import getrlimit\n")
    (package / "good.py").write_text(
        "import sys\ntry:\n    import fcntl\nexcept ImportError:\n    fcntl = None\n"
        "if sys.platform != 'win32':\n    import pwd\n")
    assert unguarded_posix_imports(package) == ["pkg/bad.py:2 fcntl",
                                                "pkg/late.py:2 resource"]


@pytest.fixture
def windows_lock(monkeypatch):
    """portable's lock on a simulated msvcrt, and open files that cannot be deleted."""
    monkeypatch.setattr(portable, "fcntl", None)
    monkeypatch.setattr(portable, "msvcrt", fake_msvcrt())
    forbid_deleting_open_files(monkeypatch)


def record():
    return fingerprint("composite", {"a": 1})


def test_folder_lock_with_msvcrt_refuses_a_second_run_and_leaves_no_lock_file(tmp_path,
                                                                             windows_lock):
    output = tmp_path / "out"
    with RunFolder(output, record()) as first:
        with pytest.raises(FolderLocked, match=re.escape(
                f"writing to {output} (pid {os.getpid()} on {socket.gethostname()})")):
            RunFolder(output, record()).__enter__()
        (output / "a.tif").write_bytes(b"x")
        first.publish(["a.tif"])
    assert not (output / LOCK_NAME).exists()  # closed first, then deleted
    with RunFolder(output, record()) as again:  # the byte is unlocked
        again.publish(["a.tif"])


def test_lock_file_another_run_holds_open_is_left_and_still_locks(tmp_path, windows_lock):
    """Windows cannot delete a lock file another run has open: it stays, harmlessly."""
    output = tmp_path / "out"
    folder = RunFolder(output, record()).__enter__()
    waiting = os.open(output / LOCK_NAME, os.O_RDWR)  # a second run between open and lock
    try:
        folder.__exit__(None, None, None)
        assert (output / LOCK_NAME).exists()
        portable.try_lock(waiting)  # the first run's byte was unlocked
        with pytest.raises(FolderLocked):
            RunFolder(output, record()).__enter__()
    finally:
        portable.release_lock_file(waiting, output / LOCK_NAME)
    assert not (output / LOCK_NAME).exists()


def test_posix_lock_is_deleted_before_it_is_unlocked(tmp_path, monkeypatch):
    """On POSIX the path goes first: a run that locks the old file afterwards sees it
    removed and retries on a new one (never two holders)."""
    order = []
    monkeypatch.setattr(os, "unlink", lambda path: order.append("unlink"))
    monkeypatch.setattr(portable.fcntl, "flock",
                        lambda handle, how: order.append("flock"))
    handle = os.open(tmp_path / "lock", os.O_RDWR | os.O_CREAT)
    portable.release_lock_file(handle, tmp_path / "lock")
    assert order == ["unlink", "flock"]


def test_a_real_job_runs_without_posix_only_modules(small_sample, tmp_path):
    """The composite command, end to end, with fcntl/resource/pwd/grp/termios unimportable
    from the project's own code and msvcrt present: the folder lock takes the Windows path."""
    output, calls = tmp_path / "out", tmp_path / "msvcrt-calls"
    env = dict(os.environ, PYTHONPATH=str(ROOT), **{CALLS_VARIABLE: str(calls)})
    probe = subprocess.run(
        [sys.executable, "-c", "import tests.windows_rules as w; w.block_posix_modules_for_"
         "the_project(); exec('import fcntl', {'__name__': 'raster_collect_plugin.x'})"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
    assert "ImportError" in probe.stderr and "simulated Windows" in probe.stderr
    result = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "windows_rules.py"), "--quiet", "composite",
         "--gpkg", str(small_sample.forests_path), "--catalog", str(small_sample.catalog_path),
         "--collections", "sentinel-2-l2a", "--start", "2025-10-01", "--end", "2025-10-31",
         "--indices", "NDVI", "--output", str(output)],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    made = sorted(output.rglob("*_NDVI_monthly_median.tif"))
    assert made, sorted(p.name for p in output.rglob("*"))
    with rasterio.open(made[0]) as dataset:
        assert dataset.read(1, masked=True).count() > 0
    lock, unlock = (f"{mode} {portable._WINDOWS_LOCK_OFFSET} 1"
                    for mode in (2, 0))  # LK_NBLCK, LK_UNLCK
    assert calls.read_text().split("\n")[:2] == [lock, unlock]
    assert not (output / LOCK_NAME).exists()
