"""A scene file whose tile bytes are broken: the run stops without a number from it, and the
message names the file, says it is corrupt and what to do."""

import shutil

import pytest
import rasterio
from rasterio.errors import RasterioIOError

from raster_collect_plugin import cli
from raster_collect_plugin.core.pixels.asset_reader import corrupt_asset_error, shown_url
from tests.test_bad_input_cli import one_line_error

OCTOBER_S2 = "sentinel-2-l2a/S2A_MSIL2A_20251005T235000_R016_T56JNS"


def break_first_tile(path):
    """Overwrite the bytes of the file's first tile (its header stays readable)."""
    with rasterio.open(path) as dataset:
        offset = int(dataset.get_tag_item("BLOCK_OFFSET_0_0", "TIFF", bidx=1))
        size = int(dataset.get_tag_item("BLOCK_SIZE_0_0", "TIFF", bidx=1))
    data = bytearray(path.read_bytes())
    data[offset:offset + size] = (b"\xde\xad\xbe\xef" * size)[:size]
    path.write_bytes(bytes(data))


@pytest.fixture
def broken_sample(small_sample, tmp_path):
    root = tmp_path / "sample"
    shutil.copytree(small_sample.root, root)
    broken = root / OCTOBER_S2 / "B04.tif"
    break_first_tile(broken)
    return root, broken


def assert_names_the_corrupt_file(line, broken):
    assert f"{broken} is corrupt or unreadable" in line
    assert "Decoding error" in line  # what GDAL found
    assert "re-download the file" in line and "provider may be serving a broken file" in line


def test_corrupt_scene_tile_names_the_file(broken_sample, tmp_path, capsys):
    root, broken = broken_sample
    output = tmp_path / "out"
    code = cli.main(["--quiet", "composite", "--gpkg", str(root / "forests.gpkg"),
                     "--catalog", str(root / "catalog.json"), "--collections",
                     "sentinel-2-l2a", "--start", "2025-10-01", "--end", "2025-10-31",
                     "--indices", "NDVI", "--max-cloud", "100", "--output", str(output)])
    assert code != 0
    assert_names_the_corrupt_file(one_line_error(capsys), broken)
    assert not list(output.rglob("*.tif"))  # no composite, so no wrong number


def test_corrupt_raster_for_zonal_statistics_names_the_file(broken_sample, tmp_path, capsys):
    root, broken = broken_sample
    output = tmp_path / "zonal"
    code = cli.main(["--quiet", "zonal", "--gpkg", str(root / "forests.gpkg"), "--raster",
                     str(broken), "--output", str(output)])
    assert code == 1
    assert_names_the_corrupt_file(one_line_error(capsys), broken)
    assert not list(output.glob("zonal_forests.*"))


def test_network_failures_are_not_called_corrupt_and_tokens_never_shown():
    refused = RasterioIOError("HTTP response code: 403")
    refused.__cause__ = RasterioIOError("IReadBlock failed at X offset 0, Y offset 0")
    assert corrupt_asset_error("https://blob.example/B04.tif?sig=SECRET", refused) is None
    decoding = RasterioIOError("Read failed. See previous exception for details.")
    decoding.__cause__ = RasterioIOError("ZIPDecode:Decoding error at scanline 0")
    message = str(corrupt_asset_error("https://blob.example/B04.tif?se=1&sig=SECRET", decoding))
    assert message.startswith("https://blob.example/B04.tif is corrupt or unreadable")
    assert "SECRET" not in message
    assert shown_url("/data/B04.tif") == "/data/B04.tif"
