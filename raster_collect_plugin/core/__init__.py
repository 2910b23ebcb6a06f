"""QGIS-free core of raster-collect: providers, loading, masks, indices, composites, statistics.

Nothing in this package may import ``qgis`` or Qt: it runs on bare dask workers and from the
command line (a test enforces it).
"""
