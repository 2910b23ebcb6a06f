"""Processing algorithm: search imagery for forest polygons -> footprints + scene list."""

from __future__ import annotations

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsFeature,
    QgsFeatureSink,
    QgsFields,
    QgsGeometry,
    QgsProcessingException,
    QgsProcessingMultiStepFeedback,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFileDestination,
)
from qgis.PyQt.QtCore import QMetaType

from ..qgis_compat import new_field, qgis_enum
from . import common
from .copernicus_source import add_copernicus_parameters, copernicus_sources
from .engine_algorithm import EngineAlgorithm, removes_scratch


class SearchImageryAlgorithm(EngineAlgorithm):
    """Finds the scenes of the chosen archives over the forests and period."""

    OUTPUT = "OUTPUT"
    ITEMS = "ITEMS"

    def name(self) -> str:
        return "search_imagery"

    def displayName(self) -> str:  # noqa: N802
        return "Search imagery"

    def group(self) -> str:
        return "Imagery"

    def groupId(self) -> str:  # noqa: N802
        return "imagery"

    def shortHelpString(self) -> str:  # noqa: N802
        return ("Searches the selected archives (Planetary Computer, Earth Search, Maxar Open "
                "Data, a static STAC catalog, any STAC API or the Copernicus Data Space "
                "Catalog API, whose requests are budgeted like the other Sentinel Hub "
                "requests) for scenes over the forest polygons in the period, keeping scenes "
                "under the cloud-cover limit. Outputs the scene footprints (provider, "
                "collection, date, cloud %, id) and a CSV list.")

    def createInstance(self):  # noqa: N802
        return SearchImageryAlgorithm()

    def initAlgorithm(self, config=None):  # noqa: N802
        common.add_polygon_parameters(self)
        common.add_source_parameters(self, with_indices=False, with_copernicus=True)
        add_copernicus_parameters(self)
        self.addParameter(QgsProcessingParameterFeatureSink(self.OUTPUT, "Scene footprints"))
        common.prefill_from_dock(self)  # the dock's last run, when there is one
        self.addParameter(QgsProcessingParameterFileDestination(
            self.ITEMS, "Scene list", fileFilter="CSV files (*.csv)", optional=True))

    @removes_scratch
    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        import csv

        from qgis.core import QgsVectorLayer

        workdir = common.scratch_folder(context)
        steps = QgsProcessingMultiStepFeedback(2, feedback)  # export, then the job
        spec = common.imagery_spec(self, parameters, context, steps, workdir,
                                   with_indices=False)
        spec.update(kind="search", output=str(workdir / "footprints.gpkg"),
                    output_dir=str(workdir))
        secrets = copernicus_sources(self, parameters, context, spec["sources"], feedback)
        feedback.setProgressText(f"Searching {len(spec['sources'])} source(s)")
        steps.setCurrentStep(1)
        result = common.run_job(spec, steps, workdir, secret_env=secrets, algorithm=self)
        if result.get("errors") and not result["items"]:
            # as the command line: an empty list from failed sources is not "no scenes"
            raise QgsProcessingException(
                "No scenes: the search failed. " + "; ".join(common.error_lines(result)))
        common.report_errors(result, feedback)

        fields = QgsFields()
        for name, kind in (("provider", QMetaType.Type.QString),
                           ("collection", QMetaType.Type.QString),
                           ("datetime", QMetaType.Type.QString),
                           ("cloud_cover", QMetaType.Type.Double), ("id", QMetaType.Type.QString)):
            fields.append(new_field(name, kind))
        sink, sink_id = self.parameterAsSink(parameters, self.OUTPUT, context, fields,
                                             qgis_enum("Qgis.WkbType.MultiPolygon"),
                                             QgsCoordinateReferenceSystem("EPSG:4326"))
        footprints = QgsVectorLayer(f"{result['footprints']}|layername=footprints", "f", "ogr")
        for source_feature in footprints.getFeatures():
            feature = QgsFeature(fields)
            feature.setAttributes([source_feature[name] for name in fields.names()])
            geometry = QgsGeometry(source_feature.geometry())
            geometry.convertToMultiType()
            feature.setGeometry(geometry)
            sink.addFeature(feature, QgsFeatureSink.Flag.FastInsert)
        rows = result["items"]
        items_path = self.parameterAsFileOutput(parameters, self.ITEMS, context)
        if items_path:
            with open(items_path, "w", newline="") as handle:
                writer = csv.DictWriter(handle, fieldnames=list(rows[0]) if rows else ["id"])
                writer.writeheader()
                writer.writerows(rows)
        feedback.pushInfo(f"{len(rows)} scenes found")
        return {self.OUTPUT: sink_id, self.ITEMS: items_path}
