"""``validate`` on a monitoring folder written by hand (tests/validate_folder.py), every
number counted by hand: delays in days and in clear observations from the command line and
the job spec, text ids, references off the grid, dates and files of every kind."""

import json
import subprocess
import sys

import pandas as pd
import pytest
from shapely.affinity import translate

from raster_collect_plugin.core.jobs import run_job
from raster_collect_plugin.core.monitoring.clear_days import ClearDays
from tests.validate_folder import SHAPE, _Scene, cells, references, write_folder


def _run(*arguments, code=0):
    done = subprocess.run([sys.executable, "-m", "raster_collect_plugin", *arguments],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == code, done.stderr[-2000:]
    return done


def _spec(folder, refs, **extra):
    return {"kind": "validate", "monitoring_dir": str(folder), "references": str(refs),
            **extra}


@pytest.fixture
def folder(tmp_path):
    return write_folder(tmp_path / "monitoring")


@pytest.fixture
def one_event(tmp_path):
    path = tmp_path / "refs.gpkg"
    references([{"geometry": cells(0, 0, 2, 2), "date": "2025-03-10", "event": "windthrow"}]
               ).to_file(path)
    return path


def test_delays_in_days_and_clear_observations_from_both_doors(folder, one_event, tmp_path):
    # TP (0,0) (0,1) (1,0): first anomaly 03-15, confirmation 03-25, event 03-10; clear
    # days from 03-10: 03-10, 03-15, 03-20 (not (0,0)), 03-25 (two scenes, one day)
    result = run_job(_spec(folder, one_event))
    assert (result["pixel"]["tp"], result["pixel"]["fp"], result["pixel"]["fn"]) == (3, 1, 1)
    delay = result["delay"]
    assert delay["first_anomaly"]["days"] == {"mean": 5.0, "median": 5.0, "n": 3}
    assert delay["confirmation"]["days"] == {"mean": 15.0, "median": 15.0, "n": 3}
    assert delay["first_anomaly"]["observations"] == {"mean": 2.0, "median": 2.0, "n": 3}
    assert delay["confirmation"]["observations"] == pytest.approx(
        {"mean": 11 / 3, "median": 4.0, "n": 3})
    written = json.loads((folder / "validation" / "validation.json").read_text())
    assert written["delay"] == result["delay"]
    done = _run("validate", "--monitoring", str(folder), "--references", str(one_event),
                "--output", str(tmp_path / "cli"))
    assert ("delay to confirmation: mean 15.000 / median 15.000 days; mean 3.667 / median "
            "4.000 clear observations (3 pixels)") in done.stdout
    events = (tmp_path / "cli" / "validation_events.csv").read_text().splitlines()
    assert "median_confirmation_delay_observations" in events[0]


def test_events_name_their_compartment_by_a_text_id(tmp_path):
    folder = write_folder(tmp_path / "monitoring", id_field="name", ids=("north", "south"))
    path = tmp_path / "refs.gpkg"  # the references carry no 'name' of their own
    references([{"geometry": cells(0, 0, 2, 2), "date": "2025-03-10"},
                {"geometry": cells(2, 2, 4, 4), "date": "2025-03-12"},  # 2 px in each
                {"geometry": cells(0, 4, 1, 6), "date": "2025-03-12"}]).to_file(path)
    result = run_job(_spec(folder, path, id_field="name"))
    events = pd.read_csv(folder / "validation" / "validation_events.csv")
    assert events["name"].tolist() == ["north", "north; south", "south"]
    assert events["pixels"].tolist() == [4, 4, 2]
    compartments = pd.read_csv(folder / "validation" / "validation_compartments.csv")
    assert compartments["name"].tolist() == ["north", "south"]
    # both disturbed and flagged (south by its false alarm at (3,5): 1 pixel of 12 >= 2 %)
    assert result["compartment"]["tp"] == 2 and result["pixel"]["fp"] == 1


def test_events_name_their_compartment_by_a_number(tmp_path, one_event):
    folder = write_folder(tmp_path / "monitoring", ids=(12, 13))
    run_job(_spec(folder, one_event))
    events = pd.read_csv(folder / "validation" / "validation_events.csv")
    assert events["forest_id"].tolist() == [12]


def test_later_references_off_the_grid_are_refused(folder, tmp_path):
    """One reference in the history on the grid, the later ones 10 km away: nothing to
    score (it was exit 0, every detection a false positive)."""
    path = tmp_path / "refs.gpkg"
    far = translate(cells(0, 0, 2, 2), xoff=10_000)  # the same square 10 km east
    references([{"geometry": cells(2, 0, 4, 2), "date": "2024-06-01"},
                {"geometry": far, "date": "2025-03-10"},
                {"geometry": far, "date": "2025-03-11"}]).to_file(path)
    done = _run("validate", "--monitoring", str(folder), "--references", str(path), code=2)
    assert ("none of the 2 reference polygons in refs.gpkg dated after the stable history "
            "overlaps the monitored area") in done.stderr
    assert "(1 dated within the history are left out)" in done.stderr
    assert not (folder / "validation").exists()


def test_references_not_scored_are_listed_with_their_reason(folder, tmp_path):
    path = tmp_path / "refs.gpkg"
    far = translate(cells(0, 0, 2, 2), xoff=10_000)
    references([{"geometry": cells(0, 0, 2, 2), "date": "2025-03-10", "reference_id": "R1"},
                {"geometry": far, "date": "2025-03-10", "reference_id": "R2"},
                {"geometry": cells(2, 0, 4, 2), "date": "2024-06-01", "reference_id": "R3"},
                {"geometry": cells(0, 0, 1, 1), "date": "2025-03-12", "reference_id": "R4"}]
               ).to_file(path)
    result = run_job(_spec(folder, path))
    reasons = {entry["reference"]: entry["reason"] for entry in result["not_scored"]}
    assert list(reasons) == ["R2", "R3", "R4"]
    assert reasons["R2"].startswith("off the monitored grid")
    assert reasons["R3"].startswith("dated within the stable history (up to 2024-12-31)")
    assert reasons["R4"].endswith("(R1)")  # R1 (03-10) is earlier over its one pixel
    # R1 alone is scored: 4 reference pixels, 3 found; the far one adds no miss
    assert (result["pixel"]["tp"], result["pixel"]["fn"]) == (3, 1)
    report = (folder / "validation" / "validation_report.md").read_text()
    assert "## Not scored" in report and "| R2 | 2025-03-10 | off the monitored grid" in report
    done = _run("validate", "--monitoring", str(folder), "--references", str(path),
                "--output", str(tmp_path / "cli"))
    assert ("not scored: 3 reference polygon(s) (dated within the stable history; off the "
            "monitored grid; under an earlier or equal reference)") in done.stdout


def test_a_duplicate_reference_is_scored_once_the_first_in_the_file(folder, tmp_path):
    path = tmp_path / "refs.gpkg"
    rows = [{"geometry": cells(0, 0, 2, 2), "date": "2025-03-10", "reference_id": name}
            for name in ("first", "copy", "again")]
    references(rows).to_file(path)
    result = run_job(_spec(folder, path))
    assert [(e["reference"], e["reason"].endswith("(first)"))
            for e in result["not_scored"]] == [("copy", True), ("again", True)]
    events = pd.read_csv(folder / "validation" / "validation_events.csv")
    assert events["pixels"].tolist() == [4, 0, 0]
    assert (result["pixel"]["tp"], result["pixel"]["fn"]) == (3, 1)  # counted once


def test_a_geopackage_fid_is_an_id_field(folder, one_event, tmp_path):
    """As for monitor (README: a GeoPackage's fid, which QGIS lists among the fields)."""
    result = run_job(_spec(folder, one_event, id_field="fid",
                           output_dir=str(tmp_path / "by_fid")))
    compartments = pd.read_csv(tmp_path / "by_fid" / "validation_compartments.csv")
    assert compartments["fid"].tolist() == [1, 2]
    assert compartments["outcome"].tolist() == ["TP", "FP"]
    events = pd.read_csv(tmp_path / "by_fid" / "validation_events.csv")
    assert events["fid"].tolist() == [1]
    assert result["compartment"]["tp"] == 1


def test_references_after_the_last_scene_are_not_scored_yet(folder, one_event, tmp_path):
    """A disturbance dated after the last scene monitored (2025-04-01) was counted as missed
    (recall 3 of 8), and a detection under it as a false alarm."""
    path = tmp_path / "refs.gpkg"
    later = references([{"geometry": cells(2, 3, 4, 6), "date": "2025-05-01",
                         "reference_id": "May"}])
    references([{"geometry": cells(0, 0, 2, 2), "date": "2025-03-10",
                 "reference_id": "March"}]).to_file(path)
    later.to_file(path, mode="a")
    result = run_job(_spec(folder, path))
    assert (result["pixel"]["tp"], result["pixel"]["fp"], result["pixel"]["fn"]) == (3, 0, 1)
    assert result["not_scored"] == [{"reference": "May", "date": "2025-05-01", "reason": (
        "dated after the last scene monitored (2025-04-01): not seen yet, left out with its "
        "pixels")}]
    assert result["parameters"]["monitoring_end"] == "2025-04-01"
    only_later = tmp_path / "later.gpkg"
    later.to_file(only_later)
    done = _run("validate", "--monitoring", str(folder), "--references", str(only_later),
                "--output", str(tmp_path / "none"), code=2)
    assert "or after the last scene monitored (2025-04-01; 1 of them)" in done.stderr
    assert not (tmp_path / "none").exists()


def test_a_reference_smaller_than_a_pixel_is_named_so(folder, one_event, tmp_path):
    """A 4 m square on the grid holds no pixel centre: not 'off the grid, check its CRS'."""
    path = tmp_path / "refs.gpkg"
    mark = translate(cells(0, 0, 1, 1).buffer(-3), xoff=16)  # x 500019-500023: no centre
    references([{"geometry": cells(0, 0, 2, 2), "date": "2025-03-10"},
                {"geometry": mark, "date": "2025-03-10"}]).to_file(path)
    result = run_job(_spec(folder, path))
    assert [entry["reason"][:44] for entry in result["not_scored"]] == [
        "on the monitored grid but smaller than its p"]
    references([{"geometry": mark, "date": "2025-03-10"}]).to_file(tmp_path / "mark.gpkg")
    done = _run("validate", "--monitoring", str(folder), "--references",
                str(tmp_path / "mark.gpkg"), code=2)
    assert "(1 on it are smaller than its pixels): draw the disturbed extent" in done.stderr


def test_overlapping_compartments_each_keep_their_pixels(folder, one_event, tmp_path):
    """C covers A and B: each is scored on its own pixels (as the monitoring's tables count
    them), not A and B 'not evaluated' under C."""
    import geopandas as gpd

    from tests.validate_folder import CRS

    nested = tmp_path / "nested.gpkg"
    gpd.GeoDataFrame({"forest_id": ["A", "B", "C"]},
                     geometry=[cells(0, 0, 4, 3), cells(0, 3, 4, 6), cells(0, 0, 4, 6)],
                     crs=CRS).to_file(nested)
    result = run_job(_spec(folder, one_event, aoi=str(nested)))
    table = pd.read_csv(folder / "validation" / "validation_compartments.csv")
    assert table[["pixels", "reference_pixels", "detected_pixels"]].values.tolist() == [
        [12, 4, 3], [12, 0, 1], [24, 4, 4]]
    assert table["outcome"].tolist() == ["TP", "FP", "TP"]
    assert (result["compartment"]["tp"], result["compartment"]["fp"],
            result["compartment"]["not_evaluated"]) == (2, 1, 0)
    assert (result["pixel"]["tp"], result["pixel"]["fp"], result["pixel"]["tn"]) == (3, 1, 19)
    events = pd.read_csv(folder / "validation" / "validation_events.csv")
    assert events["forest_id"].tolist() == ["A; C"]


def test_a_reference_on_the_history_s_last_day_is_within_it(folder, tmp_path):
    """The history holds its last day (2024-12-31): a disturbance that day is in the fitted
    model, left out with its pixels (it was scored, its 3 detections true positives)."""
    path = tmp_path / "refs.gpkg"
    references([{"geometry": cells(0, 0, 2, 2), "date": "2024-12-31"},
                {"geometry": cells(3, 5, 4, 6), "date": "2025-03-01"}]).to_file(path)
    result = run_job(_spec(folder, path))
    assert (result["pixel"]["tp"], result["pixel"]["fp"], result["pixel"]["fn"]) == (1, 0, 0)
    assert [entry["reference"] for entry in result["not_scored"]] == [1]
    assert result["not_scored"][0]["reason"].startswith(
        "dated within the stable history (up to 2024-12-31)")
    assert result["parameters"]["monitoring_start"] == "2025-01-01"
    events = pd.read_csv(folder / "validation" / "validation_events.csv")
    assert events["reference"].tolist() == [2]  # its feature number, not its rank after


def test_no_clear_observation_count_before_the_record_is_complete(folder, one_event):
    """A record begun on an older folder after 2025-03-12: the event of 03-10 has its
    delays in days, none in clear observations (scenes missing), not a short count."""
    import numpy as np

    from raster_collect_plugin.core.monitoring.clear_days import CLEAR_FILE, read_clear_days

    whole = read_clear_days(folder, SHAPE)
    (folder / CLEAR_FILE).unlink()  # as a folder of an earlier version, then one increment
    later = whole.days > (np.datetime64("2025-03-12", "D") - np.datetime64(0, "D")).astype(int)
    record = ClearDays(SHAPE[0] * SHAPE[1])
    for day, scene in zip(whole.days[later], np.flatnonzero(later)):
        record(np.datetime64(int(day), "D"), "S2", None,
               _Scene(whole.clear[[scene]][0].reshape(-1)))
    record.append_to(folder, np.datetime64("2025-03-12T10:00", "ns"))
    delay = run_job(_spec(folder, one_event))["delay"]["confirmation"]
    assert delay["days"]["n"] == 3 and delay["observations"]["n"] == 0
