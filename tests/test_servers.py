"""The loopback test servers behave like the real ones the plugin talks to."""

import urllib.request
from datetime import timedelta

import numpy as np
import pystac_client
import pytest
import rasterio
from rasterio.windows import Window

from raster_collect_plugin.core.outputs.files import write_cog
from tests.servers.range_http import sas_expiry_check, short_lived_clock


def fetch(url, headers=None):
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.status, dict(response.headers), response.read()


def test_range_requests_are_honoured_and_counted(tmp_path, file_server):
    (tmp_path / "data.bin").write_bytes(bytes(range(256)) * 4)
    server = file_server(tmp_path)
    status, headers, body = fetch(f"{server.url}/data.bin", {"Range": "bytes=10-19"})
    assert status == 206 and body == bytes(range(10, 20))
    assert headers["Content-Range"] == "bytes 10-19/1024"
    status, _, body = fetch(f"{server.url}/data.bin", {"Range": "bytes=-4"})
    assert body == bytes([252, 253, 254, 255])
    assert server.log.total_bytes == 14 and server.log.requests == 2


def test_window_of_a_large_cog_reads_a_small_fraction(tmp_path, file_server):
    rng = np.random.default_rng(0)
    data = rng.integers(1, 10_000, size=(4096, 4096), dtype="uint16")
    path = write_cog(tmp_path / "big.tif", data, transform=rasterio.Affine(10, 0, 0, 0, -10, 0),
                     crs="EPSG:32756", nodata=0)
    server = file_server(tmp_path)
    with rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR"):
        with rasterio.open(f"/vsicurl/{server.url}/big.tif") as dataset:
            window = dataset.read(1, window=Window(2000, 2000, 100, 100))
    np.testing.assert_array_equal(window, data[2000:2100, 2000:2100])
    fraction = server.log.total_bytes / path.stat().st_size
    assert fraction < 0.05, fraction


def test_sas_tokens_expire(tmp_path, file_server):
    (tmp_path / "a.tif").write_bytes(b"x" * 10)
    clock = short_lived_clock()
    server = file_server(tmp_path, token_check=sas_expiry_check(clock))
    expiry = (clock() + timedelta(seconds=60)).strftime("%Y-%m-%dT%H:%M:%SZ")
    status, _, _ = fetch(f"{server.url}/a.tif?st=x&se={expiry}&sp=rl&sig=abc")
    assert status == 200
    clock.advance(120)
    with pytest.raises(urllib.error.HTTPError) as error:
        fetch(f"{server.url}/a.tif?st=x&se={expiry}&sp=rl&sig=abc")
    assert error.value.code == 403
    with pytest.raises(urllib.error.HTTPError):
        fetch(f"{server.url}/a.tif")


def test_rustac_serves_sample_items_to_pystac_client(small_sample, file_server, stac_api):
    files = file_server(small_sample.root)
    api = stac_api({name: small_sample.item_collection(name, files.url)
                    for name in small_sample.items})
    client = pystac_client.Client.open(api.url)
    collections = sorted(c.id for c in client.get_collections())
    assert collections == sorted(small_sample.items)
    search = client.search(collections=["sentinel-2-l2a"], bbox=[152.9, -27.0, 153.0, -26.9],
                           datetime="2025-11-01/2025-11-30")
    items = list(search.items())
    expected = [i["id"] for i in small_sample.items["sentinel-2-l2a"]
                if i["properties"]["datetime"].startswith("2025-11")]
    assert sorted(i.id for i in items) == sorted(expected) and len(items) == 2
    assert items[0].assets["B04"].href.startswith(files.url)
    far_away = client.search(collections=["sentinel-2-l2a"], bbox=[10, 10, 11, 11])
    assert list(far_away.items()) == []
