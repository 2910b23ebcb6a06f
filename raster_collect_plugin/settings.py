"""All persistent plugin settings, stored with QgsSettings under ``/raster_collect/``.

Secrets never go here: credentials live in the QGIS authentication database (we store only the
auth config id) or in environment variables.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict

from qgis.core import QgsApplication, QgsSettings

from .core.runs import DEFAULT_INDICES, DEFAULT_MAX_CLOUD_COVER

PREFIX = "/raster_collect/"

DEFAULTS: Dict[str, Any] = {
    "max_cloud_cover": DEFAULT_MAX_CLOUD_COVER,
    "output_folder": "",
    "id_field": "forest_id",
    "indices": ",".join(DEFAULT_INDICES),
    "composite_period": "month",
    "composite_method": "median",
    "dask/mode": "threads",  # a LocalCluster is slower than threads on small machines
    "dask/scheduler_address": "",
    "dask/workers": 0,
    "dask/threads_per_worker": 2,
    "dask/memory_limit": "2GB",
    "memory_budget": "",  # a run's budget, as --memory-budget (empty: half the machine's)
    "copernicus/auth_config_id": "",
    "copernicus/base_url": "",  # empty: CDSE (core.sources.endpoints)
    "copernicus/oauth_url": "",  # empty: CDSE's token endpoint
    "copernicus/pu_budget": 10_000.0,  # the free tier's monthly processing units
    "custom_stac_url": "",
    # the Python that runs jobs (empty: the managed engine in the profile folder, if created;
    # $RASTER_COLLECT_PYTHON overrides both)
    "engine/python": "",
    "engine/find_links": "",  # a wheel folder for offline engine set-up (empty: PyPI)
}

_FORBIDDEN_WORDS = ("secret", "password", "token")


def _key(name: str) -> str:
    if any(word in name.lower() for word in _FORBIDDEN_WORDS):
        raise ValueError(f"setting {name!r} looks like a secret: use the QGIS auth database")
    if name not in DEFAULTS:
        raise KeyError(f"unknown raster-collect setting {name!r}")
    return PREFIX + name


def value(name: str) -> Any:
    """Read a setting, typed like its default."""
    default = DEFAULTS[name]
    return QgsSettings().value(_key(name), default, type=type(default))


def set_value(name: str, new_value: Any) -> None:
    """Write a setting."""
    QgsSettings().setValue(_key(name), new_value)


def profile_dir() -> Path:
    """The active QGIS profile folder (where the managed engine and its logs live)."""
    return Path(QgsApplication.qgisSettingsDirPath())


def profile_cache_dir() -> Path:
    """The plugin's cache folder in the active QGIS profile (``cache/raster_collect``)."""
    return profile_dir() / "cache" / "raster_collect"


def engine_python() -> str:
    """The Python that runs jobs: $RASTER_COLLECT_PYTHON, the setting, the managed engine in
    the profile folder, or QGIS's own Python (see ``engine.interpreter.engine_python``)."""
    from .engine.interpreter import engine_python as resolve
    from .engine.interpreter import managed_engine_dir

    return resolve(value("engine/python") or None, managed_engine_dir(profile_dir()))

