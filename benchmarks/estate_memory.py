"""Benchmark: an estate-sized run stays memory-bounded.

A 30 km x 30 km estate at 10 m (3000 x 3000 px), 24 monthly Sentinel-2 scenes with 4 bands
(blue, red, nir + SCL), 900 compartments: monthly cloud-masked NDVI/EVI composites and zonal
statistics per compartment, run as a job in its own process. Prints wall time, peak RSS and
the size the full float32 stack would take if it were materialised.

    python benchmarks/estate_memory.py [--size 3000] [--months 24] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def make_estate(folder: Path, size: int, months: int) -> Path:
    import geopandas as gpd
    from affine import Affine
    from shapely.geometry import box

    from raster_collect_plugin.core import sample_data as sd
    from raster_collect_plugin.core.outputs import write_cog, write_json

    catalog = folder / "catalog.json"
    if catalog.exists():
        return catalog
    rng = np.random.default_rng(0)
    left, top = 450_000.0, 7_050_000.0
    transform = Affine(10, 0, left, 0, -10, top)
    scl_transform = Affine(20, 0, left, 0, -20, top)
    items = []
    for month in range(months):
        when = datetime(2024 + month // 12, month % 12 + 1, 10, 23, 50, tzinfo=timezone.utc)
        item_id = f"S2A_MSIL2A_{when:%Y%m%d}T235000_R016_T56JNS"
        base = Path(sd.S2_COLLECTION) / item_id
        assets = {}
        for key, reflectance in (("B02", 0.03), ("B04", 0.04), ("B08", 0.30)):
            dn = (1000 + 10_000 * (reflectance + rng.normal(0, 0.01, (size, size)))).clip(1)
            href = f"{base}/{key}.tif"
            write_cog(folder / href, dn.astype("uint16"), transform=transform, crs=sd.SCENE_CRS,
                      nodata=0)
            assets[key] = sd._asset(href, transform, size, size, ["data"])
        scl = np.full((size // 2, size // 2), 4, "uint8")
        band = size // 10
        y0 = rng.integers(0, size // 2 - band)
        scl[y0:y0 + band, :] = 9  # a cloud band across the estate
        href = f"{base}/SCL.tif"
        write_cog(folder / href, scl, transform=scl_transform, crs=sd.SCENE_CRS, nodata=0)
        assets["SCL"] = sd._asset(href, scl_transform, size // 2, size // 2, ["data"])
        scene = sd.Scene(sd.S2_COLLECTION, when, "Sentinel-2A")
        items.append(sd._item(item_id, sd.S2_COLLECTION, scene, transform, size, size,
                              {"eo:cloud_cover": 10.0, "s2:processing_baseline": "05.11"},
                              assets))
    sd.write_static_catalog(folder, {sd.S2_COLLECTION: items}, sd.SampleSpec())
    cells = size * 10 // 1000
    polygons = [box(left + i * 1000 + 20, top - (j + 1) * 1000 + 20,
                    left + (i + 1) * 1000 - 20, top - j * 1000 - 20)
                for i in range(cells) for j in range(cells)]
    gpd.GeoDataFrame({"forest_id": range(1, len(polygons) + 1)}, geometry=polygons,
                     crs="EPSG:32756").to_file(folder / "estate.gpkg", driver="GPKG")
    write_json(folder / "made.json", {"size": size, "months": months})
    return catalog


def run_child(folder: Path, months: int) -> None:
    from raster_collect_plugin.core.jobs import run_job

    started = time.perf_counter()
    result = run_job({"kind": "zonal", "aoi": str(folder / "estate.gpkg"),
                      "sources": [{"kind": "static", "href": str(folder / "catalog.json")}],
                      "start": "2024-01-01", "end": f"{2024 + (months - 1) // 12}-12-31",
                      "indices": ["NDVI", "EVI"], "max_cloud_cover": 100,
                      "output_dir": str(folder / "outputs")})
    seconds = time.perf_counter() - started
    peak = next(int(line.split()[1]) / 1024 for line in
                Path("/proc/self/status").read_text().splitlines()
                if line.startswith("VmHWM:"))
    print(json.dumps({"seconds": seconds, "peak_rss_mb": peak, "rows": result["rows"]}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=3000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--workdir")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    folder = Path(args.workdir or tempfile.mkdtemp(prefix="rc-estate-"))
    if args.child:
        run_child(folder, args.months)
        return
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    make_estate(folder, args.size, args.months)
    print(f"estate: {args.size}x{args.size} px at 10 m, {args.months} scenes x 4 bands, "
          f"made in {time.perf_counter() - started:.0f} s")
    output = subprocess.run([sys.executable, __file__, "--child", "--workdir", str(folder),
                             "--months", str(args.months)], capture_output=True, text=True,
                            check=True).stdout
    run = json.loads(output.strip().splitlines()[-1])
    full_stack_mb = args.months * 4 * args.size * args.size * 4 / 2**20
    print(f"zonal job: {run['seconds']:.1f} s, peak RSS {run['peak_rss_mb']:.0f} MB, "
          f"{run['rows']} statistics rows; the full float32 stack would be "
          f"{full_stack_mb:.0f} MB")


if __name__ == "__main__":
    main()
