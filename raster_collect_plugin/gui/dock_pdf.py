"""The dock's "PDF…" button: the last result as the plugin's print layout, in one click.

A storm assessment's damage layer when the dock has one (``dock.storm_run.damage``), else the
last monitoring run (change since the event, or latest values)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Optional

from qgis.core import QgsProject, QgsVectorLayer
from qgis.PyQt.QtWidgets import QToolButton

from .dock_form import DockInputError
from .print_layout import write_report_pdf
from .report_content import run_content, storm_chart, storm_content, storm_id_field


def add_pdf_button(dock, parent) -> QToolButton:
    """The button (disabled until there is a result); its click asks where, then writes."""
    button = QToolButton(parent)
    button.setText("PDF…")
    button.setToolTip("Save the result as a one-page PDF (print layout): map with labels, "
                      "legend, scale bar, north arrow, ranked forests, chart, sources and dates")
    button.setEnabled(False)
    button.clicked.connect(lambda: ask_pdf(dock))
    dock.job_finished.connect(lambda _kind: button.setEnabled(_has_result(dock)))
    return button


def _storm_layer(dock) -> Optional[QgsVectorLayer]:
    layer = getattr(getattr(dock, "storm_run", None), "damage", None) or getattr(
        dock, "storm_layer", None)
    try:
        return layer if isinstance(layer, QgsVectorLayer) and layer.isValid() else None
    except RuntimeError:  # deleted with the project
        return None


def _has_result(dock) -> bool:
    return _storm_layer(dock) is not None or getattr(dock, "_last_run", None) is not None


def write_pdf(dock, destination: Path) -> Path:
    """The dock's last result as a PDF at ``destination``."""
    storm = _storm_layer(dock)
    with tempfile.TemporaryDirectory(prefix="raster-collect-report-") as folder:
        chart = Path(folder) / "chart.png"
        if storm is not None:
            copy = storm.clone()
            content = storm_content(copy, storm_chart(copy, storm_id_field(copy), chart))
        else:
            if getattr(dock, "_last_run", None) is None:
                raise DockInputError("Fetch & compute (or assess a storm) first: the PDF "
                                     "shows a run's results.")
            spec, result = dock._last_run
            content = run_content(dock.presenter.run, spec, result,
                                  dock._run_context.get("event_date"), chart)
        return write_report_pdf(content, Path(destination), QgsProject.instance())


def ask_pdf(dock) -> None:
    """Ask for the file (in the run's folder), write it and open it."""
    from qgis.PyQt.QtCore import QUrl
    from qgis.PyQt.QtGui import QDesktopServices
    from qgis.PyQt.QtWidgets import QFileDialog

    storm = _storm_layer(dock)
    folder = (Path(storm.source().split("|")[0]).parent if storm is not None
              else Path((getattr(dock, "_last_run", None) or ({}, {}))[1].get("output_dir")
                        or ""))
    path, _ = QFileDialog.getSaveFileName(dock, "Save the report as PDF",
                                          str(folder / "report.pdf"), "PDF (*.pdf)")
    if not path:
        return
    try:
        written = write_pdf(dock, Path(path))
    except (OSError, ValueError) as problem:
        dock.show_error(f"Cannot write the PDF: {problem}")
        return
    dock.set_status(f"PDF written: {written}")
    QDesktopServices.openUrl(QUrl.fromLocalFile(str(written)))
