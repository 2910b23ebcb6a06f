"""The composite benchmark's pangeo anchor (benchmarks/composite_vs_pangeo.py) writes the same
COGs as a composite job, bit for bit: its ratios compare equal work (issue 31). Not timed."""

from __future__ import annotations

from pathlib import Path

import rasterio

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def test_expert_pipeline_writes_the_projects_composites(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import composite_vs_pangeo as bench
    from scale_out import make_inputs

    make_inputs(tmp_path, 300, 260, 3, 4)
    ours = bench.project_side(tmp_path, 3)
    theirs = bench.expert_side(tmp_path, 3)
    assert ours["cpu"] > 0 and theirs["peak_rss_mb"] > 0
    assert bench.identical(ours["files"], theirs["files"])
    with rasterio.open(theirs["files"]["NDVI"]) as ndvi, \
            rasterio.open(theirs["files"]["clear_count"]) as counts:
        assert ndvi.count == counts.count == 3
        assert ndvi.descriptions == ("2025-01", "2025-02", "2025-03")
        assert counts.read().max() == 1 and 0 < counts.read().mean() < 1  # a cloud band


def test_identical_notices_one_changed_pixel(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import composite_vs_pangeo as bench
    from scale_out import make_inputs

    make_inputs(tmp_path, 200, 200, 2, 2)
    ours = bench.project_side(tmp_path, 2)
    changed = {}
    for name, path in ours["files"].items():
        copy = tmp_path / f"copy-{Path(path).name}"
        copy.write_bytes(Path(path).read_bytes())
        changed[name] = str(copy)
    with rasterio.open(changed["EVI"], "r+", IGNORE_COG_LAYOUT_BREAK="YES") as evi:
        values = evi.read(1)
        values[5, 5] += 0.01
        evi.write(values, 1)
    assert bench.identical(ours["files"], ours["files"])
    assert not bench.identical(ours["files"], changed)
