"""Bad input gets a clear error naming the problem and the fix; nothing is left behind."""

import socket
import threading
import time
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import geopandas as gpd
import pytest
from shapely.geometry import Polygon, box

from raster_collect_plugin.core.areas.aoi import AoiError, load_aoi
from raster_collect_plugin.core.composites.pipeline import run_composites
from raster_collect_plugin.core.composites.requests import CompositeRequest, RequestError, Source
from raster_collect_plugin.core.sample import scenes as sd
from raster_collect_plugin.core.sources.providers import StacApiProvider, StaticCatalogProvider


def request_for(sample, tmp_path, **overrides):
    provider = StaticCatalogProvider("Sample", str(sample.catalog_path))
    arguments = dict(aoi=sample.forests_path, sources=[Source(provider, (sd.S2_COLLECTION,))],
                     start=date(2025, 10, 1), end=date(2025, 10, 31),
                     output_dir=tmp_path / "out", indices=("NDVI",), max_cloud_cover=None)
    arguments.update(overrides)
    return CompositeRequest(**arguments)


def test_inverted_dates(small_sample, tmp_path):
    request = request_for(small_sample, tmp_path, start=date(2025, 12, 1), end=date(2025, 1, 1))
    with pytest.raises(RequestError, match="swap the dates"):
        run_composites(request)
    assert not (tmp_path / "out").exists()


def test_empty_geometry_is_skipped_and_names_the_feature():
    frame = gpd.GeoDataFrame({"forest_id": [1, 2]}, geometry=[box(0, 0, 10, 10), Polygon()],
                             crs="EPSG:28356")
    aoi = load_aoi(frame)
    assert aoi.ids == [1] and aoi.notes == ["skipped forest_id=2: empty geometry"]
    with pytest.raises(AoiError, match="every selected feature has an empty geometry"):
        load_aoi(frame.iloc[[1]])


def test_invalid_geometry_is_repaired_and_noted():
    bowtie = Polygon([(0, 0), (10, 10), (10, 0), (0, 10), (0, 0)])
    aoi = load_aoi(gpd.GeoDataFrame({"forest_id": [7]}, geometry=[bowtie], crs="EPSG:28356"))
    assert aoi.frame.geometry.is_valid.all() and aoi.frame.area.iloc[0] == pytest.approx(50)
    assert aoi.notes == ["repaired invalid geometry of forest_id=7"]


def test_missing_id_field_lists_the_fields(small_sample):
    with pytest.raises(AoiError, match=r"no field 'compartment'.*'forest_id'"):
        load_aoi(small_sample.forests_path, id_field="compartment")


def test_geographic_aoi_is_put_in_utm(small_sample):
    aoi = load_aoi(small_sample.forests_wgs84_path)
    assert aoi.crs.to_epsg() == 32756
    assert aoi.notes == []  # each door says which zones it used (test_degrees_zones_note)
    assert aoi.zones_note() == [f"forests in degrees: each in its own UTM zone (56S: "
                                f"{len(aoi.ids)} forests); the combined layers in 56S "
                                "(EPSG:32756)"]


def test_aoi_spanning_utm_zones_is_refused():
    wide = gpd.GeoDataFrame({"forest_id": [1]}, geometry=[box(140.0, -28, 153.5, -27)],
                            crs="EPSG:4326")
    with pytest.raises(AoiError, match="span UTM zones 54-56"):
        load_aoi(wide)


def test_no_items_names_provider_collection_and_period(small_sample, tmp_path):
    request = request_for(small_sample, tmp_path, start=date(2020, 1, 1), end=date(2020, 2, 1))
    with pytest.raises(RequestError,
                       match="Sample: no sentinel-2-l2a scenes .* 2020-01-01 and 2020-02-01"):
        run_composites(request)
    assert list((tmp_path / "out").iterdir()) == []


def test_band_missing_for_index(small_sample, tmp_path):
    provider = StaticCatalogProvider("Sample", str(small_sample.catalog_path))
    request = request_for(small_sample, tmp_path, indices=("NDRE",),
                          sources=[Source(provider, (sd.LANDSAT_COLLECTION,))])
    with pytest.raises(RequestError, match=r"landsat-c2-l2 has no rededge1 band"):
        run_composites(request)
    both = request_for(small_sample, tmp_path, indices=("NDRE", "NDVI"),
                       sources=[Source(provider, (sd.LANDSAT_COLLECTION,))])
    result = run_composites(both)
    assert result.collections[0].skipped_indices == {
        "NDRE": "landsat-c2-l2 has no rededge1 band"}  # words, not a Python list


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_unreachable_provider_does_not_stop_the_others(small_sample, tmp_path):
    down = StacApiProvider("Down", f"http://127.0.0.1:{closed_port()}", max_retries=1)
    sample_provider = StaticCatalogProvider("Sample", str(small_sample.catalog_path))
    request = request_for(small_sample, tmp_path, sources=[
        Source(down, (sd.S2_COLLECTION,)), Source(sample_provider, (sd.S2_COLLECTION,))])
    started = time.monotonic()
    result = run_composites(request)
    assert time.monotonic() - started < 20
    assert [c.provider for c in result.collections] == ["Sample"]
    assert "Down: cannot open the STAC API" in result.errors["Down"]


class AlwaysUnavailable(BaseHTTPRequestHandler):
    hits = 0

    def log_message(self, *args):
        pass

    def do_GET(self):  # noqa: N802
        AlwaysUnavailable.hits += 1
        self.send_response(503)
        self.send_header("Retry-After", "0")
        self.send_header("Content-Length", "0")
        self.end_headers()


def test_server_errors_are_retried_a_bounded_number_of_times(small_sample, tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), AlwaysUnavailable)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        flaky = StacApiProvider("Flaky", f"http://127.0.0.1:{server.server_address[1]}",
                                max_retries=2)
        request = request_for(small_sample, tmp_path, sources=[Source(flaky, ("x",))])
        with pytest.raises(RequestError, match="Flaky: cannot open the STAC API"):
            run_composites(request)
        assert AlwaysUnavailable.hits == 3  # first try + 2 retries
    finally:
        server.shutdown()
        server.server_close()
