"""Scenes as pictures: which bands a true-colour, false-colour infrared, SWIR, cloud-mask or
radar rendering of a scene uses, how its digital numbers become physical values (the engine's
rules from ``pixels/bands.py``, applied once) and the fixed display stretch per sensor.

Plain data and arithmetic only (no GDAL, no QGIS, no pystac): the engine describes each scene
it finds with ``describe_item``; the plugin turns a description into a GDAL VRT over the
scene's COGs (``vrt_xml``) clipped to the forests' extent, so nothing is downloaded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Dict, List, Mapping, Optional, Sequence, Tuple
from urllib.parse import parse_qs, urlsplit, urlunsplit

from ..pixels.bands import CollectionProfile

# Same numbers as load.S2_OFFSET_BASELINE / load.S2_BOA_OFFSET (a test keeps them equal;
# load.py pulls in odc-stac, which the QGIS side must not import).
S2_OFFSET_BASELINE = 4.0
S2_BOA_OFFSET = -0.1
PIXEL_TEST_DN = 1000  # a scene still carrying the +1000 DN offset has no valid DN below it
PIXEL_TEST_FRACTION = 0.01
NODATA_OUT = -9999.0  # the VRT bands' nodata (physical values are float32)
DB_RATIO = "vv/vh"


@dataclass(frozen=True)
class Rendering:
    """One way of looking at a scene: three bands (or a mask) and what they show."""

    key: str
    label: str
    bands: Tuple[str, ...]
    kind: str  # "reflectance" | "mask" | "radar"
    sensors: Tuple[str, ...]


RENDERINGS: Dict[str, Rendering] = {r.key: r for r in (
    Rendering("true-colour", "True colour (red, green, blue)", ("red", "green", "blue"),
              "reflectance", ("sentinel-2", "landsat", "worldview")),
    Rendering("false-colour", "False colour infrared (NIR, red, green)", ("nir", "red", "green"),
              "reflectance", ("sentinel-2", "landsat", "worldview")),
    Rendering("swir", "SWIR (SWIR2, NIR, red): damage and moisture",
              ("swir22", "nir08", "red"), "reflectance", ("sentinel-2", "landsat")),
    Rendering("cloud-mask", "Cloud mask (scene classification / QA_PIXEL)", (), "mask",
              ("sentinel-2", "landsat")),
    Rendering("radar", "Radar false colour (VV, VH, VV/VH in dB)", ("vv", "vh", DB_RATIO),
              "radar", ("sentinel-1",)),
)}

# Fixed display ranges in physical units, so scenes and months compare at a glance.
# Reflectance: forests are dark, so the visible bands stretch to 0.2 (clouds saturate);
# NIR and SWIR are brighter over vegetation and bare soil.
REFLECTANCE_STRETCH: Dict[str, Tuple[float, float]] = {
    "blue": (0.0, 0.2), "green": (0.0, 0.2), "red": (0.0, 0.2), "nir": (0.0, 0.5),
    "nir08": (0.0, 0.5), "swir16": (0.0, 0.5), "swir22": (0.0, 0.4)}
# WorldView multispectral values are DNs, not reflectance (Maxar Open Data ms_analytic).
WORLDVIEW_DN_STRETCH: Dict[str, Tuple[float, float]] = {
    "blue": (0.0, 2000.0), "green": (0.0, 2000.0), "red": (0.0, 2000.0), "nir": (0.0, 5000.0)}
RADAR_STRETCH_DB: Dict[str, Tuple[float, float]] = {
    "vv": (-25.0, 0.0), "vh": (-30.0, -5.0), DB_RATIO: (0.0, 15.0)}
RADAR_VALID_DB = (-60.0, 30.0)  # outside: nodata (-32768 linear -> +45 dB, 0 -> -inf)

# Colours of the Sentinel-2 scene classes (ESA's SCL legend) and of Landsat QA_PIXEL classes.
SCL_COLOURS: Dict[int, str] = {
    1: "#ff0000", 2: "#2f2f2f", 3: "#643200", 4: "#00a000", 5: "#ffe65a", 6: "#0000ff",
    7: "#808080", 8: "#c0c0c0", 9: "#ffffff", 10: "#64c8ff", 11: "#ff96ff"}
QA_CLASSES: Tuple[Tuple[str, str], ...] = (  # (class, colour), in order of precedence
    ("cloud", "#ffffff"), ("cloud shadow", "#643200"), ("cirrus", "#64c8ff"),
    ("dilated cloud", "#c0c0c0"), ("snow", "#ff96ff"), ("water", "#0000ff"),
    ("clear", "#00a000"))


# Renderings that can be composited per period (masks cannot). Radar composites are made in
# linear power and converted to dB afterwards.
COLOUR_COMPOSITES = ("true-colour", "false-colour", "swir", "radar")


class ImageryError(ValueError):
    """A scene cannot be shown this way; the message says why and what to choose instead."""


# ----------------------------------------------------------------------------- describing


def strip_query(href: str) -> str:
    """The href without its query string (a SAS token): what layers store."""
    parts = urlsplit(href)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def token_expiry(href: str) -> Optional[str]:
    """The ISO expiry (``se=``) of a SAS-signed href, or None when it carries no token."""
    values = parse_qs(urlsplit(href).query).get("se")
    return values[0] if values else None


def _asset_key(profile: CollectionProfile, band: str) -> Tuple[str, int]:
    """(asset key, 1-based band in that asset) of a common band name."""
    key = profile.asset_key(band)
    if "." in key:  # band of a multi-band asset, e.g. "ms_analytic.5"
        asset, number = key.split(".")
        return asset, int(number)
    return key, 1


def _raster_band(item: Mapping, asset: str, number: int) -> Mapping:
    bands = item.get("assets", {}).get(asset, {}).get("raster:bands") or []
    return bands[number - 1] if len(bands) >= number else {}


def band_scale_offset(item: Mapping, profile: CollectionProfile, band: str
                      ) -> Tuple[float, float, str]:
    """(scale, offset, rule) turning ``band``'s DNs into physical values, exactly as the engine
    does (``load._to_physical``): one scale/offset, never a double offset."""
    asset, number = _asset_key(profile, band)
    if profile.rule in ("linear", "none"):
        return 1.0, 0.0, profile.rule
    if profile.rule == "s2-baseline":
        text = item.get("properties", {}).get("s2:processing_baseline") or "0"
        baseline = float(text)
        offset = S2_BOA_OFFSET if baseline >= S2_OFFSET_BASELINE else 0.0
        return (profile.scale, offset,
                f"DN/10000{' - 0.1' if offset else ''} (baseline {baseline:05.2f})")
    if profile.rule == "raster-bands":
        meta = _raster_band(item, asset, number)
        scale = float(meta.get("scale", profile.scale))
        offset = float(meta.get("offset", profile.offset))
        return scale, offset, f"raster:bands scale {scale:g} offset {offset:g}"
    if profile.rule == "s2-pixel-test":
        # decided from the pixels by the viewer (``needs_boa_offset``); the flag is a first guess
        applied = item.get("properties", {}).get("earthsearch:boa_offset_applied")
        offset = 0.0 if applied else S2_BOA_OFFSET
        return profile.scale, offset, "pixel test"
    raise ImageryError(f"unknown reflectance rule {profile.rule!r}")


def available_renderings(profile: CollectionProfile) -> List[str]:
    """Rendering keys this collection can show (all their bands present)."""
    keys = []
    for rendering in RENDERINGS.values():
        if profile.sensor not in rendering.sensors:
            continue
        if rendering.kind == "mask":
            if profile.mask_band:
                keys.append(rendering.key)
            continue
        needed = [b for b in rendering.bands if b != DB_RATIO]
        if all(b in profile.assets for b in needed):
            keys.append(rendering.key)
    return keys


def describe_item(item: Mapping, profile: CollectionProfile, *, provider: str,
                  provider_kind: str) -> Dict:
    """A JSON description of one scene for the viewer: unsigned hrefs, grids, per-band DN rules
    and the renderings it supports. Planetary Computer hrefs are stored without their token:
    the engine signs them when a layer is opened (``sign_hrefs``)."""
    signing = "planetary-computer" if provider_kind == "planetary-computer" else None
    bands: Dict[str, Dict] = {}
    assets: Dict[str, Dict] = {}

    def add_asset(key: str) -> None:
        asset = item.get("assets", {}).get(key)
        if asset is None:
            raise ImageryError(f"scene {item.get('id')} has no asset {key!r}")
        href = strip_query(asset["href"]) if signing else asset["href"]
        assets[key] = {"href": href, "transform": asset.get("proj:transform"),
                       "shape": asset.get("proj:shape")}

    names = [b for b in profile.assets if b != profile.mask_band]
    for band in names:
        asset, number = _asset_key(profile, band)
        if asset not in item.get("assets", {}):
            continue
        add_asset(asset)
        scale, offset, rule = band_scale_offset(item, profile, band)
        bands[band] = {"asset": asset, "band": number, "scale": scale, "offset": offset,
                       "nodata": profile.nodata, "rule": rule}
    mask = None
    if profile.mask_band and profile.asset_key(profile.mask_band) in item.get("assets", {}):
        key = profile.asset_key(profile.mask_band)
        add_asset(key)
        mask = {"kind": profile.mask_band, "asset": key,
                "nodata": profile.mask_nodata if profile.mask_nodata is not None else 0}
    properties = item.get("properties", {})
    epsg = properties.get("proj:epsg")
    if epsg is None and isinstance(properties.get("proj:code"), str):
        epsg = int(properties["proj:code"].split(":")[-1])
    keys = [k for k in available_renderings(profile)
            if (mask is not None if k == "cloud-mask" else
                all(b in bands for b in RENDERINGS[k].bands if b != DB_RATIO))]
    return {"id": item.get("id"), "collection": item.get("collection"), "provider": provider,
            "provider_kind": provider_kind, "sensor": profile.sensor,
            "datetime": properties.get("datetime"), "cloud_cover": properties.get(
                "eo:cloud_cover"), "bbox": item.get("bbox"), "epsg": epsg, "signing": signing,
            "rule": profile.rule, "assets": assets, "bands": bands, "mask": mask,
            "renderings": keys, "requester_pays": profile.requester_pays,
            "preview": preview_href(item)}


PREVIEW_ASSETS = ("rendered_preview", "thumbnail", "overview")


def preview_href(item: Mapping) -> Optional[str]:
    """The href of the item's own small picture (PNG/JPEG ``rendered_preview``, ``thumbnail``
    or ``overview`` asset), None when it has none: the viewer then draws one from the data."""
    for key in PREVIEW_ASSETS:
        asset = item.get("assets", {}).get(key) or {}
        kind = str(asset.get("type", "image/png"))
        if asset.get("href") and kind.startswith(("image/png", "image/jpeg")):
            return str(asset["href"])
    return None


def colour_bands(profile: CollectionProfile, keys: Sequence[str]) -> Dict[str, Tuple[str, ...]]:
    """The bands of each requested colour composite this collection can make."""
    possible = available_renderings(profile)
    return {key: tuple(b for b in RENDERINGS[key].bands if b != DB_RATIO) for key in keys
            if key in COLOUR_COMPOSITES and key in possible}


def composite_values(key: str, reduced) -> Tuple[object, List[str]]:
    """The bands written for a colour composite from its reduced (band, y, x) values:
    as they are, or for radar VV, VH and VV/VH in dB (10*log10 of the linear composite)."""
    import numpy as np

    values = np.asarray(reduced, dtype="float32")
    if key != "radar":
        return values, list(RENDERINGS[key].bands)
    with np.errstate(divide="ignore", invalid="ignore"):
        decibels = 10 * np.log10(values)
    decibels[~np.isfinite(decibels)] = np.nan
    return (np.stack([decibels[0], decibels[1], decibels[0] - decibels[1]]).astype("float32"),
            list(RENDERINGS[key].bands))


def composite_tags(key: str, bands: Sequence[str], sensor: str, label: str, method: str
                   ) -> Dict[str, str]:
    """COG tags of a colour composite: what it is and its display stretch."""
    scene = {"sensor": sensor}
    if key == "radar":
        stretch = [RADAR_STRETCH_DB[band] for band in bands]
    else:
        stretch = [_stretch(scene, band) for band in bands]
    units = {"radar": "dB"}.get(key, "reflectance" if sensor != "worldview" else "DN")
    return {"rendering": key, "bands": ",".join(bands), "period": label, "method": method,
            "units": units,
            "stretch": json.dumps(stretch),
            "meaning": f"{method} of cloud-free pixels per band, {RENDERINGS[key].label}"}


# ----------------------------------------------------------------------------- layer specs


@dataclass(frozen=True)
class BandSource:
    """One output band: its source asset band, DN -> physical and the display range."""

    name: str
    asset: str
    band: int
    scale: float
    offset: float
    nodata: Optional[float]
    minimum: float
    maximum: float
    decibels: bool = False  # 10*log10 of linear power (Sentinel-1)
    ratio_of: Tuple[str, ...] = ()  # (numerator asset, denominator asset) for VV/VH


@dataclass(frozen=True)
class LayerSpec:
    """What the viewer draws: three bands (RGB) or one mask band of one scene."""

    scene_id: str
    rendering: str
    kind: str
    name: str
    bands: Tuple[BandSource, ...]
    mask_kind: Optional[str] = None  # "scl" | "qa_pixel"
    rule: str = ""


def _stretch(scene: Mapping, band: str) -> Tuple[float, float]:
    if scene["sensor"] == "worldview":
        return WORLDVIEW_DN_STRETCH.get(band, (0.0, 2000.0))
    return REFLECTANCE_STRETCH.get(band, (0.0, 0.3))


def layer_name(scene: Mapping, rendering: str) -> str:
    """'2025-10-12 sentinel-2-l2a true colour' style layer names."""
    day = str(scene.get("datetime") or "")[:10]
    label = RENDERINGS[rendering].label.split(" (")[0].lower()
    return f"{day} {scene.get('collection')} {label}"


def layer_spec(scene: Mapping, rendering: str, *, boa_offset: Optional[bool] = None
               ) -> LayerSpec:
    """The bands, scale/offset and stretch of ``rendering`` for a described scene.

    ``boa_offset`` overrides the first guess of the pixel-test rule (Earth Search's older
    sentinel-2-l2a) once the viewer has looked at the pixels."""
    if rendering not in RENDERINGS:
        raise ImageryError(f"unknown rendering {rendering!r}; choose from {list(RENDERINGS)}")
    if rendering not in scene.get("renderings", []):
        raise ImageryError(f"{scene.get('collection')} ({scene.get('sensor')}) has no "
                           f"{RENDERINGS[rendering].label.lower()}; available: "
                           f"{', '.join(scene.get('renderings', [])) or 'none'}")
    info = RENDERINGS[rendering]
    name = layer_name(scene, rendering)
    if info.kind == "mask":
        mask = scene["mask"]
        source = BandSource(mask["kind"], mask["asset"], 1, 1.0, 0.0, mask["nodata"], 0, 0)
        return LayerSpec(scene["id"], rendering, "mask", name, (source,), mask["kind"])
    bands: List[BandSource] = []
    rules = set()
    for band in info.bands:
        if info.kind == "radar":
            low, high = RADAR_STRETCH_DB[band]
            if band == DB_RATIO:
                vv, vh = scene["bands"]["vv"], scene["bands"]["vh"]
                bands.append(BandSource(band, vv["asset"], 1, 1.0, 0.0, vv["nodata"], low, high,
                                        decibels=True, ratio_of=(vv["asset"], vh["asset"])))
                continue
            meta = scene["bands"][band]
            bands.append(BandSource(band, meta["asset"], meta["band"], 1.0, 0.0, meta["nodata"],
                                    low, high, decibels=True))
            rules.add("10*log10(linear gamma0)")
            continue
        meta = scene["bands"][band]
        offset = meta["offset"]
        if scene.get("rule") == "s2-pixel-test" and boa_offset is not None:
            offset = S2_BOA_OFFSET if boa_offset else 0.0
        low, high = _stretch(scene, band)
        bands.append(BandSource(band, meta["asset"], meta["band"], meta["scale"], offset,
                                meta["nodata"], low, high))
        rules.add(meta["rule"] if scene.get("rule") != "s2-pixel-test" else
                  f"pixel test: offset {'applied' if offset else 'already removed'}")
    return LayerSpec(scene["id"], rendering, info.kind, name, tuple(bands),
                     rule="; ".join(sorted(rules)))


def needs_boa_offset(dn_arrays: Sequence, nodata: float = 0) -> bool:
    """The engine's pixel test on visible-band DNs (numpy arrays): True when the scene still
    carries the +1000 DN offset (almost no valid DN below 1000)."""
    valid = None
    low = None
    for dn in dn_arrays:
        ok = dn != nodata
        valid = ok if valid is None else valid & ok
        below = (dn < PIXEL_TEST_DN) & ok
        low = below if low is None else low | below
    count = int(valid.sum()) if valid is not None else 0
    return not (count and float((low & valid).sum()) / count > PIXEL_TEST_FRACTION)


# ----------------------------------------------------------------------------- before / after


# ----------------------------------------------------------------------------- grids and VRTs


def expired(expiry: Optional[str], *, margin_seconds: float = 300.0,
            now: Optional[datetime] = None) -> bool:
    """True when a token expiry (ISO text) is past, or within ``margin_seconds`` of it."""
    if not expiry:
        return False
    moment = datetime.fromisoformat(expiry.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    now = now or datetime.now(timezone.utc)
    return (moment - now).total_seconds() < margin_seconds

