"""Storm zone tables: one row per real zone (a hexagon belongs to one forest), ranked among
the real rows only."""

import geopandas as gpd
import numpy as np
from affine import Affine
from shapely.geometry import box

from raster_collect_plugin.core.outputs.files import write_cog
from raster_collect_plugin.core.storm.assessment import DamageThresholds, storm_zone_table

BANDS = ("optical_loss", "optical_damaged", "radar_loss_db", "radar_damaged", "damaged",
         "optical_severity", "radar_severity_db", "pre_event_ndvi", "not_stocked",
         "clear_obs_before", "clear_obs_after", "radar_obs_after", "decided_by_optical",
         "decided_by_radar")


def _evidence(path, damaged_columns):
    """A 6x6 evidence raster of 10 m pixels, everything seen by optical, stocked; the pixels
    in ``damaged_columns`` lost 0.4 NDVI."""
    shape = (6, 6)
    damaged = np.zeros(shape)
    damaged[:, damaged_columns] = 1.0
    loss = np.where(damaged == 1, 0.4, 0.0)
    values = {"optical_loss": loss, "optical_damaged": damaged, "radar_loss_db": loss * 0,
              "radar_damaged": damaged * 0, "damaged": damaged,
              "optical_severity": np.where(damaged == 1, 0.4, np.nan),
              "radar_severity_db": np.full(shape, np.nan),
              "pre_event_ndvi": np.full(shape, 0.8), "not_stocked": np.zeros(shape),
              "clear_obs_before": np.full(shape, 4.0), "clear_obs_after": np.full(shape, 3.0),
              "radar_obs_after": np.full(shape, 3.0), "decided_by_optical": np.ones(shape),
              "decided_by_radar": np.zeros(shape)}
    return write_cog(path, np.stack([values[b] for b in BANDS]).astype("float32"),
                     transform=Affine(10, 0, 500_000, 0, -10, 7_000_060), crs="EPSG:32756",
                     nodata=float("nan"), band_descriptions=list(BANDS), overviews=False)


def test_hexagon_table_has_one_row_per_hexagon_not_per_forest_and_hexagon(tmp_path):
    """Two forests and three hexagons (A holds h1 and h2, B holds h3) are three rows, not the
    six of a forest x hexagon cross product; ranks 1-3 over those rows."""
    path = _evidence(tmp_path / "evidence.tif", damaged_columns=[4, 5])  # all of h3
    x0, y0 = 500_000, 7_000_000
    hexagons = gpd.GeoDataFrame(
        {"forest_id": ["A", "A", "B"], "hex_id": [1, 2, 3]},
        geometry=[box(x0, y0, x0 + 20, y0 + 60), box(x0 + 20, y0, x0 + 40, y0 + 60),
                  box(x0 + 40, y0, x0 + 60, y0 + 60)], crs="EPSG:32756")
    table = storm_zone_table(path, hexagons, ["forest_id", "hex_id"], DamageThresholds())
    assert len(table) == 3
    assert sorted(zip(table["forest_id"], table["hex_id"])) == [("A", 1), ("A", 2), ("B", 3)]
    assert list(table["rank"]) == [1, 2, 3]
    assert table.iloc[0]["hex_id"] == 3 and table.iloc[0]["damaged_fraction"] == 1.0
    assert table.iloc[0]["damaged_ha"] == np.float64(12 * 0.01)
    assert "unknown" not in set(table["damage_class"])  # no fake rows on foreign forests
    assert (table["evidence"] == "both").all()


def test_evidence_names_only_what_saw_the_stand_even_with_min_clear_fraction_zero():
    """With --min-clear-fraction 0 every stand had evidence 'both': one no sensor saw after
    the event, and one seen by optical sensors only in a run without radar."""
    import pandas as pd

    from raster_collect_plugin.core.storm.assessment import rank_storm_damage

    nan = float("nan")
    frame = pd.DataFrame({
        "forest_id": ["clouded", "seen"], "damaged_fraction": [nan, 0.2],
        "observed_fraction": [0.0, 0.06], "optical_observed_fraction": [0.0, 0.06],
        "radar_observed_fraction": [nan, nan], "optical_damaged_fraction": [nan, 0.2],
        "radar_damaged_fraction": [nan, nan], "loss_ndvi": [nan, 0.4],
        "loss_vh_db": [nan, nan], "not_stocked_fraction": [0.0, 0.0],
        "pre_event_ndvi": [0.8, 0.8], "damaged_ha": [nan, 2.0], "decided_by_radar": [0, 0]})
    ranked = rank_storm_damage(frame, ["forest_id"], DamageThresholds(), 0.0).set_index(
        "forest_id")
    assert ranked.loc["clouded", "evidence"] == "none"
    assert ranked.loc["clouded", "damage_class"] == "unknown"
    assert ranked.loc["seen", "evidence"] == "optical"
    assert ranked.loc["seen", "damage_class"] == "moderate"
    default = rank_storm_damage(frame, ["forest_id"], DamageThresholds()).set_index(
        "forest_id")  # 6 % seen is too little at the default 0.5
    assert list(default["damage_class"]) == ["unknown", "unknown"]


def test_an_unknown_stand_has_no_damaged_hectares():
    """A stand seen on 32 % after the event is "unknown", yet showed 98 % and 75 ha damaged
    (the seen part's share scaled to the whole stand), beside README's "of the stand". Its
    damaged hectares and share are now empty; the sensors' own shares stay, beside the
    observed fractions."""
    import pandas as pd

    from raster_collect_plugin.core.storm.assessment import rank_storm_damage

    nan = float("nan")
    frame = pd.DataFrame({
        "forest_id": ["little seen", "seen"], "damaged_fraction": [0.98, 0.3],
        "observed_fraction": [0.32, 0.9], "optical_observed_fraction": [0.32, 0.9],
        "radar_observed_fraction": [nan, nan], "optical_damaged_fraction": [0.98, 0.3],
        "radar_damaged_fraction": [nan, nan], "loss_ndvi": [0.5, 0.4],
        "loss_vh_db": [nan, nan], "not_stocked_fraction": [0.0, 0.0],
        "pre_event_ndvi": [0.8, 0.8], "damaged_ha": [75.0, 3.0], "decided_by_radar": [0, 0]})
    ranked = rank_storm_damage(frame, ["forest_id"], DamageThresholds()).set_index("forest_id")
    assert ranked.loc["little seen", "damage_class"] == "unknown"
    assert pd.isna(ranked.loc["little seen", "damaged_ha"])
    assert pd.isna(ranked.loc["little seen", "damaged_fraction"])
    assert ranked.loc["little seen", "optical_damaged_fraction"] == 0.98
    assert ranked.loc["seen", "damaged_ha"] == 3.0 and ranked.loc["seen", "damaged_fraction"] == 0.3
    assert list(ranked.index) == ["seen", "little seen"]
