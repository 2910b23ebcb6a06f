"""Early pytest plugin: run QGIS on a temporary profile, never on one inside the checkout.

pytest-qgis keeps its QGIS profile in ``<rootdir>/.qgis-settings``; a test run would then
write settings and an authentication database into the working tree. Loaded with ``-p`` (see
pyproject.toml), so it is in place before pytest-qgis starts QGIS.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

import pytest_qgis.plugin as pytest_qgis_plugin

_PROFILE_ROOT = Path(tempfile.mkdtemp(prefix="raster-collect-test-profile-"))
atexit.register(shutil.rmtree, _PROFILE_ROOT, True)


class _ConfigWithTemporaryRoot:
    """The pytest config as pytest-qgis sees it, with ``rootpath`` moved to a temp folder."""

    def __init__(self, config) -> None:
        self._config = config
        self.rootpath = _PROFILE_ROOT

    def __getattr__(self, name):
        return getattr(self._config, name)


_load_qgis_settings = pytest_qgis_plugin._load_qgis_settings


def _load_settings_from_temporary_profile(config) -> None:
    _load_qgis_settings(_ConfigWithTemporaryRoot(config))


pytest_qgis_plugin._load_qgis_settings = _load_settings_from_temporary_profile


def _working_tree_status(root: Path) -> str:
    """``git status --porcelain`` of the checkout, or "" outside a git checkout."""
    import subprocess

    try:
        result = subprocess.run(["git", "-C", str(root), "status", "--porcelain",
                                 "--untracked-files=all"], capture_output=True, text=True,
                                timeout=30)
    except (OSError, subprocess.SubprocessError):
        return ""
    return result.stdout if result.returncode == 0 else ""


def _is_xdist_worker(config) -> bool:
    """A pytest-xdist worker: the controlling process checks the tree once, after every
    worker is done (a worker finishing early would see the other's files still in use)."""
    return hasattr(config, "workerinput")


def pytest_sessionstart(session) -> None:
    if not _is_xdist_worker(session.config):
        session.config._tree_status_before = _working_tree_status(session.config.rootpath)


def pytest_sessionfinish(session, exitstatus) -> None:
    """Fail the run when the tests changed the working tree (tracked or untracked files)."""
    if _is_xdist_worker(session.config):
        return
    before = getattr(session.config, "_tree_status_before", "")
    after = _working_tree_status(session.config.rootpath)
    if after != before:
        added = sorted(set(after.splitlines()) - set(before.splitlines()))
        session.config.get_terminal_writer().line(
            "The tests changed the working tree:\n  " + "\n  ".join(added or ["(files restored)"]),
            red=True)
        session.exitstatus = 1
