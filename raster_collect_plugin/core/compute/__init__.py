"""Compute: where dask runs (threads, a local cluster, a remote scheduler), progress and
cancel for its graphs, GDAL settings, native memory tuning, and signals that are never lost.

The names below are this folder's public face for the doors (cli/, gui/, processing/, engine/);
the rest is private. A name loads its module when first used, so QGIS can read the light
modules without importing the heavy ones. Modules inside core/ import from modules, not faces.
"""

from importlib import import_module

_FACE = {
    "ClusterError": "cluster",
    "ComputeSettings": "cluster",
    "GdalOptionsPlugin": "worker_plugin",
    "compute_client": "cluster",
    "start_local_cluster": "cluster",
    "gdal_options": "gdal_env",
    "check_interrupted": "interrupts",
    "install_handlers": "interrupts",
    "interrupted": "interrupts",
    "restore_handlers": "interrupts",
}
__all__ = sorted(_FACE)


def __getattr__(name: str):
    if name in _FACE:
        return getattr(import_module(f"{__name__}.{_FACE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
