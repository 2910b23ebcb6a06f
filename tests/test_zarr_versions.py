"""The Zarr scratch store is read the way both zarr 2 (Python 3.10-3.13 engines) and zarr 3
(Python 3.14's; numcodecs for zarr 2 has no 3.14 wheel) accept."""

from __future__ import annotations

import dask.array as da
import numpy as np
import rasterio
import zarr
from affine import Affine

from raster_collect_plugin.core.outputs.files import zarr_stack_to_cog


def test_scratch_store_is_read_without_zarr_2_only_arguments(tmp_path, monkeypatch):
    store = str(tmp_path / ".sample.zarr")
    stack = da.from_array(np.arange(2 * 40 * 30, dtype="float32").reshape(2, 40, 30),
                          chunks=(1, 16, 16))
    da.to_zarr(stack, store, component="NDVI", overwrite=True)
    real = zarr.open_array

    def zarr3_rules(store=None, *args, **kwargs):
        # zarr 3: "'path' was provided but is not used for FSMap store_like objects"
        if kwargs.get("path") and type(store).__name__ == "FSMap":
            raise ValueError("'path' was provided but is not used for FSMap store_like objects")
        return real(store, *args, **kwargs)

    monkeypatch.setattr(zarr, "open_array", zarr3_rules)
    cog = zarr_stack_to_cog(store, "NDVI", tmp_path / "ndvi.tif",
                            transform=Affine(10, 0, 500000, 0, -10, 6000000), crs="EPSG:32755",
                            nodata=None, fill=np.nan, band_descriptions=["2025-01", "2025-02"])
    with rasterio.open(cog) as opened:
        np.testing.assert_array_equal(opened.read(), stack.compute())
