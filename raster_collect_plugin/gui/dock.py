"""The Raster Collect dock: pick forest polygons, search archives, fetch and compute.

Layout (usable at 300 x 900): a place for a banner at the top, the form in a scroll area as
collapsible sections (``sections.py``), the scene table and the chart below it, and the action
buttons, progress bar and a fixed-height status line pinned under the scroll area so they never
scroll away or jump. The dock gathers choices, writes a job spec and runs it as a background
QgsTask; ``results.ResultsPresenter`` puts the results on the map on the main thread.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Dict, List, Optional

from qgis.core import (
    QgsApplication,
    QgsVectorLayer,
)
from qgis.gui import QgsDockWidget
from qgis.PyQt.QtCore import Qt, pyqtSignal
from qgis.PyQt.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QTableWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from .. import settings
from ..core.runs import run_name
from ..core.sample import DISTURBANCE
from ..engine.cluster_process import LocalClusterProcess
from .dock_form import DockForm, DockInputError
from .dock_memory import remember_dock_run
from .dock_results import DockResults
from .engine_prompt import EnginePrompt
from .engine_state import engine_state
from .results import ResultsPresenter
from .run_layers import OutputsLeftOut, keep_runs_checkbox
from .sections import (
    COMPUTE_MODES,
    PRESETS,
    SOURCES,
    AoiSourcesSection,
    OutputsComputeSection,
    PeriodIndicesSection,
    fit_narrow,
    results_section,
)
from .storm_panel import StormSection, link_event_dates, show_storm, start_storm
from .tasks import JobTask

__all__ = ["COMPUTE_MODES", "PRESETS", "SOURCES", "DockInputError", "RasterCollectDock"]

STATUS_LINES = 2


class RasterCollectDock(DockResults, DockForm, QgsDockWidget):
    """Dock widget: AOI, sources, period, indices, outputs, actions, results and chart."""

    job_finished = pyqtSignal(str)  # the job kind, once its results are on the map

    def __init__(self, iface, parent=None):
        super().__init__("Raster Collect", parent)
        self.iface = iface
        self.setObjectName("RasterCollectDock")
        self.current_task: Optional[JobTask] = None
        self.search_rows: List[Dict] = []
        self.table_layer: Optional[QgsVectorLayer] = None
        self.last_error = ""
        self.state = "ready"  # ready | running | cancelling | cancelled | failed | done
        self._chart = None
        self._run_context: Dict = {}
        self.skipped_sources: List[str] = []
        self.presenter = ResultsPresenter(iface)
        self.cluster = LocalClusterProcess(python=settings.engine_python)

        container = QWidget(self)
        outer = QVBoxLayout(container)
        outer.setContentsMargins(2, 2, 2, 2)
        outer.setSpacing(4)
        # a place for a message above everything (e.g. "set up the processing engine")
        self.banner_layout = QVBoxLayout()
        self.banner_layout.setContentsMargins(0, 0, 0, 0)
        outer.addLayout(self.banner_layout)
        self.engine_prompt = EnginePrompt(iface, container)  # shown while the engine is not ready
        self.banner_layout.addWidget(self.engine_prompt)
        from .engine_notices import EngineFailureNotice

        self.engine_notice = EngineFailureNotice(self)

        scroll = QScrollArea(container)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll = scroll
        body = QWidget(scroll)
        layout = QVBoxLayout(body)
        layout.setContentsMargins(0, 0, 4, 0)
        self.aoi_section = AoiSourcesSection(body)
        self.period_section = PeriodIndicesSection(body)
        self.outputs_section = OutputsComputeSection(body)
        self.storm_section = StormSection(body)
        for section in (self.aoi_section, self.period_section, self.outputs_section,
                        self.storm_section):
            layout.addWidget(section)
            self._expose(section)
        self.keep_runs = keep_runs_checkbox(self.outputs_section)
        from .monitoring_section import MonitoringSection

        self.monitoring_section = MonitoringSection(body)
        self.monitoring_section.attach(self)
        layout.addWidget(self.monitoring_section)
        self.scenes_box, scenes_layout = results_section(body, "Scenes found",
                                                         "raster_collect_scenes", True)
        self.results_table = QTableWidget(0, 5, self.scenes_box)
        self.results_table.setHorizontalHeaderLabels(
            ["date", "collection", "cloud %", "provider", "id"])
        self.results_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.results_table.setMinimumHeight(140)
        scenes_layout.addWidget(self.results_table)
        layout.addWidget(self.scenes_box)
        from .scene_actions import SceneActions  # scenes as layers: double-click, context menu

        self.scene_actions = SceneActions(self)
        from .scene_table import SceneTable  # thumbnails, forest cloud, sort and filters

        self.scene_table = SceneTable(self)
        self.chart_box, self.chart_holder = results_section(body, "Time series",
                                                            "raster_collect_chart", True)
        self.pick_button = QToolButton(self.chart_box)
        self.pick_button.setText("Pick a forest…")
        self.pick_button.setToolTip("Click a forest on the map to see its time series for "
                                    "every index and sensor of the run")
        self.pick_button.setCheckable(True)
        self.pick_button.setEnabled(False)
        self.pick_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.report_button = QToolButton(self.chart_box)
        self.report_button.setText("Report…")
        self.report_button.setToolTip("Save a one-page HTML report of the run: map, ranked "
                                      "forests and time series")
        self.report_button.setEnabled(False)
        self.report_button.clicked.connect(self._ask_report)
        from .dock_pdf import add_pdf_button
        from .pixel_profile import add_pixel_button

        self.pdf_button = add_pdf_button(self, self.chart_box)
        self.pixel_button = add_pixel_button(self, self.chart_box)
        tools, outputs = QHBoxLayout(), QHBoxLayout()  # two rows: a 300-pixel dock
        tools.addWidget(self.pick_button, 1)
        tools.addWidget(self.pixel_button, 1)
        outputs.addWidget(self.report_button, 1)
        outputs.addWidget(self.pdf_button, 1)
        self.chart_holder.addLayout(tools)
        self.chart_holder.addLayout(outputs)
        self.pick_button.toggled.connect(self._pick_forest)
        self._last_run: Optional[tuple] = None
        self._pick_tool = None
        self._forest_dialog = None
        layout.addWidget(self.chart_box)
        layout.addStretch(1)
        fit_narrow(body)
        scroll.setWidget(body)
        outer.addWidget(scroll, 1)
        outer.addWidget(self._action_panel(container))
        self.setWidget(container)

        self.layer_combo.layerChanged.connect(self._on_layer_changed)
        self.selected_only.toggled.connect(self.refresh_summary)
        self.preset_combo.currentIndexChanged.connect(self.apply_preset)
        self.event_date.dateChanged.connect(lambda _: self.apply_preset())
        self.search_button.clicked.connect(self.start_search)
        self.compute_button.clicked.connect(self.start_compute)
        self.cancel_button.clicked.connect(self.cancel)
        self.sample_button.clicked.connect(self.start_sample)
        self.storm_button.clicked.connect(lambda: start_storm(self))
        link_event_dates(self)
        self.outputs_left_out = OutputsLeftOut(self.layer_combo)  # no result layers listed
        self._watched_layer = None
        self._on_layer_changed(self.layer_combo.currentLayer())
        self.load_settings()
        from .project_state import ProjectHooks

        self.project_hooks = ProjectHooks(self)  # saved with the project, back on reopen

    # ---------------------------------------------------------------- building the widget

    def _expose(self, section: QWidget) -> None:
        """Section widgets are reachable as dock attributes (``dock.layer_combo``...)."""
        for name, value in vars(section).items():
            if not name.startswith("_"):
                setattr(self, name, value)

    def _action_panel(self, parent: QWidget) -> QWidget:
        """Buttons, progress and status: outside the scroll area, fixed height."""
        panel = QFrame(parent)
        panel.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QVBoxLayout(panel)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(3)
        row = QHBoxLayout()
        self.search_button = QPushButton("Search", panel)
        self.search_button.setToolTip("Find the scenes over the forests (no download)")
        self.compute_button = QPushButton("Fetch && compute", panel)
        self.compute_button.setToolTip("Composites and statistics for the forests")
        self.cancel_button = QPushButton("Cancel", panel)
        self.cancel_button.setEnabled(False)
        for button in (self.search_button, self.compute_button, self.cancel_button):
            button.setSizePolicy(QSizePolicy.Policy.Minimum, QSizePolicy.Policy.Fixed)
            row.addWidget(button)
        layout.addLayout(row)
        self.progress = QProgressBar(panel)
        self.progress.setRange(0, 100)
        self.progress.setTextVisible(True)
        self.progress.setMaximumHeight(self.progress.sizeHint().height())
        layout.addWidget(self.progress)
        self.status = QLabel("Ready", panel)
        self.status.setWordWrap(True)
        self.status.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.status.setFixedHeight(self.status.fontMetrics().lineSpacing() * STATUS_LINES + 4)
        self.status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        layout.addWidget(self.status)
        panel.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        return panel

    def set_status(self, text: str) -> None:
        """Show ``text`` in the fixed-height status line (all of it in the tooltip)."""
        self.status.setToolTip(text)
        metrics = self.status.fontMetrics()
        width = max(self.status.width(), 120) * STATUS_LINES - metrics.averageCharWidth() * 4
        self.status.setText(metrics.elidedText(text, Qt.TextElideMode.ElideRight, width))
        self._status_text = text

    def status_text(self) -> str:
        """The full status message (the label may show it elided)."""
        return getattr(self, "_status_text", self.status.text())

    # ---------------------------------------------------------------- settings

    # ---------------------------------------------------------------- AOI

    # ---------------------------------------------------------------- request

    # ---------------------------------------------------------------- running

    def _start(self, kind: str, build, around=None) -> None:
        """Build the job spec in a fresh work folder and run it as a task (``around``: see
        JobTask)."""
        if self.current_task is not None:
            self.show_error("A job is already running: wait for it or cancel it.")
            return
        engine_state().follow_setting()  # the banner follows the engine the job runs in
        workdir = Path(tempfile.mkdtemp(prefix="raster-collect-dock-"))
        try:
            spec = self.with_memory_budget(build(workdir))
        except (DockInputError, ValueError) as problem:
            shutil.rmtree(workdir, ignore_errors=True)
            self.show_error(str(problem))
            return
        self.save_settings()
        self.last_error = ""
        self._run_context = {"event_date": self.chosen_event_date()}
        try:
            from .copernicus import job_credentials

            secrets = job_credentials(spec)  # the auth database, read on the main thread
        except ValueError as problem:
            shutil.rmtree(workdir, ignore_errors=True)
            self.show_error(str(problem))
            return
        task = JobTask(f"Raster Collect: {kind}", spec, workdir, self._finished,
                       python=settings.engine_python(),
                       prepare=self.prepare_compute, secret_env=secrets, around=around)
        task.progressChanged.connect(lambda value: self._show_progress(task, value))
        self.current_task = task
        note = (f" ({', '.join(self.skipped_sources)} left out: no band for "
                f"{', '.join(self.chosen_indices())})" if self.skipped_sources else "")
        self._set_running(True, f"{kind}: starting{note}")
        QgsApplication.taskManager().addTask(task)

    def start_search(self) -> None:
        def build(workdir: Path) -> Dict:
            spec = self.base_spec(workdir)
            del spec["mask_classes"]  # a search reads no pixels (its spec refuses them)
            spec.update(kind="search", output=str(workdir / "footprints.gpkg"),
                        output_dir=str(workdir))
            return spec

        self._start("search", build)

    def start_compute(self) -> None:
        def build(workdir: Path) -> Dict:
            root = self.output_root()
            indices = self.chosen_indices()
            if not indices:
                raise DockInputError("Tick at least one index (e.g. NDVI).")
            spec = self.base_spec(workdir, indices)
            name = run_name()
            spec.update(kind="zonal", indices=indices, period=self.period_combo.currentText(),
                        method=self.method_combo.currentText(),
                        resolution=self.resolution_spin.value() or None,
                        hexagon_area_m2=self.hexagon_spin.value() * 10_000 or None,
                        output_dir=str(root / name),
                        run_name=name)
            if self.colour_check.isChecked():
                spec["colour_composites"] = ["true-colour"]
            compute = self.compute_spec()
            if compute:
                spec["compute"] = compute
            unticked = self.unticked_scene_ids()
            if self.search_rows and unticked:
                spec["item_ids"] = [r["id"] for r in self.search_rows if r["id"] not in unticked]
            return spec

        self._start("compute", build)

    def start_sample(self) -> None:
        """Make the small synthetic sample (in the output folder or the default one)."""
        def build(workdir: Path) -> Dict:
            folder = self.output_root() / "raster-collect-sample"
            return {"kind": "sample", "output_dir": str(folder), "small": True}

        self._start("sample", build)

    def cancel(self) -> None:
        """Ask the running job to stop; the status keeps saying so until it has."""
        if self.current_task is not None and self.state == "running":
            self.state = "cancelling"
            self.cancel_button.setEnabled(False)
            self.set_status("Cancelling… (removing partial outputs)")
            self.current_task.cancel()

    def _show_progress(self, task: JobTask, value: float) -> None:
        if task is not self.current_task or self.state != "running":
            return  # late progress of a cancelled task must not overwrite "Cancelling…"
        self.progress.setValue(int(value))
        if task.message:
            self.set_status(task.message)

    def _set_running(self, running: bool, message: str = "") -> None:
        self.state = "running" if running else self.state
        self.search_button.setEnabled(not running)
        self.compute_button.setEnabled(not running)
        self.storm_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        if message:
            self.set_status(message)
        self.progress.setValue(0)  # a new job starts from 0, not the last one's 100 %

    def _finished(self, task: JobTask) -> None:
        self.current_task = None
        self._set_running(False)
        if self.cluster.running and self.cluster.dashboard:
            self.dashboard_label.setText(f'<a href="{self.cluster.dashboard}">'
                                         f'{self.cluster.dashboard}</a>')
        kind = task.spec["kind"]
        if task.cancelled:
            self.state = "cancelled"
            self.set_status("Cancelled: no outputs were written.")
            self.job_finished.emit(kind)
            return
        if task.error is not None:
            self.state = "failed"
            if getattr(task.error, "kind", None) == "engine":  # packages: log, not the bar
                self.last_error = self.engine_notice.show(str(task.error))
                self.set_status(self.last_error)
            else:
                self.show_error(str(task.error))
            self.job_finished.emit(kind)
            return
        self.state = "done"
        self.progress.setValue(100)
        result = task.result or {}
        self._report_source_problems(result.get("errors") or {})
        remember_dock_run(self, task.spec)  # Processing's dialogs start from this run
        if kind == "search":
            self.show_search(result)
        elif kind == "sample" and result.get("scenario") == DISTURBANCE:
            self.monitoring_section.show_sample(self, result)
        elif kind == "sample":
            self.show_sample(result)
        elif kind == "storm":
            show_storm(self, task.spec, result)
        elif kind == "monitor":
            self.monitoring_section.show_result(result)
        else:
            self.show_compute(task.spec, result)
        self.job_finished.emit(kind)

    # ---------------------------------------------------------------- results

    def showEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        """The engine setting may have changed while the dock was hidden (by a script)."""
        engine_state().follow_setting()
        super().showEvent(event)

    def shutdown(self) -> None:
        """Plugin unload: cancel work and stop listening to layers."""
        if self.current_task is not None:
            self.current_task.cancel()
        self.pick_button.setChecked(False)
        self.scene_table.shutdown()
        self.engine_notice.close()
        self.cluster_stopping = self.cluster.stop_in_background()  # never blocks the UI
        self.project_hooks.close()
        self.outputs_left_out.close()
        try:  # shutdown may run twice (unload, then the widget's owner)
            self.layer_combo.layerChanged.disconnect(self._on_layer_changed)
        except (TypeError, RuntimeError):
            pass
        if self._watched_layer is not None:
            try:
                self._watched_layer.selectionChanged.disconnect(self._on_selection_changed)
            except (TypeError, RuntimeError):
                pass

