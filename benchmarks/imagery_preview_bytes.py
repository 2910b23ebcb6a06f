"""Scene previews stream only what they show: bytes the loopback Range server sends for each
rendering of one scene, clipped to one forest and to the whole forest block, against the full
size of the COGs the rendering uses, and the time until the layer is drawn."""

import os
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from qgis.core import (  # noqa: E402
    QgsApplication,
    QgsMapRendererSequentialJob,
    QgsMapSettings,
    QgsVectorLayer,
)
from qgis.PyQt.QtCore import QSize  # noqa: E402

from raster_collect_plugin.core import bands, imagery  # noqa: E402
from raster_collect_plugin.core import sample_data as sd  # noqa: E402
from tests.servers.range_http import RangeFileServer  # noqa: E402

MARGIN_M = float(os.environ.get("IMAGERY_BENCH_MARGIN_M", "15000"))  # scene ~32 km wide
PROFILES = {sd.S2_COLLECTION: bands.PLANETARY_COMPUTER_S2, sd.S1_COLLECTION: bands.SENTINEL1_RTC,
            sd.LANDSAT_COLLECTION: bands.LANDSAT_C2_L2}


def draw(layer) -> None:
    settings = QgsMapSettings()
    settings.setLayers([layer])
    settings.setDestinationCrs(layer.crs())
    settings.setExtent(layer.extent())
    settings.setOutputSize(QSize(layer.width(), layer.height()))
    job = QgsMapRendererSequentialJob(settings)
    job.start()
    job.waitForFinished()


def main() -> None:
    app = QgsApplication([], False)
    app.initQgis()
    from raster_collect_plugin.gui import imagery as viewer

    when = datetime(2025, 10, 5, 23, 50, tzinfo=timezone.utc)
    scenes = [sd.Scene(sd.S2_COLLECTION, when, "Sentinel-2A"),
              sd.Scene(sd.LANDSAT_COLLECTION, when, "landsat-9"),
              sd.Scene(sd.S1_COLLECTION, when, "SENTINEL-1A")]
    with tempfile.TemporaryDirectory() as folder:
        spec = sd.small_spec(months=1, margin_m=MARGIN_M)
        sample = sd.make_sample(Path(folder) / "sample", spec, scenes)
        server = RangeFileServer(sample.root).start()
        forests = QgsVectorLayer(f"{sample.forests_path}|layername=forests", "f", "ogr")
        one = next(forests.getFeatures()).geometry().boundingBox()
        areas = {"one forest": one, "forest block": forests.extent()}
        print(f"{'collection':16} {'rendering':13} {'area':13} {'px':>9} {'served':>10} "
              f"{'of COGs':>10} {'share':>6} {'time':>6}")
        for collection, profile in PROFILES.items():
            item = sample.item_collection(collection, server.url)["features"][0]
            scene = imagery.describe_item(item, profile, provider="sample",
                                          provider_kind="static")
            for rendering in scene["renderings"]:
                spec_ = imagery.layer_spec(scene, rendering)
                paths = {sample.root / scene["assets"][b.asset]["href"][len(server.url) + 1:]
                         for b in spec_.bands}
                full = sum(p.stat().st_size for p in paths)
                for name, extent in areas.items():
                    from osgeo import gdal

                    gdal.VSICurlClearCache()
                    server.log.reset()
                    started = time.perf_counter()
                    layer = viewer.open_scene(scene, rendering, extent=extent,
                                              extent_crs=forests.crs(), add=False)
                    draw(layer)
                    elapsed = time.perf_counter() - started
                    served = server.log.total_bytes
                    print(f"{collection:16} {rendering:13} {name:13} "
                          f"{layer.width():>4}x{layer.height():<4} {served:>10,} {full:>10,} "
                          f"{served / full:>6.1%} {elapsed:>5.2f}s", flush=True)
        server.stop()
    app.exitQgis()


if __name__ == "__main__":
    main()
