"""Benchmark: the zonal engine vs exactextract on a multi-band composite stack (written by the
project's composite writer, so with the composites' codec).

2,000 polygons over a 24-band 4000 x 4000 float32 stack (defaults). Each engine runs in its own
process, ``--runs`` times; the script prints min/median CPU-seconds and wall of the zonal step
(all threads), the process's peak RSS, the load average, the ratios of the best runs and the
largest relative difference of the coverage-weighted means.

From the file, raster-collect runs what a zonal run runs on its composites
(``zonal_tasks.zonal_tables``: blocks of zones in dask threads) and computes all its 16
statistics; ``raster-collect-read`` decodes the same tiles with the same reader and computes
nothing (the floor of a zonal run's CPU on that file: the reader has libzstd decompress each
tile into its ring, ``core/zonal/zstd_tiles.py``); ``libzstd-alone`` reads every tile of the
file into one reused buffer and decompresses it in one thread with the same libzstd, nothing
else (what the codec costs; the reader maps the file instead of reading it, and skips the
tiles no polygon touches, so it may take less).
exactextract gets its best options:
``GDAL_CACHEMAX`` of 1 GB and either the features sorted north to south (each row of tiles
decoded once) or ``strategy="raster-sequential"``; it is asked for the same statistics (the
like-for-like ratio) and for the mean only. The same stack copied without compression shows
what the composites' ZSTD costs a zonal run (the project writes ZSTD). In memory, both start
from the stack already read: raster-collect from a numpy array, exactextract from a GDAL MEM
dataset (its native in-memory input).

    python benchmarks/zonal_vs_exactextract.py [--size 4000] [--bands 24] [--polygons 2000]
                                               [--runs 3]
                                           [--inputs file|uncompressed|memory|both]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from _measure import load_line, peak_rss_mb, phase_cpu, python, run_measured, spread
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


SAME_STATISTICS = ["mean", "median", "stdev", "min", "max", "quantile(q=0.1)",
                   "quantile(q=0.9)", "sum", "count", "majority", "minority", "variety",
                   "coefficient_of_variation"]  # a zonal run's statistics, exactextract's names
GDAL_CACHE_MB = 1024  # exactextract's reads through GDAL's block cache: room for a row of tiles


def _gdal_memory_dataset(stack: Path):
    """The stack as a GDAL MEM dataset (osgeo, the GDAL exactextract reads with): the
    in-memory input exactextract handles natively, not its slow xarray path."""
    import rasterio
    from osgeo import gdal

    with rasterio.Env(GDAL_NUM_THREADS="ALL_CPUS"), rasterio.open(stack) as dataset:
        array, transform, crs = dataset.read(), dataset.transform, dataset.crs
    bands, rows, cols = array.shape
    memory = gdal.GetDriverByName("MEM").Create("", cols, rows, bands, gdal.GDT_Float32)
    memory.SetGeoTransform(transform.to_gdal())
    memory.SetProjection(crs.to_wkt())
    for band in range(bands):
        memory.GetRasterBand(band + 1).SetNoDataValue(float("nan"))
        memory.GetRasterBand(band + 1).WriteArray(array[band])
    return memory, array, transform, crs


def run_engine(engine: str, stack: Path, zones: Path, result: Path) -> None:
    """One engine on one input kind: ``NAME:INPUT[:STRATEGY]``, e.g.
    ``exactextract-all:file:raster-sequential`` (the statistics of a zonal run),
    ``exactextract:memory:sorted`` (mean only, features sorted north to south) or
    ``raster-collect:file``."""
    import os

    os.environ["GDAL_CACHEMAX"] = str(GDAL_CACHE_MB)  # before osgeo/rasterio start GDAL
    import geopandas as gpd
    from exactextract import exact_extract

    from raster_collect_plugin.core.zonal.reader import RasterStack
    from raster_collect_plugin.core.zonal.statistics import zonal_statistics

    name, kind, *rest = engine.split(":")
    strategy = rest[0] if rest else "sorted"
    frame = gpd.read_file(zones)
    source = str(stack)
    if kind == "memory":  # read before the clock starts, on both sides
        source, array, transform, crs = _gdal_memory_dataset(stack)
    cpu, started = phase_cpu(), time.perf_counter()
    if name.startswith("exactextract"):
        operations = SAME_STATISTICS if name == "exactextract-all" else ["mean"]
        features = frame
        if strategy == "sorted":  # north to south: each row of tiles decoded once
            features = frame.iloc[(-frame.geometry.bounds.maxy).argsort()]
        table = exact_extract(source, features, operations, output="pandas",
                              include_cols=["forest_id"],
                              strategy="raster-sequential" if strategy == "raster-sequential"
                              else "feature-sequential")
        table = table.set_index("forest_id").loc[frame["forest_id"]]
        means = table[[c for c in table.columns if c == "mean" or c.endswith("_mean")]]
        means = means.to_numpy()  # (polygons, bands)
    elif name == "raster-collect-read":  # the zonal run's reading alone: no statistics
        means = _read_only(source, frame)
    elif name == "libzstd-alone":  # the codec's own floor: no GDAL, no statistics
        means = _libzstd_alone(source, len(frame))
    elif kind == "memory":
        with_stats = zonal_statistics(RasterStack(array, transform=transform, crs=crs),
                                      frame, id_fields=["forest_id"])
        means = with_stats["mean"].to_numpy().reshape(len(frame), -1)
    else:  # what a zonal run does with its composite files
        from raster_collect_plugin.core.zonal.tasks import zonal_tables

        with_stats = zonal_tables([("bench", "stack", "NDVI", source)], frame,
                                  id_fields=["forest_id"])
        means = with_stats["mean"].to_numpy().reshape(len(frame), -1)
    seconds, cpu = time.perf_counter() - started, phase_cpu() - cpu
    np.save(result, means)
    print(json.dumps({"engine": engine, "wall": seconds, "cpu": cpu,
                      "peak_rss_mb": peak_rss_mb()}))


def _read_only(source: str, frame) -> np.ndarray:
    """Decode the tiles a zonal run decodes (its reader, its windows, the same threads), and
    compute nothing: the floor of the run's CPU on this file."""
    import os

    from raster_collect_plugin.core.zonal.coverage import _window
    from raster_collect_plugin.core.zonal.reader import RasterStack
    from raster_collect_plugin.core.zonal.strips import StripReader

    stack = RasterStack(source, decode_threads=os.cpu_count() or 1)
    windows = [w for w in (_window(g.bounds, stack) for g in frame.geometry) if w]
    reader = StripReader(stack, sorted(windows))
    try:
        for _, end in reader.strips:
            reader.wait_for(end)
            reader.release(end)
    finally:
        reader.stop()
        stack.close()
    return np.full((len(frame), stack.shape[0]), np.nan)


def _libzstd_alone(source: str, polygons: int) -> np.ndarray:
    """Decompress every full-resolution tile of the stack with libzstd itself, one thread,
    no GDAL: the bytes read with ``os.pread`` at the offsets the TIFF lists, each tile
    decompressed into one reused buffer: what decoding this file costs, with the libzstd the
    zonal reader uses (rasterio's)."""
    import ctypes
    import os

    from osgeo import gdal

    from raster_collect_plugin.core.zonal.zstd_tiles import libzstd

    library = libzstd()
    if library is None:
        raise SystemExit("libzstd-alone needs a libzstd: none found")
    library.ZSTD_decompress.restype = ctypes.c_size_t
    library.ZSTD_decompress.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p,
                                        ctypes.c_size_t]
    dataset = gdal.Open(source)
    band = dataset.GetRasterBand(1)
    if dataset.GetMetadataItem("COMPRESSION", "IMAGE_STRUCTURE") != "ZSTD":
        raise SystemExit("libzstd-alone needs a ZSTD stack")
    tile_width, tile_height = band.GetBlockSize()
    tile_bytes = tile_width * tile_height * dataset.RasterCount * 4  # pixel-interleaved float32
    tiles = [(int(band.GetMetadataItem(f"BLOCK_OFFSET_{col}_{row}", "TIFF")),
              int(band.GetMetadataItem(f"BLOCK_SIZE_{col}_{row}", "TIFF")))
             for row in range(-(-dataset.RasterYSize // tile_height))
             for col in range(-(-dataset.RasterXSize // tile_width))]
    buffer = np.empty(tile_bytes, np.uint8)
    compressed = np.empty(max(size for _, size in tiles), np.uint8)  # reused: no page faults
    handle = os.open(source, os.O_RDONLY)
    try:
        for col_row, (offset, size) in enumerate(tiles):
            if os.preadv(handle, [memoryview(compressed)[:size]], offset) != size:
                raise SystemExit(f"tile {col_row}: short read")
            written = library.ZSTD_decompress(buffer.ctypes.data, tile_bytes,
                                              compressed.ctypes.data, size)
            if written != tile_bytes:
                raise SystemExit(f"tile {col_row}: libzstd returned {written}")
    finally:
        os.close(handle)
    return np.full((polygons, dataset.RasterCount), np.nan)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=4000)
    parser.add_argument("--bands", type=int, default=24)
    parser.add_argument("--polygons", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workdir", help="keep inputs here (default: a temp folder)")
    parser.add_argument("--inputs", choices=("file", "uncompressed", "memory", "both"),
                        default="both", help="which input kinds to time (default: all)")
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


ENGINES = {  # input kind -> engines, each NAME:STRATEGY
    "file": ("raster-collect", "raster-collect-read", "libzstd-alone", "exactextract-all:sorted",
             "exactextract-all:raster-sequential",
             "exactextract:sorted", "exactextract:raster-sequential"),
    "uncompressed": ("raster-collect", "raster-collect-read", "exactextract-all:sorted"),
    "memory": ("raster-collect", "exactextract-all:sorted", "exactextract:sorted"),
}
KINDS = (("file", "the project's composite COG on disk (what a zonal run reads)"),
         ("uncompressed", "the same stack copied without compression (what the composites' "
                          "ZSTD costs a zonal run; not what the project writes)"),
         ("memory", "the stack already in memory (raster-collect: numpy; exactextract: a GDAL "
                    "MEM dataset)"))


def _uncompressed_copy(stack: Path) -> Path:
    """The stack as a tiled, pixel-interleaved GeoTIFF without compression (same tiles)."""
    import rasterio.shutil

    copy = stack.with_name("stack-uncompressed.tif")
    if not copy.exists():
        rasterio.shutil.copy(stack, copy, driver="GTiff", tiled=True, blockxsize=128,
                             blockysize=128, interleave="pixel", compress="none",
                             bigtiff="yes")
    return copy


def _benchmark(folder: Path, args) -> None:
    started = time.perf_counter()
    stack, zones = make_inputs(folder, args.size, args.bands, args.polygons)
    print(f"inputs: {args.polygons} polygons, {args.bands} bands of {args.size}x{args.size} "
          f"float32 ({stack.stat().st_size / 1e6:.0f} MB on disk), made in "
          f"{time.perf_counter() - started:.1f} s; {args.runs} runs per engine; exactextract "
          f"with GDAL_CACHEMAX={GDAL_CACHE_MB} MB, features sorted north to south or "
          f"strategy='raster-sequential' (its best reported)")
    for kind, label in KINDS:
        if args.inputs not in (kind, "both"):
            continue
        source, engine_kind = stack, kind
        if kind == "uncompressed":
            source, engine_kind = _uncompressed_copy(stack), "file"
            print(f"(uncompressed copy: {source.stat().st_size / 1e6:.0f} MB on disk)")
        print(f"-- {label}")
        runs: dict = {}
        for _ in range(args.runs):
            for engine in ENGINES[kind]:
                name, *strategy = engine.split(":")
                full = ":".join([name, engine_kind, *strategy])
                saved = folder / f"{engine.replace(':', '-')}-{kind}.npy"
                runs.setdefault(engine, []).append(run_measured(
                    [python(), __file__, "--engine", full, "--stack", str(source), "--zones",
                     str(zones), "--result", str(saved)], cwd=str(Path(__file__).parent)))
        for engine, rows in runs.items():
            print(f"{engine:>36}: CPU {spread([r['cpu'] for r in rows], 's', 2)}, wall "
                  f"{spread([r['wall'] for r in rows], 's', 2)}, peak RSS "
                  f"{spread([r['process_peak_rss_mb'] for r in rows], 'MB', 0)}")
        _ratios(folder, kind, runs)
        print(load_line())


def _best(runs: dict, name: str, key: str) -> float:
    """The best run of the best strategy of exactextract ``name``."""
    return min(r[key] for engine, rows in runs.items() if engine.split(":")[0] == name
               for r in rows)


def _ratios(folder: Path, kind: str, runs: dict) -> None:
    ours = {key: min(r[key] for r in runs["raster-collect"]) for key in ("cpu", "wall")}
    for name, what in (("exactextract-all", "the same statistics"),
                       ("exactextract", "exactextract's mean only")):
        if not any(engine.split(":")[0] == name for engine in runs):
            continue
        print(f"ratio exactextract / raster-collect, {what} (best runs): CPU "
              f"{_best(runs, name, 'cpu') / ours['cpu']:.1f}x, wall "
              f"{_best(runs, name, 'wall') / ours['wall']:.1f}x"
              f"{' (target >= 10x CPU)' if name == 'exactextract-all' else ''}")
    if "raster-collect-read" in runs:
        floor = min(r["cpu"] for r in runs["raster-collect-read"])
        print(f"the file's tiles decoded alone (raster-collect-read, no statistics): best "
              f"{floor:.2f} CPU-s, {floor / ours['cpu']:.0%} of the zonal run's; the CPU ratio "
              f"with statistics at no cost: {_best(runs, 'exactextract-all', 'cpu') / floor:.1f}x")
    if "libzstd-alone" in runs:
        codec = min(r["cpu"] for r in runs["libzstd-alone"])
        budget = _best(runs, "exactextract-all", "cpu") / 10
        print(f"libzstd alone, every tile decompressed in one thread, nothing else: best "
              f"{codec:.2f} CPU-s, {codec / budget:.0%} of the 10x target's {budget:.2f} CPU-s "
              f"(what is left for reading, coverage and statistics: {budget - codec:.2f})")
    mine = np.load(folder / f"raster-collect-{kind}.npy")
    mean_only = folder / f"exactextract-sorted-{kind}.npy"
    theirs = np.load(mean_only if mean_only.exists() else
                     folder / f"exactextract-all-sorted-{kind}.npy")
    both = np.isfinite(mine) & np.isfinite(theirs)
    relative = np.abs(mine[both] - theirs[both]) / np.maximum(np.abs(theirs[both]), 1e-12)
    print(f"max relative difference of means: {relative.max():.2e} (target <= 1e-5); NaN "
          f"patterns equal: {bool((np.isfinite(mine) == np.isfinite(theirs)).all())}")


if __name__ == "__main__":
    main()
