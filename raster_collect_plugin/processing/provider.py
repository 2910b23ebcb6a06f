"""The "Raster collect" Processing provider: one algorithm a file in this folder."""

from __future__ import annotations

from qgis.core import QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from ..paths import resource_path

PROVIDER_ID = "raster_collect"


class RasterCollectProvider(QgsProcessingProvider):
    """Registers the plugin's Processing algorithms."""

    def id(self) -> str:
        return PROVIDER_ID

    def name(self) -> str:
        return "Raster collect"

    def longName(self) -> str:  # noqa: N802
        return self.name()

    def icon(self) -> QIcon:
        return QIcon(str(resource_path("icon.svg")))

    def loadAlgorithms(self) -> None:  # noqa: N802
        from .compute_composites import ComputeCompositesAlgorithm
        from .create_hexagons import CreateHexagonsAlgorithm
        from .create_sample_data import CreateSampleDataAlgorithm
        from .export_report_pdf import ExportReportPdfAlgorithm
        from .monitor_disturbance import MonitorDisturbanceAlgorithm
        from .search_imagery import SearchImageryAlgorithm
        from .sentinel_hub_statistics import SentinelHubStatisticsAlgorithm
        from .storm_damage import StormDamageAlgorithm
        from .validate_monitoring import ValidateMonitoringAlgorithm
        from .zonal_timeseries import ZonalTimeseriesAlgorithm

        for algorithm in (SearchImageryAlgorithm(), ComputeCompositesAlgorithm(),
                          ZonalTimeseriesAlgorithm(), CreateHexagonsAlgorithm(),
                          StormDamageAlgorithm(), MonitorDisturbanceAlgorithm(),
                          SentinelHubStatisticsAlgorithm(), CreateSampleDataAlgorithm(),
                          ExportReportPdfAlgorithm(), ValidateMonitoringAlgorithm()):
            self.addAlgorithm(algorithm)
