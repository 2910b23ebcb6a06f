"""Settings → Options → Raster Collect: the processing engine.

Shows the doctor's verdict with every package (installed vs required), lets the user
(a) create the plugin's own engine — a virtual environment in the QGIS profile folder made from
a discovered base Python, pip-installed from the shipped pins in a cancellable task — or
(b) use an existing Python (conda, venv), which the doctor then checks. Repair/upgrade re-runs
(a) on the existing engine.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from qgis.core import QgsApplication
from qgis.gui import QgsFileWidget, QgsOptionsPageWidget, QgsOptionsWidgetFactory
from qgis.PyQt.QtCore import Qt, QUrl
from qgis.PyQt.QtGui import QDesktopServices, QIcon
from qgis.PyQt.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from .. import settings
from ..engine import install
from ..engine.interpreter import ENGINE_PYTHON_VARIABLE, managed_engine_dir, venv_python
from ..engine.status import check_engine
from ..paths import resource_path
from .engine_setup_task import EngineSetupTask
from .engine_state import engine_state

PAGE_NAME = "RasterCollectEngineOptions"
TITLE = "Raster Collect"


def setup_log_path() -> Path:
    """The engine set-up log the user can open."""
    return managed_engine_dir(settings.profile_dir()).parent / "raster_collect_engine_setup.log"


def open_engine_options(iface) -> None:
    """Open Settings → Options at the Raster Collect page."""
    iface.showOptionsDialog(iface.mainWindow(), currentPage=PAGE_NAME)


class EngineOptionsPage(QgsOptionsPageWidget):
    """The page itself (one per opening of the Options dialog)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName(PAGE_NAME)
        self.task: Optional[EngineSetupTask] = None
        layout = QVBoxLayout(self)

        status_box = QGroupBox("Processing engine", self)
        status_layout = QVBoxLayout(status_box)
        intro = QLabel("Raster Collect runs its work in a separate Python, the engine, so "
                       "QGIS's own Python never loads rasterio, dask or their GDAL.", status_box)
        intro.setWordWrap(True)
        self.verdict = QLabel(status_box)
        self.verdict.setObjectName("raster_collect_engine_verdict")
        self.verdict.setWordWrap(True)
        self.verdict.setTextFormat(Qt.TextFormat.PlainText)
        self.verdict.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.packages = QTableWidget(0, 4, status_box)
        self.packages.setHorizontalHeaderLabels(["package", "installed", "required", "status"])
        self.packages.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.packages.setMinimumHeight(140)
        self.packages.horizontalHeader().setStretchLastSection(True)
        self.check_button = QPushButton("Check again", status_box)
        status_layout.addWidget(intro)
        status_layout.addWidget(self.verdict)
        status_layout.addWidget(self.packages)
        status_layout.addWidget(self.check_button)
        layout.addWidget(status_box)

        create_box = QGroupBox("(a) Create the engine (recommended)", self)
        create_form = QFormLayout(create_box)
        self.engine_dir = managed_engine_dir(settings.profile_dir())
        self.where = QLabel(create_box)
        self.where.setObjectName("raster_collect_engine_size")
        self.where.setWordWrap(True)
        create_form.addRow(self.where)
        self.base_combo = QComboBox(create_box)
        self.base_combo.setObjectName("raster_collect_base_python")
        create_form.addRow("Made from", self.base_combo)
        self.find_links = QgsFileWidget(create_box)
        self.find_links.setStorageMode(QgsFileWidget.StorageMode.GetDirectory)
        self.find_links.setToolTip("Offline: a folder of wheel files (pip --find-links); "
                                   "leave empty to download from PyPI")
        create_form.addRow("Offline wheel folder", self.find_links)
        buttons = QHBoxLayout()
        self.create_button = QPushButton(create_box)
        self.create_button.setObjectName("raster_collect_create_engine")
        self.cancel_button = QPushButton("Cancel", create_box)
        self.cancel_button.setEnabled(False)
        self.log_button = QPushButton("Open the log", create_box)
        for button in (self.create_button, self.cancel_button, self.log_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        create_form.addRow(buttons)
        self.progress = QProgressBar(create_box)
        self.progress.setRange(0, 100)
        self.progress_text = QLabel(create_box)
        self.progress_text.setWordWrap(True)
        create_form.addRow(self.progress)
        create_form.addRow(self.progress_text)
        layout.addWidget(create_box)

        existing_box = QGroupBox("(b) Use an existing Python (conda, venv)", self)
        existing_form = QFormLayout(existing_box)
        self.python_path = QgsFileWidget(existing_box)
        self.python_path.setObjectName("raster_collect_engine_python")
        self.python_path.setStorageMode(QgsFileWidget.StorageMode.GetFile)
        self.python_path.setDialogTitle("The Python interpreter of the environment")
        existing_form.addRow("Python interpreter", self.python_path)
        self.use_button = QPushButton("Use and check this Python", existing_box)
        existing_form.addRow(self.use_button)
        self.in_use = QLabel(existing_box)
        self.in_use.setWordWrap(True)
        self.in_use.setTextFormat(Qt.TextFormat.PlainText)
        existing_form.addRow(self.in_use)
        layout.addWidget(existing_box)
        from .copernicus_usage import CopernicusUsageBox

        self.copernicus = CopernicusUsageBox(self)
        layout.addWidget(self.copernicus)
        layout.addStretch(1)

        self.python_path.setFilePath(settings.value("engine/python"))
        self.find_links.setFilePath(settings.value("engine/find_links"))
        self.versions = {}
        for base in install.discover_base_pythons():
            self.base_combo.addItem(base.label(), base.path)
            self.versions[base.path] = tuple(int(p) for p in base.version.split(".")[:2])
            if not base.usable:
                index = self.base_combo.count() - 1
                self.base_combo.model().item(index).setEnabled(False)
        if self.base_combo.count() == 0:
            self.base_combo.addItem("No Python 3.9+ able to make virtual environments found "
                                    "— install one (python.org, Homebrew, apt python3-venv)")
        self.base_combo.currentIndexChanged.connect(self.show_size)
        self.show_size()
        self.check_button.clicked.connect(lambda: engine_state().refresh(force=True))
        self.create_button.clicked.connect(self.create_engine)
        self.cancel_button.clicked.connect(self.cancel)
        self.log_button.clicked.connect(self.open_log)
        self.use_button.clicked.connect(self.use_existing)
        engine_state().changed.connect(self.show_state)
        self.show_state()
        if engine_state().report is None:
            engine_state().refresh()

    # ------------------------------------------------------------------ showing the state

    def show_size(self) -> None:
        """The download and disk figures for the chosen base Python on this computer."""
        version = self.versions.get(self.base_combo.currentData())
        self.where.setText(f"A virtual environment of its own in {self.engine_dir} — nothing "
                           f"is installed into QGIS's Python. From PyPI: "
                           f"{install.setup_size_text(version)}.")

    def show_state(self) -> None:
        state = engine_state()
        self.verdict.setText(state.message())
        colour = {True: "#1a7f37", False: "#b35900", None: "#555555"}[state.ready]
        self.verdict.setStyleSheet(f"color: {colour}; font-weight: bold;")
        rows = (state.report or {}).get("packages") or []
        self.packages.setRowCount(len(rows))
        for number, row in enumerate(rows):
            for column, key in enumerate(("name", "installed", "required", "status")):
                self.packages.setItem(number, column, QTableWidgetItem(str(row.get(key) or "-")))
        exists = venv_python(self.engine_dir).is_file()
        self.create_button.setText("Repair / upgrade the engine" if exists
                                   else "Create the engine")
        override = os.environ.get(ENGINE_PYTHON_VARIABLE)
        self.in_use.setText(f"In use: {settings.engine_python()}"
                            + (f" (from ${ENGINE_PYTHON_VARIABLE}, which overrides this page)"
                               if override else ""))

    # ------------------------------------------------------------------ actions

    def use_existing(self) -> None:
        settings.set_value("engine/python", self.python_path.filePath().strip())
        self.show_state()
        engine_state().refresh(force=True)

    def create_engine(self) -> None:
        base = self.base_combo.currentData()
        if not base:
            QMessageBox.warning(self, TITLE, self.base_combo.currentText())
            return
        find_links = self.find_links.filePath().strip() or None
        source = (f"from the wheel folder {find_links} (no download)" if find_links else
                  f"downloading from PyPI ({install.setup_size_text(self.versions.get(base))})")
        if venv_python(self.engine_dir).is_file() and not find_links:
            source = self._repair_source()
        answer = QMessageBox.question(
            self, TITLE, f"Set up the processing engine in {self.engine_dir} with {base}, "
                         f"{source}? It takes a few minutes; you can keep working in QGIS.")
        if answer != QMessageBox.StandardButton.Yes:
            return
        settings.set_value("engine/find_links", find_links or "")
        self.task = EngineSetupTask(self.engine_dir, base, setup_log_path(),
                                    find_links=find_links, on_done=self._setup_done)
        self.task.progressChanged.connect(self._show_progress)
        self.create_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress_text.setText("starting…")
        QgsApplication.taskManager().addTask(self.task)

    def _repair_source(self) -> str:
        """What a repair will download: nothing when every package is there and right."""
        engine = str(venv_python(self.engine_dir))
        report = engine_state().report
        if not report or report.get("python", {}).get("requested") != engine:
            report = check_engine(engine)
        missing = install.repair_plan(report)
        if not missing:
            return ("checking it again: every package is installed at the tested version, so "
                    "nothing is downloaded")
        shown = ", ".join(missing[:6]) + (f" and {len(missing) - 6} more"
                                          if len(missing) > 6 else "")
        return f"downloading from PyPI what is missing or wrong: {shown}"

    def _show_progress(self, value: float) -> None:
        self.progress.setValue(int(value))
        if self.task is not None:
            self.progress_text.setText(self.task.message)

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()

    def _setup_done(self, task: EngineSetupTask) -> None:
        engine = str(venv_python(self.engine_dir))
        if task.report is not None and task.report.get("ready"):
            settings.set_value("engine/python", engine)
            text = "The engine is ready."
        elif task.report is not None:
            text = "The engine was installed but its check failed: see the list and the log."
        else:
            text = str(task.error) if task.error is not None else "Cancelled."
        if task.report is not None:
            engine_state().set_report(engine, task.report)
        try:  # the Options dialog may have been closed while the task ran
            self.task = None
            self.create_button.setEnabled(True)
            self.cancel_button.setEnabled(False)
            self.progress_text.setText(text)
            self.python_path.setFilePath(settings.value("engine/python"))
            self.show_state()
        except RuntimeError:
            pass

    def open_log(self) -> None:
        path = setup_log_path()
        if not path.exists():
            QMessageBox.information(self, TITLE, f"No set-up has run yet ({path}).")
            return
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))

    def apply(self) -> None:
        settings.set_value("engine/python", self.python_path.filePath().strip())
        settings.set_value("engine/find_links", self.find_links.filePath().strip())
        self.copernicus.apply()
        engine_state().refresh()


class EngineOptionsFactory(QgsOptionsWidgetFactory):
    """Registered with ``iface.registerOptionsWidgetFactory`` by the plugin."""

    def __init__(self):
        super().__init__()
        self.setTitle(TITLE)
        self.setIcon(QIcon(str(resource_path("icon.svg"))))

    def createWidget(self, parent):  # noqa: N802 (QGIS API name)
        return EngineOptionsPage(parent)
