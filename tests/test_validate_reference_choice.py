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
    assert ("estate.gpkg has 2 polygon layers ['compartments', 'disturbances']: choose one "
            "with --references-layer (a spec's 'references_layer')") in err
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


def test_a_validate_job_prints_what_validate_prints(folder, tmp_path, capsys):
    """`raster-collect job SPEC` printed the result's dictionaries ("pixel: {'precision':
    ...}"); now the validate headline, as `raster-collect validate` prints it."""
    path = tmp_path / "refs.gpkg"
    references([{"geometry": cells(0, 0, 2, 2), "date": "2025-03-10"}]).to_file(path)
    assert cli.main(["validate", "--monitoring", str(folder), "--references", str(path),
                     "--output", str(tmp_path / "command")]) == 0
    command = capsys.readouterr().out.replace(str(tmp_path / "command"), "OUT")
    spec = tmp_path / "validate.json"
    spec.write_text(json.dumps(_spec(folder, path, output_dir=str(tmp_path / "job"))))
    assert cli.main(["job", str(spec)]) == 0
    job = capsys.readouterr().out.replace(str(tmp_path / "job"), "OUT")
    assert job == command
    assert job.splitlines()[:2] == [
        "compartment: precision 0.500, recall 1.000, F1 0.667 (TP 1, FP 1, FN 0)",
        "pixel: precision 0.750, recall 0.750, F1 0.750 (TP 3, FP 1, FN 1)"]
    assert "{" not in job and job.splitlines()[-1] == "output_dir: OUT"


def test_a_composite_job_prints_readable_lines(small_sample, tmp_path, capsys):
    """Its collections were one line of dictionaries; now indented lines."""
    spec = tmp_path / "composite.json"
    spec.write_text(json.dumps({
        "kind": "composite", "aoi": str(small_sample.forests_path), "start": "2025-10-01",
        "end": "2025-10-31", "indices": ["NDVI"], "output_dir": str(tmp_path / "out"),
        "sources": [{"kind": "static", "href": str(small_sample.catalog_path),
                     "collections": ["sentinel-2-l2a"]}]}))
    assert cli.main(["job", str(spec)]) == 0
    out = capsys.readouterr().out
    assert "{" not in out, out
    lines = out.splitlines()
    at = lines.index("collections:")
    assert lines[at + 1:at + 4] == ["  [1]:", "    provider: Static catalog",
                                    "    collection: sentinel-2-l2a"]
    assert f"      NDVI: {tmp_path / 'out'}" in "\n".join(lines)


def test_plain_lines_indent_mappings_and_count_long_tables():
    from raster_collect_plugin.cli.plain import plain_lines

    rows = [{"id": n} for n in range(11)]
    assert plain_lines({"errors": {}, "notes": ["a", "b"], "rows": 3, "ranking": rows,
                        "entered": {"suspected": 2, "confirmed": 1},
                        "files": {"kind": {"one": "a.tif"}}}) == [
        "errors: none", "notes: ['a', 'b']", "rows: 3", "ranking: 11 (--json lists them)",
        "entered:", "  suspected: 2", "  confirmed: 1", "files:", "  kind:", "    one: a.tif"]


def test_monitor_and_storm_jobs_print_their_commands_tables(capsys):
    """A monitor job printed 'changes: {...}' and 'compartments: [{...}]', a storm job its
    ranking's records: now the lines monitor / storm print, then the summary."""
    from raster_collect_plugin.cli.plain import job_summary, plain_lines

    changes = {"scenes": 2, "first_scene": "2025-03-05", "last_scene": "2025-03-10",
               "entered": {"suspected": 4, "confirmed": 1, "recovered": 0},
               "zones_with_new_alerts": ["A"], "late_scenes": []}
    row = {"name": "A", "alert": "confirmed", "disturbed_ha": 0.04, "disturbed_fraction": 0.25,
           "suspected_ha": 0.0, "first_detection": "2025-03-05", "last_confirmation": None}
    summary = job_summary({"kind": "monitor", "id_field": "name"},
                          {"output_dir": "m", "changes": changes, "compartments": [row],
                           "files": {"status": "m/monitoring_status.tif"}})
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("2 new scene(s) processed (2025-03-05 .. 2025-03-10); pixels "
                             "newly suspected 4, confirmed 1")
    assert out[1].split() == ["name", "alert", "disturbed", "ha", "fraction", "suspected", "ha",
                              "first", "detection", "confirmed"]
    assert out[2].split() == ["A", "confirmed", "0.04", "25%", "0.00", "2025-03-05", "-"]
    assert plain_lines(summary) == [
        "output_dir: m", "scenes: 2", "last_scene: 2025-03-10", "entered:", "  suspected: 4",
        "  confirmed: 1", "  recovered: 0", "late_scenes: []", "zones_with_new_alerts: ['A']",
        "files:", "  status: m/monitoring_status.tif"]
    ranking = [{"forest_id": 7, "rank": 1, "damage_class": "severe", "damaged_ha": 2.5}]
    summary = job_summary({"kind": "storm"}, {"output_dir": "s", "errors": {},
                                              "ranking": ranking})
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:2] == ["forest_id", "rank"] and out[1].split()[:2] == ["7", "1"]
    assert plain_lines(summary) == ["output_dir: s", "errors: none"]


def test_a_search_job_counts_what_its_table_shows(small_sample, tmp_path, capsys):
    """Two scenes: each printed again as indented records, and each scene's viewer
    description ('S2A_...: 17 (--json lists them)'); now the table and the counts."""
    spec = tmp_path / "search.json"
    spec.write_text(json.dumps({
        "kind": "search", "aoi": str(small_sample.forests_path), "start": "2025-10-01",
        "end": "2025-10-31", "sources": [{"kind": "static", "collections": ["sentinel-2-l2a"],
                                          "href": str(small_sample.catalog_path)}]}))
    assert cli.main(["job", str(spec)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[-1] for line in lines[:2]] == [
        "S2A_MSIL2A_20251005T235000_R016_T56JNS", "S2B_MSIL2A_20251020T235000_R016_T56JNS"]
    assert lines[2:] == ["items: 2 (--json lists them)", "errors: none"]
