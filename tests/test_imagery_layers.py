"""Scene layers in QGIS's own process: streamed through QGIS's GDAL from the loopback Range
server, clipped to the forests (byte counts), rendered offscreen with known pixel values, and
re-signed when their Planetary Computer token expired."""

import json
from datetime import datetime, timezone

import numpy as np
import pytest
from osgeo import gdal
from planetary_computer import sas
from planetary_computer.settings import Settings
from qgis.core import (
    QgsApplication,
    QgsCoordinateReferenceSystem,
    QgsMapRendererSequentialJob,
    QgsMapSettings,
    QgsProject,
    QgsRectangle,
    QgsVectorLayer,
)
from qgis.PyQt.QtCore import QEventLoop, QSize, QTimer
from qgis.PyQt.QtGui import QColor

from raster_collect_plugin.core import imagery
from raster_collect_plugin.core.pixels import bands
from raster_collect_plugin.core.sample import catalog as sc
from raster_collect_plugin.core.sample import scenes as sd
from raster_collect_plugin.gui import imagery as viewer
from raster_collect_plugin.gui import imagery_tasks as viewer_tasks
from tests.servers.range_http import sas_expiry_check, short_lived_clock
from tests.servers.sas_tokens import SasTokenServer


def render(layer, width=None, height=None):
    """The layer drawn 1:1 onto its own grid: an (rows, cols, 4) uint8 RGBA array."""
    settings = QgsMapSettings()
    settings.setLayers([layer])
    settings.setDestinationCrs(layer.crs())
    settings.setExtent(layer.extent())
    settings.setOutputSize(QSize(width or layer.width(), height or layer.height()))
    settings.setBackgroundColor(QColor(0, 0, 0, 0))
    job = QgsMapRendererSequentialJob(settings)
    job.start()
    job.waitForFinished()
    image = job.renderedImage().convertToFormat(5)  # QImage.Format_ARGB32
    buffer = image.constBits()
    buffer.setsize(image.byteCount() if hasattr(image, "byteCount") else image.sizeInBytes())
    bgra = np.frombuffer(buffer, np.uint8).reshape(image.height(), image.bytesPerLine() // 4, 4)
    return bgra[:, :image.width(), [2, 1, 0, 3]].copy()


def stretch(values, low, high):
    """QGIS's linear min/max enhancement: truncated to whole grey levels."""
    return np.floor(np.clip(((values - low) / (high - low) * 255.0), 0, 255))


def assert_styled(rendered, expected):
    difference = np.abs(rendered.astype(float) - expected)
    assert difference.max() <= 1.0, difference.max()  # float32 vs float64 at level edges
    assert (difference == 0).mean() > 0.98


@pytest.fixture(scope="module")
def wide_sample(tmp_path_factory):
    """One month of Sentinel-2 over scenes much larger than one forest (5 km margins)."""
    spec = sd.small_spec(sensors=(sd.S2_COLLECTION, sd.S1_COLLECTION), months=1,
                         margin_m=5000.0)
    scenes = [sd.Scene(sd.S2_COLLECTION, datetime(2025, 10, 5, 23, 50, tzinfo=timezone.utc),
                       "Sentinel-2A"),
              sd.Scene(sd.S1_COLLECTION, datetime(2025, 10, 3, 8, 30, tzinfo=timezone.utc),
                       "SENTINEL-1A")]
    return sc.make_sample(tmp_path_factory.mktemp("wide-sample"), spec, scenes)


def served_scene(sample, files, collection, index, profile, kind="static"):
    item = sample.item_collection(collection, files.url)["features"][index]
    return imagery.describe_item(item, profile, provider="Sample", provider_kind=kind)


def forest_extent(sample, forest_id=None):
    layer = QgsVectorLayer(f"{sample.forests_path}|layername=forests", "forests", "ogr")
    forest_id = forest_id or sample.spec.first_forest_id
    [feature] = [f for f in layer.getFeatures() if f["forest_id"] == forest_id]
    return feature.geometry().boundingBox(), layer.crs()


def clear_s2_index(sample):
    """The first Sentinel-2 scene without clouds."""
    for n, item in enumerate(sample.items[sd.S2_COLLECTION]):
        if item["properties"]["eo:cloud_cover"] == 0:
            return n
    raise AssertionError("no clear scene in the sample")


def test_clipped_true_colour_streams_only_the_tiles_it_needs(wide_sample, file_server,
                                                             qgis_new_project):
    files = file_server(wide_sample.root)
    index = clear_s2_index(wide_sample)
    scene = served_scene(wide_sample, files, sd.S2_COLLECTION, index,
                         bands.PLANETARY_COMPUTER_S2)
    extent, crs = forest_extent(wide_sample)
    layer = viewer.open_scene(scene, "true-colour", extent=extent, extent_crs=crs)
    assert layer.isValid() and layer.bandCount() == 3
    assert layer.crs().authid() == sd.SCENE_CRS
    rgba = render(layer)
    assert (rgba[..., 3] == 255).all()

    item = wide_sample.items[sd.S2_COLLECTION][index]
    paths = [wide_sample.root / item["assets"][k]["href"] for k in ("B04", "B03", "B02")]
    on_disk = sum(p.stat().st_size for p in paths)
    served = files.log.total_bytes
    print(f"true-colour preview of one forest: {served} bytes served of {on_disk} "
          f"({served / on_disk:.1%}), {files.log.requests} requests, "
          f"{layer.width()}x{layer.height()} px")
    assert served < 0.2 * on_disk

    # the pixels: DN*1e-4 - 0.1 (baseline 05.11), stretched 0..0.2 to 0..255
    x0, _, _, y0, _, _ = gdal.Open(layer.source()).GetGeoTransform()
    full = gdal.Open(str(paths[0]))
    gx0, dx, _, gy0, _, dy = full.GetGeoTransform()
    col, row = int(round((x0 - gx0) / dx)), int(round((y0 - gy0) / dy))
    for channel, path in enumerate(paths):
        dn = gdal.Open(str(path)).ReadAsArray()[row:row + layer.height(),
                                                  col:col + layer.width()].astype(float)
        expected = stretch(dn * 1e-4 - 0.1, 0.0, 0.2)
        assert_styled(rgba[..., channel], expected)
    # healthy pine in true colour is dark green: red 0.035 -> ~45, green 0.05 -> ~64
    centre = rgba[rgba.shape[0] // 2, rgba.shape[1] // 2]
    assert centre[1] > centre[0] and centre[1] > centre[2]


def test_false_colour_swir_and_cloud_mask_layers(wide_sample, file_server, qgis_new_project):
    files = file_server(wide_sample.root)
    index = clear_s2_index(wide_sample)
    scene = served_scene(wide_sample, files, sd.S2_COLLECTION, index,
                         bands.PLANETARY_COMPUTER_S2)
    extent, crs = forest_extent(wide_sample)
    false_colour = viewer.open_scene(scene, "false-colour", extent=extent, extent_crs=crs)
    rgba = render(false_colour)
    centre = rgba[rgba.shape[0] // 2, rgba.shape[1] // 2]
    assert centre[0] > 140 > centre[1]  # vegetation is red in NIR-red-green (NIR 0.3 -> ~153)
    swir = viewer.open_scene(scene, "swir", extent=extent, extent_crs=crs)
    assert swir.width() == false_colour.width()  # 20 m SWIR on the 10 m grid of red
    mask = viewer.open_scene(scene, "cloud-mask", extent=extent, extent_crs=crs)
    rgba = render(mask)
    vegetation = QColor(imagery.SCL_COLOURS[4])
    assert tuple(rgba[rgba.shape[0] // 2, rgba.shape[1] // 2][:3]) == (
        vegetation.red(), vegetation.green(), vegetation.blue())
    names = [QgsProject.instance().mapLayer(i).name()
             for i in QgsProject.instance().mapLayers()]
    assert any(n.endswith("sentinel-2-l2a true colour") is False for n in names)
    assert any(n.endswith("false colour infrared") for n in names)


def test_sentinel1_radar_layer_in_decibels(wide_sample, file_server, qgis_new_project):
    files = file_server(wide_sample.root)
    scene = served_scene(wide_sample, files, sd.S1_COLLECTION, 0, bands.SENTINEL1_RTC)
    extent, crs = forest_extent(wide_sample)
    layer = viewer.open_scene(scene, "radar", extent=extent, extent_crs=crs)
    dataset = gdal.Open(layer.source())
    vv_db, vh_db, ratio = (dataset.GetRasterBand(n).ReadAsArray() for n in (1, 2, 3))
    assert [dataset.GetRasterBand(n).GetDescription() for n in (1, 2, 3)] == [
        "vv dB", "vh dB", "vv/vh dB"]
    item = wide_sample.items[sd.S1_COLLECTION][0]
    x0, _, _, y0, _, _ = dataset.GetGeoTransform()
    vv = gdal.Open(str(wide_sample.root / item["assets"]["vv"]["href"]))
    gx0, dx, _, gy0, _, dy = vv.GetGeoTransform()
    col, row = int(round((x0 - gx0) / dx)), int(round((y0 - gy0) / dy))
    linear = vv.ReadAsArray()[row:row + layer.height(), col:col + layer.width()]
    np.testing.assert_allclose(vv_db, 10 * np.log10(linear), atol=1e-4)
    np.testing.assert_allclose(ratio, vv_db - vh_db, atol=1e-4)
    rgba = render(layer)
    expected = stretch(10 * np.log10(linear), -25.0, 0.0)
    assert_styled(rgba[..., 0], expected)


@pytest.fixture
def blob_storage(wide_sample, file_server, monkeypatch):
    """The sample behind fake Azure blob URLs, reachable only through a loopback proxy that
    checks SAS token expiry (QGIS's GDAL uses it as its HTTP proxy), plus a token service."""
    clock = short_lived_clock()
    served = wide_sample.root.parent / "served"
    served.mkdir(exist_ok=True)
    link = served / "sentinel2-l2"
    if not link.exists():
        link.symlink_to(wide_sample.root)
    files = file_server(served, token_check=sas_expiry_check(clock))
    tokens = SasTokenServer(clock, lifetime_seconds=900).start()
    monkeypatch.setenv("PC_SDK_SAS_URL", tokens.sas_url)
    monkeypatch.setattr(viewer, "clock", clock)  # the plugin sees the service's time
    monkeypatch.setattr(viewer, "_TOKENS", {})
    Settings.get.cache_clear()
    sas.TOKEN_CACHE.clear()
    gdal.SetConfigOption("GDAL_HTTP_PROXY", files.address)
    yield files, tokens, clock
    gdal.SetConfigOption("GDAL_HTTP_PROXY", None)
    tokens.stop()
    Settings.get.cache_clear()


def test_expired_layer_is_resigned_on_demand_and_on_project_open(wide_sample, blob_storage,
                                                                 qgis_new_project, tmp_path):
    files, tokens, clock = blob_storage
    base = "http://pcsampleaccount.blob.core.windows.net/sentinel2-l2"
    item = wide_sample.item_collection(sd.S2_COLLECTION, base)["features"][
        clear_s2_index(wide_sample)]
    scene = imagery.describe_item(item, bands.PLANETARY_COMPUTER_S2, provider="Planetary "
                                  "Computer", provider_kind="planetary-computer")
    assert all("?" not in a["href"] for a in scene["assets"].values())  # stored unsigned
    extent, crs = forest_extent(wide_sample)
    layer = viewer.open_scene(scene, "true-colour", extent=extent, extent_crs=crs)
    assert tokens.requests == [["pcsampleaccount", "sentinel2-l2"]]  # signed by the engine job
    stored = json.loads(layer.customProperty(viewer.PROPERTY))
    assert "sig=" not in json.dumps(stored)  # no token in the project
    assert "sig=token1" in open(layer.source()).read()
    reference = render(layer)
    assert (reference[..., 3] == 255).all()
    # the container's token is reused for the next layer: no second sign job
    second = viewer.open_scene(scene, "false-colour", extent=extent, extent_crs=crs,
                               signer=lambda *_, **__: pytest.fail("signed again"))
    assert second.isValid() and "sig=token1" in open(second.source()).read()
    QgsProject.instance().removeMapLayer(second.id())

    assert not viewer.needs_signing(layer)  # 15 minutes left
    clock.advance(1000)  # the token expires
    gdal.VSICurlClearCache()
    denied = files.log.denied
    assert read_fresh(layer.source()) is None  # the old token is refused
    assert files.log.denied > denied
    assert viewer.needs_signing(layer)
    assert viewer_tasks.resign_expired() == 1
    assert len(tokens.requests) == 2 and "sig=token2" in open(layer.source()).read()
    np.testing.assert_array_equal(render(layer), reference)

    # saved, the token expires, reopened: renewed in the background on project open
    project_path = tmp_path / "imagery.qgz"
    assert QgsProject.instance().write(str(project_path))
    assert "sig=" not in json.dumps(json.loads(layer.customProperty(viewer.PROPERTY)))
    clock.advance(1000)
    viewer_tasks.install_project_hook()
    QgsProject.instance().clear()
    assert QgsProject.instance().read(str(project_path))
    [reopened] = viewer.imagery_layers()
    assert viewer.needs_signing(reopened)
    wait_for_tasks()
    assert len(tokens.requests) == 3
    assert "sig=token3" in open(reopened.source()).read(), reopened.source()
    assert reopened.isValid()
    gdal.VSICurlClearCache()
    np.testing.assert_array_equal(render(reopened), reference)


def read_fresh(path):
    gdal.PushErrorHandler("CPLQuietErrorHandler")
    try:
        dataset = gdal.Open(path)
        return None if dataset is None else dataset.ReadAsArray()
    finally:
        gdal.PopErrorHandler()


def wait_for_tasks(timeout_seconds=60):
    """Run the event loop until QGIS's task manager has no task left; a task still there
    after ``timeout_seconds`` fails the test, naming it (not a later assert on its result)."""
    manager = QgsApplication.taskManager()
    loop = QEventLoop()
    timer = QTimer()
    timer.timeout.connect(lambda: loop.quit() if not manager.tasks() else None)
    timer.start(100)
    QTimer.singleShot(timeout_seconds * 1000, loop.quit)
    loop.exec()
    timer.stop()
    QgsApplication.processEvents()
    left = [f"{task.description()} (status {task.status()}, {task.progress():.0f} %)"
            for task in manager.tasks()]
    assert not left, f"tasks still running after {timeout_seconds} s: {left}"


def test_save_clipped_geotiff_only_when_asked(wide_sample, file_server, qgis_new_project,
                                              tmp_path):
    files = file_server(wide_sample.root)
    scene = served_scene(wide_sample, files, sd.S2_COLLECTION, clear_s2_index(wide_sample),
                         bands.PLANETARY_COMPUTER_S2)
    extent, crs = forest_extent(wide_sample)
    layer = viewer.open_scene(scene, "true-colour", extent=extent, extent_crs=crs)
    assert not list(tmp_path.glob("*.tif"))
    saved = viewer_tasks.save_clipped(layer, str(tmp_path / "preview.tif"))
    dataset = gdal.Open(str(saved))
    assert (dataset.RasterXSize, dataset.RasterYSize, dataset.RasterCount) == (
        layer.width(), layer.height(), 3)
    np.testing.assert_array_equal(dataset.ReadAsArray(),
                                  gdal.Open(layer.source()).ReadAsArray())
    assert QgsCoordinateReferenceSystem(sd.SCENE_CRS) == layer.crs()
    assert isinstance(layer.extent(), QgsRectangle)


def test_earth_search_old_collection_offset_decided_from_the_preview_pixels(tmp_path,
                                                                            qgis_new_project):
    sample = sc.make_sample(tmp_path / "es", sd.small_spec(sensors=(sd.S2_COLLECTION,),
                                                           months=1, s2_shape="earth-search-l2a"))
    item = sample.item_collection(sd.S2_COLLECTION, str(sample.root))["features"][0]
    assert item["properties"]["earthsearch:boa_offset_applied"] is True
    item["properties"]["earthsearch:boa_offset_applied"] = False  # a wrong flag (issue 66)
    scene = imagery.describe_item(item, bands.EARTH_SEARCH_S2_L2A, provider="Earth Search",
                                  provider_kind="earth-search")
    assert scene["bands"]["red"]["offset"] == -0.1  # the flag's first guess
    layer = viewer.open_scene(scene, "true-colour")
    assert json.loads(layer.customProperty(viewer.PROPERTY))["boa_offset"] is False
    dataset = gdal.Open(layer.source())
    red = dataset.GetRasterBand(1).ReadAsArray()
    dn = gdal.Open(item["assets"]["red"]["href"]).ReadAsArray().astype(float)
    expected = np.where(dn == 0, imagery.NODATA_OUT, dn * 1e-4)  # pixels decide: no offset
    np.testing.assert_allclose(red, expected, rtol=1e-6, atol=1e-6)
    assert "offset already removed" in layer.abstract()


def test_landsat_cloud_mask_classes_from_qa_pixel(small_sample, qgis_new_project):
    items = small_sample.item_collection(sd.LANDSAT_COLLECTION, str(small_sample.root))
    item = next(i for i in items["features"] if 0 < i["properties"]["eo:cloud_cover"] < 50)
    scene = imagery.describe_item(item, bands.LANDSAT_C2_L2, provider="PC",
                                  provider_kind="static")
    layer = viewer.open_scene(scene, "cloud-mask")
    classes = {c.label.split(" (")[0] for c in layer.renderer().classes()}
    assert {"clear", "cloud"} <= classes and "fill" not in classes
    qa = gdal.Open(item["assets"]["qa_pixel"]["href"]).ReadAsArray()
    rgba = render(layer)
    clear, cloud = QColor(dict(imagery.QA_CLASSES)["clear"]), QColor(
        dict(imagery.QA_CLASSES)["cloud"])
    is_clear = qa == sd.QA_WORD_CLEAR
    is_cloud = qa == sd.QA_WORD_CLOUD
    assert is_clear.any() and is_cloud.any()
    assert (rgba[is_clear][:, :3] == (clear.red(), clear.green(), clear.blue())).all()
    assert (rgba[is_cloud][:, :3] == (cloud.red(), cloud.green(), cloud.blue())).all()


def test_requester_pays_scene_is_explained(small_sample, qgis_new_project, monkeypatch):
    monkeypatch.delenv("AWS_REQUEST_PAYER", raising=False)
    item = small_sample.item_collection(sd.LANDSAT_COLLECTION, str(small_sample.root))[
        "features"][0]
    scene = imagery.describe_item(item, bands.EARTH_SEARCH_LANDSAT, provider="Earth Search",
                                  provider_kind="earth-search")
    with pytest.raises(imagery.ImageryError, match="requester-pays"):
        viewer.open_scene(scene, "true-colour")


def test_cancelling_a_task_stops_its_sign_job(wide_sample, qgis_new_project, tmp_path,
                                              monkeypatch):
    """A sign job that hangs (say, the signing service does not answer): cancelling the task
    that waits for it (a layer by date here; opening a scene, thumbnails, the before/after
    pair and renewals pass the same ``cancel``) stops the job's Python at once."""
    import os
    import time

    from raster_collect_plugin.engine import bridge
    from raster_collect_plugin.gui.date_views import SignTask

    started_file = tmp_path / "pid"
    hanging = tmp_path / "hanging-python"
    hanging.write_text(f"#!/bin/sh\necho $$ > '{started_file}'\n"
                       "while true; do sleep 0.1; done\n")
    hanging.chmod(0o755)
    monkeypatch.setattr(bridge, "require_ready", lambda python: {"ready": True})
    item = wide_sample.item_collection(
        sd.S2_COLLECTION, "http://pcsampleaccount.blob.core.windows.net/never-signed")[
        "features"][clear_s2_index(wide_sample)]
    scene = imagery.describe_item(item, bands.PLANETARY_COMPUTER_S2,
                                  provider="Planetary Computer",
                                  provider_kind="planetary-computer")
    finished = []
    task = SignTask(scene, "true-colour", finished.append,
                    signer=viewer.engine_signer(str(hanging)))
    QgsApplication.taskManager().addTask(task)
    deadline = time.monotonic() + 60
    while not started_file.exists() and time.monotonic() < deadline:
        QgsApplication.processEvents()
        time.sleep(0.05)
    assert started_file.exists(), "the sign job did not start"
    job_python = int(started_file.read_text())
    cancelled_at = time.monotonic()
    task.cancel()
    try:
        wait_for_tasks(timeout_seconds=30)
        assert time.monotonic() - cancelled_at < viewer.SIGN_TERMINATE_GRACE + 3
        assert finished == [task] and isinstance(task.error, bridge.JobCancelled)
        with pytest.raises(ProcessLookupError):  # the job's Python is gone
            os.kill(job_python, 0)
    finally:  # a failure must not leave the job (and so the task) running
        try:
            os.kill(job_python, 9)
        except ProcessLookupError:
            pass
        wait_for_tasks(timeout_seconds=30)


def test_the_same_layer_built_in_three_threads_at_once(wide_sample, file_server,
                                                       qgis_new_project):
    """The thumbnails and a scene opened from the table right after a search build the same
    scene, rendering and extent at the same moment. GDAL rewrites a VRT (truncating it first)
    when a layer that computed its statistics closes, so layers sharing one VRT file failed
    to open now and then ("Cannot open GDAL dataset"); each layer has a VRT of its own."""
    import threading

    files = file_server(wide_sample.root)
    scene = served_scene(wide_sample, files, sd.S2_COLLECTION, clear_s2_index(wide_sample),
                         bands.PLANETARY_COMPUTER_S2)
    extent, crs = forest_extent(wide_sample)
    signed = {href: href for href in viewer.scene_hrefs(
        scene, imagery.layer_spec(scene, "true-colour"))}
    failures, sources = [], set()
    start = threading.Barrier(3)
    from qgis.core import QgsProject

    context = QgsProject.instance().transformContext()  # as the tasks take it: main thread

    def build() -> None:
        start.wait()
        for _ in range(40):
            try:
                layer = viewer.finish_open(scene, "true-colour", signed, None, extent, crs,
                                           add=False, context=context)
                assert layer.isValid() and layer.bandCount() == 3
                sources.add(layer.source())
                del layer  # closed now: GDAL writes the statistics back into its VRT
            except Exception as error:  # collected: the main thread asserts
                failures.append(repr(error))

    threads = [threading.Thread(target=build) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == [], failures[:3]
    assert len(sources) == 3 * 40  # a file per layer
