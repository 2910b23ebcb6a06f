"""Reference polygons whose date field is text mixing forms (2025-03-14 and 2025-03-14
00:00:00, as a spreadsheet or an edit in QGIS leaves it) are read: pandas takes its format
from the first value and read the others as missing, so ``validate`` refused valid dates."""

import warnings

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import box

from raster_collect_plugin.core.jobs import JobError
from raster_collect_plugin.core.jobs.validate import _references


def _write(tmp_path, dates):
    frame = gpd.GeoDataFrame({"date": dates},
                             geometry=[box(i * 10, 0, i * 10 + 10, 10) for i in range(len(dates))],
                             crs="EPSG:32632")
    path = tmp_path / "references.gpkg"
    frame.to_file(path, layer="references", driver="GPKG")
    return path


def test_mixed_text_dates_are_read(tmp_path):
    path = _write(tmp_path, ["2025-03-14 00:00:00", "2024-06-01", "2025-08-22T10:30:00"])
    read = _references(path, None, "date")
    # the day is what validation compares
    assert list(read["date"].dt.normalize()) == [
        pd.Timestamp("2025-03-14"), pd.Timestamp("2024-06-01"), pd.Timestamp("2025-08-22")]


def test_a_missing_or_wrong_date_is_still_named(tmp_path):
    path = _write(tmp_path, ["2025-03-14", "soon", None])
    with pytest.raises(JobError, match=r"feature\(s\) \[2, 3\]"):
        _references(path, None, "date")


def test_year_first_dates_with_slashes_or_dots_are_read(tmp_path):
    """README: "text with the year first such as 2025-03-14" is read; 2025/03/14 (year first,
    as many spreadsheets write it) was refused with "a date like 2025-03-14, year first"."""
    path = _write(tmp_path, ["2025/03/14", "2024.6.1", "2025/08/22 10:30"])
    read = _references(path, None, "date")
    assert list(read["date"].dt.normalize()) == [
        pd.Timestamp("2025-03-14"), pd.Timestamp("2024-06-01"), pd.Timestamp("2025-08-22")]
    with pytest.raises(JobError, match=r"feature\(s\) \[1\]: fill them in, year first"):
        _references(_write(tmp_path, ["14/03/2025", "2025/03/14"]), None, "date")


def test_yyyymmdd_as_text_is_read_as_the_number_is(tmp_path):
    """README: the date field may be "a whole number YYYYMMDD"; the same number kept as text
    (a CSV join, a shapefile's string field) was refused with "a date like 2025-03-14, year
    first", although it is year first."""
    path = _write(tmp_path, ["20250314", " 20240601", "2025-08-22"])
    read = _references(path, None, "date")
    assert list(read["date"].dt.normalize()) == [
        pd.Timestamp("2025-03-14"), pd.Timestamp("2024-06-01"), pd.Timestamp("2025-08-22")]
    with warnings.catch_warnings():  # the error is the one line: no pandas warning before it
        warnings.simplefilter("error")
        with pytest.raises(JobError, match=r"feature\(s\) \[1, 2\]"):  # no such day; 7 digits
            _references(_write(tmp_path, ["20251399", "2025031", "2025-03-14"]), None, "date")


def test_a_reference_file_without_features_is_refused(tmp_path):
    """No reference polygon (an empty layer, a wrong export): every detection was scored a
    false positive, exit 0."""
    with pytest.raises(JobError, match="references.gpkg hold no features: give the file "
                                       r"\(or --references-layer\)"):
        _references(_write(tmp_path, []), None, "date")


def test_missing_references_are_one_line_in_every_door(tmp_path, capsys):
    """The command line said "--references ... does not exist", a job spec "cannot read the
    polygon file ...: not a readable vector file (No such file or directory)": one check, in
    the job, says the same line to both."""
    import json

    from raster_collect_plugin import cli

    missing = tmp_path / "refs.gpkg"
    expected = (f"raster-collect: error: the reference polygons {missing} do not exist: give "
                "your reference polygons (--references, a spec's 'references'): a date field "
                "+ the disturbed extent")
    with pytest.raises(JobError, match="do not exist: give your reference polygons"):
        _references(missing, None, "date")
    folder = tmp_path / "monitoring"
    folder.mkdir()
    for name in ("status", "first_anomaly", "confirmation"):
        (folder / f"monitoring_{name}.tif").write_bytes(b"")  # checked before being read
    spec = tmp_path / "validate.json"
    spec.write_text(json.dumps({"kind": "validate", "monitoring_dir": str(folder),
                                "references": str(missing)}))
    assert cli.main(["--quiet", "job", str(spec)]) == 2
    assert capsys.readouterr().err.strip() == expected
    assert cli.main(["--quiet", "validate", "--monitoring", str(folder), "--references",
                     str(missing)]) == 2
    assert capsys.readouterr().err.strip() == expected


def test_dates_with_a_time_zone_count_on_the_day_they_were_written(tmp_path):
    """A storm logged at 06:00 in Queensland (+10:00) happened on 20 November there; read in
    UTC it moved to the 19th (a detection on the 19th then scored on time). Zones that differ
    between rows were a traceback ("Mixed timezones detected")."""
    path = _write(tmp_path, ["2025-11-20T06:00:00+10:00", "2025-11-21T23:30:00Z",
                             "2025-11-22 05:15+1000", "2025-11-23"])
    read = _references(path, None, "date")
    assert list(read["date"].dt.normalize()) == [
        pd.Timestamp("2025-11-20"), pd.Timestamp("2025-11-21"), pd.Timestamp("2025-11-22"),
        pd.Timestamp("2025-11-23")]


def test_a_date_time_field_with_its_zone_keeps_its_local_day(tmp_path):
    """A GeoPackage DATETIME field written with an offset comes back zone-aware."""
    stamps = pd.Series(pd.to_datetime(["2025-11-20T06:00:00+10:00", "2025-11-21T08:00:00+10:00"]))
    frame = gpd.GeoDataFrame({"date": stamps},
                             geometry=[box(0, 0, 10, 10), box(20, 0, 30, 10)], crs="EPSG:32632")
    path = tmp_path / "stamped.gpkg"
    frame.to_file(path, driver="GPKG")
    read = _references(path, None, "date")
    assert list(read["date"].dt.normalize()) == [pd.Timestamp("2025-11-20"),
                                                 pd.Timestamp("2025-11-21")]
