"""GDAL settings for reading Cloud-Optimized GeoTIFFs over HTTP, set in one place."""

from __future__ import annotations

import os
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

# GDAL's block cache in a composite run (issue 31). Scenes are read once and composites
# written once, so a large cache gives nothing back; with GDAL's default (5 % of the machine's
# memory: 1.2 GB on 24 GB) a run's peak grew with its AOI up to that size. Measured on 2 cores,
# 4800 x 4800 px, 6 months: peak RSS 2.75 GB / 13.5 s wall with the default, 1.32 GB / 9.6 s
# with 128 MB (64 MB: 1.28 GB / 10.0 s; 256 MB: 1.50 GB / 10.4 s).
RUN_BLOCK_CACHE_MB = 128

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
    """Apply the options to odc-stac's reads in this process and bound GDAL's block cache."""
    import odc.stac

    from .thread_warnings import ignore_temporary_dataset_warning

    odc.stac.configure_rio(cloud_defaults=True, **gdal_options())
    bound_block_cache()
    # before the reads' threads start, whichever scheduler runs them (thread_warnings.py)
    ignore_temporary_dataset_warning()


def gdal_cachemax_bytes(text: str, total_memory: int) -> Optional[int]:
    """A ``GDAL_CACHEMAX`` value in bytes, as GDAL reads it: MB below 100,000, else bytes, or a
    percentage of memory; None when it cannot be read."""
    text = text.strip()
    try:
        if text.endswith("%"):
            return int(total_memory * float(text[:-1]) / 100)
        value = int(text)
    except ValueError:
        return None
    return value * 2**20 if value < 100_000 else value


def block_cache_bytes() -> int:
    """GDAL's block cache in a run: the user's ``GDAL_CACHEMAX`` when set and readable, else
    ``RUN_BLOCK_CACHE_MB`` (:func:`bound_block_cache` sets it)."""
    import psutil

    setting = os.environ.get("GDAL_CACHEMAX", "")
    chosen = gdal_cachemax_bytes(setting, psutil.virtual_memory().total) if setting else None
    return chosen if chosen is not None else RUN_BLOCK_CACHE_MB * 2**20


def bound_block_cache() -> None:
    """Give this process's GDAL the run's block cache (``RUN_BLOCK_CACHE_MB``); a user's
    ``GDAL_CACHEMAX`` is left to GDAL. rasterio hands the value to ``GDALSetCacheMax64`` (in
    bytes), so this holds after GDAL started too."""
    if os.environ.get("GDAL_CACHEMAX", "").strip():
        return
    from rasterio.env import set_gdal_config

    set_gdal_config("GDAL_CACHEMAX", RUN_BLOCK_CACHE_MB * 2**20)
