"""What the engine inherits from QGIS: nothing of QGIS's Python, PROJ or GDAL data (simulated
with a foreign PROJ_DATA), and a log written and read as UTF-8 whatever the code page."""

from __future__ import annotations

import pathlib
import subprocess
import sys
from pathlib import Path

import pytest

from raster_collect_plugin.engine import bridge, processes

ROOT = Path(__file__).resolve().parent.parent
QGIS_VARIABLES = ("PROJ_DATA", "PROJ_LIB", "GDAL_DATA", "GDAL_DRIVER_PATH", "PYTHONHOME",
                  "PYTHONPATH")


def composite_spec(sample, output):
    return {"kind": "composite", "aoi": str(sample.forests_path),
            "sources": [{"kind": "static", "href": str(sample.catalog_path),
                         "collections": ["sentinel-2-l2a", "landsat-c2-l2"]}],
            "start": "2025-10-01", "end": "2025-10-31", "indices": ["NDVI"],
            "max_cloud_cover": 100, "output_dir": str(output)}


def test_a_foreign_proj_data_does_not_break_the_engines_epsg_lookups(small_sample, tmp_path,
                                                                     monkeypatch):
    """QGIS sets PROJ_DATA/PROJ_LIB/GDAL_DATA to its own (older) data; the engine's wheels
    must use theirs: with an empty PROJ folder in the parent, both collections are made."""
    foreign = tmp_path / "qgis-share-proj"
    foreign.mkdir()
    for variable in ("PROJ_DATA", "PROJ_LIB", "GDAL_DATA"):
        monkeypatch.setenv(variable, str(foreign))
    monkeypatch.setattr(bridge, "require_ready", lambda python: {"ready": True})
    result = bridge.run_job(composite_spec(small_sample, tmp_path / "out"),
                            workdir=tmp_path / "work", python=sys.executable)
    assert sorted(c["collection"] for c in result["collections"]) == ["landsat-c2-l2",
                                                                     "sentinel-2-l2a"]
    assert not result.get("errors")
    for collection in result["collections"]:
        assert Path(collection["indices"]["NDVI"]).is_file()


def test_qgis_variables_are_stripped_unless_the_user_keeps_them(monkeypatch, tmp_path):
    for variable in QGIS_VARIABLES:
        monkeypatch.setenv(variable, str(tmp_path / variable))
    env = processes.child_environment()
    assert [v for v in QGIS_VARIABLES if v in env] == ["PYTHONPATH"]
    assert env["PYTHONPATH"] == str(processes.PLUGINS_DIR)  # QGIS's own folders are gone
    monkeypatch.setenv(processes.KEEP_VARIABLE, "GDAL_DATA, PROJ_DATA")
    env = processes.child_environment()
    assert env["PROJ_DATA"] == str(tmp_path / "PROJ_DATA")
    assert env["GDAL_DATA"] == str(tmp_path / "GDAL_DATA")
    assert "PROJ_LIB" not in env


def test_the_job_writes_utf8_whatever_the_parents_encoding(monkeypatch, tmp_path):
    monkeypatch.setenv("PYTHONIOENCODING", "cp1252")
    env = processes.child_environment()
    with open(tmp_path / "job.log", "w") as log:
        subprocess.run([sys.executable, "-c", "import sys; print('Jánoší ÁÐ', file=sys.stderr)"],
                       stderr=log, env=env, check=True)
    assert (tmp_path / "job.log").read_bytes().decode("utf-8").strip() == "Jánoší ÁÐ"


def test_a_crashed_jobs_log_with_a_non_ascii_path_is_read_under_a_windows_code_page(
        monkeypatch, tmp_path):
    """The child's traceback names a non-ASCII path (UTF-8); the parent's default encoding is
    cp1252 (Windows), where 0x81 (the second byte of 'Á') is undefined."""
    read_text = pathlib.Path.read_text

    def windows_read_text(self, encoding=None, errors=None):
        return read_text(self, encoding=encoding or "cp1252", errors=errors)

    monkeypatch.setattr(pathlib.Path, "read_text", windows_read_text)
    monkeypatch.setattr(bridge, "require_ready", lambda python: {"ready": True})
    crash = tmp_path / "crashing-python"
    crash.write_bytes(b"#!/bin/sh\nprintf 'Traceback (most recent call last):\\n' >&2\n"
                      b"printf 'OSError: cannot open "
                      b"C:\\\\Users\\\\J\xc3\x81N\\\\les.gpkg\\n' >&2\n"
                      b"exit 1\n")
    crash.chmod(0o755)
    with pytest.raises(bridge.JobFailed, match=r"exited with code 1: OSError: cannot open "
                                               r"C:\\Users\\JÁN\\les.gpkg"):
        bridge.run_job({"kind": "search"}, workdir=tmp_path / "w", python=str(crash))
