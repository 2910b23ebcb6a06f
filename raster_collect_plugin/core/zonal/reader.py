"""Reading a composite for zonal statistics: the raster stack (its grid, bands, nodata and
validity), read a window at a time (``strips.StripReader`` reads it strip by strip)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import MaskFlags
from rasterio.windows import Window

from ..compute import native_memory
from .zstd_tiles import ZstdTiles


class RasterStack:
    """A (bands, rows, cols) source read one window at a time, in its native data type, with a
    validity mask (nodata, NaN and the file's per-dataset mask band).

    ``bands`` picks 1-based bands; ``nodata`` overrides the file's nodata value;
    ``ignore_nodata`` treats the nodata value as data (NaN stays invalid); ``use_mask`` honours
    GDAL per-dataset / alpha mask bands (internal or ``.msk`` masks). ``decode_threads``: how
    many threads GDAL decodes a file's tiles in (each read's tiles in parallel, straight into
    the caller's buffer).
    """

    def __init__(self, source: Union[str, Path, np.ndarray, xr.DataArray], *,  # noqa: F821
                 transform: Optional[Affine] = None, crs=None,
                 labels: Optional[Sequence[str]] = None, bands: Optional[Sequence[int]] = None,
                 nodata: Optional[float] = None, ignore_nodata: bool = False,
                 use_mask: bool = True, decode_threads: int = 1):
        self._dataset = None
        self._mixed_types = False
        self.ignore_nodata, self.use_mask = ignore_nodata, use_mask
        self.decode_threads = max(1, int(decode_threads)) if isinstance(source, (str, Path)) \
            else 1
        self._opened_with = dict(source=source, transform=transform, crs=crs, labels=labels,
                                 bands=bands, nodata=nodata, ignore_nodata=ignore_nodata,
                                 use_mask=use_mask, decode_threads=decode_threads)
        if isinstance(source, (str, Path)):
            if self.decode_threads > 1:
                native_memory.reuse_freed_buffers()
            # both read at opening. GTIFF_DIRECT_IO: a GeoTIFF's tiles, decoded in parallel,
            # go straight to the caller's buffer, not also through GDAL's block cache (each
            # tile copied band by band into 24 cache blocks no later read uses): 15 % less CPU
            # to read a 24-period composite, values identical (issue 31)
            with rasterio.Env(GDAL_NUM_THREADS=self.decode_threads, GTIFF_DIRECT_IO=True):
                self._dataset = rasterio.open(source)
            count = self._dataset.count
            self.indexes = _check_bands(bands, count)
            self.transform, self.crs = self._dataset.transform, self._dataset.crs
            self.shape = (len(self.indexes), self._dataset.height, self._dataset.width)
            self.tags = self._dataset.tags()
            # bands of several types (a VRT stacking a class map and an index): read each in
            # the type that holds them all (uint8 + float32 -> float32), never truncated
            types = {np.dtype(self._dataset.dtypes[i - 1]) for i in self.indexes}
            self.dtype = np.result_type(*types)
            self._mixed_types = len(types) > 1
            descriptions = self._dataset.descriptions
            self.labels = list(labels or _band_labels(descriptions, self.indexes))
            file_nodata = [self._dataset.nodatavals[i - 1] for i in self.indexes]
            self.nodata = [nodata] * len(self.indexes) if nodata is not None else file_nodata
            flags = [self._dataset.mask_flag_enums[i - 1] for i in self.indexes]
            self.has_mask_band = any(MaskFlags.per_dataset in f or MaskFlags.alpha in f
                                     for f in flags)
            self.decibels = decibel_bands(self._dataset, self.indexes)
            self._array = None
            self._zstd_tiles: object = _NOT_LOOKED
        else:
            array = source
            self.tags = dict(getattr(source, "attrs", {}) or {})
            if hasattr(array, "rio") and transform is None:
                transform, crs = array.rio.transform(), array.rio.crs
            if array.ndim == 2:
                array = array[np.newaxis] if isinstance(array, np.ndarray) else \
                    array.expand_dims("band")
            if transform is None or crs is None:
                raise ValueError("an in-memory stack needs transform= and crs=")
            self.indexes = _check_bands(bands, array.shape[0])
            if self.indexes != list(range(1, array.shape[0] + 1)):  # a subset: copy it
                array = array[[i - 1 for i in self.indexes]]
            self.transform, self.crs, self._array = transform, CRS.from_user_input(crs), array
            self.shape = tuple(array.shape)
            self.dtype = np.dtype(array.dtype)
            self.labels = list(labels or [str(i) for i in self.indexes])
            self.nodata = [nodata] * self.shape[0]
            self.has_mask_band = False
            self.decibels = [_is_decibels(self.tags.get("units"))] * self.shape[0]

    @property
    def height(self) -> int:
        return self.shape[1]

    @property
    def block_rows(self) -> int:
        """Rows of the file's internal blocks (tiles or strips); 1 in memory."""
        if self._dataset is None:
            return 1
        return int(self._dataset.block_shapes[0][0])

    @property
    def block_cols(self) -> int:
        """Columns of the file's internal blocks; 1 in memory."""
        if self._dataset is None:
            return 1
        return int(self._dataset.block_shapes[0][1])

    def zstd_tiles(self) -> Optional[List[ZstdTiles]]:
        """The file's tiles for libzstd to decompress straight into a strip reader's ring
        (``zstd_tiles``), or None when GDAL reads them (looked up once)."""
        if self._dataset is None:
            return None
        if self._zstd_tiles is _NOT_LOOKED:
            usable = not (self._mixed_types or (self.use_mask and self.has_mask_band))
            self._zstd_tiles = ZstdTiles.of(self._dataset, self.indexes) if usable else None
        return None if self._zstd_tiles is None else [self._zstd_tiles]

    @property
    def in_memory(self) -> bool:
        """Whether the stack is a numpy array in memory (files and lazy arrays are read window
        by window)."""
        return self._dataset is None and isinstance(self._array, np.ndarray)

    @property
    def width(self) -> int:
        return self.shape[2]

    @property
    def pixel_area(self) -> float:
        """One cell's area in the CRS's units (m² for a projected CRS in metres)."""
        return abs(self.transform.a * self.transform.e - self.transform.b * self.transform.d)

    def read_values(self, row0: int, col0: int, height: int, width: int, *,
                    out: Optional[np.ndarray] = None
                    ) -> Tuple[np.ndarray, Optional[np.ndarray]]:
        """(values in the native dtype, the mask band's "valid" or None when the stack has no
        mask band), each (bands, height, width); ``validity`` finishes the mask, so it can be
        applied to the cells that are used only. ``out``: an array or a strided view of that shape
        to read into."""
        if self._dataset is None:
            window = self._array[:, row0:row0 + height, col0:col0 + width]
            data = np.asarray(getattr(window, "values", window))
            if out is not None:
                out[...] = data
                data = out
            return data, None
        window = Window(col0, row0, width, height)
        # every block is read once: keep GDAL's cache small (128 bytes: rasterio passes an int
        # in bytes; a 64 MB cache measured no faster, issue 31)
        with rasterio.Env(GDAL_CACHEMAX=128):
            if self._mixed_types:  # rasterio reads several bands only of one type
                data = np.empty((len(self.indexes), height, width), self.dtype) \
                    if out is None else out
                for k, index in enumerate(self.indexes):
                    self._dataset.read(index, window=window, out=data[k])
            else:
                data = self._dataset.read(self.indexes, window=window, out=out)
            mask = None
            if self.use_mask and self.has_mask_band:
                mask = self._dataset.read_masks(self.indexes, window=window) > 0
        return data, mask

    def validity(self, values: np.ndarray, mask: Optional[np.ndarray] = None) -> np.ndarray:
        """True where ``values`` (bands first, any shape after) count: not NaN, not nodata
        and, when given, valid in the mask band."""
        valid = np.ones(values.shape, bool) if mask is None else mask.copy()
        if values.dtype.kind == "f":
            valid &= values == values  # not NaN
        if not self.ignore_nodata:
            for band, nodata in enumerate(self.nodata):
                if nodata is not None and not np.isnan(nodata):
                    native = _as_native(nodata, values.dtype)
                    if native is not None:
                        valid[band] &= values[band] != native
        return valid

    def clone(self) -> RasterStack:
        """The same stack with a file handle of its own (GDAL handles are not shared between
        threads); an array stack is returned as it is."""
        if self._dataset is None:
            return self
        return RasterStack(**self._opened_with)

    def close(self) -> None:
        if self._dataset is not None:
            self._dataset.close()


def _is_decibels(units) -> bool:
    from ..pixels.indices import DECIBELS

    return str(units or "").strip().lower() == DECIBELS.lower()


def decibel_bands(dataset, indexes: Sequence[int]) -> List[bool]:
    """Per chosen band, whether its values are decibels (10·log10 of linear power), so that
    zonal statistics average them in linear power: the band's unit type (GDAL's
    ``SetUnitType``) or ``units`` tag, else the file's ``units`` tag (the composites write
    ``SpectralIndex.units`` there), says "dB"."""
    file_units = dataset.tags().get("units")
    unit_types = dataset.units or (None,) * dataset.count
    return [_is_decibels(unit_types[i - 1] or dataset.tags(i).get("units") or file_units)
            for i in indexes]


def _band_labels(descriptions: Sequence[Optional[str]], indexes: Sequence[int]) -> List[str]:
    """Each band's ``period``: its description, else its number; a label several of the
    chosen bands would share (three bands all described "NDVI") gets the band number,
    "NDVI (band 2)", so no two bands' rows are told apart by row order alone."""
    labels = [descriptions[i - 1] or str(i) for i in indexes]
    return [f"{label} (band {i})" if labels.count(label) > 1 else label
            for label, i in zip(labels, indexes)]


def _check_bands(bands: Optional[Sequence[int]], count: int) -> List[int]:
    if not bands:
        return list(range(1, count + 1))
    from ..areas.zones import ZoneError

    chosen = [int(b) for b in bands]
    wrong = [b for b in chosen if not 1 <= b <= count]
    if wrong:
        raise ZoneError(f"band(s) {wrong} do not exist: the raster has bands 1-{count}")
    repeated = sorted({b for b in chosen if chosen.count(b) > 1})
    if repeated:  # each would give the same rows twice, under the same period
        raise ZoneError(f"band(s) {repeated} given more than once: list each band once")
    return chosen


def _as_native(value: float, dtype: np.dtype):
    """``value`` in ``dtype`` when the type can hold it exactly (else no cell can equal it)."""
    if dtype.kind in "iub":
        info = np.iinfo(dtype)
        if float(value) != int(value) or not info.min <= int(value) <= info.max:
            return None
        return dtype.type(int(value))
    return dtype.type(value)


_NOT_LOOKED = object()
