"""Processing algorithm: per-pixel disturbance monitoring of the forests, continued from the
output folder's state (a rerun processes only the scenes newer than its last one)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Dict

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

from ..core.monitoring import default_params, late_warning, placed_forests
from ..core.runs import DEFAULT_MONITOR_MAX_CLOUD_COVER
from ..qgis_compat import qgis_enum
from . import common
from .engine_algorithm import EngineAlgorithm, removes_scratch
from .messages import parameter_words

RESOLUTIONS = (10, 30)


class MonitorDisturbanceAlgorithm(EngineAlgorithm):
    """Which compartments were disturbed since the stable history, pixel by pixel."""

    HISTORY_END = "HISTORY_END"
    INDEX = "INDEX"
    RESOLUTION = "RESOLUTION"
    HARMONISE = "HARMONISE"
    CONFIRM = "CONFIRM"
    RECOVER = "RECOVER"
    TREND = "TREND"
    MIN_HISTORY_OBS = "MIN_HISTORY_OBS"
    SCREEN_SIGMA = "SCREEN_SIGMA"
    OUTLIER_SIGMA = "OUTLIER_SIGMA"
    ALERTS_SINCE = "ALERTS_SINCE"
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
        from ..default_outputs import default_output_root

        common.add_polygon_parameters(self)
        common.add_source_parameters(self, with_indices=False,
                                     max_cloud=DEFAULT_MONITOR_MAX_CLOUD_COVER)
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
        for name, label in ((self.CONFIRM, "Anomalies that confirm"),
                            (self.RECOVER, "Normal observations that end it")):
            self._add_key(name, label)
        self.addParameter(QgsProcessingParameterNumber(
            self.HEX_AREA, "Also per hexagon of this area (ha; 0 = no hexagons)",
            type=qgis_enum("Qgis.ProcessingNumberParameterType.Double"), minValue=0,
            defaultValue=0))
        self.addParameter(QgsProcessingParameterFolderDestination(
            self.OUTPUT_FOLDER, "Monitoring folder (a rerun continues it)",
            defaultValue=str(default_output_root() / "monitoring"), optional=True))
        self._add_advanced_keys()
        common.add_memory_budget_parameter(self)
        self.addOutput(QgsProcessingOutputVectorLayer(self.COMPARTMENTS, "Monitoring"))
        self.addOutput(QgsProcessingOutputRasterLayer(self.STATUS, "Disturbance status"))
        self.addOutput(QgsProcessingOutputVectorLayer(self.ALERTS, "New alerts"))

    def _add_key(self, name: str, label: str, advanced: bool = False) -> None:
        """A number parameter for the monitoring key ``name.lower()``: the job spec's default
        (MonitorParams) and range (core.monitoring.keys), one source for every door."""
        from ..core.monitoring.keys import RANGES

        key = name.lower()
        default, bounds = getattr(default_params(), key), RANGES[key]
        whole = isinstance(default, int)
        parameter = QgsProcessingParameterNumber(
            name, label, type=qgis_enum("Qgis.ProcessingNumberParameterType." +
                                        ("Integer" if whole else "Double")),
            minValue=bounds.least, defaultValue=default,
            **({"maxValue": bounds.most} if bounds.most is not None else {}))
        self._add(parameter, advanced)

    def _add(self, parameter, advanced: bool) -> None:
        if advanced:
            parameter.setFlags(parameter.flags() |
                               qgis_enum("Qgis.ProcessingParameterFlag.Advanced"))
        self.addParameter(parameter)

    def _add_advanced_keys(self) -> None:
        """The history model's and the chart's finer keys, the alerts' first day (README's
        table; the command line's --trend, --min-history-obs, --screen-sigma,
        --outlier-sigma, --alerts-since)."""
        from ..core.monitoring import ALERTS_SINCE_DEFAULT
        from ..core.monitoring.state import DEFAULT_MIN_HISTORY_OBS

        self._add(QgsProcessingParameterBoolean(
            self.TREND, "Add a linear trend to the history model (a drifting history, e.g. a "
            "young stand growing)", defaultValue=default_params().trend), True)
        self._add(QgsProcessingParameterNumber(
            self.MIN_HISTORY_OBS, "Clear history observations a pixel needs (empty = "
            f"{DEFAULT_MIN_HISTORY_OBS}, or the model's least when more)",
            minValue=default_params().least_history_obs(), optional=True), True)
        self._add_key(self.SCREEN_SIGMA, "Screen history observations beyond (σ of a first "
                      "fit; missed clouds, shadows)", advanced=True)
        self._add_key(self.OUTLIER_SIGMA, "Clip departures entering the chart at (σ; 0 = not "
                      "clipped)", advanced=True)
        self._add(QgsProcessingParameterDateTime(
            self.ALERTS_SINCE, f"New alerts since (empty = {ALERTS_SINCE_DEFAULT})",
            type=qgis_enum("Qgis.ProcessingDateTimeParameterDataType.Date"), optional=True),
            True)

    def _monitoring(self, parameters, context) -> Dict:
        """The spec's ``monitoring``: the keys this algorithm has (an empty one left out)."""
        values = {"confirm": self.parameterAsInt(parameters, self.CONFIRM, context),
                  "recover": self.parameterAsInt(parameters, self.RECOVER, context),
                  "trend": self.parameterAsBoolean(parameters, self.TREND, context),
                  "screen_sigma": self.parameterAsDouble(parameters, self.SCREEN_SIGMA,
                                                         context),
                  "outlier_sigma": self.parameterAsDouble(parameters, self.OUTLIER_SIGMA,
                                                          context)}
        if common.given(self, parameters, self.MIN_HISTORY_OBS):
            values["min_history_obs"] = self.parameterAsInt(parameters, self.MIN_HISTORY_OBS,
                                                            context)
        return values

    def _checked(self, monitoring: Dict, history: tuple, end: str, since) -> None:
        """The job's refusals of a key out of range (or an alerts day outside the run),
        before any work, naming this algorithm's parameters."""
        from ..core.jobs.monitor import check_alerts_since
        from ..core.jobs.spec import JobError
        from ..core.monitoring import MonitorParams, StateError

        words = parameter_words(self)
        try:
            params = MonitorParams(*map(date.fromisoformat, history), **monitoring).check(
                lambda key: words(f"monitoring.{key}")[0])
            check_alerts_since(since, params, date.fromisoformat(end),
                               name=words("alerts_since")[0])
        except (StateError, JobError) as problem:
            raise QgsProcessingException(f"{str(problem)[0].upper()}{str(problem)[1:]}.") \
                from None

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
        monitoring = self._monitoring(parameters, context)
        since = (common.parameter_date(self, parameters, self.ALERTS_SINCE, context)
                 if common.given(self, parameters, self.ALERTS_SINCE) else None)
        self._checked(monitoring, (history_start, history_end), end, since)
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
                    monitoring=monitoring)
        if since:
            spec["alerts_since"] = since
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
