"""Processing algorithm: storm damage per forest from before/after optical and radar change."""

from __future__ import annotations

from qgis.core import (
    QgsCategorizedSymbolRenderer,
    QgsFillSymbol,
    QgsProcessingAlgorithm,
    QgsProcessingLayerPostProcessorInterface,
    QgsProcessingMultiStepFeedback,
    QgsProcessingOutputVectorLayer,
    QgsProcessingParameterDateTime,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
    QgsRendererCategory,
)

from . import common

CLASS_COLOURS = {"none": "#1a9850", "light": "#fee08b", "moderate": "#fc8d59",
                 "severe": "#d73027", "unknown": "#bdbdbd"}


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


class StormDamageAlgorithm(QgsProcessingAlgorithm):
    """Which compartments the storm damaged, and how badly."""

    EVENT_DATE = "EVENT_DATE"
    BEFORE_DAYS = "BEFORE_DAYS"
    AFTER_DAYS = "AFTER_DAYS"
    BEFORE_ITEMS = "BEFORE_ITEMS"
    AFTER_ITEMS = "AFTER_ITEMS"
    LIGHT, MODERATE, SEVERE = "LIGHT", "MODERATE", "SEVERE"
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
                "forest the change statistics, the fraction of area changed and a damage class "
                "(none / light / moderate / severe) from the NDVI-loss thresholds. Where the "
                "post-event optical composite is clouded, radar decides; the 'evidence' field "
                "says which was used. Specific scenes can be given by STAC item URL.")

    def createInstance(self):  # noqa: N802
        return StormDamageAlgorithm()

    def initAlgorithm(self, config=None):  # noqa: N802
        common.add_polygon_parameters(self)
        common.add_source_parameters(self, with_indices=False)
        self.addParameter(QgsProcessingParameterDateTime(
            self.EVENT_DATE, "Event date", type=QgsProcessingParameterDateTime.Type.Date))
        self.addParameter(QgsProcessingParameterNumber(
            self.BEFORE_DAYS, "Days before the event", minValue=1, defaultValue=90))
        self.addParameter(QgsProcessingParameterNumber(
            self.AFTER_DAYS, "Days after the event", minValue=1, defaultValue=45))
        for name, label in ((self.BEFORE_ITEMS, "Before scenes: STAC item URLs (optional)"),
                            (self.AFTER_ITEMS, "After scenes: STAC item URLs (optional)")):
            self.addParameter(QgsProcessingParameterString(name, label, optional=True,
                                                           multiLine=True))
        for name, label, value in ((self.LIGHT, "NDVI loss for 'light'", 0.05),
                                   (self.MODERATE, "NDVI loss for 'moderate'", 0.15),
                                   (self.SEVERE, "NDVI loss for 'severe'", 0.30)):
            self.addParameter(QgsProcessingParameterNumber(
                name, label, type=QgsProcessingParameterNumber.Type.Double, minValue=0,
                defaultValue=value))
        self.addParameter(QgsProcessingParameterFolderDestination(
            self.OUTPUT_FOLDER, "Output folder"))
        self.addOutput(QgsProcessingOutputVectorLayer(self.DAMAGE, "Storm damage"))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        folder = common.next_run_folder(
            self.parameterAsString(parameters, self.OUTPUT_FOLDER, context))
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
                    thresholds={"light": self.parameterAsDouble(parameters, self.LIGHT, context),
                                "moderate": self.parameterAsDouble(parameters, self.MODERATE,
                                                                   context),
                                "severe": self.parameterAsDouble(parameters, self.SEVERE,
                                                                 context)})
        steps.setCurrentStep(1)
        result = common.run_job(spec, steps, workdir)
        common.report_errors(result, feedback)
        layer = f"{result['files']['damage_layer']}|layername=storm_damage"
        from .loading import load_on_completion  # loads like any Processing output

        load_on_completion(context, layer, "storm damage", self.DAMAGE, post=_StyleDamage())
        severe = [r for r in result["ranking"] if r["damage_class"] == "severe"]
        feedback.pushInfo(f"{len(severe)} compartments severely damaged")
        return {self.OUTPUT_FOLDER: folder, self.DAMAGE: layer}
