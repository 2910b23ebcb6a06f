"""Benchmark: the larger sample end to end, and the same job on namespaced workers writing to S3
(moto). The composite phase against an expert's pangeo pipeline: composite_vs_pangeo.py.

Defaults are the issue's larger sample (2,020 x 2,044 px at 10 m, 12 monthly Sentinel-2 scenes,
480 forests, ~48,600 hexagons); every size is an option so it can run small on a busy machine:

    python benchmarks/scale_out.py [--width 2020] [--height 2044] [--months 12]
                                   [--forests 480] [--hex-ha 0.85] [--skip-cluster]

Prints seconds, ratios, bytes the client received through its sockets and peak RSS (client
and workers).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from _measure import load_line
from _synthetic_s2 import write_s2_catalog
from _workdir import work_folder

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def make_inputs(folder: Path, width: int, height: int, months: int, forests: int) -> None:
    """A static catalog of Sentinel-2 COGs (blue, red, nir at 10 m, SCL at 20 m) with a cloud
    band per scene, and ``forests`` rectangular compartments covering the grid."""
    import geopandas as gpd
    from shapely.geometry import box

    from raster_collect_plugin.core.outputs.files import write_json

    if (folder / "made.json").exists():
        return
    left, top = write_s2_catalog(folder, width=width, height=height, months=months,
                                 first_year=2025, cloud_rows=height // 20)
    columns = int(np.ceil(np.sqrt(forests * width / height)))
    rows = int(np.ceil(forests / columns))
    cell_w, cell_h = width * 10 / columns, height * 10 / rows
    polygons = [box(left + i * cell_w + 15, top - (j + 1) * cell_h + 15,
                    left + (i + 1) * cell_w - 15, top - j * cell_h - 15)
                for j in range(rows) for i in range(columns)][:forests]
    gpd.GeoDataFrame({"forest_id": range(1, len(polygons) + 1)}, geometry=polygons,
                     crs="EPSG:32756").to_file(folder / "forests.gpkg", driver="GPKG")
    write_json(folder / "made.json", {"width": width, "height": height, "months": months})


def job_spec(folder: Path, output, months: int, hex_ha: float, **extra) -> dict:
    spec = {"kind": "zonal", "aoi": str(folder / "forests.gpkg"),
            "sources": [{"kind": "static", "href": str(folder / "catalog.json")}],
            "start": "2025-01-01", "end": f"2025-{months:02d}-28", "indices": ["NDVI", "EVI"],
            "max_cloud_cover": 100, "output_dir": str(output)}
    if hex_ha:
        spec["hexagon_area_m2"] = hex_ha * 10_000
    spec.update(extra)
    return spec


def cpu_seconds() -> float:
    """User + system CPU of this process (all threads) so far: on a shared machine wall time
    mostly measures the neighbours."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class SocketBytes:
    """Bytes this process receives through its sockets (dask comms, S3, HTTP), counted on
    ``socket.socket`` so every connection counts whichever library opened it. (The kernel's
    per-process ``read_chars`` misses ``recv``, the way dask reads, and counts local files.)"""

    def __init__(self):
        import socket
        import threading

        self.total, self._lock = 0, threading.Lock()
        for name in ("recv", "recv_into", "recvfrom", "recvfrom_into"):
            setattr(socket.socket, name, self._counted(getattr(socket.socket, name)))

    def _counted(self, receive):
        def counted(sock, *args, **kwargs):
            result = receive(sock, *args, **kwargs)
            got = result[0] if isinstance(result, tuple) else result
            with self._lock:
                self.total += got if isinstance(got, int) else len(got)
            return result

        return counted


def child_end_to_end(folder: Path, months: int, hex_ha: float) -> dict:
    from raster_collect_plugin.core.jobs.run import run_job

    started = time.perf_counter()
    result = run_job(job_spec(folder, folder / "out-threads", months, hex_ha))
    return {"seconds": time.perf_counter() - started, "peak_rss_mb": peak_rss_mb(),
            "rows": result["rows"], "files": result["files"], "cpu": cpu_seconds()}


@contextlib.contextmanager
def file_server_process(root: Path):
    """The Range-capable file server in its own process, so the bytes it reads for the workers
    are not counted as the client's."""
    code = ("import sys, time; from pathlib import Path; "
            "from tests.servers.range_http import RangeFileServer; "
            "s = RangeFileServer(Path(sys.argv[1])).start(); print(s.url, flush=True); "
            "time.sleep(86400)")
    process = subprocess.Popen([sys.executable, "-c", code, str(root)], cwd=str(ROOT),
                               stdout=subprocess.PIPE, text=True)
    try:
        yield process.stdout.readline().strip()
    finally:
        process.terminate()
        process.wait(timeout=30)


def child_cluster(folder: Path, months: int, hex_ha: float) -> dict:
    """The same job on 2 namespaced workers (private /tmp, 127.0.0.2) writing to moto S3;
    the catalog is served over HTTP (the workers cannot read the client's files). Measured:
    the composite job alone (what the client receives while the workers build and write the
    composites), then the whole zonal job (the workers write the hexagon table; the forest table
    and each hexagon's latest values come back)."""
    import os

    import fsspec

    from raster_collect_plugin.core.jobs.run import run_job
    from tests.servers.scale_out import moto_s3, namespaced_cluster, worker_peak_rss_mb

    sockets = SocketBytes()
    with moto_s3() as env, file_server_process(folder) as url:
        os.environ.update(env)
        with namespaced_cluster(env, workers=2, nthreads=1, memory="3GB") as address:
            spec = job_spec(folder, "s3://raster-collect/bench", months, hex_ha,
                            sources=[{"kind": "static", "href": f"{url}/catalog.json"}],
                            compute={"mode": "remote", "scheduler_address": address})
            composite_spec = dict(spec, kind="composite",
                                  output_dir="s3://raster-collect/composites")
            run_job(dict(composite_spec, output_dir="s3://raster-collect/warm-up"))
            before = sockets.total
            started = time.perf_counter()
            composites = run_job(composite_spec)
            composite_seconds = time.perf_counter() - started
            composite_received = sockets.total - before
            before = sockets.total
            started = time.perf_counter()
            result = run_job(spec)
            seconds = time.perf_counter() - started
            received = sockets.total - before
            workers = worker_peak_rss_mb(address)
        s3 = fsspec.filesystem("s3")
        composite_bytes = sum(s3.size(p) for c in composites["collections"]
                              for p in list(c["indices"].values()) + [c["clear_count"]])
        outcome = {"seconds": seconds, "peak_rss_mb": peak_rss_mb(), "received": received,
                   "composite_seconds": composite_seconds,
                   "composite_received": composite_received,
                   "composite_bytes": composite_bytes, "workers_peak_rss_mb": workers,
                   "remote_files": dict(result["files"]),
                   "collections": result["collections"]}
        outcome["identical"] = same_outputs(folder, outcome)
        return outcome


def same_outputs(folder: Path, remote: dict) -> bool:
    """Remote composites and tables equal the threads run's."""
    import pandas as pd
    import rasterio

    from raster_collect_plugin.core.runs.storage import gdal_s3_options

    threads = folder / "out-threads"
    ok = True
    for c in remote["collections"]:
        for location in list(c["indices"].values()) + [c["clear_count"]]:
            name = location.rsplit("/", 1)[-1]
            with rasterio.Env(**gdal_s3_options()), rasterio.open(location) as theirs, \
                    rasterio.open(threads / name) as ours:
                ok &= bool(np.array_equal(theirs.read(), ours.read(), equal_nan=True))
    for key, location in remote["remote_files"].items():
        if key.endswith("parquet"):
            try:
                name = location.rsplit("/", 1)[-1]
                pd.testing.assert_frame_equal(pd.read_parquet(location),
                                              pd.read_parquet(threads / name))
            except AssertionError:
                ok = False
    return ok


def run_child(phase: str, args) -> dict:
    output = subprocess.run([sys.executable, __file__, "--child", phase, "--workdir",
                             str(args.workdir), "--months", str(args.months), "--hex-ha",
                             str(args.hex_ha)], capture_output=True, text=True)
    if output.returncode:
        raise RuntimeError(f"{phase} failed:\n{output.stderr[-3000:]}")
    return json.loads(output.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--width", type=int, default=2020)
    parser.add_argument("--height", type=int, default=2044)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--forests", type=int, default=480)
    parser.add_argument("--hex-ha", type=float, default=0.85)
    parser.add_argument("--skip-cluster", action="store_true")
    parser.add_argument("--workdir")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args, _ = parser.parse_known_args()
    if args.child:
        args.workdir = Path(args.workdir)
        folder = args.workdir
        if args.child == "threads":
            result = child_end_to_end(folder, args.months, args.hex_ha)
        else:
            result = child_cluster(folder, args.months, args.hex_ha)
        print(json.dumps(result, default=str))
        return
    with work_folder(args.workdir, "rc-scale-", parent="/var/tmp") as args.workdir:
        _benchmark(args)


def _benchmark(args) -> None:
    started = time.perf_counter()
    make_inputs(args.workdir, args.width, args.height, args.months, args.forests)
    print(f"inputs: {args.width}x{args.height} px, {args.months} months, {args.forests} "
          f"forests, hexagons of {args.hex_ha} ha; made in {time.perf_counter() - started:.0f} s"
          f" ({args.workdir})", flush=True)
    threads = run_child("threads", args)
    print(f"end to end, threads: {threads['seconds']:.1f} s wall, {threads['cpu']:.1f} s CPU "
          f"(before: 163 CPU-s), {threads['rows']} forest rows, peak RSS "
          f"{threads['peak_rss_mb']:.0f} MB; {load_line()}", flush=True)
    if args.skip_cluster:
        return
    from tests.servers.scale_out import namespaces_available

    if not namespaces_available():
        print("cluster: skipped (unshare -m is not permitted here)")
        return
    cluster = run_child("cluster", args)
    size = max(cluster["composite_bytes"], 1)
    workers = ", ".join(f"{v:.0f}" for v in cluster["workers_peak_rss_mb"].values())
    print(f"namespaced workers + S3, composites: {cluster['composite_seconds']:.1f} s; client "
          f"received {cluster['composite_received'] / 2**20:.1f} MiB = "
          f"{100 * cluster['composite_received'] / size:.1f} % of the composites' "
          f"{size / 2**20:.1f} MiB (target <= 5 %)")
    print(load_line())
    print(f"namespaced workers + S3, zonal job: {cluster['seconds']:.1f} s, outputs identical "
          f"to threads: {cluster['identical']}; client received "
          f"{cluster['received'] / 2**20:.1f} MiB = {100 * cluster['received'] / size:.1f} % of "
          f"the composites (target <= 5 %); peak RSS client "
          f"{cluster['peak_rss_mb']:.0f} MB, workers {workers} MB")


if __name__ == "__main__":
    main()
