"""A job's first progress event comes before the heavy packages load: the command line imports
only the command's family, the named providers' modules, and no cluster, loader or Sentinel
Hub package until a step needs them (issue 31: first progress in well under a second)."""

import json
import subprocess
import sys
from pathlib import Path

# Runs the command line with stdout tapped: the modules loaded when the first progress event
# is written are saved to the file named by the first argument.
TAP = """
import json, runpy, sys
out, real = sys.argv[1], sys.stdout

class Tap:
    seen = False

    def write(self, text):
        if not Tap.seen and '"progress"' in text:
            Tap.seen = True
            with open(out, "w") as handle:
                json.dump(sorted(sys.modules), handle)
        return real.write(text)

    def __getattr__(self, name):
        return getattr(real, name)

sys.stdout = Tap()
sys.argv = ["raster_collect_plugin", *sys.argv[2:]]
runpy.run_module("raster_collect_plugin", run_name="__main__", alter_sys=True)
"""
HEAVY = ("distributed", "numba", "sentinelhub", "odc.stac", "odc.loader", "xarray", "rasterio",
         "pystac_client", "planetary_computer", "dask.array")


def modules_at_first_progress(spec: dict, folder: Path) -> set:
    """The modules loaded when the job's first progress event was written."""
    spec_path, modules_path = folder / "job.json", folder / "modules.json"
    spec_path.write_text(json.dumps(spec))
    done = subprocess.run([sys.executable, "-c", TAP, str(modules_path), "--quiet", "job",
                           str(spec_path), "--events"], capture_output=True, text=True,
                          cwd=folder, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert events[0]["event"] == "progress" and events[-1]["event"] == "result"
    return set(json.loads(modules_path.read_text()))


def test_a_threads_composite_job_on_a_static_catalog_starts_without_heavy_packages(
        small_sample, tmp_path):
    spec = {"kind": "composite", "aoi": str(small_sample.forests_path), "id_field": "forest_id",
            "ids": [str(small_sample.damaged_ids[0])],
            "sources": [{"kind": "static", "href": str(small_sample.catalog_path)}],
            "start": "2025-10-01", "end": "2025-12-31", "output_dir": str(tmp_path / "out")}
    modules = modules_at_first_progress(spec, tmp_path)
    assert sorted(name for name in HEAVY if name in modules) == []
    # the other command families were not imported either
    families = {f"raster_collect_plugin.cli.{name}" for name in
                ("imagery", "zonal", "storm", "sentinel_hub")}
    assert modules & families == set()
    assert (tmp_path / "out").is_dir()  # and the job did run to its end
