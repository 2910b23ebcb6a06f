"""Every provider's band conventions as data: asset keys per common band name, the mask band,
nodata, default resolution and the rule that turns digital numbers into physical values.

Reflectance rules (see ``reflectance.py``):
- ``s2-baseline``: Sentinel-2 raw DNs (Planetary Computer): DN/10000, minus 0.1 when the
  item's ``s2:processing_baseline`` >= 04.00 (the +1000 BOA offset).
- ``raster-bands``: apply the asset's ``raster:bands`` scale/offset exactly once (Earth Search
  Collection 1, Landsat C2 L2), falling back to the profile's documented defaults.
- ``s2-pixel-test``: Earth Search's older ``sentinel-2-l2a``: its metadata cannot be trusted,
  so each scene's pixels decide whether the 1000 DN offset is still in them.
- ``s2-item-properties``: a legacy or unknown Sentinel-2 collection with raw DNs and no
  raster:bands (Earth Search v0 ``sentinel-s2-l2a-cogs``): DN/10000, minus 0.1 when the item's
  processing baseline (``s2:`` or ``sentinel:processing_baseline``) is >= 04.00 and its
  ``*:boa_offset_applied`` flag is not true.
- ``linear``: values are physical already (Sentinel-1 RTC gamma0).
- ``none``: leave DNs as they are (e.g. 8-bit WorldView visual products).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

# item property: asset key -> why the provider removed that asset (never read)
REFUSED_ASSETS = "raster_collect:refused_assets"
S2_OPTICAL = ("coastal", "blue", "green", "red", "rededge1", "rededge2", "rededge3", "nir",
              "nir08", "swir16", "swir22")


@dataclass(frozen=True)
class CollectionProfile:
    """How one provider serves one collection."""

    sensor: str  # sentinel-2 | landsat | sentinel-1 | worldview
    assets: Mapping[str, str]  # common band name -> asset key
    mask_band: Optional[str]  # "scl" | "qa_pixel" | None
    resolution: float  # metres; 0 = the items' own resolution
    rule: str
    nodata: float = 0
    scale: float = 1.0  # documented defaults when items carry no raster:bands
    offset: float = 0.0
    licence: Optional[str] = None
    requester_pays: bool = False
    mask_nodata: Optional[int] = None
    notes: Tuple[str, ...] = field(default_factory=tuple)

    def asset_key(self, band: str) -> str:
        try:
            return self.assets[band]
        except KeyError:
            raise KeyError(band) from None

    @property
    def optical_bands(self) -> Tuple[str, ...]:
        return tuple(name for name in self.assets if name != self.mask_band)


_PC_S2_KEYS = {"coastal": "B01", "blue": "B02", "green": "B03", "red": "B04", "rededge1": "B05",
               "rededge2": "B06", "rededge3": "B07", "nir": "B08", "nir08": "B8A",
               "swir16": "B11", "swir22": "B12", "scl": "SCL"}
_ES_S2_KEYS = {name: name for name in S2_OPTICAL} | {"scl": "scl"}
# Landsat's NIR asset is called nir08; indices ask for "nir".
_LANDSAT_KEYS = {"coastal": "coastal", "blue": "blue", "green": "green", "red": "red",
                 "nir": "nir08", "nir08": "nir08", "swir16": "swir16", "swir22": "swir22",
                 "qa_pixel": "qa_pixel"}

PLANETARY_COMPUTER_S2 = CollectionProfile(
    "sentinel-2", _PC_S2_KEYS, "scl", 10, "s2-baseline", nodata=0, scale=1e-4)
EARTH_SEARCH_S2_C1 = CollectionProfile(
    "sentinel-2", _ES_S2_KEYS, "scl", 10, "raster-bands", nodata=0, scale=1e-4, offset=-0.1)
EARTH_SEARCH_S2_L2A = CollectionProfile(
    "sentinel-2", _ES_S2_KEYS, "scl", 10, "s2-pixel-test", nodata=0, scale=1e-4,
    notes=("Earth Search sentinel-2-l2a: the BOA offset is decided per scene from its pixels "
           "(earthsearch:boa_offset_applied and raster:bands are unreliable)",))
LANDSAT_C2_L2 = CollectionProfile(
    "landsat", _LANDSAT_KEYS, "qa_pixel", 30, "raster-bands", nodata=0, scale=2.75e-5,
    offset=-0.2, mask_nodata=1)
EARTH_SEARCH_LANDSAT = CollectionProfile(
    "landsat", _LANDSAT_KEYS, "qa_pixel", 30, "raster-bands", nodata=0, scale=2.75e-5,
    offset=-0.2, mask_nodata=1, requester_pays=True)
SENTINEL1_RTC = CollectionProfile(
    "sentinel-1", {"vv": "vv", "vh": "vh"}, None, 10, "linear", nodata=-32768)
# WorldView-2/3 8-band multispectral: coastal, blue, green, yellow, red, red edge, NIR1, NIR2.
MAXAR_OPEN_DATA = CollectionProfile(
    "worldview", {"coastal": "ms_analytic.1", "blue": "ms_analytic.2",
                  "green": "ms_analytic.3", "yellow": "ms_analytic.4", "red": "ms_analytic.5",
                  "rededge1": "ms_analytic.6", "nir": "ms_analytic.7", "nir08": "ms_analytic.8"},
    None, 0, "none", nodata=0, licence="CC-BY-NC-4.0",
    notes=("Maxar Open Data multispectral values are digital numbers, not surface reflectance: "
           "indices are relative (compare dates of the same sensor only)",))

# (provider kind, collection id) -> profile; provider kind "*" matches any provider.
PROFILES: Dict[Tuple[str, str], CollectionProfile] = {
    ("planetary-computer", "sentinel-2-l2a"): PLANETARY_COMPUTER_S2,
    ("planetary-computer", "landsat-c2-l2"): LANDSAT_C2_L2,
    ("planetary-computer", "sentinel-1-rtc"): SENTINEL1_RTC,
    ("earth-search", "sentinel-2-c1-l2a"): EARTH_SEARCH_S2_C1,
    ("earth-search", "sentinel-2-l2a"): EARTH_SEARCH_S2_L2A,
    ("earth-search", "landsat-c2-l2"): EARTH_SEARCH_LANDSAT,
    ("*", "sentinel-2-c1-l2a"): EARTH_SEARCH_S2_C1,
    ("*", "landsat-c2-l2"): LANDSAT_C2_L2,
    ("*", "sentinel-1-rtc"): SENTINEL1_RTC,
}


def sensor_resolution(sensor: str) -> float:
    """A sensor's finest native pixel size in metres (0: sub-metre, the items' own; unknown
    sensors: infinity), so the doors can show the finest sensor first."""
    sizes = [p.resolution for p in [*PROFILES.values(), MAXAR_OPEN_DATA] if p.sensor == sensor]
    return min(sizes) if sizes else float("inf")


def band_names() -> Tuple[str, ...]:
    """Every common band name an index or a band expression may use (any sensor's; the mask
    bands excluded), sorted."""
    profiles = [*PROFILES.values(), MAXAR_OPEN_DATA]
    return tuple(sorted({name for profile in profiles for name in profile.optical_bands}))


class UnknownCollection(KeyError):
    """No table entry and nothing in the item to read a rule from."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown collection"


def in_table(provider_kind: str, collection: str) -> bool:
    """Whether the band table knows ``collection`` for this kind of provider (else its
    bands are read from its collection document and its scenes: ``profile_for``)."""
    return (provider_kind, collection) in PROFILES or ("*", collection) in PROFILES


def profile_for(provider_kind: str, collection: str,
                items: Union[None, Mapping, Sequence[Mapping]] = None,
                described: Optional[Mapping] = None) -> CollectionProfile:
    """The profile for a provider's collection. Collections not in ``PROFILES`` (legacy or
    new ones on a known provider) get a profile built from what the collection document
    (``described``) and all its ``items`` (one item's dict, or several) say
    (``collection_assets``, ``profile_from_item``), whose notes say which rule was read from
    where."""
    for key in ((provider_kind, collection), ("*", collection)):
        if key in PROFILES:
            return PROFILES[key]
    if items is not None or described is not None:
        profile = profile_from_item(collection_assets(
            [items] if isinstance(items, Mapping) else list(items or ()), described),
            collection)
        if profile is not None:
            return profile
    raise UnknownCollection(
        f"no band profile for collection {collection!r} of provider {provider_kind!r} and its "
        "items name no known bands: choose a supported collection (e.g. sentinel-2-c1-l2a, "
        "landsat-c2-l2)")


def collection_assets(items: Sequence[Mapping], described: Optional[Mapping] = None
                      ) -> Dict[str, Any]:
    """One item's shape standing for a whole collection: the first item's properties and
    every asset key the collection names (its ``item_assets``; its ``summaries`` ``eo:bands``
    names) or any of ``items`` has (dicts, or pystac Assets), each described by the first item
    having it (else the collection's ``item_assets``). A first scene lacking a band does not
    decide for the others: a scene lacking a band a run needs is skipped
    (``scenes_with_bands``)."""
    assets: Dict[str, Any] = {}
    for item in items:
        for key, asset in (item.get("assets") or {}).items():
            assets.setdefault(key, asset)
    described = described or {}
    for key, asset in (described.get("item_assets") or {}).items():
        assets.setdefault(key, asset if isinstance(asset, Mapping) else {})
    for band in (described.get("summaries") or {}).get("eo:bands") or ():
        if isinstance(band, Mapping) and band.get("name"):
            assets.setdefault(str(band["name"]), {})
    properties = (items[0].get("properties") if items else None) or {}
    return {"assets": {key: asset.to_dict() if hasattr(asset, "to_dict") else asset
                       for key, asset in assets.items()}, "properties": properties}


def bands_of_scenes(profile: CollectionProfile, items: Sequence[Any]) -> CollectionProfile:
    """``profile`` without the bands (other than its mask band) whose asset none of ``items``
    has or had refused: a collection document (``item_assets``) may name a band its scenes
    lack, and an index needing it is then skipped for the collection, not every scene for
    that band (``scenes_with_bands``). The profile as it is when nothing is missing."""
    if not items:
        return profile
    keys = set()
    for item in items:
        keys.update(item.get("assets") or {} if isinstance(item, Mapping) else item.assets)
        keys.update(refused_assets(item))
    offered = {band: key for band, key in profile.assets.items()
               if band == profile.mask_band or key.split(".")[0] in keys}
    if len(offered) == len(profile.assets):
        return profile
    return replace(profile, assets=offered)


def scenes_with_bands(items: Sequence[Any], profile: CollectionProfile, bands: Sequence[str]
                      ) -> Tuple[List[Any], Dict[str, str]]:
    """The STAC items that have an asset for each of ``bands`` (common names) and the mask
    band, and for each other one (item id) the reason it is skipped (an asset its provider
    refused, ``REFUSED_ASSETS``: that reason)."""
    needed = [*bands, *([profile.mask_band] if profile.mask_band else [])]
    kept: List[Any] = []
    skipped: Dict[str, str] = {}
    for item in items:
        refused = refused_assets(item)
        keys = [profile.assets[band].split(".")[0] for band in dict.fromkeys(needed)
                if band in profile.assets]
        if any(key in refused for key in keys):
            skipped[item.id] = "; ".join(dict.fromkeys(refused[key] for key in keys
                                                       if key in refused))
            continue
        missing = [f"{band} ({profile.assets[band]})" for band in dict.fromkeys(needed)
                   if band in profile.assets
                   and profile.assets[band].split(".")[0] not in item.assets]
        if missing:
            skipped[item.id] = f"the scene has no {', '.join(missing)} asset"
        else:
            kept.append(item)
    return kept, skipped


def refused_assets(item: Any) -> Dict[str, str]:
    """Asset key -> why the provider removed it from ``item`` (a pystac Item or its dict):
    an asset the tool must never read, such as a remote API's local file."""
    properties = item.get("properties") if isinstance(item, Mapping) else item.properties
    return dict((properties or {}).get(REFUSED_ASSETS) or {})


def baseline_of(properties: Mapping[str, Any]) -> Optional[float]:
    """The Sentinel-2 processing baseline from ``s2:`` or legacy ``sentinel:`` properties."""
    for key in ("s2:processing_baseline", "sentinel:processing_baseline"):
        value = properties.get(key)
        if value not in (None, ""):
            try:
                return float(value)
            except (TypeError, ValueError):
                return None
    return None


def boa_offset_flag(properties: Mapping[str, Any]) -> Optional[bool]:
    """``earthsearch:`` / ``sentinel:boa_offset_applied`` when the item has one."""
    for key in ("earthsearch:boa_offset_applied", "sentinel:boa_offset_applied"):
        if key in properties:
            return bool(properties[key])
    return None


def profile_from_item(item: Mapping[str, Any], collection: str = ""
                      ) -> Optional[CollectionProfile]:
    """A profile read from one item: asset keys (``B04``/``SCL`` raw-DN style or ``red``/
    ``scl`` common-name style), ``raster:bands``, the processing baseline and the BOA-offset
    flag. None when the item names no known bands."""
    assets = item.get("assets", {}) or {}
    properties = item.get("properties", {}) or {}
    source = f"collection {collection!r} is not in the band table; rule read from its items"
    if "B04" in assets and "SCL" in assets:
        keys = {name: key for name, key in _PC_S2_KEYS.items() if key in assets}
        raster_bands = (assets["B04"].get("raster:bands") or [{}])[0]
        if "scale" in raster_bands or "offset" in raster_bands:
            return replace(PLANETARY_COMPUTER_S2, assets=keys, rule="raster-bands",
                           notes=(f"{source}: B04-style asset keys, raster:bands scale/offset",))
        if boa_offset_flag(properties) is None:  # Planetary Computer's shape
            return replace(PLANETARY_COMPUTER_S2, assets=keys, notes=(
                f"{source}: B04-style asset keys (raw DNs), offset from the processing "
                "baseline",))
        return replace(PLANETARY_COMPUTER_S2, assets=keys, rule="s2-item-properties",
                       notes=(f"{source}: B04-style asset keys (raw DNs), offset from the "
                              "processing baseline and the boa_offset_applied flag",))
    if "red" in assets and "scl" in assets:
        keys = {name: key for name, key in _ES_S2_KEYS.items() if key in assets}
        if collection == "sentinel-2-l2a" or boa_offset_flag(properties):
            return replace(EARTH_SEARCH_S2_L2A, assets=keys, notes=(
                f"{source}: the item says its BOA offset was applied to the pixels, which "
                "contradicts its raster:bands offset: each scene's pixels decide",))
        raster_bands = (assets["red"].get("raster:bands") or [{}])[0]
        if "scale" in raster_bands or "offset" in raster_bands:
            return replace(EARTH_SEARCH_S2_C1, assets=keys, notes=(
                f"{source}: common-name asset keys, raster:bands scale/offset",))
        return replace(EARTH_SEARCH_S2_C1, assets=keys, rule="s2-item-properties", notes=(
            f"{source}: common-name asset keys without raster:bands: offset from the "
            "processing baseline and the boa_offset_applied flag",))
    if "qa_pixel" in assets:
        return replace(LANDSAT_C2_L2, notes=(f"{source}: Landsat C2 L2 asset keys",))
    if "vv" in assets and "vh" in assets:
        return replace(SENTINEL1_RTC, notes=(f"{source}: vv/vh assets (linear gamma0)",))
    if "ms_analytic" in assets:
        return MAXAR_OPEN_DATA
    return None
