"""Storm damage assessment a forest manager can act on.

Pre- and post-event composites per sensor (cloud-free median for optical, with the cloud and
shadow mask grown by a buffer; temporal mean of linear backscatter for Sentinel-1) give each
sensor's own per-pixel change. The sensors are combined pixel by pixel, weighted by their clear
observations (``storm/pixels.py``), and only then aggregated per compartment (and hexagon):

- **extent**: damaged area in ha and as a fraction of the stand (a pixel is damaged when its
  NDVI loss exceeds ``changed_ndvi``, or, where no optical sensor saw it after the event, its
  speckle-filtered VH decrease exceeds ``changed_vh_db``);
- **severity**: the mean NDVI loss on the damaged pixels only (so a strip of flattened trees is
  not diluted by the intact rest of the stand);
- **class**: none / light / moderate / severe from the extent, one class up when the damage is
  heavy (severity >= ``heavy_ndvi``), see ``DamageThresholds``;
- **stocking**: a stand that was unstocked before the event (low pre-event NDVI, or an NDVI
  drop within the pre-event window: harvested) is "not stocked before event", never damage.

One ranking (``rank_storm_damage``) serves the command line, the demo, the dock and Processing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from ..pixels.clear_fraction import check_min_clear_fraction
from ..pixels.cloud_buffer import DEFAULT_STORM_BUFFER_M
from .classes import (  # noqa: F401 (re-exported: one place to import storm names from)
    AFTER_DAYS,
    BEFORE_DAYS,
    CLASS_ORDER,
    DAMAGE_CLASSES,
    FLAGGED_CLASSES,
    MAX_WINDOW_DAYS,
    MIN_AFTER_DAYS,
    MIN_BEFORE_DAYS,
    NOT_STOCKED,
    UNKNOWN,
    DamageThresholds,
)
from .items import ItemError, items_from_urls, items_report  # noqa: F401 (re-exported)

OPTICAL_CHANGES = {"NDVI": "dNDVI", "NBR": "dNBR", "EVI": "dEVI"}
RADAR_CHANGES = {"VH": "dVH_dB", "VV": "dVV_dB"}
STORM_INDICES = ("NDVI", "NBR", "EVI", "VH", "VV")  # composited beside the requested ones
RANKING_COLUMNS = ("rank", "damage_class", "damaged_ha", "damaged_fraction", "loss_ndvi",
                   "evidence", "optical_damaged_fraction", "radar_damaged_fraction",
                   "loss_vh_db", "observed_fraction", "optical_observed_fraction",
                   "radar_observed_fraction", "clear_obs_before", "clear_obs_after",
                   "radar_obs_after", "stocking", "not_stocked_fraction", "pre_event_ndvi",
                   "area_ha", "dNDVI", "dVH_dB")


class WindowError(ValueError):
    """Before/after windows too short; one line, exit 2."""

    exit_kind = "bad_input"  # errors.classify


def event_windows(event_date: date, *, before_days: int = BEFORE_DAYS,
                  after_days: int = AFTER_DAYS
                  ) -> List[Tuple[str, date, date]]:
    """early + before = the ``before_days`` ending the day before the event (early: its first
    half, used to see harvesting within the window); after = the ``after_days`` starting the
    day after. The event day itself is in none."""
    if before_days < MIN_BEFORE_DAYS or after_days < MIN_AFTER_DAYS:
        raise WindowError("the before window needs at least two days and the after window one "
                          f"(--before-days / --after-days), not {before_days} / {after_days}")
    if max(before_days, after_days) > MAX_WINDOW_DAYS:  # also: dates beyond year 9999
        raise WindowError(f"the before and after windows are at most {MAX_WINDOW_DAYS} days "
                          f"(--before-days / --after-days), not {before_days} / {after_days}")
    half = before_days // 2
    return [("early", event_date - timedelta(days=before_days),
             event_date - timedelta(days=half + 1)),
            ("before", event_date - timedelta(days=half), event_date - timedelta(days=1)),
            ("after", event_date + timedelta(days=1), event_date + timedelta(days=after_days))]


@dataclass
class StormRequest:
    """A storm assessment: the composite request's sources and AOI, the event, thresholds."""

    composites: CompositeRequest  # noqa: F821 (composites are imported lazily)
    event_date: date
    before_days: int = BEFORE_DAYS
    after_days: int = AFTER_DAYS
    windows: Optional[Sequence[Tuple[str, date, date]]] = None
    thresholds: DamageThresholds = field(default_factory=DamageThresholds)
    min_clear_fraction: float = 0.5
    hexagon_area_m2: Optional[float] = None
    before_items: Sequence[str] = ()
    after_items: Sequence[str] = ()
    cloud_buffer_m: float = DEFAULT_STORM_BUFFER_M
    speckle_window_m: float = 50.0
    # radar from Sentinel Hub (sentinel_hub.sentinel1.SentinelHubRadar) when no source has it
    sentinel_hub_radar: Optional[object] = None


@dataclass
class StormResult:
    ranking: pd.DataFrame
    change_rasters: Dict[str, Path]
    files: Dict[str, Path]
    errors: Dict[str, str]
    hexagon_ranking: Optional[pd.DataFrame] = None
    # skipped or repaired polygons, size estimates (the composites' notes)
    notes: List[str] = field(default_factory=list)


def storm_composites(request: StormRequest):
    """The composite request a storm run makes of ``request.composites``: its windows (the
    run's start and end), the storm indices, median, saturated pixels masked and the storm's
    cloud buffer; what decides the result, so also what a rerun's fingerprint holds (the
    defaults of the command line's --start/--end, which it refuses when given, never count)."""
    from ..composites.requests import RequestError
    from ..pixels.cloud_buffer import validate_buffer

    windows = list(request.windows or event_windows(request.event_date,
                                                    before_days=request.before_days,
                                                    after_days=request.after_days))
    if [w[0] for w in windows] not in (["before", "after"], ["early", "before", "after"]):
        raise RequestError("storm windows must be labelled 'before' and 'after' (optionally "
                           "preceded by 'early')")
    try:
        buffer_m = validate_buffer(request.cloud_buffer_m)
    except ValueError as error:
        raise RequestError(str(error)) from None
    base = request.composites
    if (request.before_items or request.after_items) and base.sources:  # else not searched
        raise ItemError("give the imagery as sources (--catalog, --stac-url, --provider; a "
                        "spec's 'sources') or as --before-item / --after-item URLs (a spec's "
                        "'before_items' / 'after_items'), not both: the sources are not "
                        "searched when items are given")
    # saturated/defective pixels (SCL 1) are never evidence of change
    return replace(base, windows=windows, start=windows[0][1], end=windows[-1][2],
                   indices=sorted(set(base.indices) | set(STORM_INDICES)), method="median",
                   mask_classes=frozenset(base.mask_classes) | {"saturated"},
                   cloud_buffer_m=buffer_m)


def run_storm(request: StormRequest, *, progress=None, cancel=None,
              report=None, items=None) -> StormResult:
    """Composites before/after, per-pixel combined evidence, per-zone extent, severity,
    stocking, classes and the ranking; written as tables, a styled-ready layer and rasters.
    ``report``: the search of ``storm_composites(request)`` when already made (checked with
    ``check_scenes_around_event``); ``items``: with before/after item URLs, ``items_report``'s
    answer when already read (and checked)."""
    from ..areas.hexagons import hexagon_zones_note
    from ..composites.pipeline import run_composites, search, validate_request
    from ..composites.requests import RequestError
    from ..outputs.files import write_cog, write_json
    from ..outputs.tables import write_table
    from ..pixels.cloud_buffer import describe as describe_buffer
    from ..zonal.pipeline import _with_aoi, make_hexagons
    from .pixels import SensorInput, combine
    from .scenes import check_scenes_around_event

    thresholds = request.thresholds
    check_min_clear_fraction(request.min_clear_fraction)
    base = request.composites
    composite_request = storm_composites(request)
    windows, buffer_m = list(composite_request.windows), composite_request.cloud_buffer_m
    searched = report is not None or items is not None
    if request.before_items or request.after_items:
        report, sources = items or items_report(request, windows)
        composite_request = replace(composite_request, sources=sources)
    aoi = validate_request(composite_request)
    composite_request = _with_aoi(composite_request, aoi)
    if report is None:
        if progress is not None:
            progress(0.0, "searching")
        report = search(composite_request, aoi)
    if not searched:  # else checked by the caller, before its run folder was touched
        check_scenes_around_event(request, composite_request, report)
    composites = run_composites(composite_request, progress=progress, cancel=cancel,
                                report=report)
    output_dir = Path(base.output_dir)
    change_paths: Dict[str, Path] = {}
    inputs: List[SensorInput] = []
    tags = {"event_date": request.event_date.isoformat(),
            "windows": str([(w[0], str(w[1]), str(w[2])) for w in windows]),
            "cloud_buffer_m": str(buffer_m)}
    for collection in composites.collections:
        changes = _change_rasters(collection, thresholds)
        if not changes:
            continue
        import rasterio

        with rasterio.open(next(iter(collection.index_paths.values()))) as template:
            transform, crs = template.transform, template.crs
        names = [name for name, _ in changes]
        stack = np.stack([values for _, values in changes]).astype("float32")
        stem = f"{collection.provider}_{collection.collection}".replace(" ", "-").lower()
        path = write_cog(output_dir / f"{stem}_change.tif", stack, transform=transform,
                         crs=crs, nodata=float("nan"), band_descriptions=names, tags=tags)
        change_paths[collection.collection] = path
        radar = "VH" in collection.index_paths and "NDVI" not in collection.index_paths
        index = "VH" if radar else "NDVI"
        if index in collection.index_paths:
            inputs.append(SensorInput(collection.collection, collection.sensor,
                                      Path(collection.index_paths[index]),
                                      Path(collection.count_path), radar=radar))
    if request.sentinel_hub_radar is not None and not any(i.radar for i in inputs):
        from .radar_sentinel_hub import sentinel_hub_radar_input

        inputs.append(sentinel_hub_radar_input(request.sentinel_hub_radar, aoi.frame, windows,
                                               output_dir, cancel))
    if not inputs:
        raise RequestError("no change could be computed: the sources gave no before/after "
                           f"composites ({'; '.join(composites.errors.values()) or 'no data'})")
    if cancel is not None and cancel():
        from ..composites.requests import Cancelled

        raise Cancelled("cancelled by the user")
    pixels, grid, contributions = combine(
        inputs, changed_ndvi=thresholds.changed_ndvi, changed_vh_db=thresholds.changed_vh_db,
        min_stocked_ndvi=thresholds.min_stocked_ndvi,
        speckle_window_m=request.speckle_window_m)
    evidence_path = write_cog(output_dir / "storm_evidence.tif",
                              np.stack(list(pixels.values())), transform=grid.transform,
                              crs=grid.crs, nodata=float("nan"),
                              band_descriptions=list(pixels), tags=tags)
    change_paths["combined"] = evidence_path
    hexagons = make_hexagons(aoi, area_m2=request.hexagon_area_m2)
    ranking = storm_zone_table(evidence_path, aoi.frame, [aoi.id_field], thresholds,
                               request.min_clear_fraction)
    files = {f"ranking_{k}": v for k, v in write_table(
        ranking, output_dir / "storm_damage_ranking", layer="storm_damage").items()}
    files["evidence_raster"] = evidence_path
    files["damage_layer"] = _write_damage_layer(aoi.frame, ranking, aoi.id_field,
                                                output_dir / "storm_damage.gpkg")
    hex_ranking = None
    if hexagons is not None and len(hexagons):
        hex_ranking = storm_zone_table(evidence_path, hexagons, [aoi.id_field, "hex_id"],
                                       thresholds, request.min_clear_fraction)
        files.update({f"hexagon_ranking_{k}": v for k, v in write_table(
            hex_ranking, output_dir / "storm_damage_hexagons_ranking",
            layer="storm_damage").items()})
        files["hexagon_damage_layer"] = _write_damage_layer(
            hexagons, hex_ranking.drop(columns=[aoi.id_field]), "hex_id",
            output_dir / "storm_damage_hexagons.gpkg")
    files["metadata"] = write_json(output_dir / "storm_metadata.json", {
        "event_date": request.event_date.isoformat(),
        "windows": [(w[0], str(w[1]), str(w[2])) for w in windows],
        "thresholds": asdict(thresholds), "min_clear_fraction": request.min_clear_fraction,
        "cloud_mask": {"classes": sorted(composite_request.mask_classes),
                       **describe_buffer(buffer_m)},
        "speckle_window_m": request.speckle_window_m,
        "grid": {"crs": str(grid.crs), "resolution": grid.resolution},
        "combination": "per pixel: optical sensors weighted by min(clear before, clear after); "
                       "radar decides where no optical sensor saw the pixel after the event",
        "sensors": contributions, "errors": composites.errors, "licences": {
            f"{c.provider} {c.collection}": c.licence for c in composites.collections}})
    return StormResult(ranking, change_paths, files, composites.errors, hex_ranking,
                       notes=list(composites.notes) + (  # degrees: the hexagons' zones
                           [] if hexagons is None else hexagon_zones_note(aoi)))


def _read_windows(path: Path) -> Dict[str, np.ndarray]:
    import rasterio

    with rasterio.open(path) as dataset:
        return {d: dataset.read(i + 1) for i, d in enumerate(dataset.descriptions)}


def _pre_event(windows: Dict[str, np.ndarray]) -> np.ndarray:
    before = windows["before"]
    if "early" in windows:
        before = np.where(np.isfinite(before), before, windows["early"])
    return before


def _change_rasters(collection, thresholds: DamageThresholds) -> List[Tuple[str, np.ndarray]]:
    """Per-pixel change bands of one collection on its own grid (empty if it has no usable
    index): what this sensor alone saw."""
    changes = []
    with np.errstate(invalid="ignore", divide="ignore"):
        for index, name in OPTICAL_CHANGES.items():
            if index in collection.index_paths:
                windows = _read_windows(collection.index_paths[index])
                before, after = _pre_event(windows), windows["after"]
                changes.append((name, after - before))
                if index == "NDVI":
                    changes.append(("rel_dNDVI", (after - before) / np.abs(before)))
                    changed = np.where(np.isfinite(after - before),
                                       (before - after) > thresholds.changed_ndvi, np.nan)
                    changes.append(("changed", changed.astype("float32")))
                    changes.append(("clear_after", np.isfinite(after).astype("float32")))
        for index, name in RADAR_CHANGES.items():
            if index in collection.index_paths:  # composites are already in dB
                windows = _read_windows(collection.index_paths[index])
                before, after = _pre_event(windows), windows["after"]
                changes.append((name, after - before))
                if index == "VH":
                    changed = np.where(np.isfinite(after - before),
                                       (before - after) > thresholds.changed_vh_db, np.nan)
                    changes.append(("changed", changed.astype("float32")))
    return changes


def storm_zone_table(evidence_path: Path, zones, keys: List[str],
                     thresholds: DamageThresholds, min_clear_fraction: float = 0.5
                     ) -> pd.DataFrame:
    """Per zone, from the per-pixel evidence raster (exact coverage): extent, severity,
    evidence, clear-observation support, stocking and the class; ranked."""
    import rasterio

    from ..zonal.statistics import zonal_statistics_of_file

    table = zonal_statistics_of_file(evidence_path, zones, id_fields=keys,
                                     min_clear_fraction=0.0)
    with rasterio.open(evidence_path) as dataset:
        pixel_ha = abs(dataset.transform.a * dataset.transform.e) / 10_000
    # one row per zone the zonal table has (not pivot_table(dropna=False), which makes the
    # cross product of the key levels: every hexagon once per forest)
    wide = table.set_index(list(keys) + ["period"])[
        ["mean", "clear_fraction", "pixel_count"]].unstack("period", sort=False)
    frame = pd.DataFrame(index=wide.index)
    mean, seen = wide["mean"], wide["clear_fraction"]
    frame["area_ha"] = np.round(wide["pixel_count"]["damaged"] * pixel_ha, 6)  # no float noise
    frame["observed_fraction"] = seen["damaged"]
    frame["optical_observed_fraction"] = seen["optical_damaged"]
    frame["radar_observed_fraction"] = seen["radar_damaged"]
    frame["damaged_fraction"] = mean["damaged"].where(seen["damaged"] > 0)
    frame["damaged_ha"] = frame["damaged_fraction"] * frame["area_ha"]
    frame["optical_damaged_fraction"] = mean["optical_damaged"]
    frame["radar_damaged_fraction"] = mean["radar_damaged"]
    # signs: ``loss_*`` columns are losses (positive = canopy lost), ``d*`` columns are
    # changes after minus before (negative = loss); one rule for every table and layer
    frame["loss_ndvi"] = mean["optical_severity"]
    frame["loss_vh_db"] = mean["radar_severity_db"]
    frame["dNDVI"] = -mean["optical_loss"]
    frame["dVH_dB"] = -mean["radar_loss_db"]
    frame["pre_event_ndvi"] = mean["pre_event_ndvi"]
    frame["not_stocked_fraction"] = mean["not_stocked"]
    frame["clear_obs_before"] = mean["clear_obs_before"]
    frame["clear_obs_after"] = mean["clear_obs_after"]
    frame["radar_obs_after"] = mean["radar_obs_after"]
    frame["decided_by_radar"] = mean["decided_by_radar"]
    frame = frame.reset_index()
    frame.columns.name = None
    return rank_storm_damage(frame, keys, thresholds, min_clear_fraction)


def rank_storm_damage(frame: pd.DataFrame, keys: Sequence[str], thresholds: DamageThresholds,
                      min_clear_fraction: float = 0.5) -> pd.DataFrame:
    """THE ranking (every door uses it): evidence, stocking and class per zone, then severe
    first, and within a class the most damaged hectares first; unknown and not-stocked last."""
    frame = frame.copy()
    def seen(column: str) -> pd.Series:  # on enough of the stand, and on some of it at all
        observed = frame[column].fillna(0)  # (--min-clear-fraction 0: not every stand 'both')
        return (observed > 0) & (observed >= min_clear_fraction)

    optical_ok, radar_ok = seen("optical_observed_fraction"), seen("radar_observed_fraction")
    union_ok = seen("observed_fraction")
    frame["evidence"] = np.select(
        [optical_ok & radar_ok, optical_ok, radar_ok, union_ok],
        ["both", "optical", "radar", "both"], default="none")
    not_stocked = frame["not_stocked_fraction"].fillna(0) > thresholds.max_not_stocked_fraction
    frame["stocking"] = np.where(not_stocked, NOT_STOCKED, np.where(
        frame["pre_event_ndvi"].notna(), "stocked", "unknown"))
    classes = []
    for row in frame.itertuples(index=False):
        mostly_radar = (row.decided_by_radar or 0) > 0.5
        severity = row.loss_vh_db if mostly_radar else row.loss_ndvi
        classes.append(thresholds.classify(row.damaged_fraction, severity, radar=mostly_radar))
    frame["damage_class"] = classes
    unknown = frame["evidence"] == "none"  # its damage, from the little seen, is no measure
    frame.loc[unknown, ["damage_class", "damaged_ha", "damaged_fraction"]] = [UNKNOWN, np.nan,
                                                                              np.nan]
    frame.loc[not_stocked, "damage_class"] = NOT_STOCKED
    frame.loc[not_stocked, ["damaged_ha", "damaged_fraction"]] = 0.0
    order = frame["damage_class"].map({c: n for n, c in enumerate(CLASS_ORDER)})
    frame = frame.assign(_order=order, _ha=-frame["damaged_ha"].fillna(0)).sort_values(
        ["_order", "_ha"], kind="stable").drop(columns=["_order", "_ha", "decided_by_radar"])
    frame.insert(0, "rank", np.arange(1, len(frame) + 1))
    columns = list(keys) + [c for c in RANKING_COLUMNS if c in frame]
    return frame[columns].reset_index(drop=True)


def flagged(ranking: pd.DataFrame, id_field: str = "forest_id") -> List:
    """The zones a manager should act on (moderate or severe), in ranking order."""
    return list(ranking.loc[ranking["damage_class"].isin(FLAGGED_CLASSES), id_field])


# printed columns: (column, header, format)
PRINTED = (("rank", "rank", "{:.0f}"), ("damage_class", "class", "{}"),
           ("damaged_ha", "damaged ha", "{:.1f}"), ("damaged_fraction", "fraction", "{:.0%}"),
           ("loss_ndvi", "severity NDVI loss", "{:.2f}"),
           ("loss_vh_db", "VH loss dB", "{:.1f}"), ("evidence", "evidence", "{}"),
           ("optical_damaged_fraction", "optical", "{:.0%}"),
           ("radar_damaged_fraction", "radar", "{:.0%}"),
           ("observed_fraction", "observed", "{:.0%}"),
           ("clear_obs_before", "clear obs before", "{:.1f}"),
           ("clear_obs_after", "clear obs after", "{:.1f}"),
           ("radar_obs_after", "radar obs after", "{:.1f}"),
           ("dNDVI", "dNDVI", "{:+.2f}"), ("dVH_dB", "dVH dB", "{:+.1f}"),
           ("stocking", "stocking", "{}"), ("pre_event_ndvi", "pre-event NDVI", "{:.2f}"))


def format_ranking(ranking, id_field: str, top: int) -> str:
    """The ranked table as printed: damaged ha, fraction, severity, evidence and support."""
    shown = ranking.head(top)
    columns = {id_field: shown[id_field].astype(str)}
    for column, header, pattern in PRINTED:
        if column in shown:
            columns[header] = [pattern.format(v) if pd.notna(v) else "-" for v in shown[column]]
    return pd.DataFrame(columns).to_string(index=False)


def _write_damage_layer(zones, ranking: pd.DataFrame, id_field: str, destination: Path) -> Path:
    from ..outputs.tables import write_zone_layer

    return write_zone_layer(zones, ranking, id_field, destination, layer="storm_damage")
