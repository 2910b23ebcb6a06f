"""What the QGIS side knows about the engine: the doctor's last report, refreshed in a
background QgsTask (the doctor runs in the engine's Python, never in QGIS's process)."""

from __future__ import annotations

import html
from typing import Dict, Optional

from qgis.core import Qgis, QgsApplication, QgsMessageLog, QgsTask
from qgis.PyQt.QtCore import QObject, pyqtSignal

from .. import settings
from ..engine import status

LOG_TAG = "raster-collect"


class DoctorTask(QgsTask):
    """Runs (or reuses the cached result of) the doctor for one Python."""

    def __init__(self, python: str, refresh: bool):
        super().__init__("Raster Collect: checking the processing engine",
                         QgsTask.Flag.CanCancel)
        self.python, self.refresh = python, refresh
        self.report: Optional[Dict] = None

    def run(self) -> bool:
        try:
            self.report = status.check_engine(self.python, refresh=self.refresh,
                                              cancel=self.isCanceled)
        except status.DoctorCancelled:  # the plugin unloading or QGIS quitting
            return False
        except Exception as error:  # noqa: BLE001 (reported as a not-ready engine)
            self.report = status.unusable_report(self.python, f"the check failed: {error}")
        return True


class EngineState(QObject):
    """One per QGIS session: the engine's Python, its report and a ``changed`` signal."""

    changed = pyqtSignal()

    def __init__(self):
        super().__init__()
        self.python: Optional[str] = None
        self.report: Optional[Dict] = None
        self._tasks = []

    @property
    def ready(self) -> Optional[bool]:
        """True/False once checked, None while unknown."""
        return None if self.report is None else bool(self.report.get("ready"))

    def message(self) -> str:
        """One sentence for the user (plain text: escape it before showing it as HTML)."""
        if self.report is None:
            return "The Raster Collect processing engine is being checked."
        if self.report.get("ready"):
            libraries = self.report.get("libraries") or {}
            return (f"The processing engine is ready: Python "
                    f"{self.report['python'].get('version')} at {self.python}"
                    + (f", GDAL {libraries['gdal']}" if libraries.get("gdal") else "") + ".")
        return status.not_ready_message(self.report)

    def refresh(self, force: bool = False) -> DoctorTask:
        """Check the engine in the background; ``changed`` fires when the report is in."""
        python = settings.engine_python()
        task = DoctorTask(python, force)
        self._tasks.append(task)
        task.taskCompleted.connect(lambda: self._done(task))
        task.taskTerminated.connect(lambda: self._tasks.remove(task)
                                    if task in self._tasks else None)
        QgsApplication.taskManager().addTask(task)
        return task

    def follow_setting(self) -> Optional[DoctorTask]:
        """Check again when the engine setting names another Python than the last report's
        (a script set it after QGIS started: the banner said "not ready" while jobs ran).
        Cheap: the doctor's cached report of that Python is reused. None when nothing
        changed or that Python's check is under way."""
        python = settings.engine_python()
        if python == self.python or any(task.python == python for task in self._tasks):
            return None
        return self.refresh()

    def cancel_checks(self) -> None:
        """Cancel running checks (their child processes are killed): the plugin unloads."""
        for task in list(self._tasks):
            task.cancel()

    def set_report(self, python: str, report: Dict) -> None:
        self.python, self.report = python, report
        if not report.get("ready"):
            QgsMessageLog.logMessage(html.escape(self.message()), LOG_TAG,
                                     Qgis.MessageLevel.Warning)
        self.changed.emit()

    def _done(self, task: DoctorTask) -> None:
        if task in self._tasks:
            self._tasks.remove(task)
        if task.report is not None:
            self.set_report(task.python, task.report)


_STATE: Optional[EngineState] = None


def engine_state() -> EngineState:
    """The session's engine state (created on first use)."""
    global _STATE
    if _STATE is None:
        _STATE = EngineState()
    return _STATE
