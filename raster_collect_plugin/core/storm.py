"""Storm damage assessment: before/after change from optical indices and Sentinel-1 radar.

Pre- and post-event composites (cloud-free median for optical; temporal mean of linear
backscatter for radar, which also reduces speckle) give per-pixel change: dNDVI, dNBR, dEVI,
relative dNDVI, and the VV/VH log ratio in dB. Per compartment (and hexagon) the change
statistics, the fraction of area changed beyond a threshold and a damage class follow; where
clouds hide the post-event optical composite, the radar evidence decides, and the table says
which evidence was used.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

DAMAGE_CLASSES = ("none", "light", "moderate", "severe")
OPTICAL_CHANGES = {"NDVI": "dNDVI", "NBR": "dNBR", "EVI": "dEVI"}
RADAR_CHANGES = {"VH": "dVH_dB", "VV": "dVV_dB"}


@dataclass(frozen=True)
class DamageThresholds:
    """Loss (before minus after) at which each class starts: optical in NDVI units, radar in
    dB of VH backscatter decrease; ``changed_ndvi`` marks a pixel as changed."""

    light: float = 0.05
    moderate: float = 0.15
    severe: float = 0.30
    radar_light_db: float = 0.75
    radar_moderate_db: float = 1.5
    radar_severe_db: float = 2.5
    changed_ndvi: float = 0.10
    changed_vh_db: float = 1.5

    def __post_init__(self):
        for low, high, unit in ((self.light, self.moderate, "NDVI"),
                                (self.moderate, self.severe, "NDVI"),
                                (self.radar_light_db, self.radar_moderate_db, "dB"),
                                (self.radar_moderate_db, self.radar_severe_db, "dB")):
            if not 0 <= low < high:
                raise ValueError(f"damage thresholds must increase: {low} < {high} ({unit})")

    def classify(self, loss: float, radar: bool = False) -> str:
        if loss is None or not np.isfinite(loss):
            return "unknown"
        edges = ((self.radar_light_db, self.radar_moderate_db, self.radar_severe_db) if radar
                 else (self.light, self.moderate, self.severe))
        return DAMAGE_CLASSES[int(np.searchsorted(edges, loss, side="right"))]

    def score(self, loss: float, radar: bool = False) -> float:
        """Loss on a common scale: 1.0 at the 'severe' threshold of its evidence."""
        return float(loss) / (self.radar_severe_db if radar else self.severe)


def event_windows(event_date: date, *, before_days: int = 90, after_days: int = 45
                  ) -> List[Tuple[str, date, date]]:
    """Before = the ``before_days`` ending the day before the event; after = the ``after_days``
    starting the day after (the event day itself is in neither)."""
    if before_days < 1 or after_days < 1:
        raise ValueError("before and after windows need at least one day each")
    return [("before", event_date - timedelta(days=before_days), event_date - timedelta(days=1)),
            ("after", event_date + timedelta(days=1), event_date + timedelta(days=after_days))]


def rank_damage(table: pd.DataFrame, *, event_date: date, id_field: str = "forest_id",
                index: str = "NDVI", statistic: str = "median") -> pd.DataFrame:
    """From a monthly zonal table: mean of the usable values before and after the event month
    (the event's own month mixes both and is left out); the largest drop first."""
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


@dataclass
class StormRequest:
    """A storm assessment: the composite request's sources and AOI, the event, thresholds."""

    composites: CompositeRequest  # noqa: F821 (workflow imports this module lazily)
    event_date: date
    before_days: int = 90
    after_days: int = 45
    windows: Optional[Sequence[Tuple[str, date, date]]] = None
    thresholds: DamageThresholds = field(default_factory=DamageThresholds)
    min_clear_fraction: float = 0.5
    hexagon_area_m2: Optional[float] = None
    before_items: Sequence[str] = ()
    after_items: Sequence[str] = ()


@dataclass
class StormResult:
    ranking: pd.DataFrame
    change_rasters: Dict[str, Path]
    files: Dict[str, Path]
    errors: Dict[str, str]


def items_from_urls(urls: Sequence[str]):
    """STAC items by URL or path, signed when they live on Planetary Computer."""
    import planetary_computer
    import pystac

    from .providers.guarded_io import TimeoutStacIO

    items = []
    for url in urls:
        try:
            item = pystac.Item.from_file(url, stac_io=TimeoutStacIO())  # bounded reads
        except Exception as error:  # pystac raises many kinds for unreadable items
            raise ValueError(f"cannot read the STAC item {url}: {error}") from None
        item.make_asset_hrefs_absolute()
        items.append(planetary_computer.sign(item))  # no-op for hrefs outside Azure storage
    return items


def _report_from_items(before: Sequence[str], after: Sequence[str]):
    from .providers import PlanetaryComputerProvider, StaticCatalogProvider
    from .search import SearchReport

    report, providers = SearchReport(), {}
    for item in items_from_urls(list(before) + list(after)):
        href = item.get_self_href() or ""
        provider = (PlanetaryComputerProvider() if "planetarycomputer" in href
                    else StaticCatalogProvider("STAC items", href or "items"))
        providers[provider.name] = provider
        item.properties["raster_collect:provider"] = provider.name
        report.items.setdefault((provider.name, item.collection_id), []).append(item)
    return report, providers


def run_storm(request: StormRequest, *, progress=None, cancel=None) -> StormResult:
    """Composites before/after, change rasters, per-zone statistics, classes and ranking."""
    from .outputs import write_cog
    from .tables import write_table
    from .workflow import (
        RequestError,
        Source,
        _with_aoi,
        make_hexagons,
        run_composites,
        validate_request,
    )

    thresholds = request.thresholds
    windows = list(request.windows or event_windows(request.event_date,
                                                    before_days=request.before_days,
                                                    after_days=request.after_days))
    if [w[0] for w in windows] != ["before", "after"]:
        raise RequestError("storm windows must be labelled 'before' and 'after'")
    base = request.composites
    indices = sorted(set(base.indices) | {"NDVI", "NBR", "EVI", "VH", "VV"})
    report = None
    sources = list(base.sources)
    if request.before_items or request.after_items:
        report, providers = _report_from_items(request.before_items, request.after_items)
        sources = [Source(p, ()) for p in providers.values()]
    composite_request = replace(base, windows=windows, start=windows[0][1], end=windows[1][2],
                                indices=indices, sources=sources, method="median")
    aoi = validate_request(composite_request)
    composite_request = _with_aoi(composite_request, aoi)
    composites = run_composites(composite_request, progress=progress, cancel=cancel,
                                report=report)
    output_dir = Path(base.output_dir)
    change_paths: Dict[str, Path] = {}
    zone_tables = []
    hexagons = make_hexagons(aoi, area_m2=request.hexagon_area_m2)
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
                         crs=crs, nodata=float("nan"), band_descriptions=names,
                         tags={"event_date": request.event_date.isoformat(),
                               "windows": str([(w[0], str(w[1]), str(w[2])) for w in windows])})
        change_paths[collection.collection] = path
        for zones, id_fields in ((aoi.frame, [aoi.id_field]),
                                 *(((hexagons, [aoi.id_field, "hex_id"]),) if hexagons
                                   is not None else ())):
            table = _zone_changes(path, zones, id_fields, collection)
            zone_tables.append(table)
    if not zone_tables:
        raise RequestError("no change could be computed: the sources gave no before/after "
                           f"composites ({'; '.join(composites.errors.values()) or 'no data'})")
    long_table = pd.concat(zone_tables, ignore_index=True)
    is_hexagon = long_table["hex_id"].notna()
    ranking = _classify(long_table[~is_hexagon], [aoi.id_field], thresholds,
                        request.min_clear_fraction)
    files = {f"changes_{k}": v for k, v in write_table(long_table, output_dir /
                                                        "storm_change_statistics").items()}
    files.update({f"ranking_{k}": v for k, v in write_table(
        ranking, output_dir / "storm_damage_ranking", layer="storm_damage").items()})
    files["damage_layer"] = _write_damage_layer(aoi.frame, ranking, aoi.id_field,
                                                output_dir / "storm_damage.gpkg")
    if hexagons is not None and is_hexagon.any():
        hex_ranking = _classify(long_table[is_hexagon], [aoi.id_field, "hex_id"], thresholds,
                                request.min_clear_fraction)
        files.update({f"hexagon_ranking_{k}": v for k, v in write_table(
            hex_ranking, output_dir / "storm_damage_hexagons_ranking",
            layer="storm_damage").items()})
        files["hexagon_damage_layer"] = _write_damage_layer(
            hexagons, hex_ranking.drop(columns=[aoi.id_field]), "hex_id",
            output_dir / "storm_damage_hexagons.gpkg")
    return StormResult(ranking, change_paths, files, composites.errors)


def _read_two_windows(path: Path) -> Tuple[np.ndarray, np.ndarray]:
    import rasterio

    with rasterio.open(path) as dataset:
        order = {d: i + 1 for i, d in enumerate(dataset.descriptions)}
        return dataset.read(order["before"]), dataset.read(order["after"])


def _change_rasters(collection, thresholds: DamageThresholds) -> List[Tuple[str, np.ndarray]]:
    """Per-pixel change bands of one collection (empty if it has no usable index)."""
    changes = []
    with np.errstate(invalid="ignore", divide="ignore"):
        for index, name in OPTICAL_CHANGES.items():
            if index in collection.index_paths:
                before, after = _read_two_windows(collection.index_paths[index])
                changes.append((name, after - before))
                if index == "NDVI":
                    changes.append(("rel_dNDVI", (after - before) / np.abs(before)))
                    changed = np.where(np.isfinite(after - before),
                                       (before - after) > thresholds.changed_ndvi, np.nan)
                    changes.append(("changed", changed.astype("float32")))
                    changes.append(("clear_after", np.isfinite(after).astype("float32")))
        for index, name in RADAR_CHANGES.items():
            if index in collection.index_paths:  # composites are already in dB
                before, after = _read_two_windows(collection.index_paths[index])
                changes.append((name, after - before))
                if index == "VH":
                    changed = np.where(np.isfinite(after - before),
                                       (before - after) > thresholds.changed_vh_db, np.nan)
                    changes.append(("changed", changed.astype("float32")))
    return changes


def _zone_changes(path: Path, zones, id_fields, collection) -> pd.DataFrame:
    from .zonal import zonal_statistics_of_file

    table = zonal_statistics_of_file(path, zones, id_fields=id_fields, min_clear_fraction=0.0)
    table = table.rename(columns={"period": "change"})
    table.insert(len(id_fields), "collection", collection.collection)
    table.insert(len(id_fields) + 1, "sensor", collection.sensor)
    if "hex_id" not in table:
        table.insert(1, "hex_id", None)
    return table


def _classify(table: pd.DataFrame, keys: List[str], thresholds: DamageThresholds,
              min_clear_fraction: float) -> pd.DataFrame:
    """One row per zone: optical and radar loss, evidence used, class and score; ranked by
    score (largest loss first)."""
    rows = []
    for key, part in table.groupby(keys, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        optical = part[part["sensor"] != "sentinel-1"]
        radar = part[part["sensor"] == "sentinel-1"]
        record = dict(zip(keys, key))

        def stat(frame, change, column="mean"):
            values = frame.loc[frame["change"] == change, column]
            return float(values.mean()) if len(values) else np.nan

        clear_after = stat(optical, "clear_after")
        ndvi_loss = -stat(optical, "dNDVI")
        vh_loss = -stat(radar, "dVH_dB")
        record.update({
            "dNDVI": -ndvi_loss, "dNBR": stat(optical, "dNBR"), "dEVI": stat(optical, "dEVI"),
            "rel_dNDVI": stat(optical, "rel_dNDVI"), "dVH_dB": -vh_loss,
            "dVV_dB": stat(radar, "dVV_dB"),
            "optical_changed_fraction": stat(optical, "changed"),
            "radar_changed_fraction": stat(radar, "changed"),
            "optical_clear_fraction": clear_after})
        optical_ok = bool(np.isfinite(ndvi_loss) and np.isfinite(clear_after)
                          and clear_after >= min_clear_fraction)
        radar_ok = bool(np.isfinite(vh_loss))
        if optical_ok:
            evidence, loss, is_radar = "optical", ndvi_loss, False
        elif radar_ok:
            evidence, loss, is_radar = "radar", vh_loss, True
        else:
            evidence, loss, is_radar = "none", np.nan, False
        record["evidence"] = evidence + ("+radar" if optical_ok and radar_ok else "")
        record["damage_class"] = thresholds.classify(loss, radar=is_radar)
        record["radar_class"] = thresholds.classify(vh_loss, radar=True) if radar_ok \
            else "unknown"
        record["score"] = thresholds.score(loss, radar=is_radar) if np.isfinite(loss) \
            else np.nan
        rows.append(record)
    ranking = pd.DataFrame(rows).sort_values("score", ascending=False, na_position="last")
    ranking.insert(len(keys), "rank", np.arange(1, len(ranking) + 1))
    return ranking.reset_index(drop=True)


def _write_damage_layer(zones, ranking: pd.DataFrame, id_field: str, destination: Path) -> Path:
    from .outputs import atomic_path

    joined = zones.merge(ranking, on=id_field, how="left")
    with atomic_path(destination) as temp:
        joined.to_file(temp, layer="storm_damage", driver="GPKG")
    return destination
