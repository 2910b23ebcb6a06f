"""The memory budget (the command line's --memory-budget) in Processing: the algorithms that run
composite, zonal, storm and monitor jobs take it as an optional advanced parameter, read it as
the command line does and pass it to the job, which refuses a run over it."""

from datetime import date

import pytest
from qgis.core import QgsProcessingException, QgsProcessingParameterDefinition

from raster_collect_plugin.core.composites.sizing import SizeError, parse_size
from raster_collect_plugin.core.sample.disturbance_catalog import write_scenario
from raster_collect_plugin.core.sample.disturbance_scenario import Event, ScenarioSpec
from tests.test_processing import source_parameters
from tests.test_processing_doors import run

ALGORITHMS = ("compute_composites", "zonal_timeseries", "storm_damage", "monitor_disturbance")
SPEC = ScenarioSpec(start=date(2024, 1, 1), end=date(2025, 6, 30), columns=2, rows=1,
                    events=(Event(1, "windthrow", date(2025, 3, 14)),))


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    return write_scenario(tmp_path_factory.mktemp("scenario"), SPEC)


def _parameters(name, sample, folder, **extra):
    if name == "storm_damage":
        return {"INPUT": str(sample.forests_path), "ID_FIELD": "forest_id", "SOURCES": [3],
                "CATALOG": str(sample.catalog_path), "EVENT_DATE": "2025-11-13",
                "OUTPUT_FOLDER": str(folder), **extra}
    return source_parameters(sample, OUTPUT_FOLDER=str(folder), **extra)


@pytest.mark.parametrize("name", ALGORITHMS)
def test_the_parameter_is_optional_and_advanced(raster_collect_provider, name):
    definition = raster_collect_provider.algorithm(name).parameterDefinition("MEMORY_BUDGET")
    assert definition.description().startswith("Memory budget (e.g. 8GB")
    assert definition.flags() & QgsProcessingParameterDefinition.FlagOptional
    assert definition.flags() & QgsProcessingParameterDefinition.FlagAdvanced


@pytest.mark.parametrize("name", ALGORITHMS)
def test_an_unreadable_budget_is_refused_in_the_command_lines_words(
        raster_collect_provider, small_sample, tmp_path, name):
    with pytest.raises(SizeError) as cli:
        parse_size("8XB")
    with pytest.raises(QgsProcessingException) as refused:
        run(name, _parameters(name, small_sample, tmp_path / "out", MEMORY_BUDGET="8XB",
                              START="2024-01-01", HISTORY_END="2024-12-31"))
    assert str(refused.value) == str(cli.value) == (
        "cannot read the memory budget '8XB': use a size like 4GB or 512MB")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["compute_composites", "zonal_timeseries", "storm_damage"])
def test_a_run_over_the_budget_given_is_refused(raster_collect_provider, small_sample,
                                                tmp_path, name):
    with pytest.raises(QgsProcessingException) as refused:
        run(name, _parameters(name, small_sample, tmp_path / "out", MEMORY_BUDGET="1MB"))
    assert str(refused.value).startswith("too large for the memory budget of 1.0 MB: ")
    assert list(tmp_path.iterdir()) == []


def test_monitoring_over_the_budget_given_is_refused(raster_collect_provider, scenario,
                                                     tmp_path):
    folder = tmp_path / "monitoring"
    parameters = {"INPUT": str(scenario.compartments), "ID_FIELD": "forest_id",
                  "SOURCES": [3], "CATALOG": str(scenario.catalog), "MAX_CLOUD": 100,
                  "START": "2024-01-01", "HISTORY_END": "2024-12-31", "END": "2025-06-30",
                  "OUTPUT_FOLDER": str(folder)}
    with pytest.raises(QgsProcessingException) as refused:
        run("monitor_disturbance", dict(parameters, MEMORY_BUDGET="100KB"))
    message = str(refused.value)
    assert message.startswith("too large for the memory budget of 100.0 KB: monitoring 27 × 57 "
                              "pixels: about 10.2 MB of memory beyond the engine's own")
    assert message.endswith("a coarser 'Grid (m)', or a larger 'Memory budget' (advanced "
                            "parameters) if the machine has the memory")
    assert not folder.exists()
    result = run("monitor_disturbance", dict(parameters, MEMORY_BUDGET="2GB"))
    assert (folder / "monitoring_status.tif").exists() and result["STATUS"]


def test_zonal_statistics_of_a_raster_refuse_a_budget(raster_collect_provider, small_sample,
                                                      tmp_path):
    """A raster's statistics make no memory estimate: the budget would not be used."""

    raster = next(small_sample.root.rglob("*.tif"))
    with pytest.raises(QgsProcessingException, match="A memory budget is for imagery runs"):
        run("zonal_timeseries", {"INPUT": str(small_sample.forests_path), "RASTER": str(raster),
                                 "MEMORY_BUDGET": "8GB", "OUTPUT_FOLDER": str(tmp_path / "o")})
    assert list(tmp_path.iterdir()) == []
