"""A scene rendering as a GDAL VRT: the target grid (clipped to an area), each band's source
window, scale and offset, and the VRT XML over signed /vsicurl/ hrefs."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence, Tuple
from xml.sax.saxutils import escape

from .renderings import DB_RATIO, NODATA_OUT, ImageryError, LayerSpec


@dataclass(frozen=True)
class Grid:
    """A north-up pixel grid: GDAL geotransform and size."""

    transform: Tuple[float, float, float, float, float, float]  # GDAL order
    width: int
    height: int

    @property
    def resolution(self) -> float:
        return abs(self.transform[1])

    @property
    def bounds(self) -> Tuple[float, float, float, float]:
        x0, dx, _, y0, _, dy = self.transform
        xs, ys = (x0, x0 + dx * self.width), (y0, y0 + dy * self.height)
        return min(xs), min(ys), max(xs), max(ys)


def stac_grid(transform: Sequence[float], shape: Sequence[int]) -> Grid:
    """A Grid from STAC ``proj:transform`` (rasterio order) and ``proj:shape`` (rows, cols)."""
    a, b, c, d, e, f = transform[:6]
    return Grid((c, a, b, f, d, e), int(shape[1]), int(shape[0]))


def clip_grid(grid: Grid, bounds: Tuple[float, float, float, float]) -> Grid:
    """The part of ``grid`` covering ``bounds`` (snapped outwards to whole pixels)."""
    x0, dx, _, y0, _, dy = grid.transform
    left, bottom, right, top = bounds
    col0 = max(0, math.floor((left - x0) / dx + 1e-9))
    col1 = min(grid.width, math.ceil((right - x0) / dx - 1e-9))
    row0 = max(0, math.floor((top - y0) / dy + 1e-9))
    row1 = min(grid.height, math.ceil((bottom - y0) / dy - 1e-9))
    if col1 <= col0 or row1 <= row0:
        raise ImageryError("the forests lie outside this scene: pick a scene that covers them")
    return Grid((x0 + col0 * dx, dx, 0.0, y0 + row0 * dy, 0.0, dy), col1 - col0, row1 - row0)


def source_window(source: Grid, target: Grid) -> Tuple[float, float, float, float]:
    """(xoff, yoff, xsize, ysize) of ``target``'s area in ``source``'s pixels (may be
    fractional when the source is coarser, e.g. Sentinel-2's 20 m bands on a 10 m view)."""
    sx0, sdx, _, sy0, _, sdy = source.transform
    tx0, tdx, _, ty0, _, tdy = target.transform
    return ((tx0 - sx0) / sdx, (ty0 - sy0) / sdy, target.width * tdx / sdx,
            target.height * tdy / sdy)


def vsicurl(href: str) -> str:
    """GDAL's streaming path for an href (local paths stay as they are). No directory
    listing or sidecar probing: only the COG's own header and tiles are requested."""
    if href.startswith(("http://", "https://")):
        return f"/vsicurl/{href}"
    if href.startswith("s3://"):
        return f"/vsis3/{href[5:]}"
    return href


def _source_xml(path: str, band: int, window, target: Grid, *, scale: float = 1.0,
                offset: float = 0.0, nodata: Optional[float] = None,
                resampling: str = "bilinear", simple: bool = False) -> str:
    xoff, yoff, xsize, ysize = window
    parts = [f"<SourceFilename relativeToVRT=\"0\">{escape(path)}</SourceFilename>",
             f"<SourceBand>{band}</SourceBand>",
             f'<SrcRect xOff="{xoff:.10g}" yOff="{yoff:.10g}" xSize="{xsize:.10g}" '
             f'ySize="{ysize:.10g}"/>',
             f'<DstRect xOff="0" yOff="0" xSize="{target.width}" ySize="{target.height}"/>']
    if simple:
        return f"<SimpleSource resampling=\"{resampling}\">{''.join(parts)}</SimpleSource>"
    if nodata is not None:
        parts.append(f"<NODATA>{nodata:.10g}</NODATA>")
    if scale != 1.0 or offset != 0.0:
        parts.append(f"<ScaleOffset>{offset:.10g}</ScaleOffset>"
                     f"<ScaleRatio>{scale:.10g}</ScaleRatio>")
    return f"<ComplexSource resampling=\"{resampling}\">{''.join(parts)}</ComplexSource>"


def _dataset_xml(target: Grid, srs_wkt: str, bands_xml: Sequence[str]) -> str:
    geotransform = ", ".join(f"{v:.12g}" for v in target.transform)
    return (f'<VRTDataset rasterXSize="{target.width}" rasterYSize="{target.height}">'
            f"<SRS>{escape(srs_wkt)}</SRS><GeoTransform>{geotransform}</GeoTransform>"
            + "".join(bands_xml) + "</VRTDataset>")


def vrt_xml(spec: LayerSpec, hrefs: Mapping[str, str], grids: Mapping[str, Grid],
            target: Grid, srs_wkt: str, *, helper_path: Optional[str] = None
            ) -> Tuple[str, Optional[str]]:
    """The VRT of a layer: (main XML, helper XML or None).

    ``hrefs`` are the (signed) hrefs per asset, ``grids`` each asset's pixel grid, ``target``
    the clipped output grid. Reflectance bands are float32 ``DN * scale + offset`` with
    nodata ``NODATA_OUT``; a mask band keeps its values; radar bands are dB of the linear
    values, computed by GDAL pixel functions in a helper VRT (written to ``helper_path``)."""
    if spec.kind == "mask":
        source = spec.bands[0]
        band_xml = (f'<VRTRasterBand dataType="{"Byte" if spec.mask_kind == "scl" else "UInt16"}'
                    f'" band="1"><NoDataValue>{source.nodata:g}</NoDataValue>'
                    f"<Description>{spec.mask_kind}</Description>"
                    + _source_xml(vsicurl(hrefs[source.asset]), 1,
                                  source_window(grids[source.asset], target), target,
                                  resampling="nearest", simple=True)
                    + "</VRTRasterBand>")
        return _dataset_xml(target, srs_wkt, [band_xml]), None
    if spec.kind == "radar":
        if helper_path is None:
            raise ImageryError("radar layers need a helper VRT path")
        helper_bands = []
        for number, source in enumerate(spec.bands[:2], start=1):
            window = source_window(grids[source.asset], target)
            inner = _source_xml(vsicurl(hrefs[source.asset]), source.band, window, target,
                                resampling="average", simple=True)
            helper_bands.append(
                f'<VRTRasterBand dataType="Float32" band="{number}" '
                f'subClass="VRTDerivedRasterBand"><PixelFunctionType>dB</PixelFunctionType>'
                f'<PixelFunctionArguments fact="10"/><SourceTransferType>Float32'
                f"</SourceTransferType>{inner}</VRTRasterBand>")
        helper = _dataset_xml(target, srs_wkt, helper_bands)
        whole = (0, 0, target.width, target.height)
        main = []
        for number in (1, 2):
            main.append(f'<VRTRasterBand dataType="Float32" band="{number}">'
                        f"<Description>{spec.bands[number - 1].name} dB</Description>"
                        + _source_xml(helper_path, number, whole, target, simple=True,
                                      resampling="nearest") + "</VRTRasterBand>")
        ratio = "".join(_source_xml(helper_path, n, whole, target, simple=True,
                                    resampling="nearest") for n in (1, 2))
        main.append('<VRTRasterBand dataType="Float32" band="3" subClass="VRTDerivedRasterBand">'
                    f"<Description>{escape(DB_RATIO)} dB</Description>"
                    f"<PixelFunctionType>diff</PixelFunctionType>{ratio}</VRTRasterBand>")
        return _dataset_xml(target, srs_wkt, main), helper
    main = []
    for number, source in enumerate(spec.bands, start=1):
        window = source_window(grids[source.asset], target)
        main.append(f'<VRTRasterBand dataType="Float32" band="{number}">'
                    f"<NoDataValue>{NODATA_OUT:g}</NoDataValue>"
                    f"<Description>{escape(source.name)}</Description>"
                    + _source_xml(vsicurl(hrefs[source.asset]), source.band, window, target,
                                  scale=source.scale, offset=source.offset,
                                  nodata=source.nodata)
                    + "</VRTRasterBand>")
    return _dataset_xml(target, srs_wkt, main), None


def target_grid(spec: LayerSpec, grids: Mapping[str, Grid],
                bounds: Optional[Tuple[float, float, float, float]]) -> Grid:
    """The output grid: the finest of the layer's bands, clipped to ``bounds`` (scene CRS)."""
    finest = min((grids[b.asset] for b in spec.bands), key=lambda g: g.resolution)
    return clip_grid(finest, bounds) if bounds is not None else finest
