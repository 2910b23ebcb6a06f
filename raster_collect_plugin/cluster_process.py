"""Moved to :mod:`raster_collect_plugin.engine.cluster_process` (older imports keep working)."""

from .engine.cluster_process import LocalClusterProcess  # noqa: F401
