"""A job spec's relative paths are taken from the folder the command runs in. A spec run
from another folder, whose inputs sit beside it, said only "polygon file ... does not exist";
it is now refused (exit 2) naming the key, both folders and the fix, and nothing is made."""

from __future__ import annotations

import json

import pytest

from raster_collect_plugin import cli


def _spec(folder, **keys) -> None:
    spec = {"kind": "zonal", "aoi": "forests.gpkg", "output_dir": "out",
            "sources": [{"kind": "static", "href": "catalog.json"}],
            "start": "2025-10-01", "end": "2025-10-31", **keys}
    (folder / "spec.json").write_text(json.dumps(spec))


@pytest.mark.parametrize("beside, key", [("forests.gpkg", "aoi"),
                                         ("catalog.json", "sources[0].href")])
def test_an_input_beside_the_spec_is_named_with_the_fix(tmp_path, capsys, monkeypatch,
                                                        beside, key):
    specs, elsewhere = tmp_path / "specs", tmp_path / "elsewhere"
    specs.mkdir(), elsewhere.mkdir()
    _spec(specs)
    (specs / beside).write_text("x")
    monkeypatch.chdir(elsewhere)
    assert cli.main(["--quiet", "job", str(specs / "spec.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"raster-collect: error: job spec '{key}' ({beside}) is beside the spec, "
                   "not in the folder the command runs in, which a spec's relative paths are "
                   f"taken from: run it from {specs} or give absolute paths"]
    assert list(elsewhere.iterdir()) == [] and sorted(p.name for p in specs.iterdir()) == \
        sorted([beside, "spec.json"])


def test_a_path_missing_in_both_folders_keeps_its_own_error(tmp_path, capsys, monkeypatch):
    specs, elsewhere = tmp_path / "specs", tmp_path / "elsewhere"
    specs.mkdir(), elsewhere.mkdir()
    _spec(specs)
    monkeypatch.chdir(elsewhere)
    assert cli.main(["--quiet", "job", str(specs / "spec.json")]) == 2
    err = capsys.readouterr().err
    assert "beside the spec" not in err and "does not exist" in err


def test_the_spec_run_from_its_own_folder_is_not_refused(tmp_path, monkeypatch):
    from raster_collect_plugin.core.jobs.spec import beside_the_spec

    _spec(tmp_path, sources=5)  # a malformed key is validate_spec's to name, not this check's
    (tmp_path / "forests.gpkg").write_text("x")
    spec = json.loads((tmp_path / "spec.json").read_text())
    assert beside_the_spec(spec, tmp_path, here=tmp_path) is None
    assert beside_the_spec(spec, tmp_path, here=tmp_path / "sub") is not None
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "forests.gpkg").write_text("x")  # present where it runs: its own
    assert beside_the_spec(spec, tmp_path, here=tmp_path / "sub") is None
