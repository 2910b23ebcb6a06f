"""Processing algorithm: zonal statistics from the Copernicus Data Space Statistical API."""

from __future__ import annotations

from qgis.core import (
    QgsApplication,
    QgsAuthMethodConfig,
    QgsProcessingException,
    QgsProcessingOutputVectorLayer,
    QgsProcessingParameterAuthConfig,
    QgsProcessingParameterDateTime,
    QgsProcessingParameterEnum,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
)

from .. import settings
from ..core.pixels import INDICES
from ..core.runs import DEFAULT_HUB_INDICES
from ..core.sentinel_hub import cache_folder
from ..core.sources import CDSE_BASE_URL, CDSE_TOKEN_URL
from ..engine import bridge
from ..qgis_compat import qgis_enum
from . import common
from .engine_algorithm import EngineAlgorithm, output_folder_parameter, removes_scratch

S2_INDICES = [name for name, index in INDICES.items() if "sentinel-2" in index.sensors]


def credentials_from_auth_config(auth_id: str) -> dict:
    """Client id/secret from a QGIS 'Basic' authentication configuration, as environment
    variables for the job (the secret never leaves memory otherwise)."""
    config = QgsAuthMethodConfig()
    manager = QgsApplication.authManager()
    if auth_id not in manager.configIds():  # loading an unknown id "succeeds", empty
        raise QgsProcessingException(
            f"There is no authentication configuration '{auth_id}' in this QGIS profile: "
            "add one (Settings → Options → Authentication, type Basic: client id as user "
            "name, client secret as password) and give its id, or give none to use "
            "SH_CLIENT_ID / SH_CLIENT_SECRET from the environment.")
    if not manager.loadAuthenticationConfig(auth_id, config, True):
        raise QgsProcessingException(f"Cannot read the authentication configuration {auth_id}.")
    client_id, secret = config.config("username"), config.config("password")
    if not client_id or not secret:
        raise QgsProcessingException("The authentication configuration needs the OAuth client "
                                     "id as user name and the client secret as password.")
    return {"SH_CLIENT_ID": client_id, "SH_CLIENT_SECRET": secret}


class SentinelHubStatisticsAlgorithm(EngineAlgorithm):
    """Server-side monthly statistics per forest, same table as the local engine."""

    AUTH = "AUTH"
    BASE_URL = "BASE_URL"
    TOKEN_URL = "TOKEN_URL"
    MIN_CLEAR = "MIN_CLEAR"
    PU_BUDGET = "PU_BUDGET"
    REQUEST_BUDGET = "REQUEST_BUDGET"
    OUTPUT_FOLDER = "OUTPUT_FOLDER"
    TABLE = "TABLE"
    LATEST = "LATEST"

    def name(self) -> str:
        return "sentinel_hub_statistics"

    def displayName(self) -> str:  # noqa: N802
        return "Sentinel Hub statistics (Copernicus Data Space)"

    def group(self) -> str:
        return "Statistics"

    def groupId(self) -> str:  # noqa: N802
        return "statistics"

    def shortHelpString(self) -> str:  # noqa: N802
        return ("Monthly Sentinel-2 index statistics per forest computed by the Copernicus "
                "Data Space Statistical API (no imagery downloaded): per pixel the median of "
                "the month's acquisitions not masked by SCL, as the local composites, "
                "in the same table as 'Zonal statistics time series' so the backends can be "
                "compared. Store the OAuth client id (user name) and secret (password) in a "
                "QGIS 'Basic' authentication configuration. Values are harmonised Sentinel-2 "
                "L2A (harmonizeValues), polygons are sent in their UTM zone, months are "
                "counted from the start date and the last one is kept. Before anything is "
                "sent the processing-unit estimate (documented rules) is checked against what "
                "is left of the monthly budget. Complete responses are cached in the output "
                "folder's .raster-collect-cache/sentinel-hub (for an s3:// output folder, in the "
                "QGIS profile's cache/raster_collect folder), keyed by the request's content, "
                "so the same request into the same output folder (from here, the command line "
                "or a job file) sends nothing billable again; intervals that fail are retried "
                "and reported.")

    def createInstance(self):  # noqa: N802
        return SentinelHubStatisticsAlgorithm()

    def initAlgorithm(self, config=None):  # noqa: N802
        common.add_polygon_parameters(self)
        self.addParameter(QgsProcessingParameterAuthConfig(
            self.AUTH, "Copernicus Data Space credentials", optional=True))
        self.addParameter(QgsProcessingParameterString(
            self.BASE_URL, "Sentinel Hub URL", defaultValue=CDSE_BASE_URL))
        self.addParameter(QgsProcessingParameterString(
            self.TOKEN_URL, "Token URL", defaultValue=CDSE_TOKEN_URL))
        self.addParameter(QgsProcessingParameterDateTime(
            "START", "Start date", type=qgis_enum("Qgis.ProcessingDateTimeParameterDataType.Date")))
        self.addParameter(QgsProcessingParameterDateTime(
            "END", "End date", type=qgis_enum("Qgis.ProcessingDateTimeParameterDataType.Date")))
        self.addParameter(QgsProcessingParameterEnum(
            "INDICES", "Indices", options=S2_INDICES, allowMultiple=True, defaultValue=[0]))
        self.addParameter(QgsProcessingParameterNumber(
            "MAX_CLOUD", "Maximum scene cloud cover (%)",
            type=qgis_enum("Qgis.ProcessingNumberParameterType.Double"), minValue=0, maxValue=100,
            defaultValue=100))
        self.addParameter(QgsProcessingParameterNumber(
            self.MIN_CLEAR, "Minimum clear fraction for a month to count",
            type=qgis_enum("Qgis.ProcessingNumberParameterType.Double"), minValue=0, maxValue=1,
            defaultValue=0.5))
        self.addParameter(QgsProcessingParameterNumber(
            self.PU_BUDGET, "Processing units this tool may spend a month (free tier 10000)",
            type=qgis_enum("Qgis.ProcessingNumberParameterType.Double"), minValue=0,
            defaultValue=10_000))
        self.addParameter(QgsProcessingParameterNumber(
            self.REQUEST_BUDGET, "Requests this tool may send a month (free tier 10000)",
            type=qgis_enum("Qgis.ProcessingNumberParameterType.Integer"), minValue=0,
            defaultValue=10_000))
        self.addParameter(output_folder_parameter(self.OUTPUT_FOLDER))
        self.addOutput(QgsProcessingOutputVectorLayer(self.TABLE, "Statistics table"))
        self.addOutput(QgsProcessingOutputVectorLayer(self.LATEST, "Forests with latest values"))

    @removes_scratch
    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        auth_id = self.parameterAsString(parameters, self.AUTH, context)
        secrets = credentials_from_auth_config(auth_id) if auth_id else None
        if secrets is None:
            feedback.pushInfo("No authentication configuration: using SH_CLIENT_ID / "
                              "SH_CLIENT_SECRET from the environment.")
        root = self.output_folder(parameters, self.OUTPUT_FOLDER, context)
        folder = common.next_run_folder(root)
        workdir = common.scratch_folder(context)
        aoi, id_field = common.export_polygons(self, parameters, context, feedback, workdir)
        indices = [S2_INDICES[i] for i in self.parameterAsEnums(parameters, "INDICES", context)]
        spec = {"kind": "sentinel-hub-statistics", "aoi": aoi, "id_field": id_field,
                "indices": indices or list(DEFAULT_HUB_INDICES), "output_dir": folder,
                "start": common.parameter_date(self, parameters, "START", context),
                "end": common.parameter_date(self, parameters, "END", context),
                "max_cloud_cover": self.parameterAsDouble(parameters, "MAX_CLOUD", context),
                "min_clear_fraction": self.parameterAsDouble(parameters, self.MIN_CLEAR,
                                                             context),
                "base_url": self.parameterAsString(parameters, self.BASE_URL, context),
                "token_url": self.parameterAsString(parameters, self.TOKEN_URL, context),
                "pu_budget": self.parameterAsDouble(parameters, self.PU_BUDGET, context),
                "request_budget": self.parameterAsInt(parameters, self.REQUEST_BUDGET, context)}
        # the cache belongs to the chosen folder, not to this run's; an object store's
        # (s3://) cannot hold it: then the QGIS profile's cache folder does
        spec["cache_dir"] = str(cache_folder(root, local_root=settings.profile_cache_dir()))
        try:
            result = bridge.run_job(spec, workdir=workdir,
                                    progress=lambda f, m: feedback.setProgress(100 * f),
                                    cancel=feedback.isCanceled, secret_env=secrets,
                                    python=settings.engine_python())
        except bridge.JobCancelled:
            raise QgsProcessingException("Cancelled: no outputs were written.") from None
        except bridge.JobFailed as error:
            raise QgsProcessingException(str(error)) from None
        feedback.pushInfo(f"{result['requests']} Statistical API requests, about "
                          f"{result['estimated_processing_units']:.2f} processing units; "
                          f"polygons sent in {result.get('crs')}")
        common.report_errors(result, feedback)
        files = result["files"]
        if not files:
            raise QgsProcessingException("No statistics were returned: "
                                         + "; ".join((result.get("errors") or {}).values()))
        return {self.OUTPUT_FOLDER: folder,
                self.TABLE: f"{files['forests_gpkg']}|layername=zonal_statistics",
                self.LATEST: f"{files['forests_latest']}|layername=latest"}
