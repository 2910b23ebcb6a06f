"""README: bad input is one clear line, exit 2. argparse's own refusals (an unknown option, a
bad choice, a missing value or argument) printed its usage block (up to 25 lines for
`monitor`) above the line; every subcommand's parser, `doctor` and `setup-engine` included,
now prints the one line only, and an unknown option points to the command's --help."""

import json

import pytest

from raster_collect_plugin import cli


@pytest.mark.parametrize("arguments, line", [
    (["monitor", "--method", "x"], "raster-collect monitor: error: argument --method: invalid "
                                   "choice: 'x' (choose from 'ewma', 'cusum')"),
    (["monitor", "--output"], "raster-collect monitor: error: argument --output: expected one "
                              "argument"),
    (["zonal", "--resolution", "abc"], "raster-collect zonal: error: argument --resolution: "
                                       "invalid float value: 'abc'"),
    (["watch", "--output", "m", "--bogus"], "raster-collect watch: error: unrecognized "
     "arguments: --bogus (raster-collect watch --help lists the options)"),
    (["storm"], "raster-collect storm: error: the following arguments are required: "),
    ([], "raster-collect: error: the following arguments are required: command"),
    (["nosuch"], "raster-collect: error: argument command: invalid choice: 'nosuch' "),
    (["doctor", "--bogus"], "raster-collect doctor: error: unrecognized arguments: --bogus "
                            "(raster-collect doctor --help lists the options)"),
    (["setup-engine", "--list", "--x"], "raster-collect setup-engine: error: unrecognized "
     "arguments: --x (raster-collect setup-engine --help lists the options)"),
], ids=lambda value: " ".join(value) if isinstance(value, list) else None)
def test_an_option_refused_by_the_parser_is_one_line(arguments, line, capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main(arguments)
    assert exited.value.code == 2
    captured = capsys.readouterr()
    # before the fix: "usage: raster-collect monitor [-h] --gpkg GPKG ..." lines first
    assert len(captured.err.splitlines()) == 1, captured.err
    assert captured.err.startswith(line) and "usage:" not in captured.err
    assert captured.out == ""


def test_json_gets_the_same_line(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--json", "monitor", "--confirm", "x"])
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        "raster-collect monitor: error: argument --confirm: invalid int value: 'x'"]
    assert json.loads(captured.out)["error"]["message"] == (
        "raster-collect monitor: argument --confirm: invalid int value: 'x'")
