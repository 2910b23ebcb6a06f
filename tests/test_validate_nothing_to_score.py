"""``validate`` with reference polygons that leave nothing to score: none overlaps the monitored
compartments (a wrong file, or coordinates drawn in another CRS than the one set), or all are
dated within the stable history (left out). Every detection was scored a false positive and
the run ended 0 with precision 0; now one line, exit 2, and no report written. A tiny
monitoring folder on disk (no monitor run), its numbers checked by hand."""

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from rasterio.transform import from_origin
from shapely.geometry import box

from raster_collect_plugin import cli

ORIGIN = (372_000.0, 5_352_000.0)  # 20 x 20 pixels of 10 m, EPSG:32632


def _monitoring_folder(tmp_path):
    """Two compartments (west, east halves); 30 pixels of the west one confirmed on
    2025-03-20 (first anomaly 2025-03-15), nothing else."""
    folder = tmp_path / "monitoring"
    folder.mkdir()
    status = np.zeros((20, 20), "uint8")
    status[0:3, 0:10] = 2
    dates = {"status": status,
             "first_anomaly": np.where(status == 2, 20250315, 0).astype("int32"),
             "confirmation": np.where(status == 2, 20250320, 0).astype("int32")}
    for name, values in dates.items():
        with rasterio.open(folder / f"monitoring_{name}.tif", "w", driver="GTiff", height=20,
                           width=20, count=1, dtype=values.dtype, crs="EPSG:32632",
                           transform=from_origin(*ORIGIN, 10, 10)) as out:
            out.write(values, 1)
    x, y = ORIGIN
    gpd.GeoDataFrame({"forest_id": [1, 2]},
                     geometry=[box(x, y - 200, x + 100, y), box(x + 100, y - 200, x + 200, y)],
                     crs="EPSG:32632").to_file(folder / "monitoring_compartments.gpkg")
    (folder / "monitoring_state.json").write_text(json.dumps(
        {"params": {"history_end": "2024-12-31"}}))
    return folder


def _references(tmp_path, name, dates, shift=0.0, crs="EPSG:32632"):
    x, y = ORIGIN
    frame = gpd.GeoDataFrame(
        {"reference_id": [1], "event": ["windthrow"], "date": pd.to_datetime(dates)},
        geometry=[box(x + shift, y - 40 + shift, x + 100 + shift, y + shift)], crs=crs)
    path = tmp_path / name
    frame.to_file(path)
    return path


def _validate(folder, references, capsys):
    code = cli.main(["--json", "validate", "--monitoring", str(folder), "--references",
                     str(references)])
    return code, json.loads(capsys.readouterr().out)


def test_references_on_the_monitored_pixels_are_scored_by_hand(tmp_path, capsys):
    folder = _monitoring_folder(tmp_path)
    code, result = _validate(folder, _references(tmp_path, "refs.gpkg", ["2025-03-14"]), capsys)
    assert code == 0
    # reference: the top 4 rows of the west half (40 pixels); detected: its top 3 rows (30)
    assert (result["pixel"]["tp"], result["pixel"]["fp"], result["pixel"]["fn"]) == (30, 0, 10)
    assert result["pixel"]["recall"] == pytest.approx(0.75)
    assert result["delay"]["confirmation"]["days"]["median"] == 6  # 14 -> 20 March
    assert result["compartment"]["tp"] == 1 and result["compartment"]["tn"] == 1


def test_references_off_the_compartments_are_refused(tmp_path, capsys):
    """The same polygon 50 km away (or UTM coordinates labelled with another zone's CRS)."""
    folder = _monitoring_folder(tmp_path)
    far = _references(tmp_path, "far.gpkg", ["2025-03-14"], shift=50_000.0)
    code, result = _validate(folder, far, capsys)
    assert code == 2 and result["exit_code"] == 2
    assert result["error"]["message"] == (
        "none of the 1 reference polygons in far.gpkg overlaps the monitored area: check that "
        "it is the right file and that its CRS is the one its coordinates were drawn in")
    assert not (folder / "validation").exists()  # nothing written a rerun would trust


def test_references_all_dated_within_the_history_are_refused(tmp_path, capsys):
    folder = _monitoring_folder(tmp_path)
    old = _references(tmp_path, "old.gpkg", ["2024-06-01"])
    code, result = _validate(folder, old, capsys)
    assert code == 2
    assert result["error"]["message"] == (
        "the reference polygons old.gpkg are all dated within the stable history "
        "(up to 2024-12-31), which holds their disturbances: give references dated after it")
    assert not (folder / "validation").exists()


def _job(tmp_path, capsys, **keys):
    spec = tmp_path / "validate.json"
    spec.write_text(json.dumps({"kind": "validate", **keys}))
    code = cli.main(["--json", "job", str(spec)])
    return code, json.loads(capsys.readouterr().out)


def test_ids_choose_among_the_folders_compartments(tmp_path, capsys):
    """A spec's 'ids' without 'aoi' were silently not used (every compartment scored), an id
    not there was a traceback (KeyError 'pixels', exit 1), and 'layer' without 'aoi' was not
    used either."""
    folder = _monitoring_folder(tmp_path)
    refs = str(_references(tmp_path, "refs.gpkg", ["2025-03-14"]))
    keys = {"monitoring_dir": str(folder), "references": refs}
    # the east compartment alone: the reference (west) is on the grid, off it: its false
    # alarms (none) are a fair question, not refused
    code, east = _job(tmp_path, capsys, **keys, ids=[2.0], output_dir=str(tmp_path / "east"))
    assert code == 0
    assert (east["pixel"]["tp"], east["pixel"]["fp"], east["pixel"]["evaluated"]) == (0, 0, 200)
    assert east["compartment"]["tn"] == 1 and east["compartment"]["tp"] == 0
    code, typo = _job(tmp_path, capsys, **keys, ids=[3])
    assert code == 2 and typo["error"]["message"] == (
        "the compartments: no polygons with forest_id in ['3']; the file's forest_id values "
        "are 1, 2: choose among them (a spec's 'ids')")
    code, layer = _job(tmp_path, capsys, **keys, layer="compartments")
    assert code == 2 and "without 'aoi' scores the monitoring folder's own compartments: " \
        "leave 'layer' out" in layer["error"]["message"]
    assert cli.main(["validate", "--monitoring", str(folder), "--references", refs,
                     "--layer", "compartments"]) == 2
    assert capsys.readouterr().err.strip() == (
        "raster-collect: error: --layer is the layer of --compartments: give --compartments "
        "too, or leave --layer out (the folder's own compartments)")
    assert not (folder / "validation").exists()
