"""The plugin loads and unloads cleanly: no actions, docks or providers left behind."""

import os
import sys

import pytest
from qgis.core import QgsApplication
from qgis.PyQt.QtCore import QCoreApplication, QEvent
from qgis.PyQt.QtWidgets import QDockWidget

import raster_collect_plugin
from raster_collect_plugin.plugin import RasterCollectPlugin
from raster_collect_plugin.processing.provider import PROVIDER_ID
from tests.recording_iface import RecordingIface

# PyQt6 enums are not ints; sendPostedEvents wants the int value
DEFERRED_DELETE = getattr(QEvent.Type.DeferredDelete, "value", QEvent.Type.DeferredDelete)


def our_docks(main_window):
    return [d for d in main_window.findChildren(QDockWidget)
            if d.objectName() == "RasterCollectDock"]


def test_load_and_unload_twice_leaves_nothing_behind(qgis_iface):
    main_window = qgis_iface.mainWindow()
    iface = RecordingIface(main_window)
    registry = QgsApplication.processingRegistry()
    for _ in range(2):
        plugin = raster_collect_plugin.classFactory(iface)
        assert isinstance(plugin, RasterCollectPlugin)
        plugin.initGui()
        assert len(iface.toolbar_actions) == 1
        assert [menu for menu, _ in iface.menu_actions] == ["&Raster Collect"]
        assert len(iface.docks) == 1 and len(our_docks(main_window)) == 1
        provider = registry.providerById(PROVIDER_ID)
        assert provider is not None
        assert registry.algorithmById(f"{PROVIDER_ID}:create_sample_data") is not None

        # the toolbar action toggles the dock
        iface.toolbar_actions[0].trigger()
        assert iface.docks[0].isVisibleTo(main_window)

        plugin.unload()
        QCoreApplication.sendPostedEvents(None, DEFERRED_DELETE)
        assert iface.toolbar_actions == [] and iface.menu_actions == [] and iface.docks == []
        assert registry.providerById(PROVIDER_ID) is None
        assert our_docks(main_window) == []


def wait_for(condition, timeout=120.0):
    import time

    from qgis.PyQt.QtCore import QCoreApplication

    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        QCoreApplication.processEvents()
        time.sleep(0.02)
    return condition()


def _engine_checks_running() -> list:
    return [task for task in QgsApplication.taskManager().tasks()
            if "checking the processing engine" in task.description() and task.isActive()]


@pytest.mark.skipif(sys.platform == "win32", reason="a shell script stands in for a Python")
def test_unload_cancels_an_engine_check_that_hangs(qgis_iface, tmp_path, monkeypatch):
    """An engine Python that hangs (a network drive, a virus scanner) must not keep the
    plugin's check running after it unloads, nor make QGIS wait for it when it quits."""
    from raster_collect_plugin.engine.interpreter import ENGINE_PYTHON_VARIABLE

    hanging = tmp_path / "python"
    hanging.write_text("#!/bin/sh\nexec sleep 30\n")
    hanging.chmod(0o755)
    monkeypatch.setenv(ENGINE_PYTHON_VARIABLE, str(hanging))
    plugin = raster_collect_plugin.classFactory(RecordingIface(qgis_iface.mainWindow()))
    plugin.initGui()
    assert wait_for(lambda: bool(_engine_checks_running()), timeout=10)
    plugin.unload()
    QCoreApplication.sendPostedEvents(None, DEFERRED_DELETE)
    assert wait_for(lambda: not _engine_checks_running(), timeout=5)


def test_plugin_loads_without_an_engine_and_every_door_says_how_to_set_it_up(
        qgis_iface, tmp_path, monkeypatch):
    """QGIS's Python lacks nothing the plugin needs: with an engine Python that has none of the
    packages, the dock, menu, provider and options page still appear; the message bar and the
    dock say so in one sentence with a set-up button."""
    import html
    import venv

    from qgis.PyQt.QtWidgets import QPushButton

    from raster_collect_plugin.engine.interpreter import ENGINE_PYTHON_VARIABLE, venv_python
    from raster_collect_plugin.gui.engine_options import PAGE_NAME, EngineOptionsPage
    from raster_collect_plugin.gui.engine_state import engine_state

    venv.EnvBuilder(with_pip=False, symlinks=True).create(tmp_path / "bare")
    bare = str(venv_python(tmp_path / "bare"))
    monkeypatch.setenv(ENGINE_PYTHON_VARIABLE, bare)
    iface = RecordingIface(qgis_iface.mainWindow())
    logged = []

    def record(message, tag, level):
        if tag == "raster-collect":
            logged.append(html.unescape(message))

    QgsApplication.messageLog().messageReceived.connect(record)
    plugin = raster_collect_plugin.classFactory(iface)
    assert isinstance(plugin, RasterCollectPlugin)
    plugin.initGui()
    try:
        assert len(iface.toolbar_actions) == 1 and len(iface.docks) == 1
        assert QgsApplication.processingRegistry().providerById(PROVIDER_ID) is not None
        assert len(iface.options_factories) == 1
        state = engine_state()
        assert wait_for(lambda: state.python == bare and state.ready is False)
        assert wait_for(lambda: iface.messageBar().widgets)
        [item] = iface.messageBar().widgets
        text = html.unescape(item.text())
        # a forester's sentence: what to do, no Python package named (details in the tooltip)
        assert "processing engine needs to be set up" in text and "not ready" in text
        assert "Set it up" in text
        assert "Settings → Options → Raster Collect" in text
        assert "numpy" not in text and "numpy is missing" in item.toolTip()
        # the full sentence (tooltip, log, options page) shows the fix command whole: the old
        # message was cut at `"numpy<2`
        full = item.toolTip()
        assert full.endswith(state.report["fix_command"]) and "-r " in full
        assert "numpy is missing" in state.message()
        assert wait_for(lambda: logged)
        assert any(m.endswith(state.report["fix_command"]) for m in logged), logged
        [button] = [b for b in item.findChildren(QPushButton)
                    if b.objectName() == "raster_collect_setup_engine"]
        button.click()
        assert iface.options_requests == [PAGE_NAME]
        prompt = iface.docks[0].engine_prompt
        assert prompt.isVisibleTo(iface.docks[0]) and "not ready" in prompt.label.text()
        assert "numpy is missing" in prompt.toolTip()

        page = iface.options_factories[0].createWidget(None)
        assert isinstance(page, EngineOptionsPage) and page.objectName() == PAGE_NAME
        assert "not ready" in page.verdict.text()
        assert page.packages.rowCount() > 15
        bases = [page.base_combo.itemData(i) for i in range(page.base_combo.count())]
        assert any(b and os.path.realpath(b) == os.path.realpath("/usr/bin/python3")
                   for b in bases)
        assert "Create the engine" in page.create_button.text()
        # the set-up figures are those of the chosen Python's wheels on this computer
        from raster_collect_plugin.engine import figures, install

        here = figures.setup_figures(page.versions[page.base_combo.currentData()])
        assert install.setup_size_text(page.versions[page.base_combo.currentData()]) in (
            page.where.text())
        assert f"about {here['download_mb']} MB download" in page.where.text()
        page.deleteLater()

        # pointing at a complete Python (the test venv) makes the prompt go away
        monkeypatch.setenv(ENGINE_PYTHON_VARIABLE, sys.executable)
        state.refresh(force=True)
        assert wait_for(lambda: state.python == sys.executable and state.ready is True)
        assert not prompt.isVisibleTo(iface.docks[0])
        # the "not ready" bar goes once the engine is ready, and does not come back
        assert iface.messageBar().widgets == []
        state.changed.emit()
        state.refresh(force=True)
        assert wait_for(lambda: not state._tasks)
        assert iface.messageBar().widgets == []
    finally:
        plugin.unload()
        QgsApplication.messageLog().messageReceived.disconnect(record)
    assert iface.options_factories == []
