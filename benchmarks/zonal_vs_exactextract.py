"""Benchmark: the zonal engine vs exactextract on a multi-band composite stack (written by the
project's composite writer, so with the composites' codec).

2,000 polygons over a 24-band 4000 x 4000 float32 stack (defaults). Each engine runs in its own
process; the script prints wall time, peak RSS, the speed ratio and the largest relative
difference of the coverage-weighted means.

From the file, raster-collect runs what a zonal run runs on its composites
(``zonal_tasks.zonal_tables``: blocks of zones in dask threads) and computes all its 16
statistics; exactextract is timed twice: asked for the same statistics (the like-for-like
ratio) and for the mean only.

    python benchmarks/zonal_vs_exactextract.py [--size 4000] [--bands 24] [--polygons 2000]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from _workdir import work_folder

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CRS = "EPSG:32756"


def make_inputs(folder: Path, size: int, bands: int, polygons: int):
    import geopandas as gpd
    from affine import Affine

    from raster_collect_plugin.core.outputs.files import StackWriter

    rng = np.random.default_rng(42)
    transform = Affine(10, 0, 500_000, 0, -10, 7_000_000)
    stack = folder / "stack.tif"
    if not stack.exists():
        # written by the project's composite writer: the files the zonal step really reads
        y, x = np.mgrid[0:size, 0:size].astype("float32") / size
        writer = StackWriter(stack, count=bands, height=size, width=size, dtype="float32",
                             transform=transform, crs=CRS, nodata=float("nan"),
                             fill=float("nan"),
                             band_descriptions=[f"period {b + 1}" for b in range(bands)])
        for band in range(bands):
            data = 0.6 + 0.2 * np.sin(6 * x + band) * np.cos(4 * y) + \
                rng.normal(0, 0.02, (size, size)).astype("float32")
            clouds = rng.integers(0, size - 400, 2)
            data[clouds[0]:clouds[0] + 300, clouds[1]:clouds[1] + 300] = np.nan
            writer.write(band, data.astype("float32"))
        writer.finish()
    extent = size * 10
    centres = rng.uniform(300, extent - 300, size=(polygons, 2))
    radii = rng.uniform(60, 250, polygons)
    frame = gpd.GeoDataFrame(
        {"forest_id": np.arange(polygons)},
        geometry=gpd.points_from_xy(500_000 + centres[:, 0], 7_000_000 - centres[:, 1])
        .buffer(1.0).scale(1, 1), crs=CRS)
    frame["geometry"] = [p.centroid.buffer(r) for p, r in zip(frame.geometry, radii)]
    zones = folder / "zones.gpkg"
    frame.to_file(zones, driver="GPKG")
    return stack, zones


def _with_tiles_of(stack: Path, size: int) -> Path:
    """A copy of ``stack`` with ``size``-px tiles, the codec otherwise the same."""
    import rasterio
    from rasterio.shutil import copy as copy_dataset

    copy = stack.with_name(f"{stack.stem}-{size}px.tif")
    with rasterio.Env(GDAL_NUM_THREADS="ALL_CPUS"):
        copy_dataset(stack, copy, driver="COG", compress="ZSTD", level=1, blocksize=size,
                     overviews="AUTO", resampling="NEAREST", BIGTIFF="IF_SAFER")
    return copy


def _peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM, reset at exec unlike ru_maxrss)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


SAME_STATISTICS = ["mean", "median", "stdev", "min", "max", "quantile(q=0.1)",
                   "quantile(q=0.9)", "sum", "count", "majority", "minority", "variety",
                   "coefficient_of_variation"]  # a zonal run's statistics, exactextract's names


def run_engine(engine: str, stack: Path, zones: Path, result: Path) -> None:
    """One engine on one input kind, e.g. ``exactextract:memory``, ``exactextract-all:file``
    (the same statistics as a zonal run) or ``raster-collect:file``."""
    import geopandas as gpd
    import rasterio
    import rioxarray  # noqa: F401 (registers the .rio accessor)
    import xarray as xr
    from exactextract import exact_extract

    from raster_collect_plugin.core.zonal.reader import RasterStack
    from raster_collect_plugin.core.zonal.statistics import zonal_statistics

    name, kind = engine.split(":")
    frame = gpd.read_file(zones)
    source = str(stack)
    if kind == "memory":  # the stack as the imagery pipeline hands it over
        with rasterio.Env(GDAL_NUM_THREADS="ALL_CPUS"), rasterio.open(stack) as dataset:
            array, transform, crs = dataset.read(), dataset.transform, dataset.crs
        rows, cols = array.shape[1:]
        source = xr.DataArray(array, dims=("band", "y", "x"), coords={
            "band": np.arange(1, array.shape[0] + 1),
            "y": transform.f + transform.e * (np.arange(rows) + 0.5),
            "x": transform.c + transform.a * (np.arange(cols) + 0.5)}).rio.write_crs(
            crs.to_wkt())
    started = time.perf_counter()
    if name.startswith("exactextract"):
        operations = SAME_STATISTICS if name == "exactextract-all" else ["mean"]
        table = exact_extract(source, frame, operations, output="pandas")
        means = table[[c for c in table.columns if c == "mean" or c.endswith("_mean")]]
        means = means.to_numpy()  # (polygons, bands)
    elif kind == "memory":
        with_stats = zonal_statistics(RasterStack(source.values, transform=transform, crs=crs),
                                      frame, id_fields=["forest_id"])
        means = with_stats["mean"].to_numpy().reshape(len(frame), -1)
    else:  # what a zonal run does with its composite files
        from raster_collect_plugin.core.zonal.tasks import zonal_tables

        with_stats = zonal_tables([("bench", "stack", "NDVI", source)], frame,
                                  id_fields=["forest_id"])
        means = with_stats["mean"].to_numpy().reshape(len(frame), -1)
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    np.save(result, means)
    print(json.dumps({"engine": engine, "seconds": seconds, "peak_rss_mb": _peak_rss_mb(),
                      "cpu": usage.ru_utime + usage.ru_stime}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=4000)
    parser.add_argument("--bands", type=int, default=24)
    parser.add_argument("--polygons", type=int, default=2000)
    parser.add_argument("--workdir", help="keep inputs here (default: a temp folder)")
    parser.add_argument("--inputs", choices=("file", "memory", "both"), default="both",
                        help="which input kinds to time (default: both)")
    parser.add_argument("--engine", help=argparse.SUPPRESS)
    parser.add_argument("--stack", help=argparse.SUPPRESS)
    parser.add_argument("--zones", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.engine:
        run_engine(args.engine, Path(args.stack), Path(args.zones), Path(args.result))
        return
    with work_folder(args.workdir, "rc-bench-") as folder:
        _benchmark(folder, args)


def _benchmark(folder: Path, args) -> None:
    started = time.perf_counter()
    stack, zones = make_inputs(folder, args.size, args.bands, args.polygons)
    print(f"inputs: {args.polygons} polygons, {args.bands} bands of {args.size}x{args.size} "
          f"float32 ({stack.stat().st_size / 1e6:.0f} MB on disk), made in "
          f"{time.perf_counter() - started:.1f} s")
    timings: dict = {}
    for kind, label in (("file", "the project's composite COG on disk (what a zonal run reads)"),
                        ("memory", "in-memory stack (what the imagery pipeline hands over)")):
        if args.inputs not in (kind, "both"):
            continue
        print(f"-- {label}")
        runs = {}
        names = ("raster-collect", "exactextract-all", "exactextract") if kind == "file" \
            else ("raster-collect", "exactextract")
        for name in names:
            engine = f"{name}:{kind}"
            output = subprocess.run(
                [sys.executable, __file__, "--engine", engine, "--stack", str(stack), "--zones",
                 str(zones), "--result", str(folder / f"{name}-{kind}.npy")],
                capture_output=True, text=True, check=True).stdout
            runs[name] = json.loads(output.strip().splitlines()[-1])
            print(f"{name:>16}: {runs[name]['seconds']:8.2f} s ({runs[name]['cpu']:.1f} s CPU "
                  f"incl. start-up), peak RSS "
                  f"{runs[name]['peak_rss_mb']:7.0f} MB")
        ours = np.load(folder / f"raster-collect-{kind}.npy")
        theirs = np.load(folder / f"exactextract-{kind}.npy")
        both = np.isfinite(ours) & np.isfinite(theirs)
        relative = np.abs(ours[both] - theirs[both]) / np.maximum(np.abs(theirs[both]), 1e-12)
        ours_seconds = runs["raster-collect"]["seconds"]
        if "exactextract-all" in runs:
            print(f"ratio exactextract / raster-collect time, the same 16 statistics: "
                  f"{runs['exactextract-all']['seconds'] / ours_seconds:.1f}x (target >= 10x)")
        if kind == "file":  # the composites' 128-px tiles slow exactextract down: time it on
            # the same values in 256-px tiles too, and report the ratio against its faster run
            other = _with_tiles_of(stack, 256)
            output = subprocess.run(
                [sys.executable, __file__, "--engine", "exactextract-all:file", "--stack",
                 str(other), "--zones", str(zones), "--result", str(folder / "other.npy")],
                capture_output=True, text=True, check=True).stdout
            other.unlink()
            seconds = json.loads(output.strip().splitlines()[-1])["seconds"]
            best = min(seconds, runs["exactextract-all"]["seconds"])
            print(f"exactextract-all on the same values in 256 x 256 tiles: {seconds:.2f} s; "
                  f"ratio against its faster layout: {best / ours_seconds:.1f}x")
        ratio = runs["exactextract"]["seconds"] / ours_seconds
        print(f"ratio exactextract (mean only) / raster-collect (all statistics): {ratio:.1f}x; "
              f"max relative difference of means: {relative.max():.2e} (target <= 1e-5); "
              f"NaN patterns equal: {bool((np.isfinite(ours) == np.isfinite(theirs)).all())}")
        timings[kind] = {name: run["seconds"] for name, run in runs.items()}
    if {"file", "memory"} <= set(timings):
        fused = timings["memory"]["raster-collect"]
        print(f"-- zonal reduction from the composites still in memory (fused with compositing, "
              f"no re-read) vs exactextract on the files: "
              f"{timings['file']['exactextract-all'] / fused:.1f}x with the same statistics, "
              f"{timings['file']['exactextract'] / fused:.1f}x against its mean only")


if __name__ == "__main__":
    main()
