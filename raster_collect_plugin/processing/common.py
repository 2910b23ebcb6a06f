"""Shared parameters and the bridge from Processing to core jobs (run in a separate Python,
see ``engine/bridge.py``): export the input features, build a job spec, follow progress and cancel,
turn job errors into QgsProcessingException."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from qgis.core import (
    QgsFeatureRequest,
    QgsProcessingException,
    QgsProcessingParameterCrs,
    QgsProcessingParameterDateTime,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterField,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
    QgsVectorFileWriter,
    QgsWkbTypes,
)
from qgis.PyQt.QtCore import QDate, QDateTime, QTime

from ..core.composites.sizing import SizeError, parse_size
from ..core.compute.options import DASK_KINDS
from ..core.pixels import INDICES
from ..core.runs import (
    DEFAULT_INDICES,
    DEFAULT_MAX_CLOUD_COVER,
    missing_folders,
    remove_empty_run_folder,
    remove_made_folders,
    run_name,
)
from ..engine import bridge
from ..qgis_compat import qgis_enum
from . import engine_algorithm
from .messages import conflict_for_processing, for_processing

SOURCE_NAMES = ["Planetary Computer", "Earth Search", "Maxar Open Data", "Static STAC catalog",
                "Custom STAC API", "Copernicus Data Space (Catalog API, search only)"]
SOURCE_KINDS = ["planetary-computer", "earth-search", "maxar", "static", "stac", "copernicus"]
INDEX_NAMES = list(INDICES)
PERIODS = ["month", "quarter", "year"]
METHODS = ["median", "mean"]


def add_polygon_parameters(algorithm) -> None:
    """INPUT (polygon features; batch runs can iterate per feature) and ID_FIELD (optional:
    left out, ``forest_id``, as the command line's ``--id-field``; a required field parameter
    refused a qgis_process or processing.run call without it, default or not)."""
    algorithm.addParameter(QgsProcessingParameterFeatureSource(
        "INPUT", "Forest polygons", [qgis_enum("Qgis.ProcessingSourceType.VectorPolygon")]))
    algorithm.addParameter(QgsProcessingParameterField(
        "ID_FIELD", "Id field", defaultValue="forest_id", parentLayerParameterName="INPUT",
        optional=True))


def add_source_parameters(algorithm, *, with_indices: bool = True, with_dates: bool = True,
                          with_copernicus: bool = False,
                          max_cloud: Optional[float] = DEFAULT_MAX_CLOUD_COVER) -> None:
    """Which archives, collections, dates (not for a storm: its windows around the event
    decide), cloud limit (``max_cloud`` None: optional, empty = none) and (optionally)
    indices. The Copernicus Catalog source (last) only where scenes are searched, not
    composited."""
    algorithm.addParameter(QgsProcessingParameterEnum(
        "SOURCES", "Imagery sources",
        options=SOURCE_NAMES if with_copernicus else SOURCE_NAMES[:-1], allowMultiple=True,
        defaultValue=[0]))
    algorithm.addParameter(QgsProcessingParameterString(
        "CATALOG", "Static STAC catalog (catalog.json path or URL)", optional=True))
    algorithm.addParameter(QgsProcessingParameterString(
        "STAC_URL", "Custom STAC API URL", optional=True))
    algorithm.addParameter(QgsProcessingParameterString(
        "COLLECTIONS", "Collections (comma separated; empty = the source's default)",
        optional=True))
    if with_dates:
        today = QDate.currentDate()
        algorithm.addParameter(QgsProcessingParameterDateTime(
            "START", "Start date",
            type=qgis_enum("Qgis.ProcessingDateTimeParameterDataType.Date"),
            defaultValue=QDateTime(today.addYears(-1), QTime(0, 0))))
        algorithm.addParameter(QgsProcessingParameterDateTime(
            "END", "End date", type=qgis_enum("Qgis.ProcessingDateTimeParameterDataType.Date"),
            defaultValue=QDateTime(today, QTime(0, 0))))
    algorithm.addParameter(QgsProcessingParameterNumber(
        "MAX_CLOUD", "Maximum scene cloud cover (%)" if max_cloud is not None else
        "Maximum scene cloud cover (%; empty = none)",
        type=qgis_enum("Qgis.ProcessingNumberParameterType.Double"), minValue=0, maxValue=100,
        defaultValue=max_cloud, optional=max_cloud is None))
    if with_indices:
        algorithm.addParameter(QgsProcessingParameterEnum(
            "INDICES", "Indices", options=INDEX_NAMES, allowMultiple=True,
            defaultValue=[INDEX_NAMES.index(name) for name in DEFAULT_INDICES]))
        algorithm.addParameter(QgsProcessingParameterEnum(
            "PERIOD", "Composite period", options=PERIODS, defaultValue=0))
        algorithm.addParameter(QgsProcessingParameterEnum(
            "METHOD", "Composite method", options=METHODS, defaultValue=0))
        algorithm.addParameter(QgsProcessingParameterNumber(
            "RESOLUTION", "Resolution in metres (0 = the sensor's own)",
            type=qgis_enum("Qgis.ProcessingNumberParameterType.Double"), minValue=0,
            defaultValue=0))
        algorithm.addParameter(QgsProcessingParameterNumber(
            "CLOUD_BUFFER", "Cloud and shadow mask buffer in metres (0 = none)",
            type=qgis_enum("Qgis.ProcessingNumberParameterType.Double"), minValue=0, defaultValue=0,
            optional=True))


CRS_LABEL = "Output CRS (empty = the scenes' own UTM zone)"


def add_crs_parameter(algorithm) -> None:
    """CRS, optional (the command line's --crs, a spec's 'crs'): left empty, the outputs are
    on the scenes' own grid, as without --crs; a CRS in degrees, feet or not true metres over
    the forests (Web Mercator) is refused by the job, naming this parameter."""
    parameter = QgsProcessingParameterCrs("CRS", CRS_LABEL, optional=True)
    parameter.setFlags(parameter.flags() | qgis_enum("Qgis.ProcessingParameterFlag.Advanced"))
    algorithm.addParameter(parameter)


MEMORY_BUDGET = "MEMORY_BUDGET"
MEMORY_BUDGET_LABEL = "Memory budget (e.g. 8GB; empty = half this machine's memory)"


def add_memory_budget_parameter(algorithm) -> None:
    """MEMORY_BUDGET, optional and advanced (the command line's --memory-budget, a spec's
    'memory_budget'): a run sized over it is refused before any download, with the numbers."""
    parameter = QgsProcessingParameterString(MEMORY_BUDGET, MEMORY_BUDGET_LABEL, optional=True)
    parameter.setFlags(parameter.flags() | qgis_enum("Qgis.ProcessingParameterFlag.Advanced"))
    algorithm.addParameter(parameter)


def memory_budget(algorithm, parameters, context) -> Optional[str]:
    """The budget as typed (the job reads it as the command line does), checked before any
    work with the command line's wording; None when empty or the algorithm has none."""
    if algorithm.parameterDefinition(MEMORY_BUDGET) is None:
        return None
    text = (algorithm.parameterAsString(parameters, MEMORY_BUDGET, context) or "").strip()
    if not text:
        return None
    try:
        parse_size(text)
    except SizeError as problem:
        raise QgsProcessingException(str(problem)) from None
    return text


def crs_text(algorithm, parameters, context) -> Optional[str]:
    """The chosen CRS as the job spec takes it (its authority id, else its WKT); None when
    the algorithm has no CRS parameter or it is left empty."""
    if algorithm.parameterDefinition("CRS") is None:
        return None
    crs = algorithm.parameterAsCrs(parameters, "CRS", context)
    if not crs.isValid():
        return None
    return crs.authid() or crs.toWkt(qgis_enum("Qgis.CrsWktVariant.Wkt2_2019Simplified"))


def prefill_from_dock(algorithm) -> Dict[str, object]:
    """Defaults from the dock's last run in this project (forests, sources, catalog, dates,
    event): call at the end of ``initAlgorithm``."""
    from ..last_run import prefill

    return prefill(algorithm, SOURCE_KINDS, INDEX_NAMES)


def export_polygons(algorithm, parameters, context, feedback, folder: Path
                    ) -> Tuple[str, str]:
    """Check INPUT (polygons, id field, CRS) and write it to a GeoPackage for the job."""
    source = algorithm.parameterAsSource(parameters, "INPUT", context)
    if source is None:
        raise QgsProcessingException("Choose a polygon layer for the forests.")
    if QgsWkbTypes.geometryType(source.wkbType()) != qgis_enum("Qgis.GeometryType.Polygon"):
        raise QgsProcessingException(
            f"'{source.sourceName()}' is not a polygon layer: choose the forest compartments.")
    id_field = algorithm.parameterAsString(parameters, "ID_FIELD", context) or "forest_id"
    names = source.fields().names()
    if id_field not in names:
        raise QgsProcessingException(
            f"The layer has no field '{id_field}'. Choose the id field among: {', '.join(names)}")
    if not source.sourceCrs().isValid():
        raise QgsProcessingException("The polygon layer has no CRS: set one and run again.")
    return (write_source(source, context, feedback, Path(folder) / "forests.gpkg",
                         "polygon layer"), id_field)


def write_source(source, context, feedback, path: Path, what: str) -> str:
    """Write ``source``'s features (the selected ones if only those are asked for) to a
    GeoPackage at ``path`` (layer named after the file); ``what`` names it in the errors.
    The transform context is the Processing ``context``'s: an algorithm runs in a worker
    thread, which must not read the project."""
    layer = source.materialize(QgsFeatureRequest(), feedback)
    if layer is None or layer.featureCount() == 0:
        raise QgsProcessingException(f"The {what} has no features (or none selected).")
    options = QgsVectorFileWriter.SaveVectorOptions()
    options.driverName = "GPKG"
    options.layerName = path.stem
    error = QgsVectorFileWriter.writeAsVectorFormatV3(
        layer, str(path), context.transformContext(), options)
    if error[0] != QgsVectorFileWriter.WriterError.NoError:
        raise QgsProcessingException(f"Cannot write the {what} for processing: {error[1]}")
    return str(path)


def parameter_date(algorithm, parameters, name, context) -> str:
    value = algorithm.parameterAsDateTime(parameters, name, context).date()
    return date(value.year(), value.month(), value.day()).isoformat()


def source_specs(algorithm, parameters, context) -> List[Dict]:
    """The job's ``sources`` from SOURCES / CATALOG / STAC_URL / COLLECTIONS."""
    chosen = algorithm.parameterAsEnums(parameters, "SOURCES", context)
    if not chosen:
        raise QgsProcessingException("Select at least one imagery source.")
    text = algorithm.parameterAsString(parameters, "COLLECTIONS", context) or ""
    collections = [c.strip() for c in text.split(",") if c.strip()]
    catalog = algorithm.parameterAsString(parameters, "CATALOG", context)
    stac_url = algorithm.parameterAsString(parameters, "STAC_URL", context)
    specs = []
    for index in chosen:
        kind = SOURCE_KINDS[index]
        entry: Dict = {"kind": kind, "collections": collections}
        if kind == "static":
            if not catalog:
                raise QgsProcessingException(
                    "'Static STAC catalog' is selected: give the catalog.json path or URL.")
            entry["href"] = engine_algorithm.local_path(
                catalog, algorithm.parameterDefinition("CATALOG").description())
        elif kind == "stac":
            if not stac_url or not collections:
                raise QgsProcessingException(
                    "'Custom STAC API' is selected: give its URL and the collections to use.")
            entry["url"] = stac_url
        specs.append(entry)
    return specs


def imagery_spec(algorithm, parameters, context, feedback, folder: Path, *,
                 with_indices: bool = True) -> Dict:
    """The spec keys shared by every imagery job (AOI, sources, dates where the algorithm has
    them, indices...)."""
    budget = memory_budget(algorithm, parameters, context)  # before any work
    aoi, id_field = export_polygons(algorithm, parameters, context, feedback, folder)
    spec = {"aoi": aoi, "id_field": id_field,
            "sources": source_specs(algorithm, parameters, context)}
    if given(algorithm, parameters, "MAX_CLOUD"):  # empty (where optional): the default
        spec["max_cloud_cover"] = algorithm.parameterAsDouble(parameters, "MAX_CLOUD", context)
    crs = crs_text(algorithm, parameters, context)
    if crs:
        spec["crs"] = crs
    if budget:
        spec["memory_budget"] = budget
    if algorithm.parameterDefinition("START") is not None:
        spec.update(start=parameter_date(algorithm, parameters, "START", context),
                    end=parameter_date(algorithm, parameters, "END", context))
    if with_indices:
        indices = [INDEX_NAMES[i] for i in algorithm.parameterAsEnums(parameters, "INDICES",
                                                                         context)]
        spec.update({
            "indices": indices or list(DEFAULT_INDICES),
            "period": PERIODS[algorithm.parameterAsEnum(parameters, "PERIOD", context)],
            "method": METHODS[algorithm.parameterAsEnum(parameters, "METHOD", context)],
            "resolution": algorithm.parameterAsDouble(parameters, "RESOLUTION", context) or None,
            "cloud_buffer_m": algorithm.parameterAsDouble(parameters, "CLOUD_BUFFER", context)
            or 0.0})
    return spec


def given(algorithm, parameters, name: str) -> bool:
    """An optional parameter has a value (given, or its default): not left empty."""
    value = parameters.get(name, algorithm.parameterDefinition(name).defaultValue())
    return value is not None and value != ""


def scratch_folder(context) -> Path:
    """A temporary folder for the job's spec, exported inputs and log (removed when the
    algorithm's ``processAlgorithm``, decorated with ``removes_scratch``, ends)."""
    return engine_algorithm.scratch_folder()


def run_job(spec: Dict, feedback, workdir: Path, *, start: float = 0.0,
            span: float = 100.0, secret_env: Optional[Dict[str, str]] = None,
            algorithm=None) -> Dict:
    """Run a job in the processing Python with progress and cancel wired to ``feedback``; its
    errors name ``algorithm``'s parameters where they name the command line's options."""
    from .. import settings

    last = {"message": ""}

    def progress(fraction: float, message: str) -> None:
        feedback.setProgress(start + span * fraction)
        if message != last["message"]:
            last["message"] = message
            feedback.setProgressText(message)

    if settings.value("dask/mode") == "remote" and settings.value("dask/scheduler_address") \
            and spec.get("kind") in DASK_KINDS:  # the others' spec refuses 'compute'
        spec = dict(spec, compute={"mode": "remote",
                                   "scheduler_address": settings.value("dask/scheduler_address")})
    made = missing_folders(spec.get("output_dir"))
    try:
        return bridge.run_job(spec, workdir=workdir, progress=progress,
                              cancel=feedback.isCanceled, secret_env=secret_env,
                              python=settings.engine_python())
    except bridge.JobCancelled:
        _remove_empty(spec.get("output_dir"), made)
        raise QgsProcessingException("Cancelled: no outputs were written.") from None
    except bridge.JobFailed as error:
        _remove_empty(spec.get("output_dir"), made)
        if error.conflict and algorithm is not None:  # a refused rerun: name our parameters
            raise QgsProcessingException(conflict_for_processing(error.conflict, algorithm)) \
                from None
        raise QgsProcessingException(for_processing(str(error), algorithm)) from None


def _remove_empty(folder: Optional[str], made: List[Path]) -> None:
    """After a failed or cancelled job: the run folder if empty, and the folders above it
    that this run made and left empty (a failure leaves nothing in the chosen place)."""
    remove_empty_run_folder(folder)
    remove_made_folders(made)


def next_run_folder(root: str) -> str:
    """A fresh sub-folder of ``root`` so batch rows never overwrite each other's outputs
    (named like the dock's runs: ``raster-collect-<date>-<time>-<4 hex>``; object-store
    prefixes such as s3://bucket/prefix stay URLs, credentials from the AWS environment)."""
    from ..core.runs import join

    return str(join(root, run_name()))


def error_lines(result: Dict) -> List[str]:
    """The job's per-source errors, each named once by its source."""
    return [message if message.startswith(f"{source}:") else f"{source}: {message}"
            for source, message in (result.get("errors") or {}).items()]


def report_errors(result: Dict, feedback) -> None:
    """The job's ``notes`` as warnings (a forest outside every scene, polygons skipped or
    repaired: what the command line prints) and its per-source errors."""
    for note in result.get("notes") or []:
        feedback.pushWarning(note)
    for line in error_lines(result):
        feedback.reportError(line, fatalError=False)

