"""Processing's Disturbance monitoring speaks its own parameters and has the job spec's finer
keys: a refused rerun names its parameters by their labels (it named the spec's keys,
``max_cloud_cover``, which a toolbox user never sees), the advanced parameters (trend, history
observations, screening, clipping, alerts day) carry the spec's defaults and ranges, and a run
with them writes what the command line writes with the same options."""

import json

import numpy as np
import pandas as pd
import pytest
from qgis.core import QgsProcessingException
from qgis.core import QgsProcessingParameterDefinition as Definition

from raster_collect_plugin import cli
from raster_collect_plugin.core.monitoring import MonitorParams
from raster_collect_plugin.core.monitoring.keys import RANGES
from raster_collect_plugin.core.sample.disturbance_catalog import write_scenario
from tests.test_monitoring_processing import SPEC, STATIC
from tests.test_processing import run

ADVANCED = {"TREND": True, "MIN_HISTORY_OBS": 12, "SCREEN_SIGMA": 4.0, "OUTLIER_SIGMA": 8.0,
            "ALERTS_SINCE": "2025-03-01"}
SAME_OPTIONS = ["--trend", "--min-history-obs", "12", "--screen-sigma", "4",
                "--outlier-sigma", "8", "--alerts-since", "2025-03-01"]


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    return write_scenario(tmp_path_factory.mktemp("scenario"), SPEC)


def _parameters(scenario, folder, **extra):
    """The toolbox's parameters, the cloud limit left at its default (none)."""
    return {"INPUT": str(scenario.compartments), "ID_FIELD": "forest_id", "SOURCES": [STATIC],
            "CATALOG": str(scenario.catalog), "START": "2024-01-01", "END": "2025-06-30",
            "HISTORY_END": "2024-12-31", "OUTPUT_FOLDER": str(folder), **extra}


def _algorithm():
    from qgis.core import QgsApplication

    return QgsApplication.processingRegistry().algorithmById(
        "raster_collect:monitor_disturbance")


def test_the_advanced_parameters_have_the_specs_defaults_and_ranges(raster_collect_provider):
    algorithm, defaults = _algorithm(), MonitorParams.__dataclass_fields__
    for name in ("CONFIRM", "RECOVER", "SCREEN_SIGMA", "OUTLIER_SIGMA"):
        definition = algorithm.parameterDefinition(name)
        assert definition.defaultValue() == defaults[name.lower()].default
        assert definition.minimum() == RANGES[name.lower()].least
    assert algorithm.parameterDefinition("CONFIRM").maximum() == RANGES["confirm"].most
    assert algorithm.parameterDefinition("TREND").defaultValue() is False
    for name in ("TREND", "MIN_HISTORY_OBS", "SCREEN_SIGMA", "OUTLIER_SIGMA", "ALERTS_SINCE"):
        assert algorithm.parameterDefinition(name).flags() & Definition.FlagAdvanced
    for name in ("MIN_HISTORY_OBS", "ALERTS_SINCE", "MAX_CLOUD"):  # empty: the default
        definition = algorithm.parameterDefinition(name)
        assert definition.defaultValue() is None
        assert definition.flags() & Definition.FlagOptional
    assert "empty = none" in algorithm.parameterDefinition("MAX_CLOUD").description()


def test_processing_with_the_advanced_keys_writes_what_the_command_line_writes(
        raster_collect_provider, scenario, tmp_path, capsys):
    ours, theirs = tmp_path / "processing", tmp_path / "command-line"
    run("monitor_disturbance", _parameters(scenario, ours, **ADVANCED))
    assert cli.main(["--quiet", "monitor", "--gpkg", str(scenario.compartments), "--catalog",
                     str(scenario.catalog), "--history-start", "2024-01-01", "--history-end",
                     "2024-12-31", "--end", "2025-06-30", *SAME_OPTIONS,
                     "--output", str(theirs)]) == 0, capsys.readouterr().err
    record = json.loads((ours / "manifest.json").read_text())["run"]
    assert record == json.loads((theirs / "manifest.json").read_text())["run"]
    kept = record["parameters"]["monitoring"]
    assert (kept["trend"], kept["min_history_obs"], kept["screen_sigma"],
            kept["outlier_sigma"]) == (True, 12, 4.0, 8.0)
    assert "max_cloud_cover" not in record["parameters"]  # none, as the command line's
    names = sorted(p.name for p in ours.iterdir() if p.suffix in (".csv", ".tif", ".npz"))
    assert names == sorted(p.name for p in theirs.iterdir()
                           if p.suffix in (".csv", ".tif", ".npz"))
    for name in names:
        if name.endswith(".csv"):  # the same numbers (means summed in another process)
            pd.testing.assert_frame_equal(pd.read_csv(ours / name), pd.read_csv(theirs / name),
                                          check_exact=False, rtol=1e-9, obj=name)
        elif name.endswith(".npz"):
            with np.load(ours / name) as a, np.load(theirs / name) as b:
                assert sorted(a.files) == sorted(b.files)
                for key in set(a.files) - {"pair"}:  # "pair": each save's own id
                    same = (np.testing.assert_allclose if a[key].dtype.kind == "f"
                            else np.testing.assert_array_equal)
                    same(a[key], b[key], err_msg=f"{name}:{key}",
                         **({"rtol": 1e-9, "atol": 1e-12} if a[key].dtype.kind == "f" else {}))
    changes = [json.loads((f / "monitoring_changes.json").read_text()) for f in (ours, theirs)]
    assert changes[0]["entered"] == changes[1]["entered"]
    assert changes[0]["entered"]["confirmed"] > 0
    alerts = [_alerts(f) for f in (ours, theirs)]
    assert alerts[0] == alerts[1] and {a[0] for a in alerts[0]} == {"2025-03-01"}


def _alerts(folder):
    from qgis.core import QgsVectorLayer

    layer = QgsVectorLayer(f"{folder / 'monitoring_alerts.gpkg'}|layername=alerts_since",
                           "alerts", "ogr")
    return sorted((str(f["since"]), f["forest_id"], round(f["area_ha"], 6))
                  for f in layer.getFeatures())


def test_a_refused_rerun_names_the_algorithms_parameters(raster_collect_provider, scenario,
                                                         tmp_path):
    folder = tmp_path / "monitoring"
    run("monitor_disturbance", _parameters(scenario, folder, MAX_CLOUD=90))
    with pytest.raises(QgsProcessingException) as refused:
        run("monitor_disturbance", _parameters(scenario, folder, CONFIRM=4))
    message = str(refused.value)
    # before the fix: "different max_cloud_cover (...), monitoring.confirm (...)"
    assert "(different 'Maximum scene cloud cover (%; empty = none)' (the folder's run: 90, " \
           "this run: none), 'Anomalies that confirm' (the folder's run: 3, this run: 4)): " \
           "choose another output folder, or delete those results" in message, message
    assert "max_cloud_cover" not in message and "--" not in message


@pytest.mark.parametrize("extra, words", [
    ({"SCREEN_SIGMA": 0}, "'Screen history observations beyond (σ of a first fit; missed "
                          "clouds, shadows)' must be more than 0, not 0."),
    ({"TREND": True, "MIN_HISTORY_OBS": 6},
     "'Clear history observations a pixel needs (empty = 10, or the model's least when more)' "
     "must be at least 7 clear observations for this model"),
    ({"ALERTS_SINCE": "2023-06-01"}, "'New alerts since (empty = the previous run's last "
                                     "scene; on a first run the history's end)' (2023-06-01) "
                                     "is before the history"),
])
def test_a_key_out_of_range_is_refused_before_any_work(raster_collect_provider, scenario,
                                                        tmp_path, extra, words):
    folder = tmp_path / "monitoring"
    with pytest.raises(QgsProcessingException, match="") as refused:
        run("monitor_disturbance", _parameters(scenario, folder, **extra))
    assert words in str(refused.value), str(refused.value)
    assert not folder.exists()
