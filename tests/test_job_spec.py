"""Malformed job specs: one bad-input line, an error event for QGIS, exit 2, no traceback."""

import json

import pytest

from raster_collect_plugin import cli


def good_spec(sample, tmp_path):
    return {"kind": "composite", "aoi": str(sample.forests_path),
            "sources": [{"kind": "static", "href": str(sample.catalog_path),
                         "collections": ["sentinel-2-l2a"]}],
            "start": "2025-10-01", "end": "2025-10-31", "indices": ["NDVI"],
            "output_dir": str(tmp_path / "out")}


MALFORMED = [
    (lambda s: [s], "must be a JSON object, not list"),
    (lambda s: dict(s, kind="mosaic"), "job 'kind' must be one of"),
    (lambda s: {k: v for k, v in s.items() if k != "aoi"}, "needs 'aoi'"),
    (lambda s: dict(s, start="yesterday"), "'start' must be a date like 2025-11-13"),
    (lambda s: dict(s, start="2025-12-01"), "is before 'start'"),
    (lambda s: dict(s, resolution="ten"), "'resolution' must be a positive number"),
    (lambda s: dict(s, resolution=-10), "'resolution' must be a positive number"),
    (lambda s: dict(s, max_cloud_cover=250), "'max_cloud_cover' must be a number from 0"),
    (lambda s: dict(s, indices="NDVI"), "'indices' must be a list of index names"),
    (lambda s: dict(s, sources={"kind": "static"}), "'sources' must be a list"),
    (lambda s: dict(s, sources=["catalog.json"]), "sources[0] must be an object"),
    (lambda s: dict(s, sources=[{"kind": "ftp"}]), "sources[0].kind must be one of"),
    (lambda s: dict(s, sources=[{"kind": "static", "collections": "s2"}]),
     "sources[0].collections must be a list"),
    (lambda s: dict(s, custom_indices={"X": 5}), "'custom_indices' must be an object"),
    (lambda s: dict(s, custom_indices={"X": "9**9**9"}), "exponent '9**9' is not allowed"),
    (lambda s: dict(s, kind="zonal", min_clear_fraction="half"), "'min_clear_fraction'"),
    (lambda s: dict(s, kind="zonal", h3_resolution=99), "'h3_resolution' must be an integer"),
    (lambda s: dict(s, period="fortnight"), "'period' must be month, quarter or year"),
    (lambda s: dict(s, overwrite="yes"), "'overwrite' must be true or false"),
    (lambda s: dict(s, kind="storm"), "needs 'event_date'"),
    (lambda s: dict(s, mask_classes=["fog"]), "unknown cloud-mask classes ['fog']"),
]


@pytest.mark.parametrize("change,message", MALFORMED)
def test_malformed_spec_is_one_error_event(small_sample, tmp_path, capsys, change, message):
    path = tmp_path / "job.json"
    path.write_text(json.dumps(change(good_spec(small_sample, tmp_path))))
    assert cli.main(["job", str(path), "--events"]) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    events = [json.loads(line) for line in captured.out.splitlines() if line.startswith("{")]
    assert events[-1]["event"] == "error" and events[-1]["kind"] == "bad_input"
    assert message in events[-1]["message"]
    assert len(captured.err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_unreadable_spec_file(tmp_path, capsys):
    path = tmp_path / "job.json"
    path.write_text("{not json")
    assert cli.main(["job", str(path), "--events"]) == 2
    out = capsys.readouterr().out
    assert json.loads(out.splitlines()[-1])["kind"] == "bad_input"
