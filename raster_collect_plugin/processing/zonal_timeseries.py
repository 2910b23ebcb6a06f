"""Processing algorithm: zonal statistics time series per forest (and hexagon)."""

from __future__ import annotations

from pathlib import Path

from qgis.core import (
    QgsProcessingException,
    QgsProcessingMultiStepFeedback,
    QgsProcessingOutputVectorLayer,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterEnum,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
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
from .loading import latest_styler, load_on_completion

COVERAGE = ["exact", "centre", "all_touched"]


class ZonalTimeseriesAlgorithm(EngineAlgorithm):
    """Cloud-free statistics for every forest and period, from imagery or an existing raster."""

    RASTER = "RASTER"
    COVERAGE = "COVERAGE"
    MIN_CLEAR = "MIN_CLEAR"
    HEX_AREA = "HEX_AREA"
    BANDS = "BANDS"
    NODATA = "NODATA"
    IGNORE_NODATA = "IGNORE_NODATA"
    USE_MASK = "USE_MASK"
    CATEGORICAL = "CATEGORICAL"
    CLASSES = "CLASSES"
    OUTPUT_FOLDER = "OUTPUT_FOLDER"
    TABLE = "TABLE"
    LATEST = "LATEST"

    def name(self) -> str:
        return "zonal_timeseries"

    def displayName(self) -> str:  # noqa: N802
        return "Zonal statistics time series"

    def group(self) -> str:
        return "Statistics"

    def groupId(self) -> str:  # noqa: N802
        return "statistics"

    def shortHelpString(self) -> str:  # noqa: N802
        return ("For every forest and period: mean, median, std, min, max, p10, p90, sum, "
                "pixel count, clear count and clear fraction of each index, weighted by each "
                "pixel's exact coverage of the polygon. Periods with less than the minimum "
                "clear fraction are flagged (usable = false) and left out of the latest-values "
                "layer. Give an existing raster (one band per period) to skip the imagery "
                "search; for it you may choose bands, override or ignore its nodata value, "
                "ignore its mask band, and ask for per-class count, area and fraction "
                "(categorical: forest types, SCL classes). Quantiles and majority follow "
                "exactextract with exact coverage and numpy/rasterstats with centre-in or "
                "all-touched cells (definitions in zonal_forests_metadata.json). Writes "
                "GeoPackage, CSV and Parquet tables into a new sub-folder.")

    def createInstance(self):  # noqa: N802
        return ZonalTimeseriesAlgorithm()

    def initAlgorithm(self, config=None):  # noqa: N802
        common.add_polygon_parameters(self)
        self.addParameter(QgsProcessingParameterRasterLayer(
            self.RASTER, "Existing index raster (optional: instead of searching imagery)",
            optional=True))
        self.addParameter(QgsProcessingParameterString(
            self.BANDS, "Raster bands to use, e.g. 1,3 (empty = all)", optional=True))
        self.addParameter(QgsProcessingParameterNumber(
            self.NODATA, "Nodata value instead of the raster's (optional)",
            type=qgis_enum("Qgis.ProcessingNumberParameterType.Double"), optional=True))
        self.addParameter(QgsProcessingParameterBoolean(
            self.IGNORE_NODATA, "Count the raster's nodata value as data", defaultValue=False))
        self.addParameter(QgsProcessingParameterBoolean(
            self.USE_MASK, "Honour the raster's mask band", defaultValue=True))
        self.addParameter(QgsProcessingParameterBoolean(
            self.CATEGORICAL, "Categorical raster: per-class count, area and fraction",
            defaultValue=False))
        common.add_source_parameters(self)
        self.addParameter(QgsProcessingParameterEnum(
            self.COVERAGE, "Pixel coverage", options=COVERAGE, defaultValue=0))
        self.addParameter(QgsProcessingParameterNumber(
            self.MIN_CLEAR, "Minimum clear fraction for a period to count",
            type=qgis_enum("Qgis.ProcessingNumberParameterType.Double"), minValue=0, maxValue=1,
            defaultValue=0.5))
        self.addParameter(QgsProcessingParameterNumber(
            self.HEX_AREA, "Also per hexagon of this area in ha (0 = no hexagons)",
            type=qgis_enum("Qgis.ProcessingNumberParameterType.Double"), minValue=0,
            defaultValue=0))
        common.add_crs_parameter(self)
        common.add_memory_budget_parameter(self)
        self.addParameter(output_folder_parameter(self.OUTPUT_FOLDER))
        self.addOutput(QgsProcessingOutputVectorLayer(self.TABLE, "Statistics table"))
        self.addOutput(QgsProcessingOutputVectorLayer(self.LATEST, "Forests with latest values"))
        self.addOutput(QgsProcessingOutputVectorLayer(self.CLASSES, "Per-class table"))
        common.prefill_from_dock(self)  # the dock's last run, when there is one

    @removes_scratch
    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        folder = common.next_run_folder(
            self.output_folder(parameters, self.OUTPUT_FOLDER, context))
        workdir = common.scratch_folder(context)
        coverage = COVERAGE[self.parameterAsEnum(parameters, self.COVERAGE, context)]
        min_clear = self.parameterAsDouble(parameters, self.MIN_CLEAR, context)
        raster = self.parameterAsRasterLayer(parameters, self.RASTER, context)
        steps = QgsProcessingMultiStepFeedback(2, feedback)  # export, then the job
        if raster is not None:
            if self.parameterAsDouble(parameters, self.HEX_AREA, context):
                raise QgsProcessingException(
                    "Hexagons are made for imagery runs only: with an existing raster, make "
                    "them with 'Create hexagons' and give that layer as the polygons (or set "
                    "the hexagon area to 0).")
            if common.crs_text(self, parameters, context):
                raise QgsProcessingException(
                    "An output CRS is for imagery runs only: the statistics are of the "
                    "raster's own pixels (leave the output CRS empty).")
            if common.memory_budget(self, parameters, context):
                raise QgsProcessingException(
                    "A memory budget is for imagery runs only: the statistics of an existing "
                    "raster are read block by block (leave the memory budget empty).")
            if not Path(raster.source()).exists():
                raise QgsProcessingException(f"The raster {raster.source()} is not a local file.")
            aoi, id_field = common.export_polygons(self, parameters, context, steps,
                                                   workdir)
            nodata = parameters.get(self.NODATA)
            spec = {"kind": "zonal-raster", "aoi": aoi, "id_field": id_field,
                    "raster": local_path(raster.source()),
                    "bands": self.parameterAsString(parameters, self.BANDS, context) or None,
                    "nodata": (self.parameterAsDouble(parameters, self.NODATA, context)
                               if nodata not in (None, "") else None),
                    "ignore_nodata": self.parameterAsBool(parameters, self.IGNORE_NODATA,
                                                          context),
                    "use_mask": self.parameterAsBool(parameters, self.USE_MASK, context),
                    "categorical": self.parameterAsBool(parameters, self.CATEGORICAL, context)}
            if spec["nodata"] is not None and spec["ignore_nodata"]:
                raise QgsProcessingException("Give either a nodata value or 'count the "
                                             "nodata value as data', not both.")
        else:
            spec = common.imagery_spec(self, parameters, context, steps, workdir)
            hex_area = self.parameterAsDouble(parameters, self.HEX_AREA, context)
            spec.update(kind="zonal", hexagon_area_m2=hex_area * 10_000 if hex_area else None)
        spec.update(output_dir=folder, coverage=coverage, min_clear_fraction=min_clear)
        steps.setCurrentStep(1)
        result = common.run_job(spec, steps, workdir, algorithm=self)
        common.report_errors(result, feedback)
        files = result["files"]
        table = f"{files['forests_gpkg']}|layername=zonal_statistics"
        latest = f"{files['forests_latest']}|layername=latest"
        load_on_completion(context, table, "zonal statistics", self.TABLE)
        load_on_completion(context, latest, "forests: latest statistics", self.LATEST,
                           post=latest_styler(spec.get("indices") or ["NDVI"]))
        outputs = {self.OUTPUT_FOLDER: folder, self.TABLE: table, self.LATEST: latest}
        if "forests_classes_gpkg" in files:
            outputs[self.CLASSES] = f"{files['forests_classes_gpkg']}|layername=zonal_classes"
            load_on_completion(context, outputs[self.CLASSES], "zonal classes", self.CLASSES)
        return outputs
