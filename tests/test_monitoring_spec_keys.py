"""README documents every key of a monitor job spec's ``monitoring`` (meaning, default, valid
values): ``min_history_obs``, ``outlier_sigma``, ``screen_sigma`` and ``trend`` were accepted
but not documented, so a forester could not know they exist nor what they take. The table's
keys and defaults are the code's (MonitorParams), and a bad value of each undocumented key is
refused before any work in one line naming it (exit 2, nothing written)."""

import json
import re
from dataclasses import fields
from datetime import date
from pathlib import Path

import pytest

from raster_collect_plugin import cli
from raster_collect_plugin.core.monitoring import MonitorParams

README = Path(__file__).resolve().parents[1] / "README.md"
HEADER = "| key | meaning | default | valid |"


def _documented() -> dict:
    """The README table of the ``monitoring`` keys: key -> default, as JSON."""
    lines = README.read_text(encoding="utf-8").splitlines()
    start = lines.index(HEADER) + 2
    table = {}
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        key, _, default, _ = [cell.strip() for cell in line.strip("|").split("|")]
        table[re.match(r"`(\w+)`", key).group(1)] = json.loads(default.strip("`"))
    return table


def test_readme_lists_every_monitoring_key_with_its_default():
    defaults = MonitorParams(date(2000, 1, 1), date(2000, 1, 2))  # resolved, as the spec reads them
    code = {f.name: getattr(defaults, f.name) for f in fields(MonitorParams)
            if f.name not in ("history_start", "history_end")}
    documented = _documented()
    # before the fix: min_history_obs, outlier_sigma, screen_sigma and trend were missing
    assert sorted(documented) == sorted(code)
    assert documented == code


@pytest.mark.parametrize("options, words", [
    ({"screen_sigma": -1}, "job spec monitoring 'screen_sigma' must be more than 0, not -1"),
    ({"screen_sigma": "5"}, "job spec monitoring 'screen_sigma' must be a number, not '5'"),
    ({"outlier_sigma": -2}, "job spec monitoring 'outlier_sigma' must be 0 or more, not -2"),
    ({"outlier_sigma": float("nan")}, "job spec monitoring 'outlier_sigma' must be a number, "
                                      "not nan"),
    ({"trend": "yes"}, "job spec monitoring 'trend' must be true or false, not 'yes'"),
    ({"trend": 1}, "job spec monitoring 'trend' must be true or false, not 1"),
    ({"min_history_obs": 0}, "job spec monitoring 'min_history_obs' must be at least 6 clear "
                             "observations for this model (5 coefficients: intercept, 4 "
                             "harmonic terms; and one more to measure σ), not 0"),
    ({"min_history_obs": 2.5}, "job spec monitoring 'min_history_obs' must be a whole "
                               "number, not 2.5"),
], ids=lambda value: json.dumps(value) if isinstance(value, dict) else None)
def test_a_bad_value_is_one_line_before_any_work(tmp_path, capsys, options, words):
    spec = {"kind": "monitor", "aoi": str(tmp_path / "forests.gpkg"),
            "sources": [{"kind": "static", "href": str(tmp_path / "catalog.json")}],
            "history_start": "2023-01-01", "history_end": "2024-12-31",
            "output_dir": str(tmp_path / "out"), "monitoring": options}
    path = tmp_path / "job.json"
    path.write_text(json.dumps(spec))
    assert cli.main(["job", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [f"raster-collect: error: {words}"]
    assert not (tmp_path / "out").exists()
