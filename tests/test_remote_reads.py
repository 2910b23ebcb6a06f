"""Reading over HTTP: windowed COG reads and Planetary Computer token renewal mid-load."""

from datetime import date

import numpy as np
import pytest
import rasterio
from planetary_computer import sas
from planetary_computer.settings import Settings

from raster_collect_plugin.core.areas.aoi import load_aoi
from raster_collect_plugin.core.composites.pipeline import run_composites, search
from raster_collect_plugin.core.composites.requests import CompositeRequest, Source
from raster_collect_plugin.core.compute import gdal_env
from raster_collect_plugin.core.sample import catalog as sc
from raster_collect_plugin.core.sample import scenes as sd
from raster_collect_plugin.core.sources.providers import PlanetaryComputerProvider
from tests import reference
from tests.servers.range_http import sas_expiry_check, short_lived_clock
from tests.servers.sas_tokens import SasTokenServer


def test_small_aoi_reads_a_small_fraction_of_large_scenes(tmp_path, file_server, stac_api):
    spec = sd.small_spec(sensors=(sd.S2_COLLECTION,), months=1, columns=2, rows=2,
                         margin_m=5000.0)
    sample = sc.make_sample(tmp_path / "sample", spec)
    files = file_server(sample.root)
    api = stac_api({"s2": sample.item_collection(sd.S2_COLLECTION, files.url)})
    one_forest = load_aoi(sample.forests_path, ids=[sample.spec.first_forest_id])
    request = CompositeRequest(
        aoi=one_forest, sources=[Source(PlanetaryComputerProvider(url=api.url),
                                        (sd.S2_COLLECTION,))],
        start=date(2025, 10, 1), end=date(2025, 10, 31), output_dir=tmp_path / "out",
        indices=("NDVI",), max_cloud_cover=None)
    result = run_composites(request)
    assert result.collections and result.errors == {}
    served = sum(files.log.bytes_by_path.values())
    on_disk = sum(p.stat().st_size for p in sample.root.rglob("*.tif"))
    fraction = served / on_disk
    print(f"bytes served {served} of {on_disk} ({fraction:.1%})")
    assert fraction < 0.25, fraction


@pytest.fixture
def blob_storage(tmp_path, file_server, monkeypatch):
    """The sample behind fake Azure blob URLs, reachable only through a loopback proxy that
    checks SAS token expiry, plus a loopback token service."""
    clock = short_lived_clock()
    served = tmp_path / "served"
    served.mkdir()
    sample = sc.make_sample(tmp_path / "sample",
                            sd.small_spec(sensors=(sd.S2_COLLECTION,), months=1))
    (served / "sentinel2-l2").symlink_to(sample.root)
    files = file_server(served, token_check=sas_expiry_check(clock))
    tokens = SasTokenServer(clock, lifetime_seconds=90).start()
    monkeypatch.setenv("PC_SDK_SAS_URL", tokens.sas_url)
    Settings.get.cache_clear()
    sas.TOKEN_CACHE.clear()
    gdal_env.set_extra_options({"GDAL_HTTP_PROXY": files.address})
    yield sample, files, tokens, clock
    gdal_env.set_extra_options(None)
    tokens.stop()
    Settings.get.cache_clear()
    sas.TOKEN_CACHE.clear()


def test_expired_token_is_renewed_and_the_load_completes(blob_storage, tmp_path, stac_api):
    sample, files, tokens, clock = blob_storage
    base = "http://pcsampleaccount.blob.core.windows.net/sentinel2-l2"
    api = stac_api({"s2": sample.item_collection(sd.S2_COLLECTION, base)})
    request = CompositeRequest(
        aoi=sample.forests_path, sources=[Source(PlanetaryComputerProvider(url=api.url),
                                                 (sd.S2_COLLECTION,))],
        start=date(2025, 10, 1), end=date(2025, 10, 31), output_dir=tmp_path / "out",
        indices=("NDVI",), max_cloud_cover=None)
    report = search(request)
    hrefs = [a.href for i in report.all_items for a in i.assets.values()]
    assert hrefs and all("sig=token1" in h for h in hrefs)
    assert tokens.requests == [["pcsampleaccount", "sentinel2-l2"]]

    clock.advance(120)  # the search's token expires before the pixels are read
    result = run_composites(request, report=report)

    assert files.log.denied >= 1  # the old token was refused ...
    assert len(tokens.requests) == 2  # ... a new one was fetched ...
    [collection] = result.collections  # ... and the load completed with the right values
    with rasterio.open(collection.index_paths["NDVI"]) as dataset:
        ndvi, transform = dataset.read(1), dataset.transform
    items = sample.items[sd.S2_COLLECTION]
    per_scene = [reference.sentinel2(sample.root, i, "planetary-computer", transform,
                                     ndvi.shape) for i in items]
    expected, _ = reference.monthly([reference.ndvi(b) for b, _ in per_scene],
                                    [c for _, c in per_scene])
    np.testing.assert_allclose(ndvi, expected, rtol=1e-5, atol=1e-6)
