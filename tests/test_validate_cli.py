"""The ``validate`` command and job kind (issue 30): ``monitor`` on the disturbance scenario
written to disk, then ``validate`` with the scenario's references.gpkg. The numbers equal
core.validation's on the same files and on the folder's state, and meet the acceptance
thresholds; problems are named with their fix."""

import json
import shutil
import subprocess
import sys
from datetime import date

import geopandas as gpd
import numpy as np
import pytest

from raster_collect_plugin.core.jobs import JobError, validate_spec
from raster_collect_plugin.core.monitoring.scoring import score_folder
from raster_collect_plugin.core.sample.disturbance_catalog import write_scenario
from raster_collect_plugin.core.sample.disturbance_scenario import Event, ScenarioSpec
from raster_collect_plugin.core.validation import validate_files

SPEC = ScenarioSpec(start=date(2024, 1, 1), end=date(2025, 6, 30), columns=3, rows=1,
                    events=(Event(1, "windthrow", date(2025, 3, 14)),
                            Event(2, "windthrow", date(2025, 4, 20), "west:0.6")))
HEADLINE = ("pixel", "compartment", "delay")


def _run(*arguments, code=0):
    done = subprocess.run([sys.executable, "-m", "raster_collect_plugin", *arguments],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == code, done.stderr[-2000:]
    return done


@pytest.fixture(scope="module")
def monitored(tmp_path_factory):
    return write_monitored(tmp_path_factory)


def write_monitored(tmp_path_factory):
    """The scenario on disk and a monitoring folder ``monitor`` wrote over it."""
    scenario = write_scenario(tmp_path_factory.mktemp("scenario"), SPEC)
    folder = tmp_path_factory.mktemp("monitoring")
    _run("--quiet", "monitor", "--gpkg", str(scenario.compartments), "--catalog",
         str(scenario.catalog), "--history-start", "2024-01-01", "--history-end", "2024-12-31",
         "--end", "2025-06-30", "--output", str(folder))
    return scenario, folder


def _core(scenario, folder, clear=True) -> dict:
    """core.validation on the folder's files; ``clear``: with its clear-days record (the
    delays in clear observations too)."""
    import rasterio

    from raster_collect_plugin.core.monitoring.clear_days import read_clear_days

    layers = {name: folder / f"monitoring_{name}.tif"
              for name in ("status", "first_anomaly", "confirmation")}
    with rasterio.open(layers["status"]) as source:
        shape = source.shape
    result = validate_files(layers, scenario.references, scenario.compartments,
                            monitoring_start=date(2024, 12, 31),
                            observations=read_clear_days(folder, shape) if clear else None)
    return json.loads(json.dumps({key: result[key] for key in HEADLINE}, default=float))


def test_validate_command_equals_core_validation(monitored):
    scenario, folder = monitored
    done = _run("--json", "validate", "--monitoring", str(folder), "--references",
                str(scenario.references))
    result = json.loads(done.stdout)
    assert {key: result[key] for key in HEADLINE} == _core(scenario, folder)
    # the saved state (days, not the rasters' YYYYMMDD) scores the same, delays included
    state = score_folder(folder, gpd.read_file(scenario.references),
                         gpd.read_file(scenario.compartments))
    assert result["pixel"] == pytest.approx(state["pixel"])
    assert result["compartment"] == pytest.approx(state["compartment"])
    confirmation = result["delay"]["confirmation"]["days"]
    assert confirmation == pytest.approx(state["delay"]["confirmation"]["days"])
    assert result["delay"]["confirmation"]["observations"] == pytest.approx(
        state["delay"]["confirmation"]["observations"])
    assert 0 < confirmation["median"] < 60  # days after the event, not YYYYMMDD numbers
    observations = result["delay"]["confirmation"]["observations"]
    assert 1 <= observations["median"] <= confirmation["median"] + 1
    assert observations["n"] == confirmation["n"]
    assert result["compartment"]["precision"] >= 0.95
    assert result["compartment"]["recall"] >= 0.95
    assert result["compartment"]["tp"] == 2 and result["compartment"]["tn"] == 1
    assert result["pixel"]["f1"] >= 0.9
    written = json.loads((folder / "validation" / "validation.json").read_text())
    assert written["pixel"]["tp"] == result["pixel"]["tp"]
    assert {p.name for p in (folder / "validation").iterdir()} >= {
        "validation.json", "validation_compartments.csv", "validation_events.csv",
        "validation_report.md"}
    text = _run("validate", "--monitoring", str(folder), "--references",
                str(scenario.references), "--output", str(folder / "again")).stdout
    assert f"compartment: precision {result['compartment']['precision']:.3f}" in text
    assert "validation_report.md" in text


def test_validate_job_spec_equals_the_command(monitored, tmp_path):
    scenario, folder = monitored
    spec = {"kind": "validate", "monitoring_dir": str(folder),
            "references": str(scenario.references), "min_fraction": 0.02,
            "output_dir": str(tmp_path / "report")}
    (tmp_path / "job.json").write_text(json.dumps(spec))
    done = _run("--json", "job", str(tmp_path / "job.json"))
    result = json.loads(done.stdout)
    assert {key: result[key] for key in HEADLINE} == _core(scenario, folder)
    assert (tmp_path / "report" / "validation_report.md").exists()
    assert result["parameters"]["monitoring_start"] == "2025-01-01"


def test_a_copied_folder_with_other_compartments(monitored, tmp_path):
    """Only the rasters and the state copied (no job file): the history's end comes from the
    state, the compartments from --compartments."""
    scenario, folder = monitored
    bare = tmp_path / "bare"
    bare.mkdir()
    for name in ("status", "first_anomaly", "confirmation"):
        shutil.copy(folder / f"monitoring_{name}.tif", bare)
    shutil.copy(folder / "monitoring_state.json", bare)
    done = _run("--json", "validate", "--monitoring", str(bare), "--references",
                str(scenario.references), "--compartments", str(scenario.compartments),
                "--id-field", "forest_id")
    result = json.loads(done.stdout)
    # no clear-days record copied: the delays in days only
    assert {key: result[key] for key in HEADLINE} == _core(scenario, folder, clear=False)
    assert set(result["delay"]["confirmation"]) == {"days"}
    assert result["parameters"]["monitoring_start"] == "2025-01-01"
    assert (bare / "validation" / "validation_report.md").exists()


def test_problems_are_named_with_their_fix(monitored, tmp_path):
    scenario, folder = monitored
    missing = _run("validate", "--monitoring", str(tmp_path / "nowhere"), "--references",
                   str(scenario.references), code=2)
    assert "is not a folder" in missing.stderr
    empty = _run("validate", "--monitoring", str(tmp_path), "--references",
                 str(scenario.references), code=2)
    assert "holds no monitoring outputs" in empty.stderr
    references = gpd.read_file(scenario.references)
    references.drop(columns="date").to_file(tmp_path / "undated.gpkg")
    undated = _run("validate", "--monitoring", str(folder), "--references",
                   str(tmp_path / "undated.gpkg"), code=2)
    assert "no date field 'date'" in undated.stderr and "--date-field" in undated.stderr
    with pytest.warns(UserWarning, match="crs"):  # pyogrio: the file is written without one
        references.set_crs(None, allow_override=True).to_file(tmp_path / "nocrs.gpkg")
    no_crs = _run("validate", "--monitoring", str(folder), "--references",
                  str(tmp_path / "nocrs.gpkg"), code=2)
    assert "have no CRS" in no_crs.stderr


def test_validate_job_spec_is_checked():
    spec = {"kind": "validate", "monitoring_dir": "out", "references": "refs.gpkg"}
    assert validate_spec(dict(spec)) == spec
    with pytest.raises(JobError, match="needs 'references'"):
        validate_spec({k: v for k, v in spec.items() if k != "references"})
    with pytest.raises(JobError, match="'min_fraction' must be a fraction"):
        validate_spec(dict(spec, min_fraction=2))


def test_yyyymmdd_rasters_read_as_days():
    from raster_collect_plugin.core.monitoring.run import yyyymmdd
    from raster_collect_plugin.core.validation.files import yyyymmdd_days

    days = np.array([[0, 19783, 20000, 20513]])
    np.testing.assert_array_equal(yyyymmdd_days(yyyymmdd(days)), days)
