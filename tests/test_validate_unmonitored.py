"""``validate`` on a folder that monitored some of its file's compartments: a reference over one
it does not monitor is named so, not "off the monitored grid: check its position and its CRS";
and a report folder holding another run's results is refused, what is there kept."""

import json
import subprocess
import sys

import geopandas as gpd
import pytest
from shapely.affinity import translate

from raster_collect_plugin.core.jobs import JobError, run_job
from tests.validate_folder import CRS, cells, references, write_folder

FAR = 10_000  # compartment C, 10 km east of the monitored grid


@pytest.fixture
def folder(tmp_path):
    """The hand-written folder (A, B monitored) whose forests file also holds C, which the
    folder's ids leave out."""
    folder = write_folder(tmp_path / "monitoring")
    forests = gpd.read_file(folder / "forests.gpkg")
    extra = gpd.GeoDataFrame({"forest_id": ["C"]}, crs=CRS,
                             geometry=[translate(cells(0, 0, 4, 3), xoff=FAR)])
    gpd.pd.concat([forests, extra]).to_file(folder / "forests.gpkg")
    job = json.loads((folder / "monitoring_job.json").read_text())
    (folder / "monitoring_job.json").write_text(json.dumps(dict(job, ids=["A", "B"])))
    return folder


def _spec(folder, refs, **extra):
    return {"kind": "validate", "monitoring_dir": str(folder), "references": str(refs),
            **extra}


def test_a_reference_over_a_compartment_not_monitored_is_named_so(folder, tmp_path):
    path = tmp_path / "refs.gpkg"
    references([{"geometry": cells(0, 0, 2, 2), "date": "2025-03-10", "reference_id": "R1"},
                {"geometry": translate(cells(0, 0, 2, 2), xoff=FAR), "date": "2025-03-10",
                 "reference_id": "R2"},
                {"geometry": translate(cells(0, 0, 2, 2), xoff=2 * FAR), "date": "2025-03-10",
                 "reference_id": "R3"}]).to_file(path)
    result = run_job(_spec(folder, path))
    reasons = {entry["reference"]: entry["reason"] for entry in result["not_scored"]}
    assert reasons["R2"].startswith("over a compartment the folder does not monitor (C;")
    assert reasons["R3"].startswith("off the monitored grid")  # over nothing: misplaced
    assert (result["pixel"]["tp"], result["pixel"]["fn"]) == (3, 1)  # R1, as before
    # the same compartments given (--compartments): C has no pixel on the grid
    given = run_job(_spec(folder, path, aoi=str(folder / "forests.gpkg"),
                          output_dir=str(tmp_path / "given")))
    assert [e["reason"][:50] for e in given["not_scored"]] == [reasons["R2"][:50],
                                                               reasons["R3"][:50]]
    assert given["compartment"]["not_evaluated"] == 1


def test_references_all_over_compartments_not_monitored_are_refused(folder, tmp_path):
    path = tmp_path / "refs.gpkg"
    references([{"geometry": translate(cells(0, 0, 2, 2), xoff=FAR), "date": "2025-03-10"}]
               ).to_file(path)
    with pytest.raises(JobError, match="1 over compartments it does not monitor"):
        run_job(_spec(folder, path))
    assert not (folder / "validation").exists()


def test_a_report_folder_of_another_run_is_refused_and_kept(folder, tmp_path):
    path = tmp_path / "refs.gpkg"
    references([{"geometry": cells(0, 0, 2, 2), "date": "2025-03-10"}]).to_file(path)
    storm = tmp_path / "storm"
    storm.mkdir()
    (storm / "storm_ranking.csv").write_text("forest_id,class\nA,damaged\n")
    manifest = {"version": 1, "run": {"kind": "storm", "parameters": {}},
                "files": {"storm_ranking.csv": {"size": 26}}}
    (storm / "manifest.json").write_text(json.dumps(manifest))
    before = {p.name: p.read_bytes() for p in storm.iterdir()}
    done = subprocess.run([sys.executable, "-m", "raster_collect_plugin", "validate",
                           "--monitoring", str(folder), "--references", str(path), "--output",
                           str(storm)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "holds results of a storm run" in done.stderr and "--output" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert {p.name: p.read_bytes() for p in storm.iterdir()} == before
    with pytest.raises(JobError, match="holds results of a monitor run"):  # the folder itself
        run_job(_spec(folder, path, output_dir=str(_with_manifest(folder))))


def _with_manifest(folder):
    (folder / "manifest.json").write_text(json.dumps(
        {"version": 1, "run": {"kind": "monitor"}, "files": {}}))
    return folder
