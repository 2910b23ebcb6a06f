"""A negative or non-finite ``--cloud-buffer`` said "the cloud-mask buffer must be 0 or a
positive number of metres, not -5.0" without the option to change, where one too large named
it. Both now name ``--cloud-buffer``, exit 2, before anything is made."""

from __future__ import annotations

import pytest

from raster_collect_plugin import cli


@pytest.mark.parametrize("command", ["storm", "composite"])
@pytest.mark.parametrize("value", ["-5", "nan"])
def test_a_negative_buffer_names_the_option(small_sample, tmp_path, capsys, command, value):
    extra = ["--event-date", "2025-11-13"] if command == "storm" else []
    output = tmp_path / "out"
    assert cli.main(["--quiet", command, "--gpkg", str(small_sample.forests_path), "--catalog",
                     str(small_sample.catalog_path), *extra, f"--cloud-buffer={value}",
                     "--output", str(output)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].endswith(": give --cloud-buffer 0 (no buffer) or more, up to 10000"), err[0]
    assert not output.exists()
