"""Background work for the dock: a QgsTask that runs a core job in the processing Python.

``run()`` executes on a worker thread and touches neither the project nor widgets: it stores
the result or the exception; ``finished()`` runs on the main thread and hands them to the
callback that adds layers or reports the error (Gispo's task pattern).

A cancel the user asked for is not a failure: the job stops, its partial outputs (and an
emptied run folder) are removed, and the task ends as *complete* with "(cancelled)" in its
description, so QGIS's task bar never says "Task failed" while the dock says "Cancelled".

``around`` (optional) wraps the job in the worker thread, files only: e.g. the monitoring
folder's forests put in place for the job and put back if it fails, is refused or cancelled
(a cancel waits for the killed child, so the restore comes after it).
"""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path
from typing import Callable, ContextManager, Dict, Optional

from qgis.core import Qgis, QgsMessageLog, QgsTask

from ..core.runs import remove_empty_run_folder
from ..engine import bridge

LOG_TAG = "raster-collect"


class JobTask(QgsTask):
    """Runs one job spec; cancelling terminates the child process (partial outputs removed)."""

    def __init__(self, description: str, spec: Dict, workdir: Path,
                 on_done: Callable[[JobTask], None], python: Optional[str] = None,
                 prepare: Optional[Callable[[Dict], None]] = None,
                 secret_env: Optional[Dict[str, str]] = None,
                 around: Optional[Callable[[Dict, Path], ContextManager]] = None):
        super().__init__(description, QgsTask.Flag.CanCancel)
        self.spec, self.workdir, self.python = spec, Path(workdir), python
        self.prepare = prepare  # runs in the worker thread before the job (e.g. start dask)
        self.secret_env = secret_env  # credentials: the job's environment only
        self.around = around  # (spec, workdir) -> context around the job, worker thread
        self.on_done = on_done
        self.result: Optional[Dict] = None
        self.error: Optional[Exception] = None
        self.message = ""
        self.cancelled = False

    def run(self) -> bool:
        def progress(fraction: float, message: str) -> None:
            self.message = message
            self.setProgress(100.0 * fraction)

        try:
            if self.prepare is not None:
                if (self.spec.get("compute") or {}).get("mode") == "session":
                    self.message = "starting the local dask cluster"  # threads mode: none
                self.prepare(self.spec)
            with (self.around(self.spec, self.workdir) if self.around is not None
                  else contextlib.nullcontext()):
                self.result = bridge.run_job(self.spec, workdir=self.workdir,
                                             progress=progress, cancel=self.isCanceled,
                                             python=self.python, secret_env=self.secret_env)
            return True
        except bridge.JobCancelled:
            return self._stopped()
        except Exception as error:  # reported on the main thread in finished()
            if self.isCanceled():
                return self._stopped()
            self.error = error
            return False

    def _stopped(self) -> bool:
        """Worker thread: the user's cancel is done (a clean stop, not a failure)."""
        self.cancelled = True
        self.setDescription(f"{self.description()} (cancelled)")
        return True

    def finished(self, ok: bool) -> None:
        if not ok and self.error is None and self.isCanceled():
            self.cancelled = True  # cancelled before run() started
        if self.cancelled or self.error is not None:
            remove_empty_run_folder(self.spec.get("output_dir"))
        if self.error is not None:
            QgsMessageLog.logMessage(f"{self.description()}: {self.error}", LOG_TAG,
                                     Qgis.MessageLevel.Critical)
        try:
            self.on_done(self)
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)

