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
import sys
import time
from pathlib import Path

from _measure import load_line, phase_cpu, python, run_measured
from _synthetic_s2 import write_s2_catalog
from _workdir import work_folder

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def make_estate(folder: Path, size: int, months: int) -> Path:
    import geopandas as gpd
    from shapely.geometry import box

    from raster_collect_plugin.core.outputs.files import write_json

    catalog = folder / "catalog.json"
    if catalog.exists():
        return catalog
    left, top = write_s2_catalog(folder, width=size, height=size, months=months,
                                 first_year=2024, cloud_rows=size // 10)
    cells = size * 10 // 1000
    polygons = [box(left + i * 1000 + 20, top - (j + 1) * 1000 + 20,
                    left + (i + 1) * 1000 - 20, top - j * 1000 - 20)
                for i in range(cells) for j in range(cells)]
    gpd.GeoDataFrame({"forest_id": range(1, len(polygons) + 1)}, geometry=polygons,
                     crs="EPSG:32756").to_file(folder / "estate.gpkg", driver="GPKG")
    write_json(folder / "made.json", {"size": size, "months": months})
    return catalog


def run_child(folder: Path, months: int) -> None:
    from raster_collect_plugin.core.jobs.run import run_job

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
    print(json.dumps({"seconds": seconds, "peak_rss_mb": peak, "rows": result["rows"],
                      "cpu": phase_cpu()}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=3000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--workdir")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(Path(args.workdir), args.months)
        return
    with work_folder(args.workdir, "rc-estate-") as folder:
        _benchmark(folder, args)


def _benchmark(folder: Path, args) -> None:
    started = time.perf_counter()
    make_estate(folder, args.size, args.months)
    print(f"estate: {args.size}x{args.size} px at 10 m, {args.months} scenes x 4 bands, "
          f"made in {time.perf_counter() - started:.0f} s")
    run = run_measured([python(), __file__, "--child", "--workdir", str(folder), "--months",
                        str(args.months)])
    full_stack_mb = args.months * 4 * args.size * args.size * 4 / 2**20
    print(f"zonal job: {run['seconds']:.1f} s wall, {run['cpu']:.1f} CPU-s, peak RSS "
          f"{run['process_peak_rss_mb']:.0f} MB, {run['rows']} statistics rows; the full "
          f"float32 stack would be {full_stack_mb:.0f} MB; {load_line()}")


if __name__ == "__main__":
    main()
