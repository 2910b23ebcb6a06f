"""Processing algorithm: storm damage per forest from before/after optical and radar change."""

from __future__ import annotations

from qgis.core import (
    QgsCategorizedSymbolRenderer,
    QgsFillSymbol,
    QgsProcessingLayerPostProcessorInterface,
    QgsProcessingMultiStepFeedback,
    QgsProcessingOutputVectorLayer,
    QgsProcessingParameterDateTime,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
    QgsRendererCategory,
)

from ..qgis_compat import qgis_enum
from . import common
from .engine_algorithm import EngineAlgorithm, output_folder_parameter, removes_scratch

CLASS_COLOURS = {"none": "#1a9850", "light": "#fee08b", "moderate": "#fc8d59",
                 "severe": "#d73027", "unknown": "#bdbdbd",
                 "not stocked before event": "#8c96c6"}
# Processing parameter -> (threshold name, label); defaults come from DamageThresholds
THRESHOLD_PARAMETERS = {
    "CHANGED_NDVI": ("changed_ndvi", "Pixel damaged from this NDVI loss"),
    "CHANGED_VH_DB": ("changed_vh_db", "Radar pixel damaged from this VH decrease (dB)"),
    "LIGHT_FRACTION": ("light_fraction", "'light' from this damaged share of a stand (0-1)"),
    "MODERATE_FRACTION": ("moderate_fraction", "'moderate' (flagged) from this damaged share"),
    "SEVERE_FRACTION": ("severe_fraction", "'severe' from this damaged share"),
    "HEAVY_NDVI": ("heavy_ndvi", "Heavy damage (one class up) from this mean NDVI loss"),
    "MIN_STOCKED_NDVI": ("min_stocked_ndvi", "Not stocked before the event below this NDVI"),
}


def damage_renderer() -> QgsCategorizedSymbolRenderer:
    """Categorised fill by damage class: green, yellow, orange, red; grey when unknown."""
    categories = []
    for name, colour in CLASS_COLOURS.items():
        symbol = QgsFillSymbol.createSimple({"color": colour, "outline_color": "#333333",
                                             "outline_width": "0.3"})
        categories.append(QgsRendererCategory(name, symbol, name))
    return QgsCategorizedSymbolRenderer("damage_class", categories)


class _StyleDamage(QgsProcessingLayerPostProcessorInterface):
    def postProcessLayer(self, layer, context, feedback):  # noqa: N802
        layer.setRenderer(damage_renderer())
        layer.triggerRepaint()


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
        common.add_source_parameters(self, with_indices=False)
        self.addParameter(QgsProcessingParameterDateTime(
            self.EVENT_DATE, "Event date",
            type=qgis_enum("Qgis.ProcessingDateTimeParameterDataType.Date")))
        self.addParameter(QgsProcessingParameterNumber(
            self.BEFORE_DAYS, "Days before the event", minValue=1, defaultValue=90))
        self.addParameter(QgsProcessingParameterNumber(
            self.AFTER_DAYS, "Days after the event", minValue=1, defaultValue=45))
        for name, label in ((self.BEFORE_ITEMS, "Before scenes: STAC item URLs (optional)"),
                            (self.AFTER_ITEMS, "After scenes: STAC item URLs (optional)")):
            self.addParameter(QgsProcessingParameterString(name, label, optional=True,
                                                           multiLine=True))
        from ..core.pixels import DEFAULT_STORM_BUFFER_M
        from ..core.storm import DamageThresholds

        self.addParameter(QgsProcessingParameterNumber(
            self.CLOUD_BUFFER, "Cloud and shadow mask buffer (m)",
            type=qgis_enum("Qgis.ProcessingNumberParameterType.Double"), minValue=0,
            defaultValue=DEFAULT_STORM_BUFFER_M))
        defaults = DamageThresholds()
        for name, (threshold, label) in THRESHOLD_PARAMETERS.items():
            parameter = QgsProcessingParameterNumber(
                name, label, type=qgis_enum("Qgis.ProcessingNumberParameterType.Double"),
                minValue=0,
                defaultValue=getattr(defaults, threshold))
            parameter.setFlags(parameter.flags()
                               | qgis_enum("Qgis.ProcessingParameterFlag.Advanced"))
            self.addParameter(parameter)
        self.addParameter(output_folder_parameter(self.OUTPUT_FOLDER))
        self.addOutput(QgsProcessingOutputVectorLayer(self.DAMAGE, "Storm damage"))

    @removes_scratch
    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        folder = common.next_run_folder(
            self.output_folder(parameters, self.OUTPUT_FOLDER, context))
        workdir = common.scratch_folder(context)
        steps = QgsProcessingMultiStepFeedback(2, feedback)  # export, then the job
        spec = common.imagery_spec(self, parameters, context, steps, workdir,
                                   with_indices=False)
        urls = {name: [u.strip() for u in (self.parameterAsString(parameters, name, context)
                                           or "").split() if u.strip()]
                for name in (self.BEFORE_ITEMS, self.AFTER_ITEMS)}
        spec.update(kind="storm", output_dir=folder,
                    event_date=common.parameter_date(self, parameters, self.EVENT_DATE, context),
                    before_days=self.parameterAsInt(parameters, self.BEFORE_DAYS, context),
                    after_days=self.parameterAsInt(parameters, self.AFTER_DAYS, context),
                    before_items=urls[self.BEFORE_ITEMS], after_items=urls[self.AFTER_ITEMS],
                    cloud_buffer_m=self.parameterAsDouble(parameters, self.CLOUD_BUFFER,
                                                          context),
                    thresholds={threshold: self.parameterAsDouble(parameters, name, context)
                                for name, (threshold, _) in THRESHOLD_PARAMETERS.items()})
        steps.setCurrentStep(1)
        result = common.run_job(spec, steps, workdir)
        common.report_errors(result, feedback)
        layer = f"{result['files']['damage_layer']}|layername=storm_damage"
        from .loading import load_on_completion  # loads like any Processing output

        load_on_completion(context, layer, "storm damage", self.DAMAGE, post=_StyleDamage())
        for name in ("severe", "moderate", "not stocked before event"):
            count = sum(1 for r in result["ranking"] if r["damage_class"] == name)
            feedback.pushInfo(f"{count} compartments {name}")
        return {self.OUTPUT_FOLDER: folder, self.DAMAGE: layer}
