"""References a user gets wrong (task r22b), on the hand-written monitoring folder
(tests/validate_folder.py): a GeoPackage of several polygon layers, duplicate reference ids,
the event types' counts, and what ``raster-collect job`` prints for a validate job."""

import json

import pandas as pd
import pytest

from raster_collect_plugin import cli
from raster_collect_plugin.core.jobs import run_job
from tests.validate_folder import cells, compartments, references, write_folder


@pytest.fixture
def folder(tmp_path):
    return write_folder(tmp_path / "monitoring")


def _spec(folder, refs, **extra):
    return {"kind": "validate", "monitoring_dir": str(folder), "references": str(refs),
            **extra}


def _estate(tmp_path):
    """One GeoPackage: the compartments first (a 'date' of planting), the references after."""
    path = tmp_path / "estate.gpkg"
    planted = compartments()
    planted["date"] = "2025-03-01"  # would score as two disturbances covering everything
    planted.to_file(path, layer="compartments")
    references([{"geometry": cells(0, 0, 2, 2), "date": "2025-03-10"}]).to_file(
        path, layer="disturbances")
    return path


def test_several_polygon_layers_need_the_references_layer(folder, tmp_path, capsys):
    """It silently read the first polygon layer (the compartments, dated by planting): TP 4,
    recall 4/24, exit 0."""
    estate = _estate(tmp_path)
    args = ["--quiet", "validate", "--monitoring", str(folder), "--references", str(estate)]
    assert cli.main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert ("estate.gpkg has 2 polygon layers ['compartments', 'disturbances'] (its layers "
            "are ['compartments', 'disturbances']): choose one with --references-layer (a "
            "spec's 'references_layer')") in err
    assert not (folder / "validation").exists()
    with pytest.raises(ValueError, match=r"choose one with --references-layer"):
        run_job(_spec(folder, estate))
    assert not (folder / "validation").exists()
    assert cli.main(args + ["--references-layer", "disturbances"]) == 0
    scores = json.loads((folder / "validation" / "validation.json").read_text())
    assert (scores["pixel"]["tp"], scores["pixel"]["fn"]) == (3, 1)
    result = run_job(_spec(folder, estate, references_layer="disturbances",
                           output_dir=str(tmp_path / "spec")))
    assert (result["pixel"]["tp"], result["pixel"]["fp"], result["pixel"]["fn"]) == (3, 1, 1)


def test_one_polygon_layer_among_others_needs_no_choice(folder, tmp_path):
    """A table of notes beside the references: the one polygon layer is read."""
    import pyogrio

    path = tmp_path / "refs.gpkg"
    pyogrio.write_dataframe(pd.DataFrame({"note": ["surveyed"]}), path, layer="notes")
    references([{"geometry": cells(0, 0, 2, 2), "date": "2025-03-10"}]).to_file(
        path, layer="disturbances")
    result = run_job(_spec(folder, path))
    assert (result["pixel"]["tp"], result["pixel"]["fn"]) == (3, 1)


def test_a_shared_reference_id_is_named_with_its_feature_number(folder, tmp_path):
    """Two references 'R1' (features 1 and 3): 'under an earlier ... reference (R1)' named
    either; now each shared name carries its feature number, in the reasons, the not_scored
    entries and the events table (nothing refused, nothing dropped)."""
    path = tmp_path / "refs.gpkg"
    references([{"geometry": cells(0, 0, 2, 2), "date": "2025-03-10", "reference_id": "R1"},
                {"geometry": cells(0, 0, 1, 1), "date": "2025-03-12", "reference_id": "R2"},
                {"geometry": cells(2, 4, 4, 6), "date": "2025-03-11", "reference_id": "R1"},
                {"geometry": cells(2, 4, 3, 5), "date": "2025-03-20", "reference_id": "R4"}]
               ).to_file(path)
    result = run_job(_spec(folder, path))
    assert [(entry["reference"], entry["reason"].rsplit("(", 2)[-2:])
            for entry in result["not_scored"]] == [
        ("R2", ["R1 ", "feature 1))"]), ("R4", ["R1 ", "feature 3))"])]
    events = pd.read_csv(folder / "validation" / "validation_events.csv")
    assert events["reference"].tolist() == ["R1 (feature 1)", "R2", "R1 (feature 3)", "R4"]
    assert events["pixels"].tolist() == [4, 0, 4, 0]
    # R1 (feature 1): 3 of 4 found; R1 (feature 3): (3,5) found of (2,4) (2,5) (3,4) (3,5)
    assert events["detected_pixels"].tolist() == [3, 0, 1, 0]
    report = (folder / "validation" / "validation_report.md").read_text()
    assert "| R4 | 2025-03-20 | under an earlier or equal reference" in report
    assert "are scored (R1 (feature 3)) |" in report


def test_an_id_equal_to_another_feature_s_number_is_told_apart(folder, tmp_path):
    """Feature 1 has reference_id 2, feature 2 none (named 2 by its number)."""
    path = tmp_path / "refs.gpkg"
    references([{"geometry": cells(0, 0, 2, 2), "date": "2025-03-10", "reference_id": 2},
                {"geometry": cells(0, 0, 1, 1), "date": "2025-03-12", "reference_id": None}]
               ).to_file(path)
    result = run_job(_spec(folder, path))
    assert [entry["reference"] for entry in result["not_scored"]] == ["2 (feature 2)"]
    assert result["not_scored"][0]["reason"].endswith("(2 (feature 1))")


def test_event_types_count_the_file_s_references_and_those_scored(folder, tmp_path):
    """``references`` counted those dated within the monitoring, scored or not (windthrow 2:
    one scored, one off the grid; the one in the history left out): now every reference of
    the type in the file, and ``scored`` those that score a pixel, the rest in not_scored."""
    from shapely.affinity import translate

    path = tmp_path / "refs.gpkg"
    far = translate(cells(0, 0, 2, 2), xoff=10_000)
    references([
        {"geometry": cells(0, 0, 2, 2), "date": "2025-03-10", "event": "windthrow"},  # 3 of 4
        {"geometry": far, "date": "2025-03-10", "event": "windthrow"},  # off the grid
        {"geometry": cells(2, 0, 4, 2), "date": "2024-06-01", "event": "windthrow"},  # history
        {"geometry": cells(2, 4, 4, 6), "date": "2025-03-11", "event": "dieback"},  # 1 of 4
        {"geometry": cells(0, 3, 1, 4), "date": "2025-05-01", "event": "dieback"},  # not seen
        {"geometry": cells(0, 0, 1, 1), "date": "2025-03-12", "event": None}]  # under the 1st
    ).to_file(path)
    result = run_job(_spec(folder, path))
    table = pd.read_csv(folder / "validation" / "validation_event_types.csv")
    assert table[["event", "references", "scored", "pixels", "detected_pixels"]
                 ].values.tolist() == [["(no event type)", 1, 0, 0, 0],
                                       ["dieback", 2, 1, 4, 1],
                                       ["windthrow", 3, 1, 4, 3]]
    assert table["recall"].tolist()[1:] == [0.25, 0.75]
    assert len(result["not_scored"]) == 4 == table["references"].sum() - table["scored"].sum()
