"""rasterio hides the warning about its temporary MEM datasets with ``catch_warnings``, which
threads race (``core/compute/thread_warnings.py``): a threaded compute of 20 m -> 10 m reads
(odc-stac's reproject) leaks "Dataset has no geotransform" in some runs, or leaves an
``ignore`` filter behind that silences every later warning. The values never differ."""

import warnings

import dask
import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.warp import Resampling, reproject

from raster_collect_plugin.core.compute import scheduling

THREADS = 8
ROUNDS = 15
GRID_10M = Affine(10, 0, 372000, 0, -10, 5352000)


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    """20 m single-band GeoTIFFs, like Sentinel-2's SCL."""
    folder = tmp_path_factory.mktemp("scl")
    paths = []
    for n in range(24):
        data = np.random.default_rng(n).integers(0, 12, (36, 66), dtype="uint8")
        path = folder / f"SCL_{n}.tif"
        with rasterio.open(path, "w", driver="GTiff", width=66, height=36, count=1,
                           dtype="uint8", crs="EPSG:32632",
                           transform=Affine(20, 0, 372000, 0, -20, 5352000)) as dst:
            dst.write(data, 1)
        paths.append(str(path))
    return paths


def _read_onto_10m(path: str) -> np.ndarray:
    """What odc-loader does for a 20 m band on a 10 m grid (``_rio._do_read``)."""
    with rasterio.open(path, sharing=False) as src:
        out = np.zeros((72, 132), "uint8")
        reproject(rasterio.band(src, 1), out, dst_crs=src.crs, dst_transform=GRID_10M,
                  resampling=Resampling.nearest)
    return out


def test_threaded_reprojects_leak_no_warning_and_keep_the_filters(scenes):
    expected = [np.repeat(np.repeat(rasterio.open(p).read(1), 2, 0), 2, 1) for p in scenes]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        filters = list(warnings.filters)
        for _ in range(ROUNDS):
            tasks = [dask.delayed(_read_onto_10m, pure=False)(p) for p in scenes]
            values = scheduling.compute(*tasks, local=True, threads=THREADS)
            assert all(np.array_equal(v, e) for v, e in zip(values, expected))
            # no "ignore everything" left behind by the tasks' racing catch_warnings (only
            # the one narrow filter of thread_warnings.py may have been added)
            added = [f for f in warnings.filters if f not in filters]
            assert [f for f in added if f[1] is None] == [], added
        warnings.warn("still shown after the compute", UserWarning, stacklevel=1)
    shown = [str(w.message) for w in caught]
    assert not [m for m in shown if "no geotransform" in m], shown
    assert "still shown after the compute" in shown


def test_reads_on_dasks_default_threads_leak_no_warning(scenes):
    """monitor / watch read the series with dask's own scheduler, after ``configure_gdal``."""
    from raster_collect_plugin.core.compute.gdal_env import configure_gdal

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        configure_gdal()
        for _ in range(ROUNDS):
            tasks = [dask.delayed(_read_onto_10m, pure=False)(p) for p in scenes]
            dask.compute(*tasks, scheduler="threads", num_workers=THREADS)
    shown = [str(w.message) for w in caught]
    assert not [m for m in shown if "no geotransform" in m], shown


def test_the_filter_is_narrow(tmp_path):
    """A file that really has no georeferencing still warns when opened."""
    path = tmp_path / "plain.tif"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with rasterio.open(path, "w", driver="GTiff", width=4, height=4, count=1,
                           dtype="uint8") as dst:
            dst.write(np.ones((4, 4), "uint8"), 1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        from raster_collect_plugin.core.compute.thread_warnings import thread_safe_warnings

        with thread_safe_warnings(), rasterio.open(path) as src:
            src.read(1)
    assert [w for w in caught if issubclass(w.category, rasterio.errors.NotGeoreferencedWarning)]
