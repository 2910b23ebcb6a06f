"""Before/after change per compartment from the zonal time series (the first step of storm
damage assessment): which compartments lost the most index value after an event."""

from __future__ import annotations

from datetime import date

import pandas as pd


def rank_damage(table: pd.DataFrame, *, event_date: date, id_field: str = "forest_id",
                index: str = "NDVI", statistic: str = "median") -> pd.DataFrame:
    """Mean of the usable monthly values before and after the event month (the event's own
    month mixes both and is left out); sorted by the largest drop first."""
    rows = table[(table["index"] == index) & table["usable"]].copy()
    if rows.empty:
        return pd.DataFrame(columns=[id_field, "before", "after", "change", "relative_change"])
    event_month = pd.Timestamp(event_date).strftime("%Y-%m")
    rows["when"] = rows["period"].astype(str).str[:7]
    before = rows[rows["when"] < event_month].groupby(id_field)[statistic].mean()
    after = rows[rows["when"] > event_month].groupby(id_field)[statistic].mean()
    ranking = pd.DataFrame({"before": before, "after": after}).dropna()
    ranking["change"] = ranking["after"] - ranking["before"]
    ranking["relative_change"] = ranking["change"] / ranking["before"].abs()
    return ranking.sort_values("change").reset_index().rename(columns={"index": id_field})
