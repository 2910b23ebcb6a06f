"""Processing algorithm: generate the embedded synthetic sample (forests + imagery catalog)."""

from __future__ import annotations

from qgis.core import (
    QgsProcessingException,
    QgsProcessingOutputFile,
    QgsProcessingOutputVectorLayer,
    QgsProcessingParameterBoolean,
)

from .engine_algorithm import EngineAlgorithm, output_folder_parameter, removes_scratch


class CreateSampleDataAlgorithm(EngineAlgorithm):
    """Writes synthetic Sentinel-2 / Landsat / Sentinel-1 scenes, a static STAC catalog and
    forest compartments near Beerburrum, for trying the plugin without any account."""

    OUTPUT_FOLDER = "OUTPUT_FOLDER"
    SMALL = "SMALL"
    FORESTS = "FORESTS"
    CATALOG = "CATALOG"

    def name(self) -> str:
        return "create_sample_data"

    def displayName(self) -> str:  # noqa: N802
        return "Create sample data"

    def group(self) -> str:
        return "Utilities"

    def groupId(self) -> str:  # noqa: N802
        return "utilities"

    def shortHelpString(self) -> str:  # noqa: N802
        return ("Generates the embedded sample: forest compartments (GeoPackage, field forest_id) "
                "and a year of synthetic Sentinel-2 L2A, Landsat C2 L2 and Sentinel-1 RTC scenes "
                "with clouds and a storm, as Cloud-Optimized GeoTIFFs in a static STAC catalog.")

    def createInstance(self):  # noqa: N802
        return CreateSampleDataAlgorithm()

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(output_folder_parameter(self.OUTPUT_FOLDER, "raster-collect-sample"))
        self.addParameter(QgsProcessingParameterBoolean(
            self.SMALL, "Small sample (6 compartments, 3 months)", defaultValue=False))
        self.addOutput(QgsProcessingOutputVectorLayer(self.FORESTS, "Forest compartments"))
        self.addOutput(QgsProcessingOutputFile(self.CATALOG, "STAC catalog"))

    @removes_scratch
    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        from . import common

        folder = self.output_folder(parameters, self.OUTPUT_FOLDER, context)
        small = self.parameterAsBoolean(parameters, self.SMALL, context)
        if not folder:
            raise QgsProcessingException("Choose an output folder for the sample data.")
        feedback.pushInfo(f"Writing the sample to {folder}")
        result = common.run_job({"kind": "sample", "output_dir": folder, "small": small},
                                feedback, common.scratch_folder(context), algorithm=self)
        feedback.setProgress(100)
        forests = result["forests"] + "|layername=forests"
        from .loading import load_on_completion

        load_on_completion(context, forests, "forests (sample)", self.FORESTS)
        feedback.pushInfo(f"STAC catalog for the 'Static STAC catalog' source: "
                          f"{result['catalog']}")
        return {self.OUTPUT_FOLDER: folder, self.FORESTS: forests,
                self.CATALOG: result["catalog"]}
