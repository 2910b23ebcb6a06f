"""Charts for reports, drawn with matplotlib's Agg canvas (never pyplot, which could pull in a
Qt backend: core must stay Qt-free)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Optional, Sequence

import pandas as pd

from .files import atomic_path


def plot_timeseries(table: pd.DataFrame, destination: Path, *, id_field: str = "forest_id",
                    index: str = "NDVI", statistic: str = "median",
                    event_date: Optional[date] = None,
                    highlight: Sequence = ()) -> Path:
    """A PNG of one index per compartment over time (usable periods only); ``highlight``
    compartments are drawn in red, the others in green; a dashed line marks the event."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = table[(table["index"] == index) & table["usable"]].copy()
    rows["when"] = pd.to_datetime(rows["period"].astype(str).str[:7] + "-15")
    figure = Figure(figsize=(10, 5.5), dpi=110)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    highlighted = set(highlight)
    for zone_id, part in rows.groupby(id_field):
        series = part.groupby("when")[statistic].mean().sort_index()
        damaged = zone_id in highlighted
        axes.plot(series.index, series.values, marker="o", markersize=3, linewidth=1.6 if
                  damaged else 0.9, color="#c62828" if damaged else "#2e7d32",
                  alpha=0.9 if damaged else 0.5, label=str(zone_id) if damaged else None)
    if event_date is not None:
        axes.axvline(pd.Timestamp(event_date), color="#37474f", linestyle="--", linewidth=1)
        axes.annotate("storm", (pd.Timestamp(event_date), axes.get_ylim()[1]),
                      xytext=(4, -12), textcoords="offset points", color="#37474f")
    axes.set_title(f"{index} ({statistic}, cloud-free months) per compartment")
    axes.set_ylabel(index)
    axes.grid(alpha=0.3)
    if highlighted:
        axes.legend(title="most damaged", fontsize=8, loc="lower left")
    figure.autofmt_xdate()
    figure.tight_layout()
    with atomic_path(destination) as temp:
        figure.savefig(temp, format="png")
    return Path(destination)
