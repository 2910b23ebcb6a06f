"""Shared fixtures: loopback servers (STAC API, Range file server) and the synthetic sample."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Dict, List

import pytest

from tests.servers.range_http import RangeFileServer
from tests.servers.stac_api import StacApiServer

# Never let a test reach a public host through a proxy set in the environment.
for variable in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
    os.environ.pop(variable, None)
os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture
def file_server():
    """Factory: ``file_server(root, token_check=None)`` -> a started RangeFileServer."""
    started: List[RangeFileServer] = []

    def start(root: Path, token_check=None) -> RangeFileServer:
        server = RangeFileServer(root, token_check=token_check).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def stac_api(tmp_path):
    """Factory: ``stac_api({name: FeatureCollection}, collections=[])`` -> started rustac API."""
    started: List[StacApiServer] = []

    def start(feature_collections: Dict[str, dict], collections=()) -> StacApiServer:
        server = StacApiServer(tmp_path / f"stac-api-{len(started)}", feature_collections,
                               list(collections)).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(autouse=True)
def clean_plugin_settings():
    """Each test starts from the plugin's default settings and leaves none behind: a dock
    saves its form under /raster_collect/ and the next dock loads it, so one test's cloud
    limit changed what another test's monitoring found (80 or 119 scenes, by test order)."""
    if "qgis" not in sys.modules:  # pytest-qgis loads it: always, in this suite
        yield
        return
    from qgis.core import QgsSettings

    from raster_collect_plugin.settings import PREFIX

    QgsSettings().remove(PREFIX.strip("/"))
    yield
    QgsSettings().remove(PREFIX.strip("/"))


@pytest.fixture(scope="session")
def small_sample(tmp_path_factory):
    """The small synthetic sample (6 compartments, 3 months, all three sensors)."""
    from raster_collect_plugin.core.sample.catalog import make_sample
    from raster_collect_plugin.core.sample.scenes import small_spec

    return make_sample(tmp_path_factory.mktemp("small-sample"), small_spec())


@pytest.fixture(scope="module")
def raster_collect_provider(qgis_processing):
    """The plugin's Processing provider registered for a test module, removed afterwards so
    plugin load/unload tests start from a clean registry."""
    from qgis.core import QgsApplication

    from raster_collect_plugin.processing.provider import PROVIDER_ID, RasterCollectProvider

    registry = QgsApplication.processingRegistry()
    added = None
    if registry.providerById(PROVIDER_ID) is None:
        added = RasterCollectProvider()
        registry.addProvider(added)
    yield registry.providerById(PROVIDER_ID)
    if added is not None:
        registry.removeProvider(added)


def pytest_collection_modifyitems(config, items):
    """The files of tests marked ``slow`` (the real engine set-up, the QGIS matrix: minutes of
    pip and apt work) run after the others, so a failing fast test shows early. It also keeps
    the QGIS GUI tests off the far side of the in-process engine set-up: with QGIS 3.22, the
    full suite crashed in ``QgsDatumTransform.operations`` during a dock run that came after
    ``install.create_engine`` (not root-caused; see the README's known issues).

    Tests that run the dock or put runs on the map (QGIS's datum operations on the main
    thread, the known issue) are marked ``dock``: ``make test`` runs them in one process of
    their own, after the others, never beside a second test process.

    Whole files move, so that ``make test``'s two processes (pytest-xdist, ``--dist loadfile
    --no-loadscope-reorder``: files handed out in this order) keep both rules: the first file
    goes to a fresh process, the slow files come last in theirs. xdist's own order (largest
    file first) put test_project_reopen after 50 other files, and it failed as below."""
    slow_files = {item.path for item in items
                  if item.get_closest_marker("slow") or item.get_closest_marker("qgis_matrix")}
    items.sort(key=lambda item: (item.path in slow_files,
                                 item.module.__name__ != _RUN_FIRST))
    for item in items:
        if "dock" in item.fixturenames or item.module.__name__ in _SHOWS_RUNS:
            item.add_marker(pytest.mark.dock)


# tests that put runs on the map without the dock fixture (results.show_run)
_SHOWS_RUNS = ("tests.test_results_view", "tests.test_project_reopen")


# QGIS 3.22: test_project_reopen's QgsDatumTransform.operations found no available operation
# (0, where a fresh process finds 2 of 3) when it ran after about 400 other tests, in the
# full suite only (2 of 2 clean-clone runs this round), and it passed alone, after its
# neighbours, with QThreadPool's expiry at 50 ms and when a probe computed the same
# operations on the main thread after every test. Cause not found (a PROJ object of a
# worker thread's context shared with the main thread is the hypothesis, see the README);
# the test runs first, where it always passed. (Round 13: seen once more, with xdist's order.)
_RUN_FIRST = "tests.test_project_reopen"


class ProjectFromTheMainThreadOnly:
    """QgsProject as the plugin's modules see it during a test, noting each thread other than
    the main one that asks for the project. House rule: worker threads (QgsTask.run) never
    touch the project; QGIS 3.22 crashed, rarely, with a worker doing so (README)."""

    def __init__(self, real):
        self.real, self.workers = real, []

    def instance(self):
        import threading

        if threading.current_thread() is not threading.main_thread():
            import traceback

            self.workers.append("".join(traceback.format_stack(limit=6)))
        return self.real.instance()

    def __getattr__(self, name):
        return getattr(self.real, name)

    def __call__(self, *args, **kwargs):  # a project of one's own: QgsProject()
        return self.real(*args, **kwargs)


@pytest.fixture(autouse=True)
def project_from_the_main_thread_only(request, monkeypatch):
    """In the tests that use QGIS, every plugin module's QgsProject is watched: a worker
    thread asking for the project fails the test, with where it asked."""
    if "qgis" not in sys.modules:  # pytest-qgis loads it: always, in this suite
        yield None
        return
    import importlib
    import pkgutil

    from raster_collect_plugin import gui

    for found in pkgutil.iter_modules(gui.__path__, "raster_collect_plugin.gui."):
        importlib.import_module(found.name)  # so that each is watched from the start
    watched = None
    for name, module in list(sys.modules.items()):
        if name.startswith("raster_collect_plugin.") and hasattr(module, "QgsProject"):
            watched = watched or ProjectFromTheMainThreadOnly(module.QgsProject)
            monkeypatch.setattr(module, "QgsProject", watched)
    yield watched
    if watched is not None:
        assert not watched.workers, "a worker thread read the project:\n" + watched.workers[0]
