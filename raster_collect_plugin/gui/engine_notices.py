"""The dock's notice when a job is refused because the engine is not ready: one forester
sentence in the message bar and the status line (package details in the log), taken away
and the status set back to ready once the engine passes its check."""

from __future__ import annotations

from typing import Optional

from qgis.core import Qgis, QgsMessageLog
from qgis.PyQt.QtCore import QObject

from .engine_state import engine_state
from .messages import ENGINE_REPAIR, for_message_bar

LOG_TAG = "raster-collect"
READY = "The processing engine is ready: press Search or Fetch & compute."


def pop_bar_item(iface, item) -> None:
    """Remove ``item`` from the message bar (already closed by the user: nothing to do)."""
    if item is None or iface is None:
        return
    try:
        iface.messageBar().popWidget(item)
    except (RuntimeError, AttributeError):
        pass


class EngineFailureNotice(QObject):
    """One per dock."""

    def __init__(self, dock):
        super().__init__(dock)
        self.dock = dock
        self.item = None
        self.showing = False
        engine_state().changed.connect(self.engine_changed)

    def show(self, details: str) -> str:
        """Tell the forester what to do (the sentence is returned); details go to the log."""
        QgsMessageLog.logMessage(for_message_bar(details), LOG_TAG, Qgis.MessageLevel.Critical)
        sentence = f"{ENGINE_REPAIR}. Details in the '{LOG_TAG}' log panel."
        pop_bar_item(self.dock.iface, self.item)
        bar = self.dock.iface.messageBar()
        self.item = bar.createMessage("Raster Collect", for_message_bar(sentence))
        self.item.setToolTip(details)
        bar.pushWidget(self.item, Qgis.MessageLevel.Critical, 0)
        self.showing = True
        return sentence

    def engine_changed(self) -> None:
        if engine_state().ready is not True or not self.showing:
            return
        self.showing = False
        pop_bar_item(self.dock.iface, self.item)
        self.item = None
        if self.dock.current_task is None:
            self.dock.last_error = ""
            self.dock.set_status(READY)

    def close(self) -> None:
        try:
            engine_state().changed.disconnect(self.engine_changed)
        except (TypeError, RuntimeError):
            pass
        self.item: Optional[object] = None
