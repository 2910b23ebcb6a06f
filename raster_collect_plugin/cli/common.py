"""What the subcommands share: exit codes, the bad-input error, argument groups, the AOI,
imagery sources, the composite request, the dask client and the progress bar."""

from __future__ import annotations

import argparse
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Callable, List, Optional, Tuple

from ..core.pixels import DEFAULT_MASK_CLASSES, default_mask_text, validate_classes
from ..core.runs import DEFAULT_INDICES, DEFAULT_MAX_CLOUD_COVER

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT = 0, 1, 2
DEFAULT_COLLECTIONS = {"planetary-computer": ("sentinel-2-l2a",),
                       "earth-search": ("sentinel-2-c1-l2a",)}


class BadInput(Exception):
    """A problem with what the user asked for; the message says how to fix it."""

    exit_kind = "bad_input"


def parse_date(text: str) -> date:
    """A day as a job spec reads it (a date-time is its date): one rule for both doors."""
    from ..core.jobs import DATE_EXPECTED, day_of

    day = day_of(text)
    if day is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not {DATE_EXPECTED}")
    return day


def output_location(text: str) -> str:
    """An ``--output`` as typed; an empty one (a variable left unset in a script) was the
    current folder, where the run wrote beside whatever was there."""
    if not text.strip():
        raise argparse.ArgumentTypeError("is empty: give a folder (or an s3://bucket/prefix "
                                         "where the command takes one)")
    return text


def forest_selection(text: str) -> str:
    """A ``--forest`` as typed; an empty one (a variable left unset in a script) was every
    forest, as a job spec's ``"ids": []`` is refused."""
    if not [i for i in text.split(",") if i.strip()]:
        raise argparse.ArgumentTypeError("is empty: give forest ids (e.g. 283,284), or '*' "
                                         "(the default) for every forest")
    return text


# the options (by dest) naming a local file or folder, as a job spec's PATH_KEYS (and
# PATH_LIST_KEYS: storm's scenes, STAC item URLs or paths) do
PATH_OPTIONS = ("gpkg", "catalog", "output", "raster", "usage_ledger", "monitoring",
                "references", "compartments", "spec", "before_item", "after_item")


def windows_path_in(command: Optional[argparse.ArgumentParser], args) -> Optional[str]:
    """The job spec's one line for the first path option of the parsed ``command`` (its
    parser) that is a Windows path on macOS or Linux (it was "does not exist", or an output
    folder literally called ``C:\\runs``); None when there is none."""
    from ..core.jobs.spec import windows_path_problem

    for action in command._actions if command is not None else ():
        if action.dest not in PATH_OPTIONS:
            continue
        name = action.option_strings[0] if action.option_strings else action.dest
        values = getattr(args, action.dest, None)
        for value in values if isinstance(values, list) else [values]:
            problem = windows_path_problem(name, value)
            if problem:
                return problem
    return None


def add_aoi_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--gpkg", "--gpkg_path", dest="gpkg", required=True,
                        help="polygons (GeoPackage or any vector file)")
    parser.add_argument("--layer", help="layer in the file (needed when it holds several "
                                        "polygon layers)")
    parser.add_argument("--id-field", default="forest_id", help="id field (default forest_id)")
    parser.add_argument("--forest", default="*", type=forest_selection,
                        help="forest id(s), comma separated, or '*' for all (default)")


# what add_source_arguments(pixels=False) leaves out, as a parsed command has them when left
# out: a search lists scenes and reads no pixels (a search job refuses these keys too)
PIXEL_OPTION_DEFAULTS = {"indices": None, "expression": [], "period": None, "method": None,
                         "colour": "", "mask": None, "cloud_buffer": None, "resolution": None,
                         "crs": None}


# the options of the commands that read pixels, which `search` (it lists scenes) refuses by
# name: option -> what to do instead
_READS_PIXELS = "is for composite, zonal or storm (same sources and dates): drop it from search"
NOT_FOR_SEARCH = {**{option: _READS_PIXELS for option in (
    "--indices", "--expression", "--colour", "--mask",
    "--cloud-buffer", "--resolution", "--crs", "--dask", "--workers", "--threads-per-worker",
    "--memory-limit", "--scheduler", "--memory-budget", "--overwrite")},
    **{option: "is for composite or zonal (same sources and dates; a storm's windows "
               "decide its own): drop it from search" for option in ("--period", "--method")},
    "--min-clear": "is for zonal (same sources and dates): drop it from search",
    "--output": "is not an option of search, which writes no file: save `raster-collect "
                "--json search ...` instead (a search job spec's 'output' writes the "
                "footprints)"}


# a run record's parameter key -> the options setting it (the one a command has), where it is
# not the key written as an option (period: --period); for what a refused rerun names
RUN_KEY_OPTIONS = {
    "max_cloud_cover": ("--max-cloud",), "cloud_buffer_m": ("--cloud-buffer",),
    "mask_classes": ("--mask",), "custom_indices": ("--expression",),
    "colour_composites": ("--colour",), "h3_resolution": ("--h3",),
    "min_clear_fraction": ("--min-clear", "--min-clear-fraction"),
    "hexagon_area_m2": ("--hex-area-ha",),  # in hectares: RUN_KEY_FACTORS
    "before_items": ("--before-item",), "after_items": ("--after-item",)}
RUN_KEY_FACTORS = {"hexagon_area_m2": 1e-4}


def key_options(key: str) -> Tuple[str, ...]:
    """The options setting a job spec or run record key: RUN_KEY_OPTIONS's, else the key
    written as an option (``pu_budget``: ``--pu-budget``)."""
    return RUN_KEY_OPTIONS.get(key, ("--" + key.rstrip("_").replace("_", "-"),))


def option_words(command: Optional[argparse.ArgumentParser]
                 ) -> Callable[[str], Tuple[str, float]]:
    """A run record's parameter key in ``command``'s words (its parser): its option and the
    factor from the key's unit to the option's, else the job spec's words."""
    from ..core.runs.conflict import spec_words

    options = {o for action in (command._actions if command else ()) for o in
               action.option_strings}

    def name(key: str) -> Tuple[str, float]:
        if key == "geometry":
            return "forests (--forest, or the polygons in --gpkg)", 1.0
        if key == "sources":
            return "sources (--catalog, --stac-url, --provider, --collections)", 1.0
        last = key.rpartition(".")[2]  # thresholds.changed_ndvi: --changed-ndvi
        given = [option for option in key_options(last) if option in options]
        return (given[0], RUN_KEY_FACTORS.get(last, 1.0)) if given else spec_words(key)

    return name


class _Refused(argparse.Action):
    """An option the command does not take, typed where another command takes it: refused
    (exit 2) with one line naming it and what to do instead (argparse said only
    "unrecognized arguments")."""

    def __init__(self, *args, why: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.why = why

    def __call__(self, parser, namespace, values, option_string=None):
        parser.error(self.why)


def refuse_options(parser: argparse.ArgumentParser, refused: dict) -> None:
    """Refuse each option of ``refused`` (option -> the one line saying what to do) by name;
    hidden from --help."""
    for option, why in refused.items():
        parser.add_argument(option, nargs="?", action=_Refused, why=why, help=argparse.SUPPRESS)


CATALOG_HELP = "a static STAC catalog.json or collection.json (path, its folder or URL)"


def add_source_arguments(parser: argparse.ArgumentParser, pixels: bool = True) -> None:
    """The imagery sources, dates and cloud limit; with ``pixels`` also what a run that reads
    pixels takes (indices, periods, mask, grid, dask). Without, those options are not
    accepted (a search silently ignored them) and take PIXEL_OPTION_DEFAULTS."""
    sources = parser.add_argument_group("imagery sources (at least one)")
    sources.add_argument("--catalog", action="append", default=[],
                         help=CATALOG_HELP)
    sources.add_argument("--stac-url", action="append", default=[], help="a STAC API URL")
    sources.add_argument("--provider", action="append", default=[],
                         choices=["planetary-computer", "earth-search", "maxar"],
                         help="a built-in provider")
    sources.add_argument("--collections",
                         help="collections to use, comma separated (default: per provider)")
    # options with a default are None when left out (source_defaults fills them): a command
    # can tell them from given ones (zonal --raster refuses them; they were silently ignored)
    parser.add_argument("--start", type=parse_date,
                        help="first day (default: a year before --end)")
    parser.add_argument("--end", type=parse_date, help="last day (default: today)")
    parser.add_argument("--max-cloud", type=float,
                        help="maximum scene cloud cover in percent (default 80)")
    if not pixels:
        parser.set_defaults(**PIXEL_OPTION_DEFAULTS)
        refuse_options(parser, {option: f"search lists scenes and reads no pixels: {option} "
                                         f"{fix}" for option, fix in NOT_FOR_SEARCH.items()})
        return
    parser.add_argument("--indices",
                        help=f"indices, comma separated (default {','.join(DEFAULT_INDICES)})")
    parser.add_argument("--expression", action="append", default=[],
                        metavar="NAME=FORMULA", help="a custom index, e.g. GNDVI=(nir-green)/"
                                                     "(nir+green)")
    parser.add_argument("--period", choices=["month", "quarter", "year"],
                        help="composite period (default month)")
    parser.add_argument("--method", choices=["median", "mean"],
                        help="composite method (default median)")
    parser.add_argument("--colour", default="",
                        help="colour composites per period beside the indices, comma separated: "
                             "true-colour, false-colour, swir, radar (Sentinel-1, dB)")
    parser.add_argument("--mask", help="cloud-mask classes, comma separated (default: "
                                       f"{','.join(sorted(DEFAULT_MASK_CLASSES))}; 'none': "
                                       "no cloud class, only no-data pixels masked). "
                                       f"{default_mask_text()}")
    parser.add_argument("--cloud-buffer", type=float, default=None, metavar="METRES",
                        help="grow the cloud/shadow mask by this distance (default 0; storm: "
                             "40)")
    parser.add_argument("--resolution", type=float, help="metres (default: per sensor)")
    parser.add_argument("--crs", help="output CRS (default: the scenes' UTM zone)")
    compute = parser.add_argument_group("compute (dask)")
    compute.add_argument("--dask", choices=["threads", "local"],
                         help="threads in this process (default) or a local dask cluster")
    compute.add_argument("--workers", type=int, help="local cluster: worker processes")
    compute.add_argument("--threads-per-worker", type=int, help="local cluster (default 2)")
    compute.add_argument("--memory-limit", help="local cluster: per worker (default 2GB)")
    compute.add_argument("--scheduler", help="a running dask scheduler, e.g. tcp://host:8786")


def source_defaults() -> dict:
    """The defaults of add_source_arguments' options that have one (dest -> value), stated
    once: the parser leaves these options None when they are not given. The compute options'
    defaults (threads; 2 threads per worker, 2GB) are ComputeSettings'."""
    today = date.today()
    return {"start": today - timedelta(days=365), "end": today,
            "indices": ",".join(DEFAULT_INDICES), "period": "month", "method": "median",
            "max_cloud": DEFAULT_MAX_CLOUD_COVER}


def with_source_defaults(args):
    """``args`` with each option of add_source_arguments left out set to its default (in
    place, so calling it twice changes nothing); returns ``args``. ``--end`` alone: the
    year before it (not a year before today, which came after it: "swap the dates");
    ``--start`` alone after today (``--end``'s default): BadInput saying so."""
    defaults = source_defaults()
    if getattr(args, "start", None) is None and getattr(args, "end", None) is not None:
        defaults["start"] = args.end - timedelta(days=365)
    if getattr(args, "end", None) is None and getattr(args, "start", None) is not None \
            and args.start > defaults["end"]:
        raise BadInput(f"--start {args.start} is after today ({defaults['end']}, the "
                       "default --end): give an --end after it, or an earlier --start")
    for key, value in defaults.items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    return args


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    """--overwrite (replace another run's results in --output) and --memory-budget."""
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the results of a run with other inputs in --output "
                             "(default: stop, exit 2)")
    parser.add_argument("--memory-budget",
                        help="memory this run may use, e.g. 8GB (default: half the machine's); "
                             "larger runs are refused before any download, with the numbers")


def sources_from_args(args) -> list:
    from ..core.composites import Source
    from ..core.sources import (
        EarthSearchProvider,
        MaxarOpenDataProvider,
        PlanetaryComputerProvider,
        StacApiProvider,
        StaticCatalogProvider,
    )
    from ..core.sources.providers.base import numbered

    wanted = tuple(c.strip() for c in (args.collections or "").split(",") if c.strip())
    sources = []
    # named as a job spec's unnamed sources are (one name in every door: output files and
    # fingerprints agree, so a run resumes through either)
    for href in args.catalog:
        provider = StaticCatalogProvider(numbered(StaticCatalogProvider.default_name,
                                                  [s.provider.name for s in sources]), href)
        sources.append(Source(provider, wanted or tuple(provider.list_collections())))
    for url in args.stac_url:
        if not wanted:
            raise BadInput("--stac-url needs --collections (which collections to search)")
        sources.append(Source(StacApiProvider(numbered(StacApiProvider.default_name,
                                                       [s.provider.name for s in sources]),
                                              url), wanted))
    for name in args.provider:
        if name == "maxar":
            provider = MaxarOpenDataProvider()
            sources.append(Source(provider, wanted or tuple(provider.events())))
            continue
        provider = (PlanetaryComputerProvider() if name == "planetary-computer"
                    else EarthSearchProvider())
        sources.append(Source(provider, wanted or DEFAULT_COLLECTIONS[name]))
    if not sources:
        raise BadInput("no imagery source: give --catalog, --stac-url or --provider")
    return sources


def composite_request(args, aoi, output_dir: Path):
    from ..core.composites import CompositeRequest

    with_source_defaults(args)
    custom = {}
    for text in args.expression:
        name, _, formula = text.partition("=")
        if not name or not formula:
            raise BadInput(f"--expression {text!r} must look like NAME=FORMULA")
        name, formula = name.strip(), formula.strip()
        same = [known for known in custom if known.upper() == name.upper()
                and (known, custom[known]) != (name, formula)]
        if same:  # the last one silently won (or, by case only, one file over the other)
            raise BadInput(f"--expression names {same[0]!r} twice ({same[0]}={custom[same[0]]}"
                           f" and {text}): give each custom index its own name")
        custom[name] = formula
    indices = [i.strip() for i in args.indices.split(",") if i.strip()] + list(custom)
    mask = mask_classes_from(args.mask)
    from ..core.composites import parse_size

    return CompositeRequest(aoi=aoi, sources=sources_from_args(args), start=args.start,
                            end=args.end,
                            output_dir=output_dir, indices=indices, custom_indices=custom,
                            period=args.period, method=args.method,
                            max_cloud_cover=args.max_cloud, mask_classes=mask,
                            resolution=args.resolution, crs=args.crs, id_field=args.id_field,
                            cloud_buffer_m=args.cloud_buffer or 0.0,
                            colour_composites=tuple(c.strip() for c in getattr(
                                args, "colour", "").split(",") if c.strip()),
                            memory_budget=parse_size(getattr(args, "memory_budget", None)))


def mask_classes_from(text: Optional[str]) -> frozenset:
    """--mask: left out, the default mask; 'none' (or empty), no cloud class, as the dock's
    unticked boxes (an empty value silently meant the default)."""
    if text is None:
        return DEFAULT_MASK_CLASSES
    classes = [c.strip() for c in text.split(",") if c.strip()]
    if [c.lower() for c in classes] in ([], ["none"]):
        return frozenset()
    try:
        return validate_classes(classes)
    except ValueError as error:
        raise BadInput(f"--mask: {error}") from None


# the compute options that size a local cluster: flag -> ComputeSettings field
_LOCAL_FLAGS = {"--workers": "workers", "--threads-per-worker": "threads_per_worker",
                "--memory-limit": "memory_limit"}


def compute_settings_for(args):
    """The ComputeSettings the command's options ask for, checked as a job spec's
    ``compute`` (one rule: core/compute/options.py): BadInput naming the flag, before any
    work. ``--scheduler`` with ``--dask``, or a local cluster's size without ``--dask local``,
    was silently not used."""
    from ..core.compute import ComputeSettings
    from ..core.compute.options import COMPUTE_OPTIONS, local_only_unused

    given = {flag: getattr(args, key) for flag, key in _LOCAL_FLAGS.items()
             if getattr(args, key) is not None}
    for flag, value in given.items():
        check, expected = COMPUTE_OPTIONS[_LOCAL_FLAGS[flag]]  # as the job spec's "compute"
        if not check(value):  # -1 workers: "cannot write the output"
            raise BadInput(f"{flag} must be {expected}, not {value}")
    if args.scheduler and args.dask:
        raise BadInput(f"--dask {args.dask} and --scheduler both say where to compute: give "
                       "--scheduler alone to run on that cluster, or drop it")
    mode = "remote" if args.scheduler else (args.dask or "threads")
    unused = local_only_unused(mode, given)
    if unused:
        where = ("--scheduler" if args.scheduler else "--dask threads" if args.dask
                 else "threads in this process (the default)")
        raise BadInput(f"{unused} sizes a local cluster, which {where} does not start: add "
                       f"--dask local, or drop {unused}")
    return ComputeSettings(mode=mode, scheduler_address=args.scheduler,
                           **{key: given[flag] for flag, key in _LOCAL_FLAGS.items()
                              if flag in given})


def compute_client_for(args):
    """The dask client the command's options ask for (a context manager)."""
    from ..core.compute import compute_client, gdal_options

    return compute_client(compute_settings_for(args), gdal_options=gdal_options())


def forest_ids(args) -> Optional[List[str]]:
    if args.forest.strip() == "*":
        return None
    return [i.strip() for i in args.forest.split(",") if i.strip()]


def load_aoi_from_args(args):
    from ..core.areas import load_aoi

    return load_aoi(args.gpkg, id_field=args.id_field, layer=args.layer, ids=forest_ids(args))


class Progress:
    """A tqdm bar on stderr when stderr is a terminal (silent with --quiet / --json, and in a
    log file or a pipe, where its redraws would be noise around the lines that matter)."""

    def __init__(self, enabled: bool, description: str):
        self.bar = None
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=100, desc=description, file=sys.stderr, leave=False,
                            bar_format="{desc} {percentage:3.0f}%|{bar}| {postfix}")

    def __call__(self, fraction: float, message: str) -> None:
        if self.bar is not None:
            self.bar.n = int(round(100 * fraction))
            self.bar.set_postfix_str(message[:60], refresh=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def progress_bar(args, description: str) -> Progress:
    return Progress(not (args.quiet or args.json) and _is_terminal(sys.stderr), description)


def _is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # replaced or closed
        return False
