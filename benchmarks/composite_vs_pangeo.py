"""Benchmark: the composite phase against the pangeo pipeline an expert would write.

The anchor is written the way a competent xarray/dask user would: ONE lazy odc-stac load of
every band and the SCL mask, the cloud mask applied once, both indices in one Dataset,
``resample(time="1MS").median()`` for all of them at once, the clear counts, ONE
``dask.compute`` and the COGs written in threads with the project's own stack writer (so the
same codec: ZSTD level 1, 128-px tiles, overviews). Its COGs must equal the project's bit for
bit; the script checks that before it prints any ratio.

Each side runs in its own process, alternately, ``--runs`` times; the report gives min/median
of CPU-seconds (the phase, all threads), wall and peak RSS (whole process), with the load
average. Inputs default to the issue's larger sample (2,020 x 2,044 px, 12 monthly scenes):

    python benchmarks/composite_vs_pangeo.py [--width 2020] [--height 2044] [--months 12]
                                             [--runs 3] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from _measure import load_line, peak_rss_mb, phase_cpu, python, run_measured, spread
from _workdir import work_folder

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

INDICES = ("NDVI", "EVI")


def _warm_imports() -> None:
    """Both sides start their clock with the same libraries imported."""
    import dask.array  # noqa: F401
    import geopandas  # noqa: F401
    import odc.stac  # noqa: F401
    import rasterio  # noqa: F401
    import xarray  # noqa: F401


def project_side(folder: Path, months: int) -> dict:
    """raster-collect's composite job (search, load, mask, indices, composites, COGs,
    metadata), as the CLI and the dock run it."""
    from scale_out import job_spec

    from raster_collect_plugin.core.jobs.run import run_job

    cpu, started = phase_cpu(), time.perf_counter()
    result = run_job(job_spec(folder, folder / "out-project", months, 0, kind="composite"))
    [collection] = result["collections"]
    files = {**collection["indices"], "clear_count": collection["clear_count"]}
    return {"cpu": phase_cpu() - cpu, "wall": time.perf_counter() - started,
            "peak_rss_mb": peak_rss_mb(), "files": files}


def expert_side(folder: Path, months: int) -> dict:
    """The pangeo anchor: what an expert writes for the same outputs (about 50 lines)."""
    import warnings
    from concurrent.futures import ThreadPoolExecutor
    from datetime import datetime

    import dask
    import geopandas as gpd
    import numpy as np
    import odc.stac
    import pystac
    import xarray as xr
    from odc.geo.geobox import GeoBox

    from raster_collect_plugin.core.outputs.files import StackWriter

    cpu, started = phase_cpu(), time.perf_counter()
    end = datetime(2025, months, 28, 23, 59, 59).isoformat()
    items = [i for i in pystac.Catalog.from_file(str(folder / "catalog.json"))
             .get_items(recursive=True) if i.datetime.isoformat()[:19] <= end]
    aoi = gpd.read_file(folder / "forests.gpkg")
    geobox = GeoBox.from_bbox(aoi.total_bounds, aoi.crs, resolution=10)
    ds = odc.stac.load(items, bands=["B02", "B04", "B08", "SCL"], geobox=geobox,
                       groupby="solar_day", chunks={"time": 1, "x": 1024, "y": 1024},
                       resampling="nearest")
    valid = (ds.B02 != 0) & (ds.B04 != 0) & (ds.B08 != 0)
    clear = valid & ~ds.SCL.isin([0, 1, 3, 8, 9, 10])  # no data, defective, shadow, clouds
    # L2A processing baseline >= 04.00: DN / 10000 - 0.1 (every scene here)
    blue, red, nir = ((ds[b].astype("float32") * np.float32(1e-4) + np.float32(-0.1))
                      .where(clear).astype("float32") for b in ("B02", "B04", "B08"))
    indices = xr.Dataset({
        "NDVI": (nir - red) / (nir + red + 1e-10),
        "EVI": 2.5 * (nir - red) / (nir + 6.0 * red - 7.5 * blue + 1.0 + 1e-10)})
    monthly = indices.resample(time="1MS").median().astype("float32")
    counts = clear.resample(time="1MS").sum().astype("uint16")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN (cloudy) pixels -> NaN
        monthly, counts = dask.compute(monthly, counts)
    labels = [f"{t:%Y-%m}" for t in monthly.time.to_index()]
    out = folder / "out-expert"
    out.mkdir(exist_ok=True)
    stacks = {name: (monthly[name].values, float("nan")) for name in INDICES}
    stacks["clear_count"] = (counts.values, None)

    def write(name: str) -> str:
        values, nodata = stacks[name]
        writer = StackWriter(out / f"{name}.tif", count=len(labels), height=values.shape[1],
                             width=values.shape[2], dtype=values.dtype.name,
                             transform=geobox.affine, crs=geobox.crs.to_wkt(), nodata=nodata,
                             fill=0 if nodata is None else nodata, band_descriptions=labels)
        for band in range(len(labels)):
            writer.write(band, values[band])
        return str(writer.finish())

    with ThreadPoolExecutor(2) as pool:
        files = dict(zip(stacks, pool.map(write, stacks)))
    return {"cpu": phase_cpu() - cpu, "wall": time.perf_counter() - started,
            "peak_rss_mb": peak_rss_mb(), "files": files}


def identical(ours: dict, theirs: dict) -> bool:
    """Every COG's pixels (and its overviews) equal, NaN where NaN."""
    import numpy as np
    import rasterio

    for name in (*INDICES, "clear_count"):
        with rasterio.open(ours[name]) as a, rasterio.open(theirs[name]) as b:
            if a.overviews(1) != b.overviews(1) or a.profile["blockxsize"] != \
                    b.profile["blockxsize"] or a.compression != b.compression:
                return False
            for level in (None, *range(len(a.overviews(1)))):
                if level is None:
                    x, y = a.read(), b.read()
                else:
                    with rasterio.open(ours[name], overview_level=level) as ao, \
                            rasterio.open(theirs[name], overview_level=level) as bo:
                        x, y = ao.read(), bo.read()
                if x.shape != y.shape or not np.array_equal(x, y, equal_nan=True):
                    return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--width", type=int, default=2020)
    parser.add_argument("--height", type=int, default=2044)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workdir")
    parser.add_argument("--side", choices=("project", "expert"), help=argparse.SUPPRESS)
    args, _ = parser.parse_known_args()
    if args.side:
        _warm_imports()
        side = project_side if args.side == "project" else expert_side
        print(json.dumps(side(Path(args.workdir), args.months)))
        return
    with work_folder(args.workdir, "rc-composite-", parent="/var/tmp") as folder:
        _benchmark(folder, args)


def _benchmark(folder: Path, args) -> None:
    from scale_out import make_inputs

    make_inputs(folder, args.width, args.height, args.months, 40)
    print(f"inputs: {args.width} x {args.height} px, {args.months} monthly scenes (B02, B04, "
          f"B08 at 10 m, SCL at 20 m), NDVI + EVI monthly medians and clear counts; "
          f"{args.runs} runs a side, alternating", flush=True)
    runs: dict = {"project": [], "expert": []}
    for run in range(args.runs):
        for side in ("project", "expert") if run % 2 == 0 else ("expert", "project"):
            result = run_measured([python(), __file__, "--side", side, "--workdir",
                                   str(folder), "--months", str(args.months)],
                                  cwd=str(Path(__file__).parent))
            result["load"] = load_line()
            runs[side].append(result)
            print(f"  run {run + 1} {side:>7}: {result['cpu']:.1f} CPU-s, {result['wall']:.1f} s "
                  f"wall, peak RSS {result['process_peak_rss_mb']:.0f} MB; {result['load']}",
                  flush=True)
    same = identical(runs["project"][-1]["files"], runs["expert"][-1]["files"])
    print(f"COGs bit-identical (pixels, overviews, tiling, codec): {same}")
    report(runs, same)


def report(runs: dict, same: bool) -> None:
    """The min/median lines and the ratios project / expert (target <= 0.7)."""
    for side, label in (("project", "raster-collect composite job"),
                        ("expert", "expert pangeo pipeline")):
        rows = runs[side]
        print(f"{label:>30}: CPU {spread([r['cpu'] for r in rows])}, wall "
              f"{spread([r['wall'] for r in rows])}, peak RSS "
              f"{spread([r['process_peak_rss_mb'] for r in rows], 'MB', 0)} (min / median)")
    ratio = {key: min(r[key] for r in runs["project"]) / min(r[key] for r in runs["expert"])
             for key in ("cpu", "wall", "process_peak_rss_mb")}
    print(f"ratio raster-collect / expert (best runs): CPU {ratio['cpu']:.2f}, wall "
          f"{ratio['wall']:.2f}, peak RSS {ratio['process_peak_rss_mb']:.2f} (target <= 0.7, "
          f"<= 0.7, <= 1.0){'' if same else '; OUTPUTS DIFFER, ratios not comparable'}")
    print(load_line())


if __name__ == "__main__":
    main()
