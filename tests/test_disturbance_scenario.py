"""The synthetic disturbance scenario (issue 30): deterministic, both sensors, events on known
dates, and its scene COGs read back through the project's own search and load."""

from datetime import date

import numpy as np
import pytest

from raster_collect_plugin.core.sample.disturbance_scenario import (
    EVENT_TYPES,
    ScenarioSpec,
    make_scenario,
)

SHORT = ScenarioSpec(start=date(2025, 2, 20), end=date(2025, 3, 31))


@pytest.fixture(scope="module")
def scenario():
    return make_scenario()


def _mean_in(series, mask, start, end):
    window = series.sel(time=slice(start, end)).values[:, mask]
    return float(np.nanmean(window))


def test_same_seed_same_scenario_and_both_sensors(scenario):
    again = make_scenario()
    np.testing.assert_array_equal(scenario.series.values, again.series.values)
    sensors = scenario.series.sensor.values
    assert set(sensors) == {"sentinel-2", "landsat"}
    assert set(scenario.series.platform.values) == {"sentinel-2a", "sentinel-2b", "landsat-8",
                                                    "landsat-9"}
    for sensor, step in (("sentinel-2", 5), ("landsat", 8)):
        days = scenario.series.time.values[sensors == sensor].astype("datetime64[D]")
        assert set(np.diff(days).astype(int)) == {step}
    assert len(np.unique(scenario.series.time.values)) == scenario.series.sizes["time"]
    clear = float(np.isfinite(scenario.series.values).mean())
    assert 0.5 < clear < 0.8  # clouds: about a third of the observations are missing
    assert make_scenario(ScenarioSpec(seed=31)).series.values.tobytes() != \
        scenario.series.values.tobytes()


def test_truth_matches_the_reference_polygons(scenario):
    refs = scenario.references
    assert list(refs["event"]) == ["windthrow", "windthrow", "clearfell", "dieback",
                                   "windthrow"]
    assert set(np.unique(scenario.truth_type.values)) == set(EVENT_TYPES)
    pixel_ha = 10 * 10 / 10_000
    for _, ref in refs.iterrows():
        hit = scenario.truth_date.values == np.datetime64(ref["date"], "ns")
        in_forest = scenario.forest_id.values == ref["forest_id"]
        both = hit & in_forest & (scenario.truth_type.values == ref["event"])
        # pixel centres inside the polygon: the area agrees to within the polygon's edge pixels
        assert abs(both.sum() * pixel_ha - ref["area_ha"]) < 0.1 * ref["area_ha"] + 0.3
    intact = set(scenario.compartments["forest_id"]) - set(refs["forest_id"])
    assert intact == {101, 104, 108}
    undisturbed = np.isin(scenario.forest_id.values, list(intact))
    assert np.isnat(scenario.truth_date.values[undisturbed]).all()


def test_events_change_the_signal_as_stated(scenario):
    series, kinds = scenario.series, scenario.truth_type.values
    forest = scenario.forest_id.values >= 0
    intact = forest & (kinds == "none")
    before = _mean_in(series, intact, "2024-01-01", "2024-12-31")
    assert 0.75 < before < 0.85
    assert abs(_mean_in(series, intact, "2025-01-01", "2025-12-31") - before) < 0.01
    wind = kinds == "windthrow"
    assert _mean_in(series, wind & (scenario.forest_id.values == 102), "2025-03-20",
                    "2025-05-31") < 0.45
    assert _mean_in(series, kinds == "clearfell", "2025-06-15", "2025-08-31") < 0.35
    dieback = kinds == "dieback"
    early = _mean_in(series, dieback, "2025-05-01", "2025-05-31")
    middle = _mean_in(series, dieback, "2025-07-01", "2025-07-31")
    late = _mean_in(series, dieback, "2025-10-01", "2025-12-31")
    assert early > middle > late  # gradual, over months
    assert early - late > 0.25
    # seasonal phenology: July greener than January in intact stands
    assert _mean_in(series, intact, "2024-07-01", "2024-07-31") > \
        _mean_in(series, intact, "2024-01-01", "2024-01-31") + 0.08


def test_sensors_differ_by_the_published_band_responses():
    """Same day, same pixels, no noise: Landsat sees OLI, Sentinel-2B its own MSI, and the HLS
    adjustment of Sentinel-2B's bands gives Landsat's values back."""
    from datetime import datetime, timezone

    from raster_collect_plugin.core.sample.disturbance_scenario import (
        ScenarioScene,
        field_on,
        observed,
    )
    from raster_collect_plugin.core.series.bandpass import adjust

    spec = ScenarioSpec(noise=0.0, scene_bias=0.0)
    fine = field_on(spec, 10)
    when = datetime(2024, 7, 1, 10, tzinfo=timezone.utc)
    s2 = ScenarioScene("sentinel-2", "sentinel-2b", when)
    landsat = ScenarioScene("landsat", "landsat-9", when)
    forest = fine.forest_index >= 0
    for band in ("red", "nir08", "swir16"):
        msi = observed(spec, fine, s2, band)
        oli = observed(spec, fine, landsat, "nir" if band == "nir08" else band)
        assert np.abs(msi - oli)[forest].max() > 1e-4  # the sensors do differ
        np.testing.assert_allclose(adjust(msi, band, "sentinel-2b")[forest], oli[forest],
                                   atol=1e-6)
    # Sentinel-2's broad NIR (B08) is not B8A: the reason harmonised series use B8A
    assert np.abs(observed(spec, fine, s2, "nir") - observed(spec, fine, s2, "nir08"))[
        forest].min() > 1e-3


def test_harmonised_series_differs_from_the_raw_one(scenario):
    raw = make_scenario(harmonised=False)
    s2 = (raw.series.sensor == "sentinel-2").values
    assert not np.allclose(raw.series.values[s2], scenario.series.values[s2], equal_nan=True)
    np.testing.assert_array_equal(raw.series.values[~s2], scenario.series.values[~s2])
    assert scenario.series.attrs["harmonised"] == 1 and raw.series.attrs["harmonised"] == 0


def test_thirty_metre_grid_nests_in_the_ten_metre_one():
    fine = make_scenario(SHORT)
    coarse = make_scenario(SHORT, resolution=30)
    assert coarse.series.shape[1:] == (fine.series.shape[1] // 3, fine.series.shape[2] // 3)
    assert coarse.series.attrs["resolution"] == 30.0
    landsat = (coarse.series.sensor == "landsat").values
    repeated = np.repeat(np.repeat(coarse.series.values[landsat], 3, 1), 3, 2)
    np.testing.assert_allclose(repeated, fine.series.values[landsat], rtol=0, atol=1e-6)


def test_scene_files_read_back_through_the_project_load(tmp_path):
    """The written COGs, read with the static-catalog provider and pixels.load, give the
    in-memory series (each sensor's own values) to within the DN quantisation."""
    from odc.geo.geobox import GeoBox

    from raster_collect_plugin.core.pixels.indices import get_index
    from raster_collect_plugin.core.pixels.load import LoadSpec, load_scenes
    from raster_collect_plugin.core.sample.disturbance_catalog import write_scenario
    from raster_collect_plugin.core.sample.disturbance_scenario import extent
    from raster_collect_plugin.core.sources.providers.base import SearchQuery
    from raster_collect_plugin.core.sources.providers.static_catalog import (
        StaticCatalogProvider,
    )

    files = write_scenario(tmp_path / "scenario", SHORT)
    assert files.compartments.exists() and files.references.exists()
    provider = StaticCatalogProvider("scenario", str(files.catalog))
    wgs84 = files.items["sentinel-2-l2a"][0]["bbox"]
    ndvi = get_index("NDVI")
    for collection, resolution in (("sentinel-2-l2a", 10), ("landsat-c2-l2", 30)):
        items = provider.search(SearchQuery(tuple(wgs84), SHORT.start, SHORT.end,
                                            [collection]))
        items = sorted(items, key=lambda i: i.datetime)
        expected = make_scenario(SHORT, harmonised=False, resolution=resolution).series
        expected = expected.isel(time=(expected.sensor == (
            "sentinel-2" if collection.startswith("sentinel") else "landsat")).values)
        assert len(items) == expected.sizes["time"]
        geobox = GeoBox.from_bbox(extent(SHORT), SHORT.crs, resolution=resolution)
        spec = LoadSpec(provider.profile(collection, items[0]), ("nir", "red"), geobox)
        loaded = load_scenes(items, spec)
        got = ndvi.compute(loaded.values).compute().values
        # Sentinel-2's SCL is a 20 m layer: cloud edges differ from the 10 m model's by a pixel
        agree = np.isfinite(got) == np.isfinite(expected.values)
        assert agree.mean() > 0.99 and np.isfinite(got).mean() > 0.4
        both = np.isfinite(got) & np.isfinite(expected.values)
        np.testing.assert_allclose(got[both], expected.values[both], atol=2e-3)
    again = write_scenario(tmp_path / "scenario", SHORT)  # reused, not rewritten
    assert again.items == files.items


def test_a_tiled_scenario_repeats_the_pattern():
    from raster_collect_plugin.core.sample.disturbance_scenario import compartments_frame
    from raster_collect_plugin.core.sample.disturbance_tiles import tiled_spec

    spec = tiled_spec(6, 3)  # 18 compartments: two full copies and two of a third
    assert len(compartments_frame(spec)) == 18
    kinds = [e.kind for e in spec.events]
    assert len(spec.events) == 5 + 5 + 1  # the third copy has compartments 16, 17: one event
    assert kinds.count("clearfell") == 2 and kinds.count("dieback") == 2
    assert {e.forest_index for e in spec.events} == {1, 2, 4, 5, 6, 9, 10, 12, 13, 14, 17}
    assert spec == tiled_spec(6, 3)
    shifts = {(e.start - d.start).days for e, d in zip(spec.events[5:10], spec.events[:5])}
    assert len(shifts) == 1  # one shift per copy
    scenario = make_scenario(tiled_spec(6, 3, start=date(2025, 1, 1)), resolution=30)
    assert scenario.series.shape[1:] == (34, 64)  # (3 x 300 + 120) / 30, (6 x 300 + 120) / 30
    assert len(scenario.references) == 11
