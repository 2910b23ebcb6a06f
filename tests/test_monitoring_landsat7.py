"""``monitor`` / ``watch`` over a Landsat collection that also holds Landsat 7 scenes (as
Planetary Computer's landsat-c2-l2 does): the harmonised series leaves them out, the run's
``notes`` say so (also without --json), and the look-back for late scenes does not name them
as late on every later run."""

import copy
import json
import os
from datetime import date

import pytest

from raster_collect_plugin import cli
from raster_collect_plugin.core.sample.catalog import write_static_catalog
from raster_collect_plugin.core.sample.disturbance_catalog import write_scenario
from raster_collect_plugin.core.sample.disturbance_scenario import ScenarioSpec

SPEC = ScenarioSpec(start=date(2024, 7, 1), end=date(2025, 3, 31), columns=1, rows=1,
                    events=())
NOTE = ("landsat-c2-l2: {n} Landsat 7 scene(s) left out: the harmonised series is Landsat "
        "8/9 OLI (the HLS v2.0 reference) and Sentinel-2; without harmonisation they are kept")


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    """The scenario's catalog with its Landsat 8 scenes relabelled as Landsat 7."""
    scenario = write_scenario(tmp_path_factory.mktemp("scenario"), SPEC)
    items = copy.deepcopy(scenario.items)
    relabelled = [item for item in items["landsat-c2-l2"]
                  if item["properties"]["platform"] == "landsat-8"]
    for item in relabelled:
        item["properties"]["platform"] = "landsat-7"
    root = tmp_path_factory.mktemp("catalog")
    write_static_catalog(root, items, None, catalog_id="with-landsat-7")
    for collection, found in items.items():
        for item in found:
            for source in (scenario.root / collection / item["id"]).glob("*.tif"):
                os.symlink(source, root / collection / item["id"] / source.name)
    return scenario, root / "catalog.json", relabelled


def _count(relabelled, first: str, last: str) -> int:
    return sum(first <= item["properties"]["datetime"][:10] <= last for item in relabelled)


def test_landsat_7_is_left_out_named_and_never_late(catalog, tmp_path, capsys):
    scenario, path, relabelled = catalog
    folder = tmp_path / "monitoring"
    assert cli.main(["monitor", "--gpkg", str(scenario.compartments), "--catalog", str(path),
                     "--history-start", "2024-07-01", "--history-end", "2024-12-31",
                     "--end", "2025-02-15", "--output", str(folder)]) == 0
    out = capsys.readouterr().out
    # the history of half a year is noted too (short_history_note): after it, Landsat 7's
    short = "the stable history (2024-07-01 .. 2024-12-31) is 184 days, less than a year"
    [notes] = [line for line in out.splitlines() if line.startswith("notes: [")]
    assert notes.startswith(f'notes: ["{short}')  # (it holds an apostrophe: repr's quotes)
    assert notes.endswith(f"\", '{NOTE.format(n=_count(relabelled, '2024-07-01', '2025-02-15'))}']")
    state = json.loads((folder / "monitoring_state.json").read_text())
    assert not any(scene.startswith("LC08") for scene in state["processed_scenes"])
    assert cli.main(["--json", "watch", "--output", str(folder), "--end", "2025-03-31"]) == 0
    watched = json.loads(capsys.readouterr().out)
    assert watched["changes"]["late_scenes"] == []  # the window before 2025-02-15 holds some
    # watch searches from the last processed scene's day (before the 15th)
    since = state["last_time"][:10]
    assert since < "2025-02-15"
    assert watched["notes"][1:] == [NOTE.format(n=_count(relabelled, since, "2025-03-31"))]
    assert watched["notes"][0].startswith(short)
