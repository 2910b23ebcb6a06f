"""Processing algorithm: generate an embedded synthetic sample (forests + imagery catalog): the
storm sample, or the disturbance sample that disturbance monitoring needs."""

from __future__ import annotations

import os

from qgis.core import (
    QgsProcessingException,
    QgsProcessingOutputFile,
    QgsProcessingOutputString,
    QgsProcessingOutputVectorLayer,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterEnum,
)

from .engine_algorithm import EngineAlgorithm, output_folder_parameter, removes_scratch

# the SAMPLE choices, in the order of core.sample.SCENARIOS (storm, disturbance)
SAMPLES = ("Storm sample (a year with a storm)",
           "Disturbance sample (3 years, for monitoring)")  # short: the dialog's combo box


class CreateSampleDataAlgorithm(EngineAlgorithm):
    """Writes synthetic Sentinel-2 / Landsat / Sentinel-1 scenes, a static STAC catalog and
    forest compartments near Beerburrum, for trying the plugin without any account."""

    OUTPUT_FOLDER = "OUTPUT_FOLDER"
    SAMPLE = "SAMPLE"
    SMALL = "SMALL"
    FORESTS = "FORESTS"
    CATALOG = "CATALOG"
    REFERENCES = "REFERENCES"
    HISTORY_START = "HISTORY_START"
    HISTORY_END = "HISTORY_END"

    def name(self) -> str:
        return "create_sample_data"

    def displayName(self) -> str:  # noqa: N802
        return "Create sample data"

    def group(self) -> str:
        return "Utilities"

    def groupId(self) -> str:  # noqa: N802
        return "utilities"

    def shortHelpString(self) -> str:  # noqa: N802
        return ("Generates an embedded sample, as Cloud-Optimized GeoTIFFs in a static STAC "
                "catalog. Storm sample: forest compartments (GeoPackage, field forest_id) and a "
                "year of synthetic Sentinel-2 L2A, Landsat C2 L2 and Sentinel-1 RTC scenes with "
                "clouds and a storm ('Small': 6 compartments, 3 months). Disturbance sample: 8 "
                "compartments and three years (2023-2025) of Sentinel-2 and Landsat with a "
                "windthrow, a clear-fell and a dieback in 2025, for 'Disturbance monitoring' "
                "with the stable history it outputs (left at the default, its folder is "
                "raster-collect-disturbance-sample beside the storm sample's).")

    def createInstance(self):  # noqa: N802
        return CreateSampleDataAlgorithm()

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(output_folder_parameter(self.OUTPUT_FOLDER, "raster-collect-sample"))
        self.addParameter(QgsProcessingParameterEnum(
            self.SAMPLE, "Sample", options=list(SAMPLES), defaultValue=0))
        self.addParameter(QgsProcessingParameterBoolean(
            self.SMALL, "Small storm sample (6 compartments, 3 months)", defaultValue=False))
        self.addOutput(QgsProcessingOutputVectorLayer(self.FORESTS, "Forest compartments"))
        self.addOutput(QgsProcessingOutputFile(self.CATALOG, "STAC catalog"))
        self.addOutput(QgsProcessingOutputFile(
            self.REFERENCES, "Reference polygons (disturbance sample)"))
        self.addOutput(QgsProcessingOutputString(
            self.HISTORY_START, "Stable history start (disturbance sample)"))
        self.addOutput(QgsProcessingOutputString(
            self.HISTORY_END, "Stable history end (disturbance sample)"))

    @removes_scratch
    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        from ..core.sample.choice import DISTURBANCE, DISTURBANCE_FOLDER, SCENARIOS
        from . import common
        from .loading import load_on_completion

        folder = self.output_folder(parameters, self.OUTPUT_FOLDER, context)
        scenario = SCENARIOS[self.parameterAsEnum(parameters, self.SAMPLE, context)]
        small = self.parameterAsBoolean(parameters, self.SMALL, context)
        if not folder:
            raise QgsProcessingException("Choose an output folder for the sample data.")
        if scenario == DISTURBANCE and small:
            raise QgsProcessingException(
                f"'{self.parameterDefinition(self.SMALL).description()}' is for the storm "
                "sample only: untick it for the disturbance sample.")
        default = self.parameterDefinition(self.OUTPUT_FOLDER).defaultValue()
        if scenario == DISTURBANCE and folder == os.path.abspath(default):
            # not over the storm sample: both write catalog.json
            folder = os.path.join(os.path.dirname(folder), DISTURBANCE_FOLDER)
        feedback.pushInfo(f"Writing the {scenario} sample to {folder}")
        spec = ({"kind": "sample", "scenario": DISTURBANCE, "output_dir": folder}
                if scenario == DISTURBANCE else
                {"kind": "sample", "output_dir": folder, "small": small})
        result = common.run_job(spec, feedback, common.scratch_folder(context), algorithm=self)
        feedback.setProgress(100)
        outputs = {self.OUTPUT_FOLDER: folder, self.CATALOG: result["catalog"]}
        if scenario == DISTURBANCE:
            outputs[self.FORESTS] = f"{result['forests']}|layername={result['layer']}"
            load_on_completion(context, outputs[self.FORESTS], "forests (disturbance sample)",
                               self.FORESTS)
            outputs.update({self.REFERENCES: result["references"],
                            self.HISTORY_START: result["history_start"],
                            self.HISTORY_END: result["history_end"]})
            feedback.pushInfo(f"Disturbance monitoring: its catalog, stable history "
                              f"{result['history_start']} to {result['history_end']}; "
                              f"scenes up to {result['last_scene_day']}")
        else:
            outputs[self.FORESTS] = result["forests"] + "|layername=forests"
            load_on_completion(context, outputs[self.FORESTS], "forests (sample)", self.FORESTS)
        feedback.pushInfo(f"STAC catalog for the 'Static STAC catalog' source: "
                          f"{result['catalog']}")
        return outputs
