"""GDAL settings for reading Cloud-Optimized GeoTIFFs over HTTP, set in one place."""

from __future__ import annotations

from typing import Dict, Optional

CLOUD_READ_OPTIONS: Dict[str, str] = {
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",  # no directory listing per file
    "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
    "GDAL_HTTP_MULTIRANGE": "YES",
    "GDAL_HTTP_MAX_RETRY": "3",
    "GDAL_HTTP_RETRY_DELAY": "1",
    "GDAL_HTTP_TIMEOUT": "60",  # seconds for a whole request
    "GDAL_HTTP_CONNECTTIMEOUT": "30",
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif,.tiff,.TIF,.TIFF,.jp2",
    "VSI_CACHE": "TRUE",  # for HTTP; local scene reads turn it off (pixels/asset_reader.py)
}

_extra: Dict[str, str] = {}


def set_extra_options(options: Optional[Dict[str, str]]) -> None:
    """Add deployment-specific GDAL options (e.g. a proxy); applied by configure_gdal."""
    _extra.clear()
    _extra.update(options or {})


def gdal_options() -> Dict[str, str]:
    options = dict(CLOUD_READ_OPTIONS)
    options.update(_extra)
    return options


def configure_gdal() -> None:
    """Apply the options to odc-stac's reads in this process."""
    import odc.stac

    odc.stac.configure_rio(cloud_defaults=True, **gdal_options())
