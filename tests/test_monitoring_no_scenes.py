"""A first monitoring run whose history has no scene in any source (wrong years, or the wrong
catalog) failed with exit 1 and "no optical scenes can give NDVI: none found", as if a source
had broken: it is bad input, said in one line naming the period and the options, exit 2,
nothing written. Forests in the wrong place (a CRS assigned wrongly) get the same refusal,
which named only dates and sources: it names the forests' position and CRS too."""

from datetime import date

import geopandas as gpd
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
                   "'history_start' and 'end') against the scenes' dates, the sources, and that "
                   "the forests lie under the scenes (their CRS)"]
    assert not output.exists()


def test_forests_in_the_wrong_place_are_told_to_check_their_crs(scenario, tmp_path, capsys):
    forests = gpd.read_file(scenario.compartments, layer="compartments")
    moved = tmp_path / "moved.gpkg"  # UTM 32N coordinates labelled 33N: 700 km east
    forests.set_crs("EPSG:32633", allow_override=True).to_file(moved)
    output = tmp_path / "monitoring"
    assert cli.main(["--quiet", "monitor", "--gpkg", str(moved), "--catalog",
                     str(scenario.catalog), "--history-start", "2024-01-01", "--history-end",
                     "2024-02-29", "--end", "2024-03-31", "--output", str(output)]) == 2
    [err] = capsys.readouterr().err.strip().splitlines()
    assert "no scene over the forests from 2024-01-01 to 2024-03-31" in err
    assert err.endswith("and that the forests lie under the scenes (their CRS)"), err
    assert not output.exists()
