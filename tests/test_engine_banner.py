"""The dock's engine banner follows the engine setting when a script changes it after QGIS
started: it is checked again when the dock is shown and when a job starts (jobs ran in the
new engine while the banner still said "not ready")."""

import sys
import venv

import pytest

from raster_collect_plugin import settings
from raster_collect_plugin.engine.interpreter import ENGINE_PYTHON_VARIABLE, venv_python
from raster_collect_plugin.gui.dock import RasterCollectDock
from raster_collect_plugin.gui.engine_state import engine_state
from tests.test_dock import dock, forests, wait_for_job  # noqa: F401 (fixtures)
from tests.test_plugin import wait_for


@pytest.fixture
def bare_engine(tmp_path_factory, monkeypatch):
    """The engine setting names a Python without the engine's packages, and the state says
    so; the setting and a ready state are restored afterwards."""
    bare = tmp_path_factory.mktemp("engine") / "bare"
    venv.EnvBuilder(with_pip=False, symlinks=True).create(bare)
    monkeypatch.delenv(ENGINE_PYTHON_VARIABLE, raising=False)
    before = settings.value("engine/python")
    settings.set_value("engine/python", str(venv_python(bare)))
    engine_state().refresh(force=True)
    assert wait_for(lambda: not engine_state()._tasks) and engine_state().ready is False
    yield
    settings.set_value("engine/python", before if before is not None else "")
    engine_state().refresh()
    wait_for(lambda: not engine_state()._tasks)


def _script_sets_the_engine() -> None:
    settings.set_value("engine/python", sys.executable)  # as a startup script would


def test_the_banner_is_checked_again_when_the_dock_is_shown(qgis_iface, bare_engine):
    widget = RasterCollectDock(qgis_iface, None)  # a window of its own: shown at once
    try:
        assert not widget.engine_prompt.isHidden()  # the bare engine is not ready
        _script_sets_the_engine()
        widget.show()
        assert wait_for(lambda: not engine_state()._tasks)
        assert engine_state().python == sys.executable and engine_state().ready is True
        assert widget.engine_prompt.isHidden()
        widget.hide()
        widget.show()  # nothing changed: no check
        assert engine_state()._tasks == []
    finally:
        widget.shutdown()
        widget.deleteLater()


def test_the_banner_is_checked_again_when_a_job_starts(bare_engine, dock):  # noqa: F811
    assert not dock.engine_prompt.isHidden()
    _script_sets_the_engine()
    dock.start_search()
    assert wait_for_job(dock) == "search"
    assert wait_for(lambda: not engine_state()._tasks)
    assert engine_state().ready is True and dock.engine_prompt.isHidden()
