"""Scenes as map layers, streamed: a GDAL VRT over the scene's COGs (``/vsicurl/``), clipped to
the forests' extent, DN -> reflectance per the engine's rules, styled with a fixed stretch.

Runs in QGIS's own process with QGIS's GDAL (``osgeo.gdal``): none of the engine's wheels.
Planetary Computer hrefs are signed by the engine (the ``sign`` job); layers keep the
*unsigned* scene description in custom properties and are re-signed when the project is
opened or on demand. Nothing is downloaded unless the user saves a clipped GeoTIFF.
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional, Tuple
from urllib.parse import urlsplit

from osgeo import gdal, osr
from qgis.core import (
    QgsApplication,
    QgsContrastEnhancement,
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsCoordinateTransformContext,
    QgsDateTimeRange,
    QgsMultiBandColorRenderer,
    QgsPalettedRasterRenderer,
    QgsProject,
    QgsRasterLayer,
    QgsRasterRange,
    QgsRectangle,
)
from qgis.PyQt.QtCore import QDateTime, Qt
from qgis.PyQt.QtGui import QColor

from ..core import imagery as core
from ..engine import bridge

PROPERTY = "raster_collect/imagery"  # JSON: scene, rendering, bounds, boa_offset
EXPIRES_PROPERTY = "raster_collect/expires"
MARGIN_FRACTION = 0.05  # context around the forests
MIN_MARGIN_M = 100.0
SIGN_TERMINATE_GRACE = 2.0  # seconds a cancelled sign job has to exit before it is killed

# (unsigned hrefs, signing, cancel=None) -> the sign job's result; ``cancel`` (a task's
# ``isCanceled``) stops a running sign job
Signer = Callable[..., Dict]


def clock() -> datetime:
    """Now, in UTC (token expiry checks; tests move it forward)."""
    return datetime.now(timezone.utc)


def configure_streaming() -> None:
    """Let GDAL's /vsicurl/ cache the COG tiles it fetched: with parallel multi-range reads
    (GDAL's default) every repaint, and the layer's first statistics pass, download the same
    tiles again. Serial range reads go through the shared region cache. Only set when the user
    has not chosen a value (QGIS's own option or environment)."""
    if gdal.GetConfigOption("GDAL_HTTP_MULTIRANGE") is None:
        gdal.SetConfigOption("GDAL_HTTP_MULTIRANGE", "SERIAL")


def cache_dir() -> Path:
    """Where the small VRT files live (not the pixels: those stay on the server)."""
    folder = Path(QgsApplication.qgisSettingsDirPath()) / "raster_collect" / "imagery"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def engine_signer(python: Optional[str] = None) -> Signer:
    """Sign through the engine's ``sign`` job (a separate Python with planetary-computer)."""
    def sign(hrefs: List[str], signing: str, cancel: Optional[Callable[[], bool]] = None
             ) -> Dict:
        import tempfile

        workdir = Path(tempfile.mkdtemp(prefix="raster-collect-sign-"))
        try:
            return bridge.run_job({"kind": "sign", "hrefs": hrefs, "signing": signing},
                                  workdir=workdir, python=python, cancel=cancel,
                                  terminate_grace=SIGN_TERMINATE_GRACE)
        finally:
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)
    return sign


def scene_hrefs(scene: Mapping, spec: core.LayerSpec) -> List[str]:
    return list(dict.fromkeys(scene["assets"][b.asset]["href"] for b in spec.bands))


# --------------------------------------------------------------------------- extents and grids


def scene_crs(scene: Mapping, signed: Mapping[str, str], spec: core.LayerSpec
              ) -> Tuple[str, QgsCoordinateReferenceSystem]:
    """(WKT, CRS) of the scene, from its EPSG code or (one header read) from its first COG."""
    srs = osr.SpatialReference()
    if scene.get("epsg"):
        srs.ImportFromEPSG(int(scene["epsg"]))
    else:
        href = signed[scene["assets"][spec.bands[0].asset]["href"]]
        dataset = gdal.Open(core.vsicurl(href))
        if dataset is None:
            raise core.ImageryError(f"cannot open {core.strip_query(href)}: "
                                    f"{gdal.GetLastErrorMsg()}")
        srs.ImportFromWkt(dataset.GetProjection())
    wkt = srs.ExportToWkt()
    return wkt, QgsCoordinateReferenceSystem.fromWkt(wkt)


def asset_grids(scene: Mapping, signed: Mapping[str, str], spec: core.LayerSpec
                ) -> Dict[str, core.Grid]:
    """Each asset's pixel grid from its STAC metadata, or from the COG's header."""
    grids = {}
    for band in spec.bands:
        asset = scene["assets"][band.asset]
        if asset.get("transform") and asset.get("shape"):
            grids[band.asset] = core.stac_grid(asset["transform"], asset["shape"])
            continue
        dataset = gdal.Open(core.vsicurl(signed[asset["href"]]))
        if dataset is None:
            raise core.ImageryError(f"cannot open {asset['href']}: {gdal.GetLastErrorMsg()}")
        grids[band.asset] = core.Grid(tuple(dataset.GetGeoTransform()), dataset.RasterXSize,
                                      dataset.RasterYSize)
    return grids


def bounds_in(extent: QgsRectangle, source: QgsCoordinateReferenceSystem,
              target: QgsCoordinateReferenceSystem,
              context: Optional[QgsCoordinateTransformContext] = None
              ) -> Tuple[float, float, float, float]:
    """``extent`` (in ``source``) as bounds in ``target`` with a little context around it;
    ``context``: the project's transform context, taken on the main thread (a worker thread
    must not read the project), else the project's own."""
    transform = QgsCoordinateTransform(source, target, QgsProject.instance().transformContext()
                                       if context is None else context)
    box = transform.transformBoundingBox(extent)
    margin = max(MIN_MARGIN_M, MARGIN_FRACTION * max(box.width(), box.height()))
    return (box.xMinimum() - margin, box.yMinimum() - margin, box.xMaximum() + margin,
            box.yMaximum() + margin)


# --------------------------------------------------------------------------- building layers


def write_vrt(spec: core.LayerSpec, scene: Mapping, signed: Mapping[str, str],
              bounds: Optional[Tuple[float, float, float, float]]) -> Path:
    """Write the layer's VRT (and its dB helper for radar) into the cache; returns its path.

    A file of its own per layer, never shared: GDAL writes the statistics QGIS computes on
    opening back into the VRT when the layer's dataset closes, truncating the file first, so
    another layer opening a shared file at that moment read an empty or half-written VRT
    (the thumbnails and a scene opened from the table right after a search build the same
    scene, rendering and extent at once). A new name also keeps GDAL's and QGIS's dataset
    caches from serving a stale token."""
    wkt, _ = scene_crs(scene, signed, spec)
    grids = asset_grids(scene, signed, spec)
    target = core.target_grid(spec, grids, bounds)
    hrefs = {b.asset: signed[scene["assets"][b.asset]["href"]] for b in spec.bands}
    stem = f"{_safe(spec.scene_id)}_{spec.rendering}_{uuid.uuid4().hex[:12]}"
    path = cache_dir() / f"{stem}.vrt"
    helper = _db_helper(path)
    main, helper_xml = core.vrt_xml(spec, hrefs, grids, target, wkt, helper_path=str(helper))
    if helper_xml is not None:
        helper.write_text(helper_xml, encoding="utf-8")
    path.write_text(main, encoding="utf-8")  # UTF-8, the XML default, whatever the code page
    return path


def remove_vrt(path: Path) -> None:
    """Delete a VRT of ``write_vrt`` and its dB helper (a layer that is gone for good)."""
    for stale in (path, _db_helper(path)):
        try:
            stale.unlink()
        except OSError:
            pass


def _db_helper(path: Path) -> Path:
    """The radar layers' dB helper VRT beside the layer's VRT at ``path``."""
    return path.with_name(path.stem + "_db.vrt")


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in text)[:80]


def pixel_test(scene: Mapping, signed: Mapping[str, str], path: Path) -> Optional[bool]:
    """For Earth Search's older sentinel-2-l2a: look at the preview's own visible-band DNs
    (an overview-sized read of the clipped window) to decide whether the +1000 offset is
    still in them, like the engine does."""
    if scene.get("rule") != "s2-pixel-test":
        return None
    import numpy as np

    dataset = gdal.Open(str(path))
    arrays = []
    for number in range(1, dataset.RasterCount + 1):
        band = dataset.GetRasterBand(number)
        if band.GetDescription() not in ("red", "green", "blue"):
            continue
        width = max(1, min(band.XSize, 256))
        height = max(1, min(band.YSize, 256))
        values = band.ReadAsArray(buf_xsize=width, buf_ysize=height).astype("float64")
        meta = scene["bands"][band.GetDescription()]
        dn = np.where(values == core.NODATA_OUT, 0,
                      np.round((values - meta["offset"]) / meta["scale"]))
        arrays.append(dn)
    return core.needs_boa_offset(arrays) if arrays else None


def style_layer(layer: QgsRasterLayer, spec: core.LayerSpec) -> None:
    """Fixed-range RGB for reflectance and radar; class colours for masks."""
    provider = layer.dataProvider()
    if spec.kind == "mask":
        layer.setRenderer(_mask_renderer(layer, spec))
        return
    renderer = QgsMultiBandColorRenderer(provider, 1, 2, 3)
    enhancements = []
    for number, source in enumerate(spec.bands, start=1):
        enhancement = QgsContrastEnhancement(provider.dataType(number))
        enhancement.setContrastEnhancementAlgorithm(
            QgsContrastEnhancement.ContrastEnhancementAlgorithm.StretchToMinimumMaximum)
        enhancement.setMinimumValue(source.minimum)
        enhancement.setMaximumValue(source.maximum)
        enhancements.append(enhancement)
        if spec.kind == "radar" and number < 3:  # nodata becomes +45 dB (or -inf for 0)
            low, high = core.RADAR_VALID_DB
            provider.setUserNoDataValue(number, [QgsRasterRange(float("-inf"), low),
                                                 QgsRasterRange(high, float("inf"))])
    renderer.setRedContrastEnhancement(enhancements[0])
    renderer.setGreenContrastEnhancement(enhancements[1])
    renderer.setBlueContrastEnhancement(enhancements[2])
    layer.setRenderer(renderer)


def _mask_renderer(layer: QgsRasterLayer, spec: core.LayerSpec) -> QgsPalettedRasterRenderer:
    classes = []
    if spec.mask_kind == "scl":
        for value, name, colour in core.scl_legend():
            classes.append(QgsPalettedRasterRenderer.Class(value, QColor(colour), name))
    else:  # QA_PIXEL words: the clipped window's own words (one small read), by class
        import numpy as np

        dataset = gdal.Open(layer.source())
        words = np.unique(dataset.GetRasterBand(1).ReadAsArray())
        colours = dict(core.QA_CLASSES)
        for word in words.tolist():
            name = core.qa_class(int(word))
            if name == "fill":
                continue
            classes.append(QgsPalettedRasterRenderer.Class(int(word), QColor(colours[name]),
                                                           f"{name} ({word})"))
    return QgsPalettedRasterRenderer(layer.dataProvider(), 1, classes)


def _scene_range(scene: Mapping) -> Optional[QgsDateTimeRange]:
    when = QDateTime.fromString(str(scene.get("datetime") or "")[:19], "yyyy-MM-ddTHH:mm:ss")
    if not when.isValid():
        return None
    when.setTimeSpec(Qt.TimeSpec.UTC)
    day = when.date()
    start = QDateTime(day, when.time().fromMSecsSinceStartOfDay(0), Qt.TimeSpec.UTC)
    return QgsDateTimeRange(start, start.addSecs(86_399))


def build_layer(scene: Mapping, rendering: str, signed: Mapping[str, str],
                expires: Optional[str], bounds: Optional[Tuple[float, float, float, float]],
                *, boa_offset: Optional[bool] = None) -> QgsRasterLayer:
    """A styled raster layer (not yet in the project) of one scene's rendering."""
    configure_streaming()
    spec = core.layer_spec(scene, rendering, boa_offset=boa_offset)
    if boa_offset is None and scene.get("rule") == "s2-pixel-test" and spec.kind != "mask":
        # the preview's own pixels decide the offset, read through a provisional VRT
        provisional = write_vrt(spec, scene, signed, bounds)
        try:
            decided = pixel_test(scene, signed, provisional)
        finally:
            remove_vrt(provisional)
        if decided is not None:
            spec = core.layer_spec(scene, rendering, boa_offset=decided)
            boa_offset = decided
    path = write_vrt(spec, scene, signed, bounds)
    layer = QgsRasterLayer(str(path), spec.name, "gdal")
    if not layer.isValid():
        raise core.ImageryError(f"cannot open the scene {scene['id']}: "
                                f"{layer.error().summary() or gdal.GetLastErrorMsg()}")
    style_layer(layer, spec)
    layer.setCustomProperty(PROPERTY, json.dumps({
        "scene": dict(scene), "rendering": rendering, "bounds": bounds,
        "boa_offset": boa_offset}))
    layer.setCustomProperty(EXPIRES_PROPERTY, expires or "")
    span = _scene_range(scene)
    if span is not None:
        temporal = layer.temporalProperties()
        temporal.setIsActive(True)
        temporal.setFixedTemporalRange(span)
    rule = f" DN rule: {spec.rule}." if spec.rule else ""
    layer.setAbstract(f"{spec.name}: {core.RENDERINGS[rendering].label}, streamed from "
                      f"{scene['provider']} ({scene['collection']} {scene['id']}).{rule}")
    return layer


def open_scene(scene: Mapping, rendering: str, *, extent: Optional[QgsRectangle] = None,
               extent_crs: Optional[QgsCoordinateReferenceSystem] = None,
               signer: Optional[Signer] = None, add: bool = True) -> QgsRasterLayer:
    """Sign (if needed), build and add one scene layer, clipped to ``extent`` (+ context).
    Synchronous: call it from a task's worker for the signing part, or use ``SceneOpener``."""
    spec = core.layer_spec(scene, rendering)
    hrefs = scene_hrefs(scene, spec)
    signed, expires = sign_for(scene, hrefs, signer)
    return finish_open(scene, rendering, signed, expires, extent, extent_crs, add=add)


# SAS tokens are per storage container: (host, container) -> (query, expiry). A token the
# engine fetched for one scene signs every other blob of that container until it expires.
_TOKENS: Dict[Tuple[str, str], Tuple[str, str]] = {}


def _container(href: str) -> Tuple[str, str]:
    parts = urlsplit(href)
    return parts.netloc, parts.path.lstrip("/").split("/")[0]


def sign_for(scene: Mapping, hrefs: List[str], signer: Optional[Signer], *,
             fresh: bool = False, cancel: Optional[Callable[[], bool]] = None
             ) -> Tuple[Dict[str, str], Optional[str]]:
    """(signed href by unsigned href, expiry) for a scene's hrefs: no job when the scene
    needs no signing or its containers' tokens are known and fresh (``fresh``: always ask).
    ``cancel`` (a task's ``isCanceled``) stops the sign job: ``bridge.JobCancelled``."""
    if not scene.get("signing"):
        return {h: h for h in hrefs}, None
    cached = [_TOKENS.get(_container(h)) for h in hrefs]
    if not fresh and all(c is not None and not core.expired(c[1], now=clock())
                         for c in cached):
        return ({h: f"{h}?{c[0]}" for h, c in zip(hrefs, cached)},
                min(c[1] for c in cached))
    result = (signer or engine_signer())(hrefs, scene["signing"], cancel=cancel)
    signed = dict(result["hrefs"])
    for href in signed.values():
        expiry = core.token_expiry(href)
        if expiry:
            _TOKENS[_container(href)] = (urlsplit(href).query, expiry)
    return signed, result.get("expires")


def check_readable(scene: Mapping) -> None:
    """Requester-pays buckets (Earth Search Landsat) cannot be read anonymously."""
    if scene.get("requester_pays") and os.environ.get("AWS_REQUEST_PAYER") != "requester":
        raise core.ImageryError(
            f"{scene['provider']} {scene['collection']} scenes sit in a requester-pays bucket: "
            "use Planetary Computer for Landsat, or set AWS credentials and "
            "AWS_REQUEST_PAYER=requester to pay for the reads")


def finish_open(scene, rendering, signed, expires, extent, extent_crs, *, add=True,
                context: Optional[QgsCoordinateTransformContext] = None) -> QgsRasterLayer:
    """The layer from signed hrefs, added on top of the project (main thread). A worker
    thread (a thumbnail's layer, never added) gives ``extent_crs`` and the transform
    ``context`` it took on the main thread, and ``add=False``: it must not read the project."""
    check_readable(scene)
    spec = core.layer_spec(scene, rendering)
    bounds = None
    if extent is not None and not extent.isEmpty():
        _, crs = scene_crs(scene, signed, spec)
        bounds = bounds_in(extent, extent_crs or QgsProject.instance().crs(), crs, context)
    layer = build_layer(scene, rendering, signed, expires, bounds)
    if add:
        add_to_imagery_group(layer)
    return layer


IMAGERY_GROUP = "Raster Collect imagery"


def add_to_imagery_group(layer: QgsRasterLayer) -> None:
    """Scene layers go on top of one group (newest first) instead of cluttering the tree."""
    project = QgsProject.instance()
    root = project.layerTreeRoot()
    group = root.findGroup(IMAGERY_GROUP) or root.insertGroup(0, IMAGERY_GROUP)
    project.addMapLayer(layer, False)
    group.insertLayer(0, layer)


def imagery_layers(project: Optional[QgsProject] = None) -> List[QgsRasterLayer]:
    project = project or QgsProject.instance()
    return [layer for layer in project.mapLayers().values()
            if isinstance(layer, QgsRasterLayer) and layer.customProperty(PROPERTY)]


def needs_signing(layer: QgsRasterLayer, *, margin_seconds: float = 300.0) -> bool:
    """True when the layer's token expired (or soon will), or its VRT is gone."""
    stored = json.loads(layer.customProperty(PROPERTY))
    if not stored["scene"].get("signing"):
        return not Path(layer.source()).exists()
    return (core.expired(layer.customProperty(EXPIRES_PROPERTY) or "1970-01-01T00:00:00Z",
                         margin_seconds=margin_seconds, now=clock())
            or not Path(layer.source()).exists())


# --------------------------------------------------------------------------- colour composites


def add_colour_composite_layers(group, collection: Mapping) -> List[QgsRasterLayer]:
    """One styled RGB layer per colour composite and period, with the period as its temporal
    range (the temporal controller plays true-colour months)."""
    from .layers import period_range

    project = QgsProject.instance()
    added = []
    for key, periods in (collection.get("colour_composites") or {}).items():
        label = core.RENDERINGS[key].label.split(" (")[0].lower()
        subgroup = group.addGroup(f"{collection['collection']} {label}")
        for period, path in sorted(periods.items()):
            layer = QgsRasterLayer(path, f"{label} {period}", "gdal")
            if not layer.isValid():
                continue
            dataset = gdal.Open(path)
            names = dataset.GetMetadataItem("bands").split(",")
            stretches = json.loads(dataset.GetMetadataItem("stretch"))
            sources = tuple(core.BandSource(n, "", i + 1, 1.0, 0.0, None, low, high)
                            for i, (n, (low, high)) in enumerate(zip(names, stretches)))
            style_layer(layer, core.LayerSpec("", key, "reflectance", layer.name(), sources))
            span = period_range(period)
            if span is not None:
                temporal = layer.temporalProperties()
                temporal.setIsActive(True)
                temporal.setFixedTemporalRange(span)
            project.addMapLayer(layer, False)
            subgroup.addLayer(layer)
            added.append(layer)
        subgroup.setExpanded(False)
    return added
