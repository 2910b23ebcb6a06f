"""The QGIS API spellings that differ between QGIS 3.22 and QGIS 3.40+/4 (Qt6), in one place.

The plugin's code writes the current spelling (``Qgis.ProcessingNumberParameterType.Double``,
``QMetaType.Type.QString``); this module maps it to what the running QGIS understands, so the
same code loads on QGIS 3.22 (Qt5) and on QGIS 4 (Qt6), where the old names are gone.
"""

from functools import cache
from typing import Any

import qgis.core
import qgis.gui
from qgis.core import Qgis, QgsField

# QgsField takes a QMetaType.Type from QGIS 3.38 on; before, only a QVariant.Type
QMETATYPE_FIELDS_SINCE = 33800

# current spelling -> the QGIS 3.22 spelling it replaced (3.30 moved geometry/unit/shader enums
# into Qgis, 3.34 the layer filters, 3.36 the Processing, temporal and action enums)
RENAMED_ENUMS = {
    "Qgis.ProcessingSourceType.VectorPolygon": "QgsProcessing.SourceType.TypeVectorPolygon",
    "Qgis.ProcessingNumberParameterType.Double": "QgsProcessingParameterNumber.Type.Double",
    "Qgis.ProcessingNumberParameterType.Integer": "QgsProcessingParameterNumber.Type.Integer",
    "Qgis.ProcessingFileParameterBehavior.Folder": "QgsProcessingParameterFile.Behavior.Folder",
    "Qgis.ProcessingDateTimeParameterDataType.Date": "QgsProcessingParameterDateTime.Type.Date",
    "Qgis.ProcessingParameterFlag.Advanced": "QgsProcessingParameterDefinition.Flag.FlagAdvanced",
    "Qgis.WkbType.MultiPolygon": "QgsWkbTypes.Type.MultiPolygon",
    "Qgis.GeometryType.Polygon": "QgsWkbTypes.GeometryType.PolygonGeometry",
    "Qgis.TemporalUnit.Months": "QgsUnitTypes.TemporalUnit.TemporalMonths",
    "Qgis.TemporalUnit.Years": "QgsUnitTypes.TemporalUnit.TemporalYears",
    "Qgis.ShaderInterpolationMethod.Linear": "QgsColorRampShader.Type.Interpolated",
    "Qgis.LayerFilter.PolygonLayer": "QgsMapLayerProxyModel.Filter.PolygonLayer",
    "Qgis.TemporalNavigationMode.Animated": "QgsTemporalNavigationObject.NavigationMode.Animated",
    "Qgis.TemporalNavigationMode.Disabled":
        "QgsTemporalNavigationObject.NavigationMode.NavigationOff",
    "Qgis.AttributeActionType.GenericPython": "QgsAction.ActionType.GenericPython",
    "Qgis.LabelPlacement.OverPoint": "QgsPalLayerSettings.Placement.OverPoint",
    "Qgis.ProcessingAlgorithmFlag.NoThreading":
        "QgsProcessingAlgorithm.Flag.FlagNoThreading",
    "Qgis.CrsWktVariant.Wkt2_2019Simplified":
        "QgsCoordinateReferenceSystem.WktVariant.WKT2_2019_SIMPLIFIED",
}


def _resolve(dotted: str) -> Any:
    head, *rest = dotted.split(".")
    value = getattr(qgis.core, head, None) or getattr(qgis.gui, head)
    for part in rest:
        value = getattr(value, part)
    return value


@cache
def qgis_enum(name: str) -> Any:
    """The enum value spelt ``name`` (a key of ``RENAMED_ENUMS``) on the running QGIS.

    Uses the current ``Qgis.*`` enum where it exists, else the older name it replaced."""
    old = RENAMED_ENUMS[name]
    try:
        return _resolve(name)
    except AttributeError:
        return _resolve(old)


def field_type(meta_type: Any) -> Any:
    """The type argument ``QgsField`` accepts on the running QGIS for ``meta_type``
    (a ``QMetaType.Type``): itself from QGIS 3.38, the equal ``QVariant.Type`` before."""
    if Qgis.versionInt() >= QMETATYPE_FIELDS_SINCE:
        return meta_type
    from qgis.PyQt.QtCore import QVariant  # Qt5-only path: QGIS < 3.38 is never Qt6
    return QVariant.Type(int(meta_type))


def new_field(name: str, meta_type: Any) -> QgsField:
    """A ``QgsField`` of ``meta_type`` (e.g. ``QMetaType.Type.Double``) on any QGIS 3.22+."""
    return QgsField(name, field_type(meta_type))


__all__ = ["RENAMED_ENUMS", "field_type", "new_field", "qgis_enum"]
