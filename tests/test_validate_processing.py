"""The Validate disturbance monitoring Processing algorithm (issue 30): on a monitoring folder
of the disturbance scenario, with the scenario's reference polygons, it gives core.validation's
numbers and writes the report."""

import json
from datetime import date

import pytest

from raster_collect_plugin.core.validation import validate_files
from tests.test_processing import run
from tests.test_validate_cli import write_monitored


@pytest.fixture(scope="module")
def monitored(tmp_path_factory):
    return write_monitored(tmp_path_factory)


def test_validate_monitoring_algorithm(raster_collect_provider, monitored, tmp_path):
    scenario, folder = monitored
    result = run("validate_monitoring", {"MONITORING": str(folder),
                                         "REFERENCES": str(scenario.references),
                                         "DATE_FIELD": "date", "MIN_FRACTION": 0.02})
    layers = {name: folder / f"monitoring_{name}.tif"
              for name in ("status", "first_anomaly", "confirmation")}
    core = validate_files(layers, scenario.references, scenario.compartments,
                          monitoring_start=date(2024, 12, 31))
    assert result["COMPARTMENT_PRECISION"] == pytest.approx(core["compartment"]["precision"])
    assert result["COMPARTMENT_RECALL"] == pytest.approx(core["compartment"]["recall"])
    assert result["PIXEL_F1"] == pytest.approx(core["pixel"]["f1"])
    assert result["PIXEL_F1"] >= 0.9 and result["COMPARTMENT_RECALL"] >= 0.95
    assert result["REPORT"] == str(folder / "validation" / "validation_report.md")
    written = json.loads((folder / "validation" / "validation.json").read_text())
    assert written["pixel"]["tp"] == core["pixel"]["tp"]
    assert written["delay"]["confirmation"]["days"]["median"] == pytest.approx(
        core["delay"]["confirmation"]["days"]["median"])
