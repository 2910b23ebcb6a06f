"""Storm damage: windows, thresholds, item-URL inputs, and finding the damaged compartments
(optical and radar together, and radar alone when optical is clouded after the storm)."""

import json
from dataclasses import replace
from datetime import date

import geopandas as gpd
import pytest
import rasterio

from raster_collect_plugin import cli
from raster_collect_plugin.core.composites.requests import CompositeRequest, RequestError, Source
from raster_collect_plugin.core.sample import catalog as sc
from raster_collect_plugin.core.sample import scenes as sd
from raster_collect_plugin.core.sources.providers import StaticCatalogProvider
from raster_collect_plugin.core.storm.assessment import (
    DamageThresholds,
    StormRequest,
    event_windows,
    run_storm,
)

ALL = (sd.S2_COLLECTION, sd.LANDSAT_COLLECTION, sd.S1_COLLECTION)


def precision_recall(found, truth):
    found, truth = set(found), set(truth)
    return len(found & truth) / max(len(found), 1), len(found & truth) / len(truth)


def storm_request(sample, output, collections=ALL, **extra):
    provider = StaticCatalogProvider("Sample", str(sample.catalog_path))
    composites = CompositeRequest(aoi=sample.forests_path, sources=[Source(provider, collections)],
                                  start=date(2025, 1, 1), end=date(2025, 12, 31),
                                  output_dir=output, max_cloud_cover=100)
    return StormRequest(composites, event_date=sample.spec.storm_date, **extra)


def damaged(ranking, id_field="forest_id"):
    return list(ranking.loc[ranking["damage_class"].isin(["moderate", "severe"]), id_field])


def test_event_windows_exclude_the_event_day():
    windows = event_windows(date(2025, 11, 13), before_days=30, after_days=10)
    assert windows == [("early", date(2025, 10, 14), date(2025, 10, 28)),
                       ("before", date(2025, 10, 29), date(2025, 11, 12)),
                       ("after", date(2025, 11, 14), date(2025, 11, 23))]
    with pytest.raises(ValueError):
        event_windows(date(2025, 11, 13), before_days=0)


def test_classes_by_extent_and_severity():
    thresholds = DamageThresholds()  # light 5 %, moderate 10 %, severe 50 %, heavy 0.30
    partial = 0.15  # mean NDVI loss on the damaged pixels: defoliated, not thrown
    assert [thresholds.classify(f, partial) for f in (0.0, 0.04, 0.05, 0.1, 0.3, 0.5, 1.0)] == [
        "none", "none", "light", "moderate", "moderate", "severe", "severe"]
    # heavy damage (trees down) over a small share is worth a visit; never out of "none"
    assert [thresholds.classify(f, 0.35) for f in (0.03, 0.06, 0.2, 0.6)] == [
        "none", "moderate", "moderate", "severe"]
    # a completely flattened stand with a modest NDVI drop is severe (the extent decides)
    assert thresholds.classify(1.0, 0.29) == "severe"
    assert thresholds.classify(0.2, 2.0, radar=True) == "moderate"
    assert thresholds.classify(0.07, 2.0, radar=True) == "light"
    assert thresholds.classify(0.07, 3.5, radar=True) == "moderate"
    assert thresholds.classify(float("nan")) == "unknown"
    with pytest.raises(ValueError, match="must increase"):
        DamageThresholds(light_fraction=0.2, moderate_fraction=0.1)
    with pytest.raises(ValueError, match="unknown damage thresholds"):
        DamageThresholds.from_mapping({"light": 0.05})
    assert DamageThresholds.from_mapping({"moderate_fraction": "0.2"}).moderate_fraction == 0.2


def test_storm_found_with_optical_and_radar(small_sample, tmp_path):
    result = run_storm(storm_request(small_sample, tmp_path / "out", hexagon_area_m2=40_000))
    precision, recall = precision_recall(damaged(result.ranking), small_sample.damaged_ids)
    assert precision >= 0.9 and recall >= 0.9, result.ranking
    assert set(result.ranking["evidence"]) == {"both"}
    assert list(result.ranking["rank"]) == list(range(1, len(result.ranking) + 1))
    top = result.ranking.head(len(small_sample.damaged_ids))["forest_id"]
    assert set(top) == set(small_sample.damaged_ids)  # damaged ranked first
    with rasterio.open(result.change_rasters[sd.S2_COLLECTION]) as change:
        assert {"dNDVI", "dNBR", "dEVI", "rel_dNDVI", "changed"} <= set(change.descriptions)
    with rasterio.open(result.change_rasters[sd.S1_COLLECTION]) as change:
        assert {"dVH_dB", "dVV_dB"} <= set(change.descriptions)
    layer = gpd.read_file(result.files["damage_layer"])
    assert {"damage_class", "evidence", "damaged_ha", "loss_ndvi"} <= set(layer.columns)
    assert len(layer) == 6
    hexagons = gpd.read_file(result.files["hexagon_damage_layer"])
    assert len(hexagons) > 6 and hexagons["damage_class"].notna().all()


def test_radar_alone_when_optical_is_clouded_after_the_storm(tmp_path):
    spec = sd.small_spec()
    left, bottom, right, top = sd.scene_extent(spec)
    overcast = (sd.Cloud((left + right) / 2, (bottom + top) / 2, 5 * (right - left)),)
    scenes = [replace(s, clouds=overcast) if s.collection != sd.S1_COLLECTION
              and s.day > spec.storm_date else s for s in sd.default_scenes(spec)]
    sample = sc.make_sample(tmp_path / "clouded", spec, scenes=scenes)
    result = run_storm(storm_request(sample, tmp_path / "out"))
    assert set(result.ranking["evidence"]) == {"radar"}
    precision, recall = precision_recall(damaged(result.ranking), sample.damaged_ids)
    assert precision >= 0.9 and recall >= 0.9, result.ranking


def test_item_urls_as_before_and_after_inputs(small_sample, tmp_path, file_server, stac_api):
    files = file_server(small_sample.root)
    api = stac_api({"s1": small_sample.item_collection(sd.S1_COLLECTION, files.url)})
    items = small_sample.items[sd.S1_COLLECTION]
    before = [i["id"] for i in items if i["properties"]["datetime"] < "2025-11-13"]
    after = [i["id"] for i in items if i["properties"]["datetime"] > "2025-11-14"]
    url = f"{api.url}/collections/{sd.S1_COLLECTION}/items"
    request = storm_request(small_sample, tmp_path / "out",
                            before_items=[f"{url}/{i}" for i in before],
                            after_items=[f"{url}/{i}" for i in after])
    request = replace(request, composites=replace(request.composites, sources=[]))
    result = run_storm(request)
    assert set(result.ranking["evidence"]) == {"radar"}
    precision, recall = precision_recall(damaged(result.ranking), small_sample.damaged_ids)
    assert precision >= 0.9 and recall >= 0.9


def test_unreadable_item_url_is_a_clear_error(small_sample, tmp_path):
    request = storm_request(small_sample, tmp_path / "out",
                            before_items=[str(tmp_path / "missing.json")])
    request = replace(request, composites=replace(request.composites, sources=[]))
    with pytest.raises(ValueError, match="cannot read the STAC item"):
        run_storm(request)
    bad_windows = storm_request(small_sample, tmp_path / "o2",
                                windows=[("after", date(2025, 11, 14), date(2025, 12, 1)),
                                         ("before", date(2025, 10, 1), date(2025, 11, 1))])
    with pytest.raises(RequestError, match="'before' and 'after'"):
        run_storm(bad_windows)


def test_items_with_sources_or_outside_their_window_are_refused(small_sample, tmp_path,
                                                                capsys):
    """--before-item/--after-item with --catalog: the catalog was silently not searched
    (radar items only, exit 0); a before item dated after the event was silently used as an
    after scene (and one outside both windows not at all). Refused, exit 2, in both doors."""
    item = {day: next(f"{small_sample.root}/{sd.S1_COLLECTION}/{i['id']}/{i['id']}.json"
                      for i in small_sample.items[sd.S1_COLLECTION]
                      if i["properties"]["datetime"].startswith(day))
            for day in ("2025-10-27", "2025-12-02")}
    base = ["--quiet", "storm", "--gpkg", str(small_sample.forests_path), "--event-date",
            "2025-11-13", "--output", str(tmp_path / "out")]
    assert cli.main(base + ["--catalog", str(small_sample.catalog_path), "--before-item",
                            item["2025-10-27"], "--after-item", item["2025-12-02"]]) == 2
    assert "as sources (--catalog, --stac-url, --provider; a spec's 'sources') or as " \
           "--before-item / --after-item URLs" in capsys.readouterr().err
    assert cli.main(base + ["--before-item", item["2025-12-02"], "--after-item",
                            item["2025-10-27"]]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("is dated 2025-12-02, outside the before window (2025-08-15 to "
                        "2025-11-12): give it as --after-item (a spec's 'after_items') if it "
                        "is, or check --event-date and --before-days (a spec's 'event_date' and "
                        "'before_days')"), err
    spec = tmp_path / "swapped.json"  # a spec's user is told the spec's keys too
    spec.write_text(json.dumps({
        "kind": "storm", "aoi": str(small_sample.forests_path), "event_date": "2025-11-13",
        "output_dir": str(tmp_path / "out"), "before_items": [item["2025-12-02"]],
        "after_items": [item["2025-10-27"]]}))
    assert cli.main(["--quiet", "job", str(spec)]) == 2
    assert "check --event-date and --before-days (a spec's 'event_date' and 'before_days')" \
        in capsys.readouterr().err
    spec = tmp_path / "storm.json"
    spec.write_text(json.dumps({
        "kind": "storm", "aoi": str(small_sample.forests_path), "event_date": "2025-11-13",
        "output_dir": str(tmp_path / "out"), "before_items": [item["2025-10-27"]],
        "after_items": [item["2025-12-02"]],
        "sources": [{"kind": "static", "href": str(small_sample.catalog_path)}]}))
    assert cli.main(["--quiet", "job", str(spec)]) == 2
    assert "not both: the sources are not searched" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_items_refuse_the_options_that_choose_scenes_in_a_search(small_sample, tmp_path,
                                                                 capsys):
    """With --before-item/--after-item nothing is searched, yet --collections and --max-cloud
    (a spec's max_cloud_cover) were accepted and silently not used: refused, exit 2."""
    item = {day: next(f"{small_sample.root}/{sd.S1_COLLECTION}/{i['id']}/{i['id']}.json"
                      for i in small_sample.items[sd.S1_COLLECTION]
                      if i["properties"]["datetime"].startswith(day))
            for day in ("2025-10-27", "2025-12-02")}
    base = ["--quiet", "storm", "--gpkg", str(small_sample.forests_path), "--event-date",
            "2025-11-13", "--output", str(tmp_path / "out"), "--before-item",
            item["2025-10-27"], "--after-item", item["2025-12-02"]]
    assert cli.main(base + ["--collections", "sentinel-2-l2a", "--max-cloud", "20"]) == 2
    assert capsys.readouterr().err.strip().endswith(
        "nothing is searched: drop --collections and --max-cloud")
    spec = tmp_path / "storm.json"
    spec.write_text(json.dumps({
        "kind": "storm", "aoi": str(small_sample.forests_path), "event_date": "2025-11-13",
        "output_dir": str(tmp_path / "out"), "before_items": [item["2025-10-27"]],
        "after_items": [item["2025-12-02"]], "max_cloud_cover": 20}))
    assert cli.main(["--quiet", "job", str(spec)]) == 2
    assert "leave 'max_cloud_cover' out" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_storm_command_line(small_sample, tmp_path, capsys):
    code = cli.main(["--json", "storm", "--moderate-fraction", "0.12",
                     "--gpkg", str(small_sample.forests_path),
                     "--catalog", str(small_sample.catalog_path), "--event-date", "2025-11-13",
                     "--max-cloud", "100", "--output", str(tmp_path / "storm")])
    assert code == 0
    import json

    summary = json.loads(capsys.readouterr().out)
    assert sorted(summary["damaged"]) == small_sample.damaged_ids
    first = summary["ranking"][0]
    assert first["damage_class"] == "severe" and first["damaged_fraction"] > 0.9
    assert first["evidence"] == "both" and first["clear_obs_after"] >= 1
    metadata = json.loads((tmp_path / "storm" / "storm_metadata.json").read_text())
    assert metadata["thresholds"]["moderate_fraction"] == 0.12
    assert metadata["cloud_mask"]["buffer_m"] == 40.0 and "saturated" in metadata[
        "cloud_mask"]["classes"]
    # each collection's licence, read from its collection document (Sentinel-1 RTC has one
    # of its own), as its composites' metadata records it
    assert metadata["licences"] == {f"Static catalog {c}": "CC-BY-4.0" for c in (
        "landsat-c2-l2", "sentinel-1-rtc", "sentinel-2-l2a")}


def test_storm_command_line_prints_the_ranked_table(small_sample, tmp_path, capsys):
    code = cli.main(["storm", "--gpkg", str(small_sample.forests_path), "--catalog",
                     str(small_sample.catalog_path), "--event-date", "2025-11-13",
                     "--collections", "sentinel-2-l2a", "--cloud-buffer", "20",
                     "--max-cloud", "100", "--output", str(tmp_path / "storm"), "--top", "3"])
    assert code == 0
    printed = capsys.readouterr().out.splitlines()
    header = printed[0].split()
    for column in ("class", "damaged", "ha", "fraction", "severity", "evidence", "optical",
                   "radar", "observed", "clear", "obs"):
        assert column in header, printed[0]
    assert len([line for line in printed[1:] if line.strip()]) >= 3
    assert "severe" in printed[1] and "optical" in printed[1]
    assert (tmp_path / "storm" / "storm_damage.gpkg").exists()


# ------------------------------------------------------------------------------------------
# The harder scenario (tests/storm_scenario.py): patchy windthrow, mixed sensors, hazy cloud
# fringes labelled clear, saturated pixels, stands clear-felled before the event.


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    from tests.storm_scenario import make_scenario

    return make_scenario(tmp_path_factory.mktemp("storm-scenario"))


def scenario_request(scenario, output, collections=ALL, **extra):
    from tests.storm_scenario import EVENT

    provider = StaticCatalogProvider("Scenario", str(scenario.catalog_path))
    composites = CompositeRequest(aoi=scenario.forests_path,
                                  sources=[Source(provider, collections)], start=EVENT,
                                  end=EVENT, output_dir=output, max_cloud_cover=100)
    return StormRequest(composites, event_date=EVENT, **extra)


def scores(ranking, scenario):
    """Per truth class: stands, flagged, precision/recall of flagging, damaged-area error."""
    truth = scenario.truth()
    table = ranking.assign(kind=ranking["forest_id"].map(lambda i: truth[i].kind),
                           true_ha=ranking["forest_id"].map(lambda i: truth[i].damaged_ha),
                           true_fraction=ranking["forest_id"].map(
                               lambda i: truth[i].damaged_fraction))
    table["flagged"] = table["damage_class"].isin(["moderate", "severe"])
    table["must_flag"] = table["true_fraction"] >= 0.15
    return table


def test_patchy_windthrow_scenario_meets_the_acceptance(scenario, tmp_path):
    result = run_storm(scenario_request(scenario, tmp_path / "out"))
    table = scores(result.ranking, scenario)
    assert len(table) == 30 and set(table["kind"]) == {"severe", "patchy", "intact",
                                                        "harvested"}
    # every stand with >= 15 % of its area damaged is flagged; no intact or harvested one is
    assert table.loc[table["must_flag"], "flagged"].all(), table
    assert not table.loc[table["kind"].isin(["intact", "harvested"]), "flagged"].any(), table
    precision = (table["flagged"] & table["must_flag"]).sum() / table["flagged"].sum()
    recall = (table["flagged"] & table["must_flag"]).sum() / table["must_flag"].sum()
    assert precision == 1.0 and recall == 1.0
    # classes: flattened stands severe (extent decides), strips moderate
    assert set(table.loc[table["kind"] == "severe", "damage_class"]) == {"severe"}
    assert set(table.loc[table["kind"] == "patchy", "damage_class"]) == {"moderate"}
    # harvested before the event: reported as such, never as damage
    harvested = table[table["kind"] == "harvested"]
    assert set(harvested["damage_class"]) == {"not stocked before event"}
    assert (harvested["damaged_ha"] == 0).all() and (harvested["pre_event_ndvi"] < 0.4).all()
    # damaged area within 10 % of truth, per damaged stand and in total
    damaged = table[table["must_flag"]]
    relative = (damaged["damaged_ha"] - damaged["true_ha"]).abs() / damaged["true_ha"]
    assert relative.max() < 0.10, damaged[["forest_id", "damaged_ha", "true_ha"]]
    total = table.loc[table["kind"] != "harvested", "damaged_ha"].sum()
    assert abs(total - damaged["true_ha"].sum()) / damaged["true_ha"].sum() < 0.10
    # severity is the loss where it changed: not diluted by the intact part of a strip stand
    assert (table.loc[table["kind"] == "patchy", "loss_ndvi"] > 0.3).all()
    # evidence side by side, with the clear-observation support behind the numbers
    assert set(table["evidence"]) == {"both"}
    assert (table["clear_obs_after"] > 0).all() and (table["radar_obs_after"] > 0).all()
    patchy = table[table["kind"] == "patchy"]
    assert ((patchy["radar_damaged_fraction"] - patchy["true_fraction"]).abs() < 0.05).all()
    # ranking: severe first, then moderate, each by damaged hectares
    assert list(table["damage_class"][:14]) == ["severe"] * 8 + ["moderate"] * 6
    assert table["damaged_ha"][:8].is_monotonic_decreasing
    with rasterio.open(result.files["evidence_raster"]) as evidence:
        assert {"damaged", "optical_damaged", "radar_damaged", "not_stocked",
                "clear_obs_after"} <= set(evidence.descriptions)
        assert evidence.tags()["cloud_buffer_m"] == "40.0"


def test_without_the_cloud_buffer_hazy_fringes_flag_intact_stands(scenario, tmp_path):
    """The same run with the buffer off: the hazy fringes that SCL and QA_PIXEL call clear
    turn intact stands into 'damage' (what the default buffer prevents)."""
    result = run_storm(scenario_request(scenario, tmp_path / "out", cloud_buffer_m=0))
    table = scores(result.ranking, scenario)
    intact = table[table["kind"] == "intact"]
    assert intact["flagged"].sum() >= 2
    assert intact["damaged_ha"].sum() > 3.0


def test_radar_alone_measures_the_strips(scenario, tmp_path):
    result = run_storm(scenario_request(scenario, tmp_path / "out",
                                        collections=(sd.S1_COLLECTION,)))
    table = scores(result.ranking, scenario)
    assert set(table["evidence"]) == {"radar"}
    assert table.loc[table["must_flag"], "flagged"].all()
    assert not table.loc[~table["must_flag"], "flagged"].any()
    damaged = table[table["must_flag"]]
    # the 50 m speckle filter blurs the edges of narrow strips: per stand within 20 %, in
    # total within 10 %
    assert ((damaged["damaged_ha"] - damaged["true_ha"]).abs() / damaged["true_ha"]).max() < 0.2
    assert abs(table["damaged_ha"].sum() / damaged["true_ha"].sum() - 1) < 0.1


def _window_cog(path, values, transform, labels=("early", "before", "after")):
    import numpy as np

    from raster_collect_plugin.core.outputs.files import write_cog

    return write_cog(path, np.stack(values).astype("float32"), transform=transform,
                     crs="EPSG:32756", nodata=float("nan"), band_descriptions=list(labels),
                     overviews=False)


def test_sensors_are_combined_per_pixel_by_their_clear_observations(tmp_path):
    """Landsat sees 4 % of a stand after the storm, through haze (a false loss there); S2 sees
    it all and says 20 % is damaged. Equal weighting of the two sensors' fractions would give
    (0.2 + 1.0) / 2 = 0.6; per pixel, S2's three clear observations outvote Landsat's one.
    Radar fills the pixels no optical sensor saw after the event."""
    import numpy as np
    from affine import Affine

    from raster_collect_plugin.core.storm.pixels import SensorInput, combine

    ten, thirty = Affine(10, 0, 500_000, 0, -10, 7_000_000), Affine(30, 0, 500_000, 0, -30,
                                                                       7_000_000)
    shape = (30, 30)
    before = np.full(shape, 0.8)
    after = np.where(np.arange(30)[None, :] < 6, 0.35, 0.8) * np.ones(shape)  # 20 % damaged
    after[25:, 25:] = np.nan  # S2 never saw this corner after the storm
    _window_cog(tmp_path / "s2.tif", [before, before, after], ten)
    _window_cog(tmp_path / "s2_count.tif", [np.full(shape, 4), np.full(shape, 4),
                                            np.where(np.isfinite(after), 3, 0)], ten)
    small = (10, 10)
    hazy_after = np.full(small, np.nan)
    hazy_after[0:2, 8:10] = 0.3  # 4 Landsat pixels = 36 S2 pixels = 4 % of the 900
    _window_cog(tmp_path / "ls.tif", [np.full(small, 0.78)] * 2 + [hazy_after], thirty)
    _window_cog(tmp_path / "ls_count.tif", [np.full(small, 2)] * 2 + [
        np.where(np.isfinite(hazy_after), 1, 0)], thirty)
    vh_before = np.full(shape, -15.0)
    vh_after = np.where(np.arange(30)[:, None] >= 27, -19.0, -15.0) * np.ones(shape)
    _window_cog(tmp_path / "s1.tif", [vh_before, vh_before, vh_after], ten)
    _window_cog(tmp_path / "s1_count.tif", [np.full(shape, 3)] * 3, ten)
    inputs = [SensorInput("sentinel-2-l2a", "sentinel-2", tmp_path / "s2.tif",
                          tmp_path / "s2_count.tif"),
              SensorInput("landsat-c2-l2", "landsat", tmp_path / "ls.tif",
                          tmp_path / "ls_count.tif"),
              SensorInput("sentinel-1-rtc", "sentinel-1", tmp_path / "s1.tif",
                          tmp_path / "s1_count.tif", radar=True)]
    bands, grid, contributions = combine(inputs, changed_ndvi=0.1, changed_vh_db=1.5,
                                         min_stocked_ndvi=0.5, speckle_window_m=10)
    assert grid.resolution == 10 and grid.height == 30
    assert [c["pixels_after"] for c in contributions] == [900 - 25, 36, 900]
    optical = bands["optical_damaged"]
    seen = np.isfinite(optical)
    assert seen.sum() == 900 - 25 + 0  # Landsat's patch lies inside what S2 saw
    assert np.nanmean(optical) == pytest.approx(6 * 30 / 875)  # the 20 % strip, no more
    # the hazy Landsat patch: S2's 3 observations against Landsat's one, which counts a third
    # at 30 m on the 10 m grid: loss (0.0 * 3 + 0.48 / 3) / (3 + 1 / 3), not damaged
    assert bands["optical_loss"][0, 25] == pytest.approx(0.048, abs=1e-6)
    assert optical[0, 25] == 0 and bands["clear_obs_after"][0, 25] == 4
    # radar decides the corner S2 missed: rows 27-29 of it are damaged (VH -4 dB)
    assert (bands["decided_by_radar"][25:, 25:] == 1).all()
    assert bands["damaged"][27:, 25:].min() == 1 and bands["damaged"][25:27, 25:].max() == 0
    assert bands["radar_damaged"][27:, :].mean() == 1
    assert (bands["not_stocked"] == 0).all()


def test_stocking_check_sees_low_ndvi_and_a_drop_within_the_before_window(tmp_path):
    """Columns 0-9: stocked, storm-damaged. 10-19: bare before the event (NDVI 0.3).
    20-29: NDVI 0.8 early, 0.6 just before (thinned/harvested in the window), 0.3 after."""
    import numpy as np
    from affine import Affine

    from raster_collect_plugin.core.storm.pixels import SensorInput, combine

    grid = Affine(10, 0, 500_000, 0, -10, 7_000_000)
    columns = np.arange(30)[None, :] * np.ones((10, 1))
    early = np.where(columns < 20, np.where(columns < 10, 0.8, 0.3), 0.8)
    before = np.where(columns < 20, early, 0.6)
    after = np.where(columns < 10, 0.35, 0.3)
    _window_cog(tmp_path / "s2.tif", [early, before, after], grid)
    _window_cog(tmp_path / "c.tif", [np.full((10, 30), 3)] * 3, grid)
    bands, _, _ = combine([SensorInput("s2", "sentinel-2", tmp_path / "s2.tif",
                                       tmp_path / "c.tif")],
                          changed_ndvi=0.1, changed_vh_db=1.5, min_stocked_ndvi=0.5)
    assert (bands["not_stocked"][:, :10] == 0).all()
    assert (bands["not_stocked"][:, 10:] == 1).all()
    assert (bands["optical_damaged"][:, 20:] == 1).all()  # NDVI fell after the event too...
    assert (bands["damaged"][:, 10:] == 0).all()  # ...but it is not storm damage
    assert (bands["damaged"][:, :10] == 1).all()


def test_job_spec_thresholds_are_checked(small_sample, tmp_path):
    from raster_collect_plugin.core.jobs.run import run_job
    from raster_collect_plugin.core.jobs.spec import JobError

    spec = {"kind": "storm", "aoi": str(small_sample.forests_path), "event_date": "2025-11-13",
            "sources": [{"kind": "static", "href": str(small_sample.catalog_path)}],
            "output_dir": str(tmp_path / "out"), "thresholds": {"severe": 0.3}}
    with pytest.raises(JobError, match="unknown damage thresholds.*moderate_fraction"):
        run_job(spec)
    spec["thresholds"] = {"moderate_fraction": 0.6}
    with pytest.raises(JobError, match="must increase"):
        run_job(spec)
    assert not (tmp_path / "out").exists()
