"""Validation of monitoring outputs against reference polygons (issue 30), on hand-made arrays
whose answers are counted by hand in the comments."""

import json
from datetime import date

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from affine import Affine
from shapely.geometry import box

from raster_collect_plugin.core.validation.assessment import (
    validate,
    validation_report,
    write_validation,
)
from raster_collect_plugin.core.validation.metrics import as_days, clear_observations_between

CRS = "EPSG:32632"
X0, Y0 = 500_000.0, 6_000_000.0
TRANSFORM = Affine(10, 0, X0, 0, -10, Y0)
SHAPE = (6, 8)
NAT = np.datetime64("NaT", "ns")


def d(text):
    return np.datetime64(text, "ns")


def _cells(col0, row0, col1, row1):
    """Box over pixel columns col0..col1-1 and rows row0..row1-1."""
    return box(X0 + 10 * col0, Y0 - 10 * row1, X0 + 10 * col1, Y0 - 10 * row0)


COMPARTMENTS = gpd.GeoDataFrame({"forest_id": [1, 2]},
                                geometry=[_cells(0, 0, 4, 6), _cells(4, 0, 8, 6)], crs=CRS)
# the windthrow: rows 0-1, columns 0-3 of compartment 1 (8 pixels), on 2025-03-10
WINDTHROW = {"reference_id": 7, "forest_id": 1, "event": "windthrow",
             "date": "2025-03-10", "geometry": _cells(0, 0, 4, 2)}
# an old clear-fell in compartment 2 (rows 4-5, columns 4-5: 4 pixels), before monitoring
OLD = {"reference_id": 8, "forest_id": 2, "event": "clearfell", "date": "2024-06-01",
       "geometry": _cells(4, 4, 6, 6)}


def outputs():
    status = np.zeros(SHAPE, "uint8")
    confirmation = np.full(SHAPE, NAT)
    first = np.full(SHAPE, NAT)
    detections = {(0, 0): "2025-03-20", (0, 1): "2025-03-15", (0, 2): "2025-03-15",
                  (1, 0): "2025-03-15", (1, 1): "2025-03-20", (1, 2): "2025-03-30",
                  (1, 3): "2025-03-30",  # 7 on time: delays 10, 5, 5, 5, 10, 20, 20 days
                  (0, 3): "2025-03-01",  # before the event: a false positive and a miss
                  (5, 7): "2025-04-02"}  # in the intact compartment: a false positive
    for (row, col), when in detections.items():
        status[row, col] = 2 if (row, col) != (1, 3) else 3  # (1, 3) has recovered since
        confirmation[row, col] = d(when)
        first[row, col] = d("2025-03-12") if d(when) > d("2025-03-10") else d("2025-02-25")
    status[3, 5] = 1  # suspected only: not a detection
    first[3, 5] = d("2025-04-10")
    ys = Y0 - 5 - 10 * np.arange(SHAPE[0])
    xs = X0 + 5 + 10 * np.arange(SHAPE[1])
    return xr.Dataset({"status": (("y", "x"), status),
                       "confirmation": (("y", "x"), confirmation),
                       "first_anomaly": (("y", "x"), first)},
                      coords={"y": ys, "x": xs}, attrs={"crs": CRS})


def observations():
    days = np.array([d(f"2025-03-{n:02d}") for n in (5, 10, 15, 20, 25, 30)])
    clear = np.ones((6, *SHAPE), bool)
    clear[2, 0, 0] = False  # 03-15 cloudy over (0, 0)
    clear[4, 1, 2] = False  # 03-25 cloudy over (1, 2)
    return xr.DataArray(np.where(clear, 0.8, np.nan), dims=("time", "y", "x"),
                        coords={"time": days})


def test_pixel_and_compartment_scores_by_hand():
    refs = gpd.GeoDataFrame([WINDTHROW], crs=CRS)
    result = validate(outputs(), refs, COMPARTMENTS, observations=observations())
    pixel = result["pixel"]
    # TP 7; FP: the early one and (5, 7); FN: the early one (the same pixel);
    # TN: the 48 - 9 pixels neither detected nor disturbed
    assert (pixel["tp"], pixel["fp"], pixel["fn"], pixel["tn"]) == (7, 2, 1, 39)
    assert pixel["early"] == 1 and pixel["evaluated"] == 48
    assert pixel["precision"] == pytest.approx(7 / 9)
    assert pixel["recall"] == pytest.approx(7 / 8)
    assert pixel["f1"] == pytest.approx(14 / 17)
    # compartments: 1 disturbed and flagged; 2 flagged by 1 of 24 pixels (>= 2 %): a FP
    comp = result["compartment"]
    assert (comp["tp"], comp["fp"], comp["fn"], comp["tn"]) == (1, 1, 0, 0)
    assert comp["precision"] == 0.5 and comp["recall"] == 1.0
    assert comp["f1"] == pytest.approx(2 / 3)
    table = result["compartments"].set_index("forest_id")
    assert list(table["outcome"]) == ["TP", "FP"]
    assert table.loc[1, "reference_pixels"] == 8 and table.loc[1, "detected_pixels"] == 8
    assert table.loc[1, "first_detection"] == "2025-03-15"
    assert table.loc[1, "delay_days"] == 5
    assert table.loc[1, "pixel_recall"] == pytest.approx(7 / 8)
    # delays of the 7 true positives
    confirmation = result["delay"]["confirmation"]
    assert confirmation["days"] == {"mean": pytest.approx(75 / 7), "median": 10.0, "n": 7}
    # clear observations in [03-10, detection]: 2, 2, 2, 2, 3, 4, 5 (two were cloudy)
    assert confirmation["observations"] == {"mean": pytest.approx(20 / 7), "median": 2.0,
                                            "n": 7}
    first = result["delay"]["first_anomaly"]
    assert first["days"] == {"mean": 2.0, "median": 2.0, "n": 7}
    assert first["observations"]["median"] == 1.0  # 03-10 only
    events = result["events"]
    assert events.loc[0, "reference"] == 7 and events.loc[0, "pixels"] == 8
    assert events.loc[0, "detected_pixels"] == 7
    assert events.loc[0, "median_confirmation_delay_days"] == 10.0
    kinds = result["event_types"]
    assert list(kinds["event"]) == ["windthrow"] and kinds.loc[0, "recall"] == 7 / 8
    assert kinds.loc[0, "median_confirmation_delay_observations"] == 2.0


def test_a_stricter_compartment_threshold_and_the_monitoring_start():
    refs = gpd.GeoDataFrame([WINDTHROW, OLD], crs=CRS)
    # the old clear-fell counts without a monitoring start: its 4 pixels are misses
    loose = validate(outputs(), refs, COMPARTMENTS)
    assert loose["pixel"]["fn"] == 1 + 4
    assert loose["compartment"]["tp"] == 2  # compartment 2 disturbed (4/24) and flagged
    strict = validate(outputs(), refs, COMPARTMENTS, min_fraction=0.05,
                      monitoring_start=date(2025, 1, 1))
    # the old clear-fell and its pixels are left out: 44 evaluated, TN 39 - 4
    assert strict["pixel"]["evaluated"] == 44
    assert (strict["pixel"]["tp"], strict["pixel"]["fp"], strict["pixel"]["fn"],
            strict["pixel"]["tn"]) == (7, 2, 1, 35)
    # compartment 2: 1 of 20 evaluated pixels = 5 %: still flagged at >= 5 %
    assert strict["compartment"]["fp"] == 1
    stricter = validate(outputs(), refs, COMPARTMENTS, min_fraction=0.06,
                        monitoring_start=date(2025, 1, 1))
    assert (stricter["compartment"]["tp"], stricter["compartment"]["fp"],
            stricter["compartment"]["tn"]) == (1, 0, 1)
    assert stricter["compartment"]["precision"] == 1.0


def test_a_compartment_off_the_grid_is_not_evaluated():
    """A compartment beside the monitored area has no pixel: it was a compartment "TN" (an
    outside forest raised the score). Now "not evaluated", out of the scores, and counted."""
    refs = gpd.GeoDataFrame([WINDTHROW], crs=CRS)
    beside = gpd.GeoDataFrame({"forest_id": [3]}, geometry=[_cells(20, 0, 24, 6)], crs=CRS)
    both = gpd.GeoDataFrame(pd.concat([COMPARTMENTS, beside], ignore_index=True), crs=CRS)
    alone = validate(outputs(), refs, COMPARTMENTS)["compartment"]
    result = validate(outputs(), refs, both)
    comp = result["compartment"]
    assert (comp["tp"], comp["fp"], comp["fn"], comp["tn"]) == (1, 1, 0, 0)
    assert comp["not_evaluated"] == 1 and alone["not_evaluated"] == 0
    assert {k: v for k, v in comp.items() if k != "not_evaluated"} == \
        {k: v for k, v in alone.items() if k != "not_evaluated"}
    assert list(result["compartments"]["outcome"]) == ["TP", "FP", "not evaluated"]
    assert result["pixel"]["evaluated"] == 48
    assert "1 not evaluated: no pixel on the outputs' grid" in validation_report(result)


def test_integer_day_rasters_and_a_bare_mapping_give_the_same_answer():
    """The monitoring state's convention: int days since 1970, 0 = none; no coordinates."""
    data = outputs()
    as_ints = {name: np.nan_to_num(as_days(data[name].values)).astype("int32")
               for name in ("confirmation", "first_anomaly")}
    as_ints["status"] = data["status"].values
    refs = gpd.GeoDataFrame([WINDTHROW], crs=CRS)
    a = validate(data, refs, COMPARTMENTS)
    b = validate(as_ints, refs, COMPARTMENTS, transform=TRANSFORM, crs=CRS)
    assert a["pixel"] == b["pixel"] and a["compartment"] == b["compartment"]
    assert a["delay"] == b["delay"]
    # without status, any dated confirmation is a detection: the same 9 pixels here
    no_status = validate({"confirmation": as_ints["confirmation"]}, refs, COMPARTMENTS,
                         transform=TRANSFORM, crs=CRS)
    assert no_status["pixel"]["tp"] == 7 and no_status["pixel"]["fp"] == 2
    with pytest.raises(ValueError, match="transform"):
        validate(as_ints, refs, COMPARTMENTS, crs=CRS)


def test_clear_observations_between_counts_inclusive_whole_days():
    days = as_days(np.array([d("2025-01-01"), d("2025-01-05"), d("2025-01-09")]))
    clear = np.array([[[True, True]], [[False, True]], [[True, True]]])
    start = as_days(np.array([[d("2025-01-01"), d("2025-01-02")]]))
    end = as_days(np.array([[d("2025-01-09"), NAT]]))
    counts = clear_observations_between(days, clear, start, end)
    assert counts[0, 0] == 2 and np.isnan(counts[0, 1])


def test_report_and_files(tmp_path):
    refs = gpd.GeoDataFrame([WINDTHROW], crs=CRS)
    result = validate(outputs(), refs, COMPARTMENTS, observations=observations())
    text = validation_report(result)
    assert "precision 0.778, recall 0.875, F1 0.824" in text
    assert "| forest_id |" in text
    files = write_validation(result, tmp_path)
    summary = json.loads(files["summary"].read_text())
    assert summary["pixel"]["tp"] == 7
    assert summary["compartment"]["precision"] == 0.5
    assert files["compartments"].read_text().splitlines()[0].startswith("forest_id,pixels")
    assert files["report"].read_text() == text
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "validation.json", "validation_compartments.csv", "validation_event_types.csv",
        "validation_events.csv", "validation_report.md"]


def test_perfect_outputs_on_the_scenario_score_one():
    """Outputs made from the scenario's truth (confirmed on the first clear observation on or
    after each event) score 1 everywhere, with a delay of one clear observation."""
    from raster_collect_plugin.core.sample.disturbance_scenario import make_scenario

    scenario = make_scenario()
    series = scenario.series
    truth = scenario.truth_date.values
    clear = np.isfinite(series.values)
    times = series.time.values.astype("datetime64[ns]")
    after = clear & (times[:, None, None] >= truth.astype("datetime64[D]")[None])
    first = np.where(after.any(0), times[np.argmax(after, axis=0)], NAT)
    first[np.isnat(truth)] = NAT
    outputs = xr.Dataset({"status": (("y", "x"), np.where(np.isnat(first), 0, 2)),
                          "confirmation": (("y", "x"), first)},
                         coords={"y": series.y, "x": series.x}, attrs={"crs": series.crs})
    result = validate(outputs, scenario.references, scenario.compartments,
                      observations=series)
    assert result["pixel"]["precision"] == 1.0 and result["pixel"]["recall"] == 1.0
    assert result["compartment"]["f1"] == 1.0 and result["compartment"]["tp"] == 5
    assert result["compartment"]["tn"] == 3
    assert result["delay"]["confirmation"]["observations"]["median"] == 1.0
    assert result["delay"]["confirmation"]["observations"]["mean"] == 1.0
    assert 0 <= result["delay"]["confirmation"]["days"]["median"] <= 8
    kinds = result["event_types"].set_index("event")
    assert sorted(kinds.index) == ["clearfell", "dieback", "windthrow"]
    assert (kinds["recall"] == 1.0).all() and kinds.loc["windthrow", "references"] == 3


def test_two_clear_scenes_of_one_day_count_once():
    days = as_days(np.array([d("2025-01-05T10:10"), d("2025-01-05T10:30"), d("2025-01-09")]))
    clear = np.ones((3, 1, 1), bool)
    start = as_days(np.array([[d("2025-01-05")]]))
    end = as_days(np.array([[d("2025-01-09")]]))
    assert clear_observations_between(days, clear, start, end)[0, 0] == 2


def test_the_same_from_files(tmp_path):
    from raster_collect_plugin.core.outputs.files import write_cog
    from raster_collect_plugin.core.validation.files import validate_files

    data = outputs()
    paths = {"status": tmp_path / "status.tif"}
    write_cog(paths["status"], data["status"].values, transform=TRANSFORM, crs=CRS)
    for name in ("first_anomaly", "confirmation"):
        paths[name] = tmp_path / f"{name}.tif"
        days = np.nan_to_num(as_days(data[name].values)).astype("int32")
        write_cog(paths[name], days, transform=TRANSFORM, crs=CRS, nodata=0)
    gpd.GeoDataFrame([WINDTHROW], crs=CRS).to_file(tmp_path / "refs.gpkg", driver="GPKG")
    COMPARTMENTS.to_file(tmp_path / "forests.gpkg", driver="GPKG")
    got = validate_files(paths, tmp_path / "refs.gpkg", tmp_path / "forests.gpkg")
    want = validate(data, gpd.GeoDataFrame([WINDTHROW], crs=CRS), COMPARTMENTS)
    assert got["pixel"] == want["pixel"] and got["delay"] == want["delay"]
    assert got["compartment"] == want["compartment"]


def test_the_scenarios_own_truth_scores_one(tmp_path):
    """The scenario's files: its truth raster, taken as detections dated on the event day,
    validated against its reference polygons, is perfect (pixel and compartment)."""
    from raster_collect_plugin.core.sample.disturbance_catalog import write_scenario
    from raster_collect_plugin.core.sample.disturbance_scenario import ScenarioSpec
    from raster_collect_plugin.core.validation.files import validate_files

    files = write_scenario(tmp_path, ScenarioSpec(start=date(2025, 3, 1),
                                                  end=date(2025, 3, 10)))
    result = validate_files({"confirmation": files.truth_date}, files.references,
                            files.compartments)
    assert result["pixel"]["precision"] == 1.0 and result["pixel"]["recall"] == 1.0
    import rasterio

    with rasterio.open(files.truth_date) as truth:
        assert result["pixel"]["tp"] == int((truth.read(1) > 0).sum()) > 2000
    assert (result["compartment"]["tp"], result["compartment"]["tn"]) == (5, 3)
    assert result["delay"]["confirmation"]["days"]["median"] == 0.0


def test_a_lazy_series_is_read_a_day_at_a_time():
    """Observations backed by dask give the same delays (and are never loaded whole)."""
    refs = gpd.GeoDataFrame([WINDTHROW], crs=CRS)
    eager = validate(outputs(), refs, COMPARTMENTS, observations=observations())
    lazy = validate(outputs(), refs, COMPARTMENTS,
                    observations=observations().chunk({"time": 1}))
    assert lazy["delay"] == eager["delay"]


def test_unusable_polygons_say_what_to_fix():
    refs = gpd.GeoDataFrame([WINDTHROW], crs=CRS)
    with pytest.raises(ValueError, match=r"no field 'when' \(a date column\).*'event'"):
        validate(outputs(), refs, COMPARTMENTS, date_field="when")
    with pytest.raises(ValueError, match="compartments have no field 'stand'"):
        validate(outputs(), refs, COMPARTMENTS, id_field="stand")
    with pytest.raises(ValueError, match="reference polygons have no CRS"):
        validate(outputs(), gpd.GeoDataFrame([WINDTHROW]), COMPARTMENTS)


def test_references_with_text_ids_or_without_an_id_or_event_type():
    """A text reference_id ('R-7') or a missing one stopped validation with "invalid literal
    for int()" / "cannot convert float NaN to integer" (exit 2, no fix named); a reference
    without an event type was left out of the table per event type without a word."""
    windthrow = dict(WINDTHROW, reference_id="R-7")
    unnamed = dict(WINDTHROW, reference_id=None, event=None, date="2025-03-10",
                   geometry=_cells(5, 0, 8, 2))  # 6 pixels of compartment 2, none detected
    result = validate(outputs(), gpd.GeoDataFrame([windthrow, unnamed], crs=CRS),
                      COMPARTMENTS)
    events = result["events"]
    assert list(events["reference"]) == ["R-7", 2]  # its row number where it has no id
    assert list(events["pixels"]) == [8, 6] and list(events["detected_pixels"]) == [7, 0]
    kinds = result["event_types"].set_index("event")
    assert list(kinds.index) == ["(no event type)", "windthrow"]
    assert kinds.loc["(no event type)", "pixels"] == 6
    assert kinds.loc["(no event type)", "recall"] == 0.0
    assert kinds.loc["windthrow", "recall"] == 7 / 8


def test_compartments_on_the_grid_without_a_pixel_centre_say_so():
    """A 1 m strip along an edge of pixels and a 3 m square inside one lie on the grid: they
    were refused as "none of the compartments overlaps the monitoring outputs' grid", which
    sends the analyst to check the CRS or the file; they are too small for its pixels."""
    refs = gpd.GeoDataFrame([WINDTHROW], crs=CRS)
    small = gpd.GeoDataFrame({"forest_id": [5, 6]},
                             geometry=[box(X0 + 20, Y0 - 50, X0 + 21, Y0 - 10),
                                       box(X0 + 31, Y0 - 19, X0 + 34, Y0 - 16)], crs=CRS)
    with pytest.raises(ValueError, match="none of the compartments holds a pixel centre of "
                       r"the monitoring outputs' 10 m grid \(each smaller than a pixel"):
        validate(outputs(), refs, small)
    elsewhere = gpd.GeoDataFrame({"forest_id": [7]}, geometry=[_cells(20, 0, 24, 6)], crs=CRS)
    with pytest.raises(ValueError, match="none of the compartments overlaps the monitoring"):
        validate(outputs(), refs, elsewhere)


def test_references_through_pixel_centres_score_the_same_from_another_crs():
    """A reference whose edges run through pixel centres (drawn on a 5 m grid) scored other
    pixels once it had passed through EPSG:4326 (nanometres off): 1543 true positives from
    the file, 1553 from its GeoJSON, 1564 from its Shapefile in EPSG:25832."""
    on_centres = dict(WINDTHROW, geometry=box(X0 + 5, Y0 - 25, X0 + 35, Y0 - 5))
    refs = gpd.GeoDataFrame([on_centres], crs=CRS)
    travelled = refs.to_crs("EPSG:4326").to_crs(CRS)
    assert not travelled.geometry.iloc[0].equals_exact(refs.geometry.iloc[0], 0)
    here, there = validate(outputs(), refs, COMPARTMENTS), validate(outputs(), travelled,
                                                                     COMPARTMENTS)
    assert here["pixel"] == there["pixel"]
    assert here["pixel"]["tp"] == 5  # the detections of rows 0-1 under it, on time
