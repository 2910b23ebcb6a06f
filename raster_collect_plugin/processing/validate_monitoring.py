"""Processing algorithm: a monitoring folder's per-pixel outputs against reference polygons of
disturbance (date + extent): precision, recall, F1 and detection delay (job kind ``validate``,
the same report as ``raster-collect validate``)."""

from __future__ import annotations

from pathlib import Path

from qgis.core import (
    QgsProcessingException,
    QgsProcessingOutputFile,
    QgsProcessingOutputNumber,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterField,
    QgsProcessingParameterFile,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterNumber,
)

from ..core.validation.headline import headline_lines
from ..qgis_compat import qgis_enum
from . import common
from .engine_algorithm import EngineAlgorithm, local_path, removes_scratch


class ValidateMonitoringAlgorithm(EngineAlgorithm):
    """How well the monitoring found the disturbances you know of."""

    MONITORING = "MONITORING"
    REFERENCES = "REFERENCES"
    DATE_FIELD = "DATE_FIELD"
    MIN_FRACTION = "MIN_FRACTION"
    OUTPUT_FOLDER = "OUTPUT_FOLDER"
    REPORT = "REPORT"
    SCORES = (("COMPARTMENT_PRECISION", "Compartment precision", "compartment", "precision"),
              ("COMPARTMENT_RECALL", "Compartment recall", "compartment", "recall"),
              ("PIXEL_F1", "Pixel F1", "pixel", "f1"))

    def name(self) -> str:
        return "validate_monitoring"

    def displayName(self) -> str:  # noqa: N802
        return "Validate disturbance monitoring"

    def group(self) -> str:
        return "Change"

    def groupId(self) -> str:  # noqa: N802
        return "change"

    def shortHelpString(self) -> str:  # noqa: N802
        return ("Scores a monitoring folder (written by 'Disturbance monitoring') against your "
                "reference polygons of disturbance, each with its date: per pixel and per "
                "compartment precision, recall and F1, and the mean / median delay to the first "
                "anomaly and to the confirmation, in days and in clear observations. A "
                "compartment counts as disturbed or flagged when at least the minimum share of "
                "its pixels is. References dated within the stable history or after the last "
                "scene monitored are left out, and named with the others that score nothing "
                "(off the grid...) in the report. Writes validation.json, CSV tables and "
                "validation_report.md (default: the monitoring folder's 'validation').")

    def createInstance(self):  # noqa: N802
        return ValidateMonitoringAlgorithm()

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterFile(
            self.MONITORING, "Monitoring folder",
            behavior=qgis_enum("Qgis.ProcessingFileParameterBehavior.Folder")))
        self.addParameter(QgsProcessingParameterFeatureSource(
            self.REFERENCES, "Reference polygons of disturbance",
            [qgis_enum("Qgis.ProcessingSourceType.VectorPolygon")]))
        self.addParameter(QgsProcessingParameterField(
            self.DATE_FIELD, "Date of each disturbance", defaultValue="date",
            parentLayerParameterName=self.REFERENCES, optional=True))  # as --date-field
        self.addParameter(QgsProcessingParameterNumber(
            self.MIN_FRACTION, "Share of a compartment's pixels that flags it",
            type=qgis_enum("Qgis.ProcessingNumberParameterType.Double"), minValue=0,
            maxValue=1, defaultValue=0.02))
        self.addParameter(QgsProcessingParameterFolderDestination(
            self.OUTPUT_FOLDER, "Report folder (default: the monitoring folder's "
                                "'validation')", optional=True))
        self.addOutput(QgsProcessingOutputFile(self.REPORT, "Validation report (Markdown)"))
        for name, label, _, _ in self.SCORES:
            self.addOutput(QgsProcessingOutputNumber(name, label))

    @removes_scratch
    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        folder = local_path(self.parameterAsFile(parameters, self.MONITORING, context),
                            self.parameterDefinition(self.MONITORING).description())
        if not folder or not Path(folder).is_dir():
            raise QgsProcessingException(
                f"'{folder}' is not a folder: choose the folder 'Disturbance monitoring' wrote.")
        workdir = common.scratch_folder(context)
        references = self._export_references(parameters, context, feedback, workdir)
        output = (local_path(self.parameterAsString(parameters, self.OUTPUT_FOLDER, context),
                             self.parameterDefinition(self.OUTPUT_FOLDER).description())
                  or str(Path(folder) / "validation"))
        spec = {"kind": "validate", "monitoring_dir": folder, "references": references,
                "date_field": self.parameterAsString(parameters, self.DATE_FIELD, context)
                or "date",
                "min_fraction": self.parameterAsDouble(parameters, self.MIN_FRACTION, context),
                "output_dir": output}
        result = common.run_job(spec, feedback, workdir, algorithm=self)
        outputs = {self.OUTPUT_FOLDER: result["output_dir"],
                   self.REPORT: result["files"]["report"]}
        for name, _, level, score in self.SCORES:
            outputs[name] = result[level][score]
        for line in headline_lines(result):  # as the command line: delays in both units
            feedback.pushInfo(line)
        return outputs

    def _export_references(self, parameters, context, feedback, workdir: Path) -> str:
        source = self.parameterAsSource(parameters, self.REFERENCES, context)
        if source is None:
            raise QgsProcessingException("Choose the reference polygons of disturbance.")
        if not source.sourceCrs().isValid():
            raise QgsProcessingException("The reference polygons have no CRS: set one and run "
                                         "again.")
        return common.write_source(source, context, feedback,
                                   Path(workdir) / "references.gpkg", "reference layer")
