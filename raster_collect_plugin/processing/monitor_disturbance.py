"""Processing algorithm: per-pixel disturbance monitoring of the forests, continued from the
output folder's state (a rerun processes only the scenes newer than its last one)."""

from __future__ import annotations

from pathlib import Path

from qgis.core import (
    QgsProcessingException,
    QgsProcessingMultiStepFeedback,
    QgsProcessingOutputRasterLayer,
    QgsProcessingOutputVectorLayer,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterDateTime,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterNumber,
)

from ..core.monitoring import late_warning, placed_forests
from ..qgis_compat import qgis_enum
from . import common
from .engine_algorithm import EngineAlgorithm, removes_scratch

RESOLUTIONS = (10, 30)


class MonitorDisturbanceAlgorithm(EngineAlgorithm):
    """Which compartments were disturbed since the stable history, pixel by pixel."""

    HISTORY_END = "HISTORY_END"
    INDEX = "INDEX"
    RESOLUTION = "RESOLUTION"
    HARMONISE = "HARMONISE"
    CONFIRM = "CONFIRM"
    RECOVER = "RECOVER"
    HEX_AREA = "HEX_AREA"
    OUTPUT_FOLDER = "OUTPUT_FOLDER"
    COMPARTMENTS = "COMPARTMENTS"
    STATUS = "STATUS"
    ALERTS = "ALERTS"

    def name(self) -> str:
        return "monitor_disturbance"

    def displayName(self) -> str:  # noqa: N802
        return "Disturbance monitoring"

    def group(self) -> str:
        return "Change"

    def groupId(self) -> str:  # noqa: N802
        return "change"

    def shortHelpString(self) -> str:  # noqa: N802
        return ("Per pixel, on one Landsat + Sentinel-2 series (HLS bandpass-harmonised unless "
                "unticked): a harmonic model fitted on the stable history (from the start date "
                "to the end of the history), then every later clear observation up to the end "
                "date updates an EWMA chart and fordead's rule: 'confirm' consecutive anomalies "
                "confirm a disturbance, 'recover' normal observations end it. Outputs in the "
                "folder: per-pixel status, first anomaly and confirmation dates, magnitude and "
                "confidence (COGs); per compartment (and hexagon) the disturbed area by status "
                "and month; the alerts since the previous run. Run it again on the same folder "
                "later: only the new scenes are processed (the folder keeps the state; "
                "'raster-collect watch --output FOLDER' does the same on a schedule).")

    def createInstance(self):  # noqa: N802
        return MonitorDisturbanceAlgorithm()

    def initAlgorithm(self, config=None):  # noqa: N802
        from ..core.monitoring import MonitorParams
        from ..default_outputs import default_output_root

        common.add_polygon_parameters(self)
        common.add_source_parameters(self, with_indices=False)
        self.addParameter(QgsProcessingParameterDateTime(
            self.HISTORY_END, "End of the stable history (monitoring starts the day after)",
            type=qgis_enum("Qgis.ProcessingDateTimeParameterDataType.Date")))
        self.addParameter(QgsProcessingParameterEnum(
            self.INDEX, "Index", options=common.INDEX_NAMES,
            defaultValue=common.INDEX_NAMES.index("NDVI")))
        self.addParameter(QgsProcessingParameterEnum(
            self.RESOLUTION, "Grid (m)", options=[str(r) for r in RESOLUTIONS], defaultValue=0))
        self.addParameter(QgsProcessingParameterBoolean(
            self.HARMONISE, "Harmonise Landsat and Sentinel-2 (HLS bandpass adjustment)",
            defaultValue=True))
        defaults = MonitorParams.__dataclass_fields__
        for name, label, value in ((self.CONFIRM, "Anomalies that confirm",
                                    defaults["confirm"].default),
                                   (self.RECOVER, "Normal observations that end it",
                                    defaults["recover"].default)):
            self.addParameter(QgsProcessingParameterNumber(name, label, minValue=1,
                                                           defaultValue=value))
        self.addParameter(QgsProcessingParameterNumber(
            self.HEX_AREA, "Also per hexagon of this area (ha; 0 = no hexagons)",
            type=qgis_enum("Qgis.ProcessingNumberParameterType.Double"), minValue=0,
            defaultValue=0))
        self.addParameter(QgsProcessingParameterFolderDestination(
            self.OUTPUT_FOLDER, "Monitoring folder (a rerun continues it)",
            defaultValue=str(default_output_root() / "monitoring"), optional=True))
        common.add_memory_budget_parameter(self)
        self.addOutput(QgsProcessingOutputVectorLayer(self.COMPARTMENTS, "Monitoring"))
        self.addOutput(QgsProcessingOutputRasterLayer(self.STATUS, "Disturbance status"))
        self.addOutput(QgsProcessingOutputVectorLayer(self.ALERTS, "New alerts"))

    def _end_problem(self, end: str, history_end: str) -> str:
        """An end not after the history's, in the parameters' words (the job's line names
        the spec's keys 'end' and 'history_end', which a toolbox user never sees)."""
        label = self.parameterDefinition("END").description()
        history = self.parameterDefinition(self.HISTORY_END).description()
        return (f"'{label}' ({end}) must be after '{history}' ({history_end}): monitoring "
                "starts the day after the history; give a later end date.")

    @removes_scratch
    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        folder = Path(self.output_folder(parameters, self.OUTPUT_FOLDER, context))
        history_start = common.parameter_date(self, parameters, "START", context)
        history_end = common.parameter_date(self, parameters, self.HISTORY_END, context)
        if history_end <= history_start:
            raise QgsProcessingException(
                f"The history must end ({history_end}) after the start date ({history_start}).")
        end = common.parameter_date(self, parameters, "END", context)
        if end <= history_end:  # ISO dates; the same day leaves nothing to monitor
            raise QgsProcessingException(self._end_problem(end, history_end))
        workdir = common.scratch_folder(context)
        steps = QgsProcessingMultiStepFeedback(2, feedback)  # export, then the job
        spec = common.imagery_spec(self, parameters, context, steps, workdir,
                                   with_indices=False)
        del spec["start"], spec["end"]
        hexagon_ha = self.parameterAsDouble(parameters, self.HEX_AREA, context)
        spec.update(kind="monitor", output_dir=str(folder), history_start=history_start,
                    history_end=history_end, end=end,
                    index=common.INDEX_NAMES[self.parameterAsEnum(parameters, self.INDEX,
                                                                  context)],
                    resolution=RESOLUTIONS[self.parameterAsEnum(parameters, self.RESOLUTION,
                                                                context)],
                    harmonise=self.parameterAsBoolean(parameters, self.HARMONISE, context),
                    monitoring={"confirm": self.parameterAsInt(parameters, self.CONFIRM,
                                                               context),
                                "recover": self.parameterAsInt(parameters, self.RECOVER,
                                                               context)})
        if hexagon_ha > 0:
            spec["hexagon_area_m2"] = hexagon_ha * 10_000
        steps.setCurrentStep(1)
        # the polygons live in the monitoring folder: a later run (or 'watch') reads them
        with placed_forests(Path(spec["aoi"]), folder) as forests:
            result = common.run_job(dict(spec, aoi=forests), steps, workdir, algorithm=self)
        files = result["files"]
        from .loading import load_on_completion  # loads like any Processing output

        compartments = f"{files['compartments_layer']}|layername=monitoring"
        alerts = f"{files['alerts_layer']}|layername=alerts_since"
        load_on_completion(context, compartments, "disturbance monitoring", self.COMPARTMENTS)
        load_on_completion(context, files["monitoring_status"], "disturbance status",
                           self.STATUS, raster=True)
        load_on_completion(context, alerts, "new disturbance alerts", self.ALERTS)
        changes = result["changes"]
        feedback.pushInfo(f"{changes['scenes']} new scenes; newly confirmed pixels "
                          f"{changes['entered']['confirmed']}; compartments with new alerts: "
                          f"{', '.join(map(str, changes['zones_with_new_alerts'])) or 'none'}")
        common.report_errors(result, feedback)
        if changes.get("late_scenes"):
            feedback.pushWarning(late_warning(changes["late_scenes"]))
        return {self.OUTPUT_FOLDER: str(folder), self.COMPARTMENTS: compartments,
                self.STATUS: files["monitoring_status"], self.ALERTS: alerts}
