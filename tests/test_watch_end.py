"""``watch --end`` named the job spec's keys ("'end' (2025-06-01) is before the first day to
monitor", "'end' ... must be after 'history_end'"), which the command line has no option for;
and ``monitor --end`` on a folder that is further on said the same. Each now names --end."""

import pytest

from raster_collect_plugin import cli
from raster_collect_plugin.core.sample.disturbance_catalog import write_scenario
from tests.test_monitoring_cli import SPEC


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    scenario = write_scenario(tmp_path_factory.mktemp("scenario"), SPEC)
    output = tmp_path_factory.mktemp("monitoring")
    assert cli.main(["--quiet", "monitor", "--gpkg", str(scenario.compartments), "--catalog",
                     str(scenario.catalog), "--history-start", "2024-01-01",
                     "--history-end", "2024-12-31", "--end", "2025-03-31",
                     "--output", str(output)]) == 0
    return output


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_watch_to_a_day_already_processed(folder, capsys):
    before = sorted(p.name for p in folder.iterdir())
    assert cli.main(["--quiet", "watch", "--output", str(folder), "--end", "2025-02-01"]) == 2
    line = _error(capsys)
    assert line.startswith("raster-collect: error: --end (2025-02-01) is before the first day "
                           "to monitor (2025-03-"), line
    assert line.endswith("give a later --end (a spec's 'end'; default: today)"), line
    assert sorted(p.name for p in folder.iterdir()) == before


def test_watch_to_a_day_in_the_history(folder, capsys):
    assert cli.main(["--quiet", "watch", "--output", str(folder), "--end", "2024-06-01"]) == 2
    assert _error(capsys) == ("raster-collect: error: --end (2024-06-01) must be after the "
                              "folder's --history-end (2024-12-31): monitoring starts after "
                              "the history; give a later --end (default: today)")
