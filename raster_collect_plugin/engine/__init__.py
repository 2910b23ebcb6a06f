"""The processing engine: the separate Python that runs core jobs for the plugin.

Find it (``interpreter``), check it (``doctor``, run *inside* the engine's Python), set it up
(``install``: a dedicated virtual environment), run jobs (``bridge``) and keep the session's
dask cluster (``cluster_process``). Nothing here imports QGIS, Qt or the engine's heavy
packages, so QGIS's own Python never needs them and every module is testable alone.
"""
