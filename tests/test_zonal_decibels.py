"""Zonal statistics of Sentinel-1 composites in dB: gamma0 is linear power, so a zone's mean
is the dB of its mean linear power (the providers' rule), not the mean of the dB values
(-10 and -20 dB average to -12.6 dB, not -15 dB). Optical bands are reduced as before."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from affine import Affine
from shapely.geometry import box

from raster_collect_plugin import cli
from raster_collect_plugin.core.outputs.files import write_cog
from raster_collect_plugin.core.zonal.tasks import zonal_tables

CRS = "EPSG:32633"
TRANSFORM = Affine(10, 0, 500_000, 0, -10, 6_000_100)


def _coverage() -> np.ndarray:
    """The exact coverage of ``_zone`` on the 10 m grid: half cells on every side."""
    cols = np.array([0.5, 1, 1, 0.5, 0, 0])
    rows = np.array([0.5, 1, 1, 1, 1, 0.5])
    return rows[:, np.newaxis] * cols[np.newaxis, :]


def _zone() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"forest_id": [7]}, geometry=[box(500_005, 6_000_045, 500_035,
                                                             6_000_095)], crs=CRS)


def _stack(tmp_path, name: str, values: np.ndarray, units: str) -> str:
    return str(write_cog(tmp_path / f"{name}.tif", values.astype("float32"),
                         transform=TRANSFORM, crs=CRS, nodata=float("nan"),
                         band_descriptions=["2025-10", "2025-11"],
                         tags={"index": name, "units": units}))


def _weighted(values: np.ndarray, weights: np.ndarray) -> tuple:
    ok = np.isfinite(values) & (weights > 0)
    w, v = weights[ok], values[ok].astype("float64")
    return w, v


def test_a_zone_mean_of_db_is_the_db_of_the_mean_linear_power(tmp_path):
    rng = np.random.default_rng(19)
    vh = rng.uniform(-25, -8, (2, 6, 6)).astype("float32")
    vh[0, 2, 1] = np.nan  # a cell without a value is not counted
    ndvi = rng.uniform(0.2, 0.9, (2, 6, 6)).astype("float32")
    files = [("catalog", "sentinel-1-rtc", "VH", _stack(tmp_path, "VH", vh, "dB")),
             ("catalog", "sentinel-1-rtc", "VH_as_index", _stack(tmp_path, "VHi", vh, "index")),
             ("catalog", "sentinel-2-l2a", "NDVI", _stack(tmp_path, "NDVI", ndvi, "index"))]
    table = zonal_tables(files, _zone(), id_fields=["forest_id"])
    coverage = _coverage()
    for band, period in enumerate(("2025-10", "2025-11")):
        row = table[(table["index"] == "VH") & (table["period"] == period)].iloc[0]
        w, v = _weighted(vh[band], coverage)
        power = 10 ** (v / 10)
        mean_power = np.sum(w * power) / np.sum(w)
        assert row["mean"] == pytest.approx(10 * np.log10(mean_power), abs=1e-5)
        assert abs(row["mean"] - np.sum(w * v) / np.sum(w)) > 0.3  # not the mean of dB
        assert row["sum"] == pytest.approx(np.sum(w * power), rel=1e-6)
        std = np.sqrt(np.sum(w * (power - mean_power) ** 2) / np.sum(w))
        assert row["std"] == pytest.approx(std, rel=1e-6)
        assert row["coefficient_of_variation"] == pytest.approx(std / mean_power, rel=1e-6)
        # the order statistics stay in dB: those of the same values read as an index
        plain = table[(table["index"] == "VH_as_index") & (table["period"] == period)].iloc[0]
        for name in ("min", "max", "median", "p10", "p90", "clear_count", "pixel_count"):
            assert row[name] == plain[name], name
        assert plain["mean"] == pytest.approx(np.sum(w * v) / np.sum(w), abs=1e-6)
        optical = table[(table["index"] == "NDVI") & (table["period"] == period)].iloc[0]
        w, v = _weighted(ndvi[band], coverage)
        assert optical["mean"] == pytest.approx(np.sum(w * v) / np.sum(w), abs=1e-9)
    assert "dB of the mean linear power" in table.attrs["statistics"]["decibel_bands"]["mean"]


def test_zonal_raster_of_a_db_file_says_so_and_averages_linear_power(tmp_path, capsys):
    values = np.full((2, 6, 6), -20.0, "float32")
    values[:, :, :2] = -10.0  # half the zone's weight at -10 dB, half at -20 dB
    raster = _stack(tmp_path, "VV", values, "dB")
    gpkg = tmp_path / "zone.gpkg"
    _zone().to_file(gpkg)
    output = tmp_path / "stats"
    assert cli.main(["--quiet", "zonal", "--gpkg", str(gpkg), "--raster", raster,
                     "--output", str(output)]) == 0, capsys.readouterr().err
    table = pd.read_csv(output / "zonal_forests.csv")
    coverage = _coverage()
    w, v = _weighted(values[0], coverage)
    expected = 10 * np.log10(np.sum(w * 10 ** (v / 10)) / np.sum(w))
    assert expected == pytest.approx(10 * np.log10((0.1 + 0.01) / 2))  # -12.6 dB, not -15
    assert table["mean"].to_numpy() == pytest.approx([expected] * 2, abs=1e-5)
    assert table["min"].tolist() == [-20.0, -20.0] and table["max"].tolist() == [-10.0, -10.0]
    metadata = json.loads((output / "zonal_forests_metadata.json").read_text())
    assert any("band(s) 1, 2 are in dB" in note for note in metadata["notes"])
    assert "linear power" in metadata["decibel_bands"]["std"]


def test_the_vh_table_of_a_sentinel1_run_averages_linear_power(small_sample, tmp_path,
                                                               capsys):
    """The sample's Sentinel-1 through ``zonal``: the VH mean of a forest is the dB of the
    coverage-weighted (exactextract's coverage) mean linear power of its VH composite."""
    from exactextract import exact_extract

    output = tmp_path / "zonal"
    assert cli.main(["--quiet", "zonal", "--gpkg", str(small_sample.forests_path),
                     "--forest", "281", "--catalog", str(small_sample.catalog_path),
                     "--collections", "sentinel-1-rtc", "--start", "2025-10-01", "--end",
                     "2025-10-31", "--indices", "VH", "--output", str(output)]) == 0, \
        capsys.readouterr().err
    folder = output / "forest_281"
    table = pd.read_csv(folder / "zonal_forests.csv")
    [composite] = folder.glob("*_VH_monthly_median.tif")
    forest = gpd.read_file(small_sample.forests_path)
    with rasterio.open(composite) as dataset:
        assert dataset.tags()["units"] == "dB"
        forest = forest[forest["forest_id"] == 281].to_crs(dataset.crs)
    cells = exact_extract(str(composite), forest, ["coverage", "values"], output="pandas")
    w, v = _weighted(np.asarray(cells["values"][0], "float64"),
                     np.asarray(cells["coverage"][0], "float64"))
    row = table[table["index"] == "VH"].iloc[0]
    assert row["mean"] == pytest.approx(10 * np.log10(np.sum(w * 10 ** (v / 10)) / np.sum(w)),
                                        abs=1e-5)
    assert abs(row["mean"] - np.sum(w * v) / np.sum(w)) > 0.1  # the mean of dB was 0.27 lower
    metadata = json.loads((folder / "zonal_forests_metadata.json").read_text())
    assert "linear power" in metadata["decibel_bands"]["sum"]


def _numpy_power_moments(values, valid, weights, weight_rows, rows, result) -> None:
    """The linear-power moments as computed before the kernel did them (an extra numpy pass
    over the dB rows' cells): the reference the kernel's pass must match."""
    from raster_collect_plugin.core.zonal.reduce import STATISTICS

    column = STATISTICS.index
    clear = valid[rows]
    cell_weights = np.where(clear, weights[weight_rows[rows]], 0.0)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        power = np.power(10.0, np.where(clear, values[rows], -np.inf).astype("float64") / 10)
        clear_count = result[rows, column("clear_count")]
        total = (cell_weights * power).sum(axis=1)
        mean = total / clear_count
        std = np.sqrt((cell_weights * (power - mean[:, np.newaxis]) ** 2).sum(axis=1)
                      / clear_count)
        result[rows, column("mean")] = 10 * np.log10(mean)
        result[rows, column("coefficient_of_variation")] = std / mean
    result[rows, column("std")] = std
    result[rows, column("sum")] = np.where(clear_count > 0, total, np.nan)


def test_the_kernel_pass_in_linear_power_gives_the_numpy_pass_values():
    """The dB rows' moments are summed in the kernel's pass over the cells (no extra numpy
    pass, 40 % of a band's time): the same values as the numpy pass, to 1e-6 relative, on a
    random stack with NaN, padding, a zone without a clear cell and optical rows between."""
    from raster_collect_plugin.core.zonal import kernel
    from raster_collect_plugin.core.zonal.reduce import STATISTICS, reduce_rows

    rng = np.random.default_rng(20)
    bands, zones, cells = 6, 40, 96
    values = rng.uniform(-30, 5, (bands * zones, cells)).astype("float32")
    values[rng.random(values.shape) < 0.1] = np.nan
    values[3] = np.nan  # band 0 of zone 3: no clear cell
    weights = rng.uniform(0, 1, (zones, cells)) * (rng.random((zones, cells)) < 0.9)
    weights[:, -7:] = 0.0  # padding
    weight_rows = np.tile(np.arange(zones), bands)
    decibels = np.repeat(np.array([True, False, True, True, False, True]), zones)
    valid = ~np.isnan(values)
    new = reduce_rows(values, valid, weights, weight_rows=weight_rows, decibels=decibels)
    old = reduce_rows(values, valid, weights, weight_rows=weight_rows)
    _numpy_power_moments(values, valid & (weights > 0)[weight_rows], weights, weight_rows,
                         np.flatnonzero(decibels), old)
    assert np.isnan(new[3, STATISTICS.index("mean")]) and np.isnan(old[3, 0])
    np.testing.assert_allclose(new, old, rtol=1e-6, atol=0, equal_nan=True)
    assert not np.allclose(new[decibels, 0], reduce_rows(  # the dB rows are not plain means
        values, valid, weights, weight_rows=weight_rows)[decibels, 0], equal_nan=True)
    # the kernel itself returns the sums of w P and of w (P - mean P)^2 for rows in dB
    row, w = 45, weights[45 % zones]
    ok = valid[row] & (w > 0)
    power = 10 ** (values[row, ok].astype("float64") / 10)
    out = np.empty((1, kernel.QUANTILES_FROM + 1))
    one = values[row:row + 1]
    keys = np.empty(one.shape, np.uint64)
    kernel.float32_keys(one.view(np.uint32), ok[np.newaxis], keys)
    keys.sort(axis=1)
    kernel.reduce_sorted_rows(one, ok[np.newaxis], keys, w[np.newaxis], np.zeros(1, np.intp),
                              np.array([0.5]), True, np.empty((0, 0)), np.empty((0, 0)),
                              np.ones(1, np.bool_), out)
    mean_power = np.sum(w[ok] * power) / np.sum(w[ok])
    assert out[0, kernel.TOTAL] == pytest.approx(np.sum(w[ok] * power), rel=1e-12)
    assert out[0, kernel.SQUARES] == pytest.approx(np.sum(w[ok] * (power - mean_power) ** 2),
                                                   rel=1e-12)
