"""A first monitoring run whose history has no scene in any source (wrong years, or the wrong
catalog) failed with exit 1 and "no optical scenes can give NDVI: none found", as if a source
had broken: it is bad input, said in one line naming the period and the options, exit 2,
nothing written."""

from datetime import date

import pytest

from raster_collect_plugin import cli
from raster_collect_plugin.core.sample.disturbance_catalog import write_scenario
from raster_collect_plugin.core.sample.disturbance_scenario import ScenarioSpec

SPEC = ScenarioSpec(start=date(2024, 1, 1), end=date(2024, 3, 31), columns=1, rows=1,
                    events=())


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    return write_scenario(tmp_path_factory.mktemp("scenario"), SPEC)


def test_a_history_without_scenes_is_bad_input(scenario, tmp_path, capsys):
    output = tmp_path / "monitoring"
    assert cli.main(["--quiet", "monitor", "--gpkg", str(scenario.compartments), "--catalog",
                     str(scenario.catalog), "--history-start", "2019-01-01", "--history-end",
                     "2019-12-31", "--end", "2020-06-30", "--output", str(output)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["raster-collect: error: no scene over the forests from 2019-01-01 to "
                   "2020-06-30 in any source: check --history-start and --end (a spec's "
                   "'history_start' and 'end') against the scenes' dates, and the sources"]
    assert not output.exists()
