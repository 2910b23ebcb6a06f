"""How big a run is, known before any pixel is read: pixels × periods × bands (and zones).

The estimate is of the job process's peak resident memory (issue 31: measured against it by
``benchmarks/memory_model.py``):

- the engine itself: Python with numpy, dask, xarray, odc-stac, rasterio/GDAL loaded
  (``ENGINE_BYTES``; a zonal or storm job also loads geopandas, the numba kernels and the
  table writers: ``ZONAL_ENGINE_BYTES``);
- every period's composites, not one period's: all periods are one dask graph, and each
  period's grids (one float32 grid per index and the clear count) pass through GDAL's block
  cache on their way to the COGs' scratch files, so they are held up to the size of that cache
  (``compute.gdal_env.RUN_BLOCK_CACHE_MB`` in a run unless ``GDAL_CACHEMAX`` says otherwise);
- dask's working set: scenes × bands × one chunk per thread, and what it holds of the band
  of chunk rows being computed (a band at a time: ``STORE_BAND_PIXELS``);
- a storm run's per-pixel evidence arrays (``STORM_BYTES_PER_PIXEL``).

Zonal statistics read each zone's window of every period, so the largest zone and the number
of zones (forests plus hexagons) count too. A run whose estimate exceeds the memory budget is
refused with the numbers and the ways out; the budget defaults to half the machine's memory and
is set with ``--memory-budget`` (job spec ``memory_budget``).
"""

from __future__ import annotations

import contextvars
import functools
import math
import re
from dataclasses import dataclass
from typing import Callable, Optional, TypeVar, Union

# the job process before any pixel (measured: a 200 x 200 px composite job peaks at 318 MB,
# a zonal one at 451 MB, on Linux with the locked engine requirements)
ENGINE_BYTES = 300 * 2**20
ZONAL_ENGINE_BYTES = 440 * 2**20
# a composite run on threads computes and writes its chunks a band of chunk rows at a time,
# each band at most this many pixels (at least one row of chunks): what dask holds of loaded
# scenes and their masks is bounded by the band, not the AOI (scratch_store.StoredPeriods)
STORE_BAND_PIXELS = 8 * 2**20
# bytes per output pixel of the whole AOI: its mask (and dask's copy)
AOI_BYTES_PER_PIXEL = 1 + 1
# bytes per output pixel of the band of chunk rows being computed: the period's boolean
# temporaries, and loaded scene values dask's ordering keeps waiting for the other bands of
# their chunk (measured on composite jobs of 2400-7200 px a side, 6 months: 16-18 MB more peak
# per added Mpx before the bands; benchmarks/memory_model.py prints it)
BAND_BYTES_PER_PIXEL = 2 + 13
# bytes per output pixel and period on their way to the COGs (index grids added per index)
PERIOD_BYTES_PER_PIXEL = 2  # the clear count
INDEX_BYTES_PER_PIXEL = 4
LOAD_BYTES_PER_VALUE = 4 * 2  # float32 band values and their masked copy
# rows of tiles of every period GDAL holds while it copies a stack into its COG (measured on
# the sample's 424 x 411 px over 600 months and on 1000-4000 px stacks of 24-120 periods)
COG_COPY_ROWS = 3
ZONAL_ROW_BYTES = 400  # one statistics row in pandas/GeoPackage/Parquet buffers
# a storm run's per-pixel arrays (measured 155-209 bytes a pixel on 0.36-5.8 Mpixels)
STORM_BYTES_PER_PIXEL = 200
_UNITS = {"": 1, "B": 1, "K": 1e3, "KB": 1e3, "M": 1e6, "MB": 1e6, "G": 1e9, "GB": 1e9,
          "T": 1e12, "TB": 1e12, "KIB": 2 ** 10, "MIB": 2 ** 20, "GIB": 2 ** 30, "TIB": 2 ** 40}


# inside a zonal or storm job: its engine (the zonal libraries loaded) and the zonal part
# checked so far, both held while its composites are made
_ZONAL_JOB: contextvars.ContextVar[Optional[dict]] = contextvars.ContextVar(
    "raster_collect_zonal_job", default=None)
_Run = TypeVar("_Run", bound=Callable)


def zonal_engine_job(run: _Run, pixel_bytes: int = 0) -> _Run:
    """Decorate a zonal or storm run: its composites' estimates count the zonal engine and
    the zonal tables on top (one process holds both: issue 31 measured 1.9 GB against an
    estimate of 525 MB), plus ``pixel_bytes`` per output pixel the run itself holds."""

    @functools.wraps(run)
    def counted(*args, **kwargs):
        token = _ZONAL_JOB.set({"zonal": 0, "pixel": pixel_bytes})
        try:
            return run(*args, **kwargs)
        finally:
            _ZONAL_JOB.reset(token)

    return counted  # type: ignore[return-value]


def storm_engine_job(run: _Run) -> _Run:
    """Decorate a storm run: a zonal engine job whose per-pixel evidence (before/after
    composites, losses, classes, change rasters) is held for the whole AOI."""
    return zonal_engine_job(run, STORM_BYTES_PER_PIXEL)


def _composite_engine(pixels: int = 0) -> int:
    job = _ZONAL_JOB.get()
    return ENGINE_BYTES if job is None else \
        ZONAL_ENGINE_BYTES + job["zonal"] + pixels * job["pixel"]


# Periods one run writes: every stack has a band per period, empty periods too (NaN), and
# turning a stack into its COG takes time that grows faster than its bands (1,056 bands of a
# 255 x 208 px forest: 25 s a stack with GDAL's 128 MB cache; 1970-2100 by month, 1,572
# bands, ran for many minutes). 600: fifty years of months.
MAX_PERIODS = 600


# the way out of a refusal that only the command line and a job spec (``memory_budget``)
# have: Processing's messages put it in its own words (processing/messages.py)
BUDGET_ADVICE = "a larger --memory-budget if the machine has the memory"
CLUSTER_ADVICE = f"a dask cluster (--scheduler) with the budget raised, or {BUDGET_ADVICE}"


def budget_floor(needed: str) -> str:
    """The advice when the engine alone is over the budget: no resolution fits."""
    return (f"give a --memory-budget of at least {needed} (or leave it out: half the "
            f"machine's memory, {human(default_budget())})")


class SizeError(ValueError):
    """The run would not fit in the memory budget; the message has the numbers and the fix."""

    exit_kind = "bad_input"
    whole_line = True  # errors.classify: never cut, the way out comes last


def parse_size(text: Union[str, int, float, None]) -> Optional[int]:
    """'4GB', '512MB', '2GiB' or a number of bytes; None stays None."""
    if text is None or text == "":
        return None
    if isinstance(text, (int, float)):
        size = int(text)
    else:
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([A-Za-z]*)\s*", str(text))
        unit = match.group(2).upper() if match else None
        if not match or unit not in _UNITS:
            raise SizeError(f"cannot read the memory budget {text!r}: use a size like 4GB or "
                            "512MB")
        size = int(float(match.group(1)) * _UNITS[unit])
    if size <= 0:  # else every run is "too large for the memory budget of 0 B"
        raise SizeError(f"the memory budget {text!r} is not above 0: use a size like 4GB or "
                        "512MB, or leave it out for half the machine's memory")
    return size


def human(size: float, *, up: bool = False) -> str:
    """'327.2 MB'; ``up``: rounded up, for a size that must be enough (a budget to give)."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(size) < 1000 or unit == "TB":
            if unit == "B":
                return f"{math.ceil(size) if up else int(size)} B"
            return f"{math.ceil(size * 10) / 10 if up else size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"


def counted(count: int, singular: str, plural: str) -> str:
    """``count`` with its noun in the right number: "1 period", "3 periods"."""
    return f"{count} {singular if count == 1 else plural}"


def default_budget() -> int:
    """Half of the machine's memory."""
    import psutil

    return int(psutil.virtual_memory().total * 0.5)


def gdal_cache_bytes() -> int:
    """The size of GDAL's block cache in a run (``compute.gdal_env.block_cache_bytes``)."""
    from ..compute.gdal_env import block_cache_bytes

    return block_cache_bytes()


@dataclass
class CompositeSize:
    """The size of one collection's composites."""

    label: str
    width: int
    height: int
    resolution: float
    periods: int
    bands: int
    indices: int
    busiest_scenes: int
    chunk: int = 1024
    threads: int = 4
    cache: int = 256 * 2**20  # GDAL's block cache (gdal_cache_bytes() for a real run)
    engine: int = ENGINE_BYTES
    colour_bands: int = 0  # the colour composites' bands (3 each), reduced and written too

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def outputs(self) -> int:
        """Reduced values a pixel has per period: the indices and the colour bands."""
        return self.indices + self.colour_bands

    @property
    def band_pixels(self) -> int:
        """The pixels of one band of chunk rows (``scratch_store.StoredPeriods.bands``)."""
        row = min(self.chunk, self.height) * self.width
        return min(self.pixels, max(1, STORE_BAND_PIXELS // max(row, 1)) * row)

    @property
    def data_bytes(self) -> int:
        """What the run adds to the engine's own memory."""
        periods = self.pixels * self.periods * (PERIOD_BYTES_PER_PIXEL
                                                + INDEX_BYTES_PER_PIXEL * self.outputs)
        chunk_pixels = min(self.pixels, self.chunk * self.chunk)
        working = (self.threads * chunk_pixels * max(self.busiest_scenes, 1)
                   * (self.bands + self.outputs) * LOAD_BYTES_PER_VALUE)
        return int(self.pixels * AOI_BYTES_PER_PIXEL + self.band_pixels * BAND_BYTES_PER_PIXEL
                   + min(periods, self.cache) + working + self.cog_copy_bytes)

    @property
    def cog_copy_bytes(self) -> int:
        """What GDAL holds beyond its block cache while the stacks become their COGs: each
        stack is copied into its pixel-interleaved COG a row of tiles of every period at a
        time (the source's rows, the destination's tiles and GDAL's buffers: about
        ``COG_COPY_ROWS`` such rows). Small but long runs: a 424 x 411 AOI over 600 months
        holds 0.5 GB there."""
        from ..outputs.files import STACK_BLOCK_SIZE

        row = min(STACK_BLOCK_SIZE, self.height) * self.width * self.periods \
            * (INDEX_BYTES_PER_PIXEL * self.outputs + PERIOD_BYTES_PER_PIXEL)
        return max(0, COG_COPY_ROWS * row - self.cache)

    @property
    def memory_bytes(self) -> int:
        return int(self.engine + self.data_bytes)

    @property
    def output_bytes(self) -> int:
        return int(self.pixels * self.periods * (4 * self.outputs + 2))

    def describe(self) -> str:
        return (f"{self.label}: {self.width} × {self.height} pixels at {self.resolution:g} m "
                f"= {self.pixels / 1e6:.1f} Mpixels × {counted(self.periods, 'period', 'periods')}"
                f" × {counted(self.bands, 'band', 'bands')} "
                f"({counted(self.indices, 'index', 'indices')}"
                + (f", {self.colour_bands} colour composite bands" if self.colour_bands else "")
                + f", up to {counted(self.busiest_scenes, 'scene', 'scenes')} a period): "
                f"about {human(self.memory_bytes)} of memory, "
                f"{human(self.output_bytes)} uncompressed output")


@dataclass
class ZonalSize:
    """The size of a zonal-statistics step."""

    zones: int
    hexagons: int
    largest_zone_pixels: int
    periods: int
    indices: int

    @property
    def rows(self) -> int:
        return (self.zones + self.hexagons) * self.periods * self.indices

    engine: int = ZONAL_ENGINE_BYTES

    @property
    def data_bytes(self) -> int:
        window = self.largest_zone_pixels * (self.periods * (4 + 2) + 8)
        return int(window + self.rows * ZONAL_ROW_BYTES)

    @property
    def memory_bytes(self) -> int:
        return int(self.engine + self.data_bytes)

    def describe(self) -> str:
        return (f"zonal statistics: {counted(self.zones, 'forest', 'forests')} + "
                f"{counted(self.hexagons, 'hexagon', 'hexagons')} × "
                f"{counted(self.periods, 'period', 'periods')} × "
                f"{counted(self.indices, 'index', 'indices')} = {self.rows:,} rows, the "
                f"largest forest {self.largest_zone_pixels / 1e6:.1f} Mpixels: about "
                f"{human(self.memory_bytes)} of memory")


def check(size: Union[CompositeSize, ZonalSize], budget: Optional[int]) -> str:
    """The size's description; raises SizeError when it exceeds ``budget`` (bytes; None means
    the default budget)."""
    budget = default_budget() if budget is None else budget
    job = _ZONAL_JOB.get()
    if isinstance(size, ZonalSize) and job is not None:
        job["zonal"] = size.data_bytes  # its composites come with the zonal tables
    if size.memory_bytes <= budget:
        return size.describe()
    if isinstance(size, CompositeSize):
        coarser = _coarser(size, budget)
        if coarser.memory_bytes > budget:  # the engine's own memory is above the budget
            raise SizeError(
                f"too large for the memory budget of {human(budget)}: {size.describe()}; the "
                f"engine alone takes about {human(size.engine)}, so no resolution fits: "
                f"{budget_floor(human(size.memory_bytes, up=True))}")
        fix = (f"use a coarser resolution (--resolution {coarser.resolution:g} needs about "
               f"{human(coarser.memory_bytes)}), a smaller area or fewer indices, "
               f"{CLUSTER_ADVICE}")
    elif size.engine > budget:  # no hexagon size, forest count or resolution fits
        fix = (f"the engine alone takes about {human(size.engine)}, so nothing smaller fits: "
               f"{budget_floor(human(size.memory_bytes, up=True))}")
    else:
        fix = ("use larger hexagons (--hex-area-ha), fewer or smaller forests per run, a "
               f"coarser --resolution, or {BUDGET_ADVICE}")
    raise SizeError(f"too large for the memory budget of {human(budget)}: {size.describe()}; "
                    f"{fix}")


def _coarser(size: CompositeSize, budget: int) -> CompositeSize:
    """The same run at the finest resolution (2x, 2.5x, 3x... the size's) that fits
    ``budget``; the coarsest tried when none does (the engine and its working set stay)."""
    from dataclasses import replace

    job = _ZONAL_JOB.get()  # a storm's per-pixel arrays shrink with the grid too
    per_pixel = job["pixel"] if job is not None else 0
    factor = 2.0
    while True:
        width = max(1, math.ceil(size.width / factor))
        height = max(1, math.ceil(size.height / factor))
        candidate = replace(size, width=width, height=height,
                            resolution=size.resolution * factor,
                            engine=size.engine - per_pixel * (size.pixels - width * height))
        if candidate.memory_bytes <= budget or factor >= 64:
            return candidate
        factor += 0.5


def composite_sizes(request, report, aoi, indices, providers) -> list:
    """A CompositeSize per (provider, collection) of a search report, on the grid the run
    will use."""
    from odc.geo.geom import Geometry

    from ..compute.scheduling import thread_count
    from ..imagery.renderings import colour_bands
    from ..pixels.bands import scenes_with_bands
    from ..pixels.indices import profile_for_scenes
    from ..pixels.load import choose_grid
    from ..sources.providers.base import ProviderError
    from .requests import _naive_utc, composite_windows

    windows = composite_windows(request)
    check_periods(len(windows), request)
    geometry = Geometry(aoi.union(), crs=str(aoi.crs))
    sizes = []
    for (provider_name, collection), items in sorted(report.items.items()):
        if not items or provider_name not in providers:
            continue
        try:
            profile = profile_for_scenes(
                providers[provider_name].profile(collection, items), items, indices,
                collection, lambda profile: colour_bands(profile, request.colour_composites))
        except ProviderError:  # reported for that collection by the run; the others go on
            continue
        usable = [i for i in indices if all(b in profile.assets for b in i.bands)]
        colours = colour_bands(profile, request.colour_composites)
        if not usable and not colours:
            continue
        read = {b for index in usable for b in index.bands} | \
            {b for names in colours.values() for b in names}
        # the scenes the run keeps: one lacking a band it needs is skipped there, not read
        items = scenes_with_bands(items, profile, sorted(read))[0]
        if not items:  # the run reports that collection; the others go on
            continue
        geobox = choose_grid(items, geometry, profile, crs=request.crs,
                             resolution=request.resolution)
        busiest = max((sum(1 for i in items if begin <= _naive_utc(i.datetime) < end)
                       for _, begin, end in windows), default=0)
        height, width = geobox.shape
        sizes.append(CompositeSize(f"{provider_name} {collection}", width, height,
                                   abs(geobox.resolution.x), len(windows), len(read) + 1,
                                   len(usable), busiest, threads=thread_count(),
                                   cache=gdal_cache_bytes(),
                                   engine=_composite_engine(width * height),
                                   colour_bands=sum(3 for _ in colours)))
    return sizes


def check_periods(count: int, request) -> None:
    """SizeError (bad input, before any work) when the dates make more than MAX_PERIODS."""
    if count <= MAX_PERIODS:
        return
    raise SizeError(
        f"--start {request.start.isoformat()} to --end {request.end.isoformat()} makes "
        f"{count:,} {request.period}ly periods, more than the {MAX_PERIODS} one run writes "
        "(a band each, empty ones too): choose a longer --period (quarter or year) or fewer "
        "years between --start and --end (split the dates into runs)")


def zonal_size(aoi, *, resolution: float, periods: int, indices: int, hexagon_area_m2=None,
               h3_resolution=None) -> ZonalSize:
    """The ZonalSize of forests (and hexagons) at ``resolution`` metres (measured in true
    metres: a CRS in feet gave 10.8 times the pixels)."""
    from ..areas.utm import true_metre_utm

    frame = aoi.frame
    metric = true_metre_utm(frame) if not frame.empty else None
    frame = frame if metric is None else frame.to_crs(metric)
    areas = frame.geometry.area
    hexagons = 0
    if hexagon_area_m2:
        hexagons = int(math.ceil(float(areas.sum()) / float(hexagon_area_m2) * 1.2))
    elif h3_resolution is not None:
        h3_area = 4.357e12 / (7 ** int(h3_resolution))  # mean H3 cell area (m²) at res 0 / 7^r
        hexagons = int(math.ceil(float(areas.sum()) / h3_area * 1.2))
    bounds = frame.geometry.bounds
    largest = int(((bounds.maxx - bounds.minx) * (bounds.maxy - bounds.miny)).max()
                  / (resolution * resolution))
    return ZonalSize(len(aoi.frame), hexagons, largest, periods, indices)
