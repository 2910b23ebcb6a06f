"""Scene previews stream only what they show: bytes the loopback Range server sends for each
rendering of one scene, clipped to one forest and to the whole forest block, against the full
size of the COGs the rendering uses, and the time until the layer is drawn.

The sample scenes are made by a separate Python: ``sample_data`` writes them with rasterio,
whose own GDAL must not be loaded into a QGIS process (it crashed this one at exit)."""

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
# it renders off screen: no display needed (make benchmark on a server or over SSH)
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from qgis.core import (  # noqa: E402
    QgsApplication,
    QgsMapRendererSequentialJob,
    QgsMapSettings,
    QgsVectorLayer,
)
from qgis.PyQt.QtCore import QSize  # noqa: E402

from raster_collect_plugin.core import imagery
from raster_collect_plugin.core.pixels import bands
from tests.servers.range_http import RangeFileServer  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
MARGIN_M = float(os.environ.get("IMAGERY_BENCH_MARGIN_M", "15000"))  # scene ~32 km wide
PROFILES = {"s2": bands.PLANETARY_COMPUTER_S2, "s1": bands.SENTINEL1_RTC,
            "landsat": bands.LANDSAT_C2_L2}
MAKE_SAMPLE = """
import json, sys
from datetime import datetime, timezone
from pathlib import Path
from raster_collect_plugin.core.sample import catalog as sc
from raster_collect_plugin.core.sample import scenes as sd

when = datetime(2025, 10, 5, 23, 50, tzinfo=timezone.utc)
scenes = [sd.Scene(sd.S2_COLLECTION, when, "Sentinel-2A"),
          sd.Scene(sd.LANDSAT_COLLECTION, when, "landsat-9"),
          sd.Scene(sd.S1_COLLECTION, when, "SENTINEL-1A")]
sample = sc.make_sample(Path(sys.argv[1]), sd.small_spec(months=1, margin_m=float(sys.argv[2])),
                        scenes)
collections = {"s2": sd.S2_COLLECTION, "s1": sd.S1_COLLECTION, "landsat": sd.LANDSAT_COLLECTION}
print(json.dumps({"forests": str(sample.forests_path),
                  "collections": collections,
                  "first_items": {key: sample.items[name][0]
                                  for key, name in collections.items()}}))
"""


def make_sample(root: Path) -> dict:
    """The sample's forests and the first item of each collection (asset hrefs relative to
    ``root``), made by this interpreter in a separate process."""
    made = subprocess.run([sys.executable, "-c", MAKE_SAMPLE, str(root), str(MARGIN_M)],
                          cwd=ROOT, check=True, capture_output=True, text=True)
    return json.loads(made.stdout.strip().splitlines()[-1])


def served_from(item: dict, base_url: str) -> dict:
    """``item`` with its asset hrefs under ``base_url``."""
    item = json.loads(json.dumps(item))
    for asset in item["assets"].values():
        asset["href"] = f"{base_url}/{asset['href']}"
    return item


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
    from osgeo import gdal

    from raster_collect_plugin.gui import imagery as viewer

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "sample"
        sample = make_sample(root)
        server = RangeFileServer(root).start()
        forests = QgsVectorLayer(f"{sample['forests']}|layername=forests", "f", "ogr")
        one = next(forests.getFeatures()).geometry().boundingBox()
        areas = {"one forest": one, "forest block": forests.extent()}
        print(f"{'collection':16} {'rendering':13} {'area':13} {'px':>9} {'served':>10} "
              f"{'of COGs':>10} {'share':>6} {'time':>6}")
        for key, profile in PROFILES.items():
            collection = sample["collections"][key]
            item = served_from(sample["first_items"][key], server.url)
            scene = imagery.describe_item(item, profile, provider="sample",
                                          provider_kind="static")
            for rendering in scene["renderings"]:
                spec_ = imagery.layer_spec(scene, rendering)
                paths = {root / scene["assets"][b.asset]["href"][len(server.url) + 1:]
                         for b in spec_.bands}
                full = sum(p.stat().st_size for p in paths)
                for name, extent in areas.items():
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
                    del layer
        server.stop()
        del forests
    app.exitQgis()


if __name__ == "__main__":
    main()
