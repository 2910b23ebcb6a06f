"""Processing algorithm: storm damage per forest from before/after optical and radar change."""

from __future__ import annotations

from typing import List

from qgis.core import (
    QgsProcessingLayerPostProcessorInterface,
    QgsProcessingMultiStepFeedback,
    QgsProcessingOutputVectorLayer,
    QgsProcessingParameterDateTime,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
)

from ..qgis_compat import qgis_enum
from . import common
from .engine_algorithm import (
    EngineAlgorithm,
    local_path,
    output_folder_parameter,
    removes_scratch,
)

# Processing parameter -> threshold name; defaults and wording from core/storm/classes.py
THRESHOLD_PARAMETERS = {
    "CHANGED_NDVI": "changed_ndvi", "CHANGED_VH_DB": "changed_vh_db",
    "LIGHT_FRACTION": "light_fraction", "MODERATE_FRACTION": "moderate_fraction",
    "SEVERE_FRACTION": "severe_fraction", "HEAVY_NDVI": "heavy_ndvi",
    "MIN_STOCKED_NDVI": "min_stocked_ndvi",
}


def threshold_label(threshold: str) -> str:
    """The parameter's label: the threshold's one description, capitalised."""
    from ..core.storm import THRESHOLD_TEXT

    text = THRESHOLD_TEXT[threshold]
    return text[0].upper() + text[1:]


class _StyleDamage(QgsProcessingLayerPostProcessorInterface):
    def __init__(self, id_field: str = "forest_id"):
        super().__init__()
        self.id_field = id_field

    def postProcessLayer(self, layer, context, feedback):  # noqa: N802
        from ..gui.storm_layers import style_damage_layer

        style_damage_layer(layer, self.id_field)  # the dock's classes, labels, table order


class StormDamageAlgorithm(EngineAlgorithm):
    """Which compartments the storm damaged, and how badly."""

    EVENT_DATE = "EVENT_DATE"
    BEFORE_DAYS = "BEFORE_DAYS"
    AFTER_DAYS = "AFTER_DAYS"
    BEFORE_ITEMS = "BEFORE_ITEMS"
    AFTER_ITEMS = "AFTER_ITEMS"
    CLOUD_BUFFER = "CLOUD_BUFFER"
    OUTPUT_FOLDER = "OUTPUT_FOLDER"
    DAMAGE = "DAMAGE"

    def __init__(self):
        super().__init__()
        self._styler = _StyleDamage()

    def name(self) -> str:
        return "storm_damage"

    def displayName(self) -> str:  # noqa: N802
        return "Storm damage assessment"

    def group(self) -> str:
        return "Change"

    def groupId(self) -> str:  # noqa: N802
        return "change"

    def shortHelpString(self) -> str:  # noqa: N802
        return ("Builds cloud-free composites before and after the event date (optical: dNDVI, "
                "dNBR, dEVI; Sentinel-1: VV/VH change in dB from temporal means), then per "
                "pixel the sensors combined (weighted by their clear observations; radar where no "
                "optical sensor saw the pixel after the event), then per forest the damaged "
                "area (ha and share of the stand), the severity (NDVI loss where it changed) and "
                "a class: none / light / moderate / severe by extent x severity. Stands not "
                "stocked before the event (low NDVI or harvested within the before window) "
                "are reported as such, never as damage. The cloud and shadow mask is grown by "
                "the buffer (metres). Specific scenes can be given by STAC item URL.")

    def createInstance(self):  # noqa: N802
        return StormDamageAlgorithm()

    def initAlgorithm(self, config=None):  # noqa: N802
        common.add_polygon_parameters(self)
        # no dates: the windows around the event decide (a storm job refuses 'start', 'end')
        common.add_source_parameters(self, with_indices=False, with_dates=False)
        self.addParameter(QgsProcessingParameterDateTime(
            self.EVENT_DATE, "Event date",
            type=qgis_enum("Qgis.ProcessingDateTimeParameterDataType.Date")))
        from ..core.storm import (
            AFTER_DAYS,
            BEFORE_DAYS,
            MAX_WINDOW_DAYS,
            MIN_AFTER_DAYS,
            MIN_BEFORE_DAYS,
        )

        self.addParameter(QgsProcessingParameterNumber(
            self.BEFORE_DAYS, "Days before the event", minValue=MIN_BEFORE_DAYS,
            maxValue=MAX_WINDOW_DAYS, defaultValue=BEFORE_DAYS))
        self.addParameter(QgsProcessingParameterNumber(
            self.AFTER_DAYS, "Days after the event", minValue=MIN_AFTER_DAYS,
            maxValue=MAX_WINDOW_DAYS, defaultValue=AFTER_DAYS))
        for name, when in ((self.BEFORE_ITEMS, "Before"), (self.AFTER_ITEMS, "After")):
            label = f"{when} scenes: STAC items, one per line (optional)"
            self.addParameter(QgsProcessingParameterString(name, label, optional=True,
                                                           multiLine=True))
        from ..core.pixels import DEFAULT_STORM_BUFFER_M
        from ..core.storm import DamageThresholds

        self.addParameter(QgsProcessingParameterNumber(
            self.CLOUD_BUFFER, "Cloud and shadow mask buffer (m)",
            type=qgis_enum("Qgis.ProcessingNumberParameterType.Double"), minValue=0,
            defaultValue=DEFAULT_STORM_BUFFER_M))
        defaults = DamageThresholds()
        for name, threshold in THRESHOLD_PARAMETERS.items():
            parameter = QgsProcessingParameterNumber(
                name, threshold_label(threshold),
                type=qgis_enum("Qgis.ProcessingNumberParameterType.Double"), minValue=0,
                defaultValue=getattr(defaults, threshold))
            parameter.setFlags(parameter.flags()
                               | qgis_enum("Qgis.ProcessingParameterFlag.Advanced"))
            self.addParameter(parameter)
        common.add_crs_parameter(self)
        common.add_memory_budget_parameter(self)
        self.addParameter(output_folder_parameter(self.OUTPUT_FOLDER))
        self.addOutput(QgsProcessingOutputVectorLayer(self.DAMAGE, "Storm damage"))
        common.prefill_from_dock(self)  # the dock's last run, when there is one

    @removes_scratch
    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        folder = common.next_run_folder(
            self.output_folder(parameters, self.OUTPUT_FOLDER, context))
        workdir = common.scratch_folder(context)
        steps = QgsProcessingMultiStepFeedback(2, feedback)  # export, then the job
        spec = common.imagery_spec(self, parameters, context, steps, workdir,
                                   with_indices=False)
        # each a URL, or a path made absolute (the job runs in its scratch folder); a Windows
        # path on macOS or Linux is refused naming the parameter, as CATALOG is
        urls = {name: [local_path(item, self.parameterDefinition(name).description())
                       for item in item_list(self.parameterAsString(parameters, name, context))]
                for name in (self.BEFORE_ITEMS, self.AFTER_ITEMS)}
        spec.update(kind="storm", output_dir=folder,
                    event_date=common.parameter_date(self, parameters, self.EVENT_DATE, context),
                    before_days=self.parameterAsInt(parameters, self.BEFORE_DAYS, context),
                    after_days=self.parameterAsInt(parameters, self.AFTER_DAYS, context),
                    before_items=urls[self.BEFORE_ITEMS], after_items=urls[self.AFTER_ITEMS],
                    cloud_buffer_m=self.parameterAsDouble(parameters, self.CLOUD_BUFFER,
                                                          context),
                    thresholds={threshold: self.parameterAsDouble(parameters, name, context)
                                for name, threshold in THRESHOLD_PARAMETERS.items()})
        if urls[self.BEFORE_ITEMS] or urls[self.AFTER_ITEMS]:  # the scenes used: no search
            spec["sources"] = []
            spec.pop("max_cloud_cover", None)  # it chooses the scenes of a search
        steps.setCurrentStep(1)
        result = common.run_job(spec, steps, workdir, algorithm=self)
        common.report_errors(result, feedback)
        layer = f"{result['files']['damage_layer']}|layername=storm_damage"
        from .loading import load_on_completion  # loads like any Processing output

        load_on_completion(context, layer, "storm damage", self.DAMAGE,
                           post=_StyleDamage(spec.get("id_field") or "forest_id"))
        for name in ("severe", "moderate", "not stocked before event"):
            count = sum(1 for r in result["ranking"] if r["damage_class"] == name)
            feedback.pushInfo(f"{count} compartments {name}")
        return {self.OUTPUT_FOLDER: folder, self.DAMAGE: layer}


def item_list(text: str) -> List[str]:
    """STAC items given one per line; a line of several URLs (``qgis_process`` passes one
    line) is split at spaces, but a local path keeps its spaces (``/data/storm scenes/a.json``)."""
    items: List[str] = []
    for line in (text or "").splitlines():
        words = line.split()
        if len(words) > 1 and all("://" in word for word in words):
            items += words
        elif line.strip():
            items.append(line.strip())
    return items
