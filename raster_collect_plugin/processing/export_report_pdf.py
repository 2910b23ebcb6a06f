"""Processing algorithm: a storm damage layer as a one-page PDF (the plugin's print layout)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from qgis.core import (
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterString,
    QgsProcessingParameterVectorLayer,
)

from ..qgis_compat import qgis_enum


class ExportReportPdfAlgorithm(QgsProcessingAlgorithm):
    """Map with labels, legend, scale bar and north arrow, the ranked forests, a chart, the
    sources and dates: the page a forester sends to the manager."""

    INPUT = "INPUT"
    CHART = "CHART"
    TITLE = "TITLE"
    OUTPUT = "OUTPUT"

    def name(self) -> str:
        return "export_report_pdf"

    def displayName(self) -> str:  # noqa: N802
        return "Export storm damage report (PDF)"

    def group(self) -> str:
        return "Change"

    def groupId(self) -> str:  # noqa: N802
        return "change"

    def shortHelpString(self) -> str:  # noqa: N802
        return ("Fills the plugin's print layout (resources/report_layout.qpt) with a storm "
                "damage layer (the 'Storm damage' output, storm_damage.gpkg) and exports it "
                "to PDF: forests coloured by damage class and labelled with id, name and "
                "damaged ha, legend, scale bar, north arrow, the forests ranked worst first, "
                "a chart (the PNG given, else the damaged ha of the forests ranked first) and "
                "the event, windows, sensors and thresholds from storm_metadata.json.")

    def createInstance(self):  # noqa: N802
        return ExportReportPdfAlgorithm()

    def flags(self):
        # the layout renders its map on the main thread, as QGIS's own layout export does
        return super().flags() | qgis_enum("Qgis.ProcessingAlgorithmFlag.NoThreading")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterVectorLayer(
            self.INPUT, "Storm damage layer",
            [qgis_enum("Qgis.ProcessingSourceType.VectorPolygon")]))
        self.addParameter(QgsProcessingParameterFile(
            self.CHART, "Chart picture (PNG, optional)", optional=True,
            fileFilter="PNG (*.png)"))
        self.addParameter(QgsProcessingParameterString(
            self.TITLE, "Title (optional)", optional=True))
        self.addParameter(QgsProcessingParameterFileDestination(
            self.OUTPUT, "Report", fileFilter="PDF (*.pdf)"))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        from ..gui.print_layout import write_report_pdf
        from ..gui.report_content import storm_chart, storm_content, storm_id_field

        layer = self.parameterAsVectorLayer(parameters, self.INPUT, context)
        if layer is None or "damage_class" not in layer.fields().names():
            raise QgsProcessingException(
                "Give a storm damage layer (the 'Storm damage' algorithm's output, "
                "storm_damage.gpkg): it needs the damage_class and damaged_ha columns.")
        destination = Path(self.parameterAsFileOutput(parameters, self.OUTPUT, context))
        chart = self.parameterAsFile(parameters, self.CHART, context)
        if chart and not Path(chart).is_file():
            raise QgsProcessingException(f"The chart picture {chart} does not exist: give a "
                                         "PNG file or leave the parameter empty.")
        # the style and labels go on a copy: the user's layer keeps its look
        copy = layer.clone()
        with tempfile.TemporaryDirectory(prefix="raster-collect-report-") as folder:
            if not chart:
                feedback.pushInfo("No chart given: drawing the damaged ha of the forests "
                                  "ranked first")
                chart = storm_chart(copy, storm_id_field(copy), Path(folder) / "chart.png")
            content = storm_content(copy, Path(chart) if chart else None,
                                    title=self.parameterAsString(parameters, self.TITLE,
                                                                 context) or "")
            try:
                write_report_pdf(content, destination, context.project())
            except OSError as problem:
                raise QgsProcessingException(f"{problem}: choose a folder you can write to "
                                             "and close the PDF if a viewer holds it.") from problem
        feedback.pushInfo(f"Report written to {destination}")
        return {self.OUTPUT: str(destination)}
