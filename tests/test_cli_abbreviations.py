"""Options are written in full: argparse's prefix matching took `composite --cloud 20` as
--cloud-buffer 20 (metres) where --max-cloud was meant, and ran."""

import json

import pytest

from raster_collect_plugin import cli
from tests.test_bad_input_cli import composite_args


def _last_error_line(capsys) -> str:
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return captured.err.strip().splitlines()[-1]


def test_a_shortened_option_is_refused_not_taken_for_another(small_sample, tmp_path, capsys):
    output = tmp_path / "out"
    with pytest.raises(SystemExit) as exited:
        cli.main(composite_args(small_sample, output, "--cloud", "20"))
    assert exited.value.code == 2
    assert _last_error_line(capsys) == (
        "raster-collect composite: error: --cloud is not an option: options are written in "
        "full (did you mean --cloud-buffer?)")
    assert not output.exists()  # nothing ran
    with pytest.raises(SystemExit):
        cli.main(["--json", *composite_args(small_sample, output, "--max=20")[1:]])
    error = json.loads(capsys.readouterr().out)
    assert error["exit_code"] == 2 and error["error"]["kind"] == "bad_input"
    assert "did you mean --max-cloud?" in error["error"]["message"]


def test_monitor_names_the_option_it_takes(tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main(["monitor", "--gpkg", str(tmp_path / "f.gpkg"), "--history-start",
                  "2023-01-01", "--history-end", "2024-12-31", "--output", str(tmp_path / "m"),
                  "--ind", "NDVI"])
    assert exited.value.code == 2
    assert _last_error_line(capsys).endswith(
        "--ind is not an option: options are written in full (did you mean --index?)")
    assert not (tmp_path / "m").exists()


def test_an_unknown_option_is_still_named(small_sample, tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main(composite_args(small_sample, tmp_path / "out", "--bogus", "1"))
    assert exited.value.code == 2
    assert _last_error_line(capsys) == ("raster-collect composite: error: unrecognized "
                                        "arguments: --bogus 1 (raster-collect composite "
                                        "--help lists the options)")
