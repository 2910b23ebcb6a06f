"""The demo: the whole main job on the embedded synthetic sample, offline.

Generates (or reuses) the sample near Beerburrum, searches its static catalog, builds monthly
cloud-masked NDVI/EVI composites from Sentinel-2 and Landsat, computes statistics per
compartment and per 1 ha hexagon, draws the NDVI time series and runs the storm assessment,
whose ranking (the same one the command line, the dock and Processing show) picks the
compartments highlighted in the chart.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from datetime import date
from pathlib import Path

from ..composites.requests import CompositeRequest, Source
from ..outputs.report import plot_timeseries
from ..sources.providers.static_catalog import StaticCatalogProvider
from ..storm.assessment import NOT_STOCKED, StormRequest, flagged, format_ranking, run_storm
from ..zonal.pipeline import ZonalRequest, run_zonal
from .catalog import SampleFolderError, make_sample
from .scenes import LANDSAT_COLLECTION, S1_COLLECTION, S2_COLLECTION


def run_demo(output: Path, *, verbose: bool = True) -> dict:
    """Run the demo into ``output``; returns a summary (top damaged compartments, files)."""
    def say(message: str) -> None:
        if verbose:
            print(message, file=sys.stderr)

    if (output / "manifest.json").exists():  # its files would be mixed with the demo's
        raise SampleFolderError(f"{output} holds the results of another run (manifest.json): "
                                "choose another --output for the demo")
    say(f"sample data -> {output / 'sample'}")
    sample = make_sample(output / "sample")
    provider = StaticCatalogProvider("Embedded sample", str(sample.catalog_path))
    spec = sample.spec
    request = ZonalRequest(
        CompositeRequest(aoi=sample.forests_path,
                         sources=[Source(provider, (S2_COLLECTION, LANDSAT_COLLECTION))],
                         start=spec.start, end=date(spec.start.year, 12, 31),
                         output_dir=output, indices=("NDVI", "EVI"), max_cloud_cover=90.0),
        hexagon_area_m2=10_000)
    last = {"step": ""}

    def progress(fraction: float, message: str) -> None:
        step = message.split(" 20")[0]
        if step != last["step"]:
            last["step"] = step
            say(f"  {fraction:4.0%} {message}")

    result = run_zonal(request, progress=progress)
    table = result.forest_table
    say("storm assessment (before/after, optical and radar)")
    storm = run_storm(StormRequest(
        replace(request.composites, output_dir=output / "storm",
                sources=[Source(provider, (S2_COLLECTION, LANDSAT_COLLECTION, S1_COLLECTION))]),
        event_date=spec.storm_date), progress=progress)
    ranking = storm.ranking
    top = flagged(ranking)
    try:
        chart = plot_timeseries(table[table["collection"] == S2_COLLECTION],
                                output / "ndvi_timeseries.png", event_date=spec.storm_date,
                                highlight=top)
    except ModuleNotFoundError as missing:  # the engine has no matplotlib (QGIS draws charts)
        chart = None
        if verbose:
            print(f"(no chart: {missing.name} is not installed in this Python)")
    if verbose:
        print(f"\nStorm damage per compartment (the {spec.storm_date} storm; flagged = "
              "moderate or severe):")
        print(format_ranking(ranking, "forest_id", len(ranking)))
    found = set(top)
    truth = set(sample.damaged_ids)
    return {"output": str(output), "chart": str(chart) if chart else None,
            "files": {k: str(v) for k, v in result.files.items()},
            "storm_files": {k: str(v) for k, v in storm.files.items()},
            "most_damaged": [int(v) for v in top],
            "not_stocked": [int(v) for v in ranking.loc[ranking["damage_class"] == NOT_STOCKED,
                                                        "forest_id"]],
            "truth_damaged": sorted(truth),
            "recall": len(found & truth) / len(truth) if truth else 1.0,
            "provider_errors": result.composites.errors}
