"""Processing algorithm: a hexagon grid over forest polygons (metric or H3)."""

from __future__ import annotations

from pathlib import Path

from qgis.core import (
    QgsFeature,
    QgsFeatureSink,
    QgsFields,
    QgsGeometry,
    QgsProcessingException,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterNumber,
)
from qgis.PyQt.QtCore import QMetaType

from ..qgis_compat import new_field, qgis_enum
from . import common
from .engine_algorithm import EngineAlgorithm, removes_scratch


class CreateHexagonsAlgorithm(EngineAlgorithm):
    """Hexagons covering each forest, each carrying its forest's id."""

    CELL_AREA = "CELL_AREA"
    EDGE = "EDGE"
    H3_RESOLUTION = "H3_RESOLUTION"
    CLIP = "CLIP"
    OUTPUT = "OUTPUT"

    def name(self) -> str:
        return "create_hexagons"

    def displayName(self) -> str:  # noqa: N802
        return "Create hexagon grid"

    def group(self) -> str:
        return "Statistics"

    def groupId(self) -> str:  # noqa: N802
        return "statistics"

    def shortHelpString(self) -> str:  # noqa: N802
        return ("Covers each forest with hexagons of a given area (ha) or edge length (m) in "
                "the forests' projected CRS, or with H3 cells of a resolution (0-15) to share "
                "with H3-based systems. Cells are clipped to the forest boundary unless "
                "'Clip' is off; each keeps its forest's id and a hex_id.")

    def createInstance(self):  # noqa: N802
        return CreateHexagonsAlgorithm()

    def initAlgorithm(self, config=None):  # noqa: N802
        common.add_polygon_parameters(self)
        self.addParameter(QgsProcessingParameterNumber(
            self.CELL_AREA, "Cell area (ha)",
            type=qgis_enum("Qgis.ProcessingNumberParameterType.Double"), minValue=0,
            defaultValue=1.0))
        self.addParameter(QgsProcessingParameterNumber(
            self.EDGE, "Edge length (m; overrides the area when > 0)",
            type=qgis_enum("Qgis.ProcessingNumberParameterType.Double"), minValue=0,
            defaultValue=0))
        self.addParameter(QgsProcessingParameterNumber(
            self.H3_RESOLUTION, "H3 resolution (-1 = metric hexagons)",
            type=qgis_enum("Qgis.ProcessingNumberParameterType.Integer"), minValue=-1, maxValue=15,
            defaultValue=-1))
        self.addParameter(QgsProcessingParameterBoolean(self.CLIP, "Clip to forests",
                                                        defaultValue=True))
        self.addParameter(QgsProcessingParameterFeatureSink(self.OUTPUT, "Hexagons"))

    @removes_scratch
    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        from qgis.core import QgsVectorLayer

        workdir = common.scratch_folder(context)
        aoi, id_field = common.export_polygons(self, parameters, context, feedback, workdir)
        area = self.parameterAsDouble(parameters, self.CELL_AREA, context)
        edge = self.parameterAsDouble(parameters, self.EDGE, context)
        resolution = self.parameterAsInt(parameters, self.H3_RESOLUTION, context)
        if resolution < 0 and area <= 0 and edge <= 0:
            raise QgsProcessingException("Give a cell area (ha), an edge length or an H3 "
                                         "resolution.")
        spec = {"kind": "hexagons", "aoi": aoi, "id_field": id_field,
                "clip": self.parameterAsBoolean(parameters, self.CLIP, context),
                # one size (the spec refuses two): H3, else the edge, else the area
                "h3_resolution": resolution if resolution >= 0 else None,
                "hexagon_area_m2": (area * 10_000 if resolution < 0 and area > 0 and edge <= 0
                                    else None),
                "hexagon_edge_m": edge if resolution < 0 and edge > 0 else None,
                "output": str(workdir / "hexagons.gpkg")}
        result = common.run_job(spec, feedback, workdir, span=80, algorithm=self)
        common.report_errors(result, feedback)
        cells = QgsVectorLayer(f"{result['output']}|layername=hexagons", "hexagons", "ogr")
        source_fields = self.parameterAsSource(parameters, "INPUT", context).fields()
        fields = QgsFields()
        fields.append(new_field(HEX_ID_FIELD, QMetaType.Type.QString))
        fields.append(source_fields.field(id_field))
        if feedback.isCanceled():
            raise QgsProcessingException(CANCELLED)
        sink, sink_id = self.parameterAsSink(parameters, self.OUTPUT, context, fields,
                                             qgis_enum("Qgis.WkbType.MultiPolygon"), cells.crs())
        total = max(cells.featureCount(), 1)
        for n, cell in enumerate(cells.getFeatures()):
            if feedback.isCanceled():  # a part of the grid is no output: none is written
                del sink
                remove_output(sink_id)
                raise QgsProcessingException(CANCELLED)
            feature = QgsFeature(fields)
            feature.setAttributes([cell[HEX_ID_FIELD], cell[id_field]])
            geometry = QgsGeometry(cell.geometry())
            geometry.convertToMultiType()
            feature.setGeometry(geometry)
            sink.addFeature(feature, QgsFeatureSink.Flag.FastInsert)
            feedback.setProgress(80 + 20 * n / total)
        feedback.pushInfo(f"{cells.featureCount()} cells")
        return {self.OUTPUT: sink_id}


HEX_ID_FIELD = "hex_id"
CANCELLED = "Cancelled: no outputs were written."


def remove_output(destination: str) -> None:
    """Delete the file a sink wrote (``path|layername=...``; a GeoPackage's -wal and -shm
    too); memory layers and databases are left alone."""
    path = Path(destination.split("|")[0])
    if path.suffix.lower() not in (".gpkg", ".shp", ".geojson", ".fgb", ".csv", ".sqlite"):
        return
    for leftover in (path, *(Path(f"{path}-{end}") for end in ("wal", "shm", "journal")),
                     *(path.with_suffix(s) for s in (".dbf", ".shx", ".prj", ".cpg"))):
        if leftover.is_file():
            leftover.unlink()
