"""A static catalog given as its folder (``--catalog scenes``) or as its file (``--catalog
scenes/catalog.json``) is one source, as storm, zonal and composite take it: a monitoring
folder started with one form and continued with the other was refused as "another run
(different sources)", and only ``--overwrite`` (a rebuild from the history) went on."""

import json

import pytest

from raster_collect_plugin import cli
from raster_collect_plugin.core.sample.disturbance_catalog import write_scenario
from tests.test_monitoring_cli import SPEC


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    return write_scenario(tmp_path_factory.mktemp("scenario"), SPEC)


def _monitor(scenario, catalog, output, end, capsys):
    code = cli.main(["--json", "monitor", "--gpkg", str(scenario.compartments), "--catalog",
                     str(catalog), "--history-start", "2024-01-01", "--history-end",
                     "2024-12-31", "--end", end, "--output", str(output)])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)["changes"]


@pytest.mark.parametrize("first, then", [("folder", "file"), ("file", "folder")])
def test_the_catalog_folder_and_its_file_continue_one_monitoring(scenario, tmp_path, capsys,
                                                                 first, then):
    forms = {"folder": scenario.catalog.parent, "file": scenario.catalog}
    before = _monitor(scenario, forms[first], tmp_path, "2025-02-28", capsys)
    after = _monitor(scenario, forms[then], tmp_path, "2025-04-30", capsys)
    assert after["first_scene"] > before["last_scene"] and after["scenes"] > 0
    assert after["zones_with_new_alerts"] == [102]
