"""A Windows path on Linux: the command line said "does not exist" for ``--catalog
'C:\\x\\catalog.json'`` (and made an ``--output`` folder literally called ``C:\\runs``) where
a job spec with the same path says "is a Windows path". Every path option now gives the job
spec's line (one function, core/jobs/spec.py), exit 2, before any work."""

from __future__ import annotations

import json

import pytest

from raster_collect_plugin import cli

CATALOG = "C:\\x\\catalog.json"


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def _tail(line: str) -> str:
    """The message after what it names (a spec's key, a command's option)."""
    return line.split(" is a Windows path ", 1)[1]


@pytest.mark.parametrize("cli_args, key, option", [
    (["zonal", "--gpkg", "forests.gpkg", "--catalog", CATALOG], "sources[0].href", "--catalog"),
    (["zonal", "--gpkg", CATALOG, "--catalog", "catalog.json"], "aoi", "--gpkg"),
    (["composite", "--gpkg", "forests.gpkg", "--catalog", "catalog.json", "--output", CATALOG],
     "output_dir", "--output"),
    (["zonal", "--gpkg", "forests.gpkg", "--raster", CATALOG], "raster", "--raster")])
def test_the_command_line_and_a_job_spec_give_the_same_line(tmp_path, capsys, monkeypatch,
                                                            cli_args, key, option):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["--quiet", *cli_args]) == 2
    by_cli = _error(capsys)
    assert by_cli.startswith(f"raster-collect: error: {option} is a Windows path ({CATALOG}), "
                             "which this Linux machine cannot use: give the path")

    spec = {"kind": "zonal-raster" if key == "raster" else "zonal", "aoi": "forests.gpkg",
            "output_dir": "out"}
    if key == "raster":
        spec["raster"] = CATALOG
    else:
        spec.update(sources=[{"kind": "static", "href": "catalog.json"}], start="2025-10-01",
                    end="2025-10-31")
    if key == "sources[0].href":
        spec["sources"][0]["href"] = CATALOG
    elif key != "raster":
        spec[key] = CATALOG
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    assert cli.main(["--quiet", "job", "spec.json"]) == 2
    by_spec = _error(capsys)
    assert by_spec.startswith(f"raster-collect: error: job spec '{key}' is a Windows path")
    assert _tail(by_cli) == _tail(by_spec)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spec.json"]  # nothing made


def test_json_reports_it_as_bad_input(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["--json", "hexagons", "--gpkg", "forests.gpkg", "--area-ha", "1",
                     "--output", "\\\\server\\share\\hex.gpkg"]) == 2
    out = json.loads(capsys.readouterr().out)
    assert out["exit_code"] == 2 and out["error"]["kind"] == "bad_input"
    assert out["error"]["message"].startswith("--output is a Windows path (\\\\server")


@pytest.mark.parametrize("option, key", [("--before-item", "before_items"),
                                         ("--after-item", "after_items")])
def test_a_storm_scene_given_as_a_windows_path(tmp_path, capsys, monkeypatch, option, key):
    """A storm's scene paths said "cannot read the STAC item C:\\x\\a.json ... No such file"
    after the polygons were read, where every other path option gives the Windows-path line."""
    monkeypatch.chdir(tmp_path)
    scene = "C:\\x\\a.json"
    assert cli.main(["--quiet", "storm", "--gpkg", "forests.gpkg", "--event-date",
                     "2025-10-15", option, "https://example.invalid/ok.json", option, scene,
                     "--output", "out"]) == 2
    by_cli = _error(capsys)
    assert by_cli.startswith(f"raster-collect: error: {option} is a Windows path ({scene}), ")

    spec = {"kind": "storm", "aoi": "forests.gpkg", "output_dir": "out",
            "event_date": "2025-10-15", key: ["https://example.invalid/ok.json", scene]}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    assert cli.main(["--quiet", "job", "spec.json"]) == 2
    by_spec = _error(capsys)
    assert by_spec.startswith(f"raster-collect: error: job spec '{key}[1]' is a Windows path "
                              f"({scene}), ")
    assert _tail(by_cli) == _tail(by_spec)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spec.json"]  # nothing made
