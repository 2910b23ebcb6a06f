"""Processing algorithm: cloud-masked index composites as Cloud-Optimized GeoTIFFs."""

from __future__ import annotations

from qgis.core import (
    QgsProcessingMultiStepFeedback,
    QgsProcessingOutputMultipleLayers,
    QgsProcessingParameterEnum,
)

from ..core.imagery import COLOUR_COMPOSITES
from . import common
from .engine_algorithm import EngineAlgorithm, output_folder_parameter, removes_scratch
from .loading import index_raster_styler, load_on_completion


class ComputeCompositesAlgorithm(EngineAlgorithm):
    """Monthly (or quarterly/yearly) cloud-free composites of the chosen indices."""

    OUTPUT_FOLDER = "OUTPUT_FOLDER"
    RASTERS = "RASTERS"
    COLOUR = "COLOUR"

    def name(self) -> str:
        return "compute_composites"

    def displayName(self) -> str:  # noqa: N802
        return "Compute index composites"

    def group(self) -> str:
        return "Imagery"

    def groupId(self) -> str:  # noqa: N802
        return "imagery"

    def shortHelpString(self) -> str:  # noqa: N802
        return ("Loads the scenes over the forests (windowed reads), masks clouds (Sentinel-2 "
                "SCL, Landsat QA_PIXEL), computes the indices and their per-period median or "
                "mean over clear pixels only. Writes one COG per source and index (one band per "
                "period), a clear-observation count COG and a metadata JSON, into a new "
                "sub-folder of the output folder.")

    def createInstance(self):  # noqa: N802
        return ComputeCompositesAlgorithm()

    def initAlgorithm(self, config=None):  # noqa: N802
        common.add_polygon_parameters(self)
        common.add_source_parameters(self)
        self.addParameter(QgsProcessingParameterEnum(
            self.COLOUR, "Colour composites per period too (3-band reflectance COGs)",
            options=list(COLOUR_COMPOSITES), allowMultiple=True, optional=True,
            defaultValue=[]))
        common.add_crs_parameter(self)
        common.add_memory_budget_parameter(self)
        self.addParameter(output_folder_parameter(self.OUTPUT_FOLDER))
        self.addOutput(QgsProcessingOutputMultipleLayers(self.RASTERS, "Composite rasters"))
        common.prefill_from_dock(self)  # the dock's last run, when there is one

    @removes_scratch
    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        folder = common.next_run_folder(
            self.output_folder(parameters, self.OUTPUT_FOLDER, context))
        workdir = common.scratch_folder(context)
        steps = QgsProcessingMultiStepFeedback(2, feedback)  # export, then the job
        spec = common.imagery_spec(self, parameters, context, steps, workdir)
        spec.update(kind="composite", output_dir=folder, colour_composites=[
            COLOUR_COMPOSITES[i] for i in self.parameterAsEnums(parameters, self.COLOUR,
                                                                context)])
        steps.setCurrentStep(1)
        result = common.run_job(spec, steps, workdir, algorithm=self)
        common.report_errors(result, feedback)
        from ..core.runs import gdal_path

        rasters = [gdal_path(path) for collection in result["collections"]  # s3:// -> /vsis3/
                   for path in collection["indices"].values()]
        for collection in result["collections"]:
            latest = (collection.get("periods") or ["?"])[-1]
            for index, path in collection["indices"].items():
                load_on_completion(context, path, f"{collection['collection']} {index} "
                                   f"(latest: {latest})", self.RASTERS,
                                   raster=True, post=index_raster_styler(index))
        for collection in result["collections"]:
            for key, periods in (collection.get("colour_composites") or {}).items():
                for label, path in periods.items():
                    rasters.append(gdal_path(path))
                    load_on_completion(context, gdal_path(path),
                                       f"{collection['collection']} {key} {label}",
                                       self.RASTERS, raster=True)
        return {self.OUTPUT_FOLDER: folder, self.RASTERS: rasters}
