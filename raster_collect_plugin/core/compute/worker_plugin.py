"""The worker plugin that carries the project's GDAL settings to dask workers.

Apart from ``cluster.py`` so that importing ``distributed`` (seconds under load) happens only
when a cluster is asked for, never on the threads path a job starts on."""

from __future__ import annotations

from typing import Dict

from distributed.diagnostics.plugin import WorkerPlugin


class GdalOptionsPlugin(WorkerPlugin):
    """Applies the project's GDAL settings (cloud reads, retries) on every worker."""

    name = "raster-collect-gdal"

    def __init__(self, options: Dict[str, str]):
        self.options = dict(options)

    def setup(self, worker) -> None:
        import odc.stac

        from .thread_warnings import ignore_temporary_dataset_warning

        odc.stac.configure_rio(cloud_defaults=True, **self.options)
        # a worker's task threads race rasterio's catch_warnings too (thread_warnings.py)
        ignore_temporary_dataset_warning()
