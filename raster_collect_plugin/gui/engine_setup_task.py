"""Create or repair the engine in a cancellable background QgsTask (pip runs in a child)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Dict, Optional

from qgis.core import QgsTask

from ..engine import install


class EngineSetupTask(QgsTask):
    """``engine.install.create_engine`` with QgsTask progress and cancel. ``run()`` stores the
    report or the error; ``on_done(task)`` runs on the main thread."""

    def __init__(self, venv_dir: Path, base_python: str, log_path: Path, *,
                 find_links: Optional[str], on_done: Callable[[EngineSetupTask], None]):
        super().__init__("Raster Collect: setting up the processing engine",
                         QgsTask.Flag.CanCancel)
        self.venv_dir, self.base_python, self.log_path = venv_dir, base_python, log_path
        self.find_links, self.on_done = find_links, on_done
        self.report: Optional[Dict] = None
        self.error: Optional[Exception] = None
        self.message = ""

    def run(self) -> bool:
        def progress(fraction: float, message: str) -> None:
            self.message = message
            self.setProgress(100.0 * fraction)

        try:
            self.report = install.create_engine(
                self.venv_dir, self.base_python, log_path=self.log_path,
                find_links=self.find_links, progress=progress, cancel=self.isCanceled)
            return bool(self.report.get("ready"))
        except Exception as error:  # reported on the main thread
            self.error = error
            return False

    def finished(self, ok: bool) -> None:
        self.on_done(self)
