"""Sentinel Hub (Copernicus Data Space): one module per API (catalog, process, statistical,
batch statistical, batch processing), the user's bucket, processing-unit estimates, the
evalscripts and the service's rules.

The names below are this folder's public face for the doors (cli/, gui/, processing/, engine/);
the rest is private. A name loads its module when first used, so QGIS can read the light
modules without importing the heavy ones. Modules inside core/ import from modules, not faces.
"""

from importlib import import_module

_FACE = {
    "CopernicusSettings": "client",
    "cache_folder": "cache",
    "CopernicusProvider": "catalog",
    "process_index_raster": "process",
    "statistics_table": "statistical",
    "batch_estimate": "batch",
    "redacted": "batch",
    "CDSE_S3_REGION": "bucket",
    "bucket_policy": "bucket",
    "TILING_GRIDS": "batch_processing",
    "USABLE_GRIDS": "batch_processing",
    "DEFAULT_GRID": "batch_processing",
    "QuotaBudget": "rules",
    "default_usage_ledger": "rules",
    "request_epsg": "rules",
    "run_byoc_job": "byoc_job",
    "SentinelHubRadar": "sentinel1",
    "sentinel_hub_radar": "sentinel1",
    "BACK_COEFFICIENTS": "sentinel1",
    "DASHBOARD_URL": "usage",
    "month_usage": "usage",
}
__all__ = sorted(_FACE)


def __getattr__(name: str):
    if name in _FACE:
        return getattr(import_module(f"{__name__}.{_FACE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
