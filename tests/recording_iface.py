"""A QGIS interface stand-in that records what a plugin adds and removes (for tests)."""

from __future__ import annotations

from typing import List, Tuple


class RecordingMessageBar:
    def __init__(self):
        self.messages: List[Tuple[str, str, object]] = []
        self.widgets: list = []

    def pushMessage(self, title, text="", level=None, duration=None, **_):  # noqa: N802
        self.messages.append((title, text, level))

    def pushCritical(self, title, text):  # noqa: N802
        self.messages.append((title, text, "critical"))

    def pushWarning(self, title, text):  # noqa: N802
        self.messages.append((title, text, "warning"))

    def pushSuccess(self, title, text):  # noqa: N802
        self.messages.append((title, text, "success"))

    def pushInfo(self, title, text):  # noqa: N802
        self.messages.append((title, text, "info"))

    def createMessage(self, title, text, parent=None):  # noqa: N802
        from qgis.gui import QgsMessageBar

        return QgsMessageBar.createMessage(title, text, parent)

    def pushWidget(self, widget, level=None, duration=0):  # noqa: N802
        self.widgets.append(widget)
        self.messages.append((widget.title(), widget.text(), level))

    def popWidget(self, widget):  # noqa: N802
        if widget in self.widgets:
            self.widgets.remove(widget)
            return True
        return False


class RecordingIface:
    """Tracks toolbar actions, menu entries and dock widgets a plugin registers."""

    def __init__(self, main_window, canvas=None):
        self._main_window = main_window
        self._canvas = canvas
        self._message_bar = RecordingMessageBar()
        self.toolbar_actions: list = []
        self.menu_actions: list = []
        self.docks: list = []
        self.options_factories: list = []
        self.options_requests: list = []

    def mainWindow(self):  # noqa: N802
        return self._main_window

    def mapCanvas(self):  # noqa: N802
        return self._canvas

    def messageBar(self):  # noqa: N802
        return self._message_bar

    def addToolBarIcon(self, action):  # noqa: N802
        self.toolbar_actions.append(action)

    def removeToolBarIcon(self, action):  # noqa: N802
        self.toolbar_actions.remove(action)

    def addPluginToRasterMenu(self, menu, action):  # noqa: N802
        self.menu_actions.append((menu, action))

    def removePluginRasterMenu(self, menu, action):  # noqa: N802
        self.menu_actions.remove((menu, action))

    def addDockWidget(self, area, dock):  # noqa: N802
        self.docks.append(dock)
        self._main_window.addDockWidget(area, dock)

    def removeDockWidget(self, dock):  # noqa: N802
        self.docks.remove(dock)
        self._main_window.removeDockWidget(dock)

    def registerOptionsWidgetFactory(self, factory):  # noqa: N802
        self.options_factories.append(factory)

    def unregisterOptionsWidgetFactory(self, factory):  # noqa: N802
        self.options_factories.remove(factory)

    def showOptionsDialog(self, parent=None, currentPage=""):  # noqa: N802,N803
        self.options_requests.append(currentPage)
