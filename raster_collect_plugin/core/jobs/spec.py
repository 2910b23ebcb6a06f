"""The job spec's schema, checked before any work: a malformed spec is one JobError line
(an error event for QGIS), never a traceback half-way through a run.

A small declarative table instead of a JSON-Schema dependency: each known key has a type and,
where it matters, a range or a set of values. An unknown key is refused, naming the allowed
ones (a typo must not silently fall back to a default), and a key that looks like a secret is
refused at any depth: secrets live in the QGIS authentication database or the environment.
"""

from __future__ import annotations

import os
import platform
import re
from datetime import date, datetime
from numbers import Real
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, Optional, Tuple
from urllib.parse import urlsplit

from ..compute.options import ComputeOptionsError, check_compute_options
from ..pixels.cloud_buffer import MAX_BUFFER_M
from ..storm.classes import MAX_WINDOW_DAYS, MIN_AFTER_DAYS, MIN_BEFORE_DAYS
from .kind_keys import NEEDS, unused_key_problem


class JobError(ValueError):
    """The spec is malformed; the message names the key and what is expected."""


SOURCE_KINDS = ("static", "stac", "maxar", "planetary-computer", "earth-search", "copernicus")


def _text(value) -> bool:
    return isinstance(value, str) and value.strip() != ""


def _number(low=None, high=None, *, integer=False, low_open=False) -> Callable[[Any], bool]:
    def check(value) -> bool:
        if isinstance(value, bool) or not isinstance(value, Real):
            return False
        if integer and int(value) != value:
            return False
        if value != value:  # NaN
            return False
        if low is not None and (value <= low if low_open else value < low):
            return False
        return high is None or value <= high
    return check


# S3 bucket naming rules (lower case, DNS-compatible): what Sentinel Hub can be granted
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ].+)?")


def day_of(value: Any) -> Optional[date]:
    """The day a spec's date (or ``--start`` / ``--end``) names: a date (2025-10-01) or an
    ISO 8601 date-time, whose time is dropped (2025-10-01T00:00:00Z: runs take whole days);
    None for anything else (``2025-10-01Tjunk`` was silently the 1st of October)."""
    if not isinstance(value, str) or not _DAY.fullmatch(value.strip()):
        return None
    text = value.strip()
    if text[-1:] in ("Z", "z"):  # Python < 3.11 reads no Z
        text = text[:-1] + "+00:00"
    try:
        day = datetime.fromisoformat(text).date()
    except ValueError:
        return None
    # satellite archives start in the 1970s: year 1 or 9999 (a typo, or a script's "all")
    # ended in a traceback (date out of range), 1900-2100 computed 2,400 empty months
    return day if YEARS[0] <= day.year <= YEARS[1] else None


def _date(value) -> bool:
    return day_of(value) is not None


def _list_of(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: isinstance(value, list) and all(check(v) for v in value)


def _scalar_id(value) -> bool:
    """Text or a number (a Real id field's 283.0 too: compared as ``--forest 283.0``)."""
    if isinstance(value, float):
        return value == value and abs(value) != float("inf")
    return isinstance(value, (str, int)) and not isinstance(value, bool)


def _mapping_of_text(value) -> bool:
    return isinstance(value, dict) and all(_text(k) and _text(v) for k, v in value.items())


def _budget(value) -> bool:
    return _text(value) or _number(0, low_open=True)(value)


def _is_interval(value) -> bool:
    """A Sentinel Hub aggregation interval (its rule: sentinel_hub.rules.INTERVAL)."""
    from ..sentinel_hub.rules import is_interval

    return is_interval(value)


def _compute(value) -> bool:
    check_compute_options(value)  # raises with the key and the allowed keys
    return True


def _plain_url(value) -> bool:
    """An http(s) URL with no user, password or query (nothing secret rides along); empty
    means the default."""
    if value == "":
        return True
    if not _text(value):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and \
        not (parts.username or parts.password or parts.query)


YEARS = (1970, 2100)  # the dates a run may name
DATE_EXPECTED = (f"a date like 2025-11-13 (or a date-time like 2025-11-13T00:00:00Z) from "
                 f"{YEARS[0]} to {YEARS[1]}")
_flag = (lambda v: isinstance(v, bool), "true or false")


# key -> (check, what is expected)
SCHEMA: Dict[str, Tuple[Callable[[Any], bool], str]] = {
    "aoi": (_text, "a path to a polygon file"),
    "layer": (_text, "a layer name"),
    "id_field": (_text, "a field name"),
    "ids": (_list_of(_scalar_id), "a list of ids"),
    "sources": (lambda v: isinstance(v, list), "a list of sources"),
    "start": (_date, DATE_EXPECTED),
    "end": (_date, DATE_EXPECTED),
    "event_date": (_date, DATE_EXPECTED),
    "indices": (_list_of(_text), "a list of index names"),
    "custom_indices": (_mapping_of_text, "an object of NAME: formula"),
    "period": (lambda v: v in ("month", "quarter", "year"), "month, quarter or year"),
    "method": (_text, "a composite method such as median"),
    "max_cloud_cover": (_number(0, 100), "a number from 0 to 100"),
    "mask_classes": (_list_of(_text), "a list of cloud-mask class names"),
    "resolution": (_number(0, 10_000, low_open=True),
                   "a positive number of metres, at most 10000"),
    "crs": (_text, "a CRS such as EPSG:28356"),
    "output_dir": (_text, "a folder"),
    "output": (_text, "a file path"),
    "raster": (_text, "a raster path"),
    "coverage": (lambda v: v in ("exact", "centre", "all_touched"),
                 "exact, centre or all_touched"),
    "min_clear_fraction": (_number(0, 1), "a number from 0 to 1"),
    "hexagon_area_m2": (_number(0, low_open=True), "a positive area in m²"),
    "hexagon_edge_m": (_number(0, low_open=True), "a positive length in metres"),
    "h3_resolution": (_number(0, 15, integer=True), "an integer from 0 to 15"),
    "clip": (lambda v: isinstance(v, bool), "true or false"),
    "small": (lambda v: isinstance(v, bool), "true or false"),
    "scenario": (lambda v: v in ("storm", "disturbance"), '"storm" or "disturbance"'),
    "overwrite": (lambda v: isinstance(v, bool), "true or false"),
    "item_ids": (_list_of(_text), "a list of scene ids"),
    "before_items": (_list_of(_text), "a list of item URLs"),
    "after_items": (_list_of(_text), "a list of item URLs"),
    "buffer_m": (_number(), "a number of metres"),
    "before_days": (_number(MIN_BEFORE_DAYS, MAX_WINDOW_DAYS, integer=True),
                    f"a whole number of days ({MIN_BEFORE_DAYS}-{MAX_WINDOW_DAYS})"),
    "after_days": (_number(MIN_AFTER_DAYS, MAX_WINDOW_DAYS, integer=True),
                   f"a whole number of days ({MIN_AFTER_DAYS}-{MAX_WINDOW_DAYS})"),
    "thresholds": (lambda v: isinstance(v, dict), "an object"),
    "compute": (_compute, "an object"),
    "memory_budget": (_budget, "a size such as 4GB"),
    "cloud_buffer_m": (_number(0, MAX_BUFFER_M), f"a number of metres (0-{MAX_BUFFER_M:g})"),
    "colour_composites": (_list_of(_text), "a list such as [\"true-colour\"]"),
    "run_name": (_text, "a name"),
    "hrefs": (_list_of(_text), "a list of asset URLs"),
    "signing": (_text, "a signing scheme such as planetary-computer"),
    "bands": (lambda v: _text(v) or _list_of(_number(1, integer=True))(v),
              "band numbers such as \"1,2,5-8\""),
    "nodata": (_number(), "a number"),
    "ignore_nodata": _flag,
    "use_mask": _flag,
    "categorical": _flag,
    "table_formats": (_list_of(_text), "a list such as [\"parquet\", \"csv\"]"),
    "base_url": (_plain_url, "an http(s) URL"),
    "token_url": (_plain_url, "an http(s) URL with no credentials or query"),
    "pu_budget": (_number(0), "a number of processing units, 0 or more"),
    "request_budget": (_number(0, integer=True), "a whole number of requests, 0 or more"),
    "usage_ledger": (_text, "a file path"),
    "cache_dir": (_text, "a folder"),
    "interval": (lambda v: _is_interval(v), "an ISO 8601 duration of whole days, weeks, "
                 "months or years such as P1M (PnD, PnW, PnM, PnY; n from 1)"),
    # Sentinel Hub batch APIs (core/jobs/hub_batch.py)
    "batch_output": (lambda v: _text(v) and v.startswith("s3://"), "an s3:// folder"),
    "batch_features": (lambda v: _text(v) and v.startswith("s3://"), "an s3:// .gpkg URL"),
    "s3_region": (lambda v: isinstance(v, str),  # "": the deployment's region
                  "an object-storage region such as waw3-1 (\"\": the deployment's)"),
    "s3_send_keys": _flag,
    "poll_seconds": (_number(0, low_open=True), "a positive number of seconds"),
    "tiling_grid": (_number(0, integer=True), "a tiling grid id such as 1"),
    # sentinel-hub-byoc (core/sentinel_hub/byoc_job.py)
    "bucket": (lambda v: isinstance(v, str) and bool(_BUCKET.fullmatch(v)),
               "an S3 bucket name alone (3-63 lower-case letters, digits, '.' or '-', such as "
               "my-bucket: no s3:// and no folder, the folder is the 'prefix' / --prefix)"),
    "prefix": (_text, "a folder (key prefix) in the bucket"),
    "collection_name": (_text, "a name"),
    "collection_id": (_text, "a BYOC collection id"),
    "grant_read": _flag,
    # storm: radar from Sentinel-1 GRD on Sentinel Hub (core/sentinel_hub/sentinel1.py)
    "sentinel_hub_radar": (lambda v: isinstance(v, (bool, dict)),
                           'true or an object such as {"back_coeff": "GAMMA0_TERRAIN"}'),
    # monitor (core/jobs/monitor.py)
    "history_start": (_date, "a date like 2023-01-01"),
    "history_end": (_date, "a date like 2024-12-31"),
    "alerts_since": (_date, "a date like 2025-06-01"),
    "index": (_text, "an index name such as NDVI"),
    "harmonise": _flag,
    "min_alert_ha": (_number(0), "a number of hectares, 0 or more"),
    "monitoring": (lambda v: isinstance(v, dict), "an object such as {\"confirm\": 3}"),
    "settle_days": (_number(0, integer=True), "a whole number of days, 0 or more"),
    # validate (core/jobs/validate.py)
    "monitoring_dir": (_text, "a monitoring folder"),
    "references": (_text, "a path to reference polygons of disturbance"),
    "references_layer": (_text, "a layer name"),
    "date_field": (_text, "a field name"),
    "min_fraction": (_number(0, 1), "a fraction between 0 and 1 such as 0.02"),
}
KNOWN_KEYS = ("kind", *SCHEMA)
HEXAGON_KEYS = ("hexagon_area_m2", "hexagon_edge_m", "h3_resolution")
# what only an imagery job (search, composite, zonal...) uses
IMAGERY_KEYS = ("sources", "start", "end", "indices", "custom_indices", "period", "method",
                "max_cloud_cover", "mask_classes", "cloud_buffer_m", "resolution", "crs",
                "colour_composites", "harmonise", "item_ids")
SOURCE_KEYS = ("kind", "collections", "href", "url", "name", "token_url", "pu_budget")
# parts of key names that mean a secret (client_secret, access_token, password, api_key...)
SECRET_MARKERS = ("secret", "token", "passw", "pwd", "apikey", "api_key", "api-key",
                  "credential", "private_key", "access_key", "bearer", "authorization",
                  "cookie")
NOT_SECRETS = ("token_url",)  # the OAuth endpoint's address (checked: no query, no user)
SECRETS_GO = ("secrets never go in a job spec: store them in the QGIS authentication database "
              "or in environment variables such as SH_CLIENT_ID / SH_CLIENT_SECRET (see "
              "README: Configure providers)")

# keys whose null means something of its own; any other null is the key left out (default)
NULL_MEANS = {"max_cloud_cover": "no scene cloud limit"}


def without_nulls(spec: Any) -> Any:
    """The spec with its null values dropped (so each takes its default: a null 'period' was
    a traceback, a null 'clip' or 'harmonise' silently false), but those of NULL_MEANS."""
    if not isinstance(spec, dict):
        return spec
    return {key: value for key, value in spec.items() if value is not None or key in NULL_MEANS}


def validate_spec(spec: Any) -> Dict[str, Any]:
    """Check a job spec; returns it or raises JobError naming the key and what it expects."""

    if not isinstance(spec, dict):
        raise JobError(f"a job spec must be a JSON object, not {type(spec).__name__}")
    secret = next(_secret_keys(spec), None)
    if secret is not None:
        raise JobError(f"job spec key '{secret}' looks like a secret and is refused: "
                       f"{SECRETS_GO}")
    unknown = [key for key in spec if key not in KNOWN_KEYS]
    if unknown:
        raise JobError(f"job spec has unknown key {unknown[0]!r}; allowed keys: "
                       f"{', '.join(sorted(KNOWN_KEYS))}")
    kind = spec.get("kind")
    if kind not in NEEDS:
        raise JobError(f"job 'kind' must be one of {tuple(NEEDS)}, not {kind!r}")
    for key in NEEDS[kind]:
        if spec.get(key) in (None, "", []):
            raise JobError(f"a {kind} job spec needs '{key}'")
    if kind == "zonal-raster":  # silently ignored, a user would miss the hexagon tables
        hexagons = [k for k in HEXAGON_KEYS if spec.get(k) not in (None, 0)]
        if hexagons:
            raise JobError(f"a zonal-raster job makes no hexagons ('{hexagons[0]}'): make them "
                           "with a hexagons job and give that file as 'aoi'")
        # silently ignored before: the user would think they applied
        _refuse_imagery_keys(spec, IMAGERY_KEYS, "a zonal-raster job reads its raster as it is")
    if kind == "sentinel-hub-byoc" and spec.get("aoi") and not (spec.get("start") and
                                                                 spec.get("end")):
        raise JobError("a sentinel-hub-byoc job reads statistics back for 'aoi' between "
                       "'start' and 'end': give both dates, or leave 'aoi' out")
    hexagons = [k for k in HEXAGON_KEYS if spec.get(k) is not None]
    if kind == "storm" and set(hexagons) - {"hexagon_area_m2"}:  # silently ignored before
        raise JobError(f"a storm job makes hexagons of an area ('hexagon_area_m2'), not "
                       f"'{sorted(set(hexagons) - {'hexagon_area_m2'})[0]}'")
    if len(hexagons) > 1:  # one would be silently ignored
        raise JobError(f"give one hexagon size, not {' and '.join(repr(k) for k in hexagons)}")
    for key, value in spec.items():
        if key in SCHEMA and value is not None:
            check, expected = SCHEMA[key]
            try:
                right = check(value)
            except ComputeOptionsError as error:
                raise JobError(f"job spec {error}") from None
            if not right:
                raise JobError(f"job spec '{key}' must be {expected}, not {_show(value)}")
    problem = unused_key_problem(spec, kind)
    if problem:
        raise JobError(problem)
    check_table_formats(spec.get("table_formats"))
    if spec.get("ids") == []:  # was "select at least one feature"; a validate job took it as all
        raise JobError("job spec 'ids' is empty: list the polygons' ids, or leave 'ids' out "
                       "for every polygon")
    for n, source in enumerate(spec.get("sources") or []):
        if not isinstance(source, dict):
            raise JobError(f"job spec sources[{n}] must be an object with 'kind'")
        unknown = [key for key in source if key not in SOURCE_KEYS]
        if unknown:
            raise JobError(f"job spec sources[{n}] has unknown key {unknown[0]!r}; allowed "
                           f"keys: {', '.join(SOURCE_KEYS)}")
        if source.get("kind") not in SOURCE_KINDS:
            raise JobError(f"job spec sources[{n}].kind must be one of {SOURCE_KINDS}, "
                           f"not {_show(source.get('kind'))}")
        collections = source.get("collections")
        if collections is not None and not _list_of(_text)(collections):
            raise JobError(f"job spec sources[{n}].collections must be a list of names")
        for key in ("href", "url", "name"):
            if source.get(key) is not None and not _text(source[key]):
                raise JobError(f"job spec sources[{n}].{key} must be text")
    if (kind in ("search", "composite", "zonal", "sentinel-hub-statistics",
                 "sentinel-hub-batch-processing") or spec.get("start") and spec.get("end")
            and kind == "sentinel-hub-byoc") and \
            date.fromisoformat(spec["end"][:10]) < date.fromisoformat(spec["start"][:10]):
        raise JobError(f"job spec 'end' ({spec['end']}) is before 'start' ({spec['start']}): "
                       "swap the dates")
    return spec


def _refuse_imagery_keys(spec: Dict[str, Any], keys, why: str) -> None:
    """JobError naming those of ``keys`` the spec gives (empty values count as left out)."""
    given = [k for k in keys if spec.get(k) not in (None, "", [], {})]
    if given:
        raise JobError(f"{why}: {', '.join(repr(k) for k in given)} "
                       f"{'is' if len(given) == 1 else 'are'} for imagery jobs; drop "
                       f"{'it' if len(given) == 1 else 'them'}")


def check_table_formats(formats: Any) -> None:
    """Every name known and at least one, before any work (an unknown one was a traceback
    once the statistics were computed; [] silently wrote every format)."""
    if formats is None:
        return
    from ..outputs.tables import TABLE_FORMATS

    wrong = [kind for kind in formats if kind not in TABLE_FORMATS]
    if wrong or not formats:
        raise JobError(f"job spec 'table_formats' has {_show(wrong[0]) if wrong else 'none'}; "
                       f"choose from {', '.join(TABLE_FORMATS)} (lower case), or leave it out "
                       "for the default")


# keys holding a local path (a static source's 'href' too)
PATH_KEYS = ("aoi", "raster", "output_dir", "output", "usage_ledger", "cache_dir",
             "monitoring_dir", "references")
PATH_LIST_KEYS = ("before_items", "after_items")  # a storm's scenes: item URLs or paths
_WINDOWS_PATH = re.compile(r"^(?:[A-Za-z]:[\\/]|\\\\)")  # C:\..., C:/..., \\server\share


def windows_path_problem(where: str, value: Any, *,
                         windows: bool = os.name == "nt") -> Optional[str]:
    """The one line refusing a Windows path (``C:\\runs``, ``\\\\server\\share``) given
    on macOS or Linux, naming it as ``where`` (a spec's key, a command line's option); None
    when ``value`` is not one. Said alike by a job spec and the command line (where it was
    "does not exist", or an output folder literally called ``C:\\forest\\out``)."""
    if windows or not isinstance(value, str) or "://" in value or \
            not _WINDOWS_PATH.match(value):
        return None
    return (f"{where} is a Windows path ({value}), which this "
            f"{platform.system() or 'POSIX'} machine cannot use: give the path this machine "
            "knows the file or folder by (a path written on another machine needs changing)")


def local_paths(spec: Dict[str, Any], *, windows: bool = os.name == "nt") -> Dict[str, Any]:
    """The spec with ``~`` expanded in its paths (no shell reads a JSON spec: ``~/forests.gpkg``
    was looked for in a folder named ``~``). A Windows path in a spec run on macOS or Linux
    (a spec written on another machine) is refused: it named a file that is not there, or
    made an output folder literally called ``C:\\forest\\out``."""

    def local(where: str, value: Any) -> Any:
        if not isinstance(value, str) or "://" in value:
            return value
        problem = windows_path_problem(f"job spec '{where}'", value, windows=windows)
        if problem:
            raise JobError(problem)
        return os.path.expanduser(value) if value.startswith("~") else value

    result = {key: local(key, value) if key in PATH_KEYS else value
              for key, value in spec.items()}
    for key in PATH_LIST_KEYS:
        if isinstance(spec.get(key), list):
            result[key] = [local(f"{key}[{n}]", value) for n, value in enumerate(spec[key])]
    if isinstance(spec.get("sources"), list):
        result["sources"] = [
            dict(source, href=local(f"sources[{n}].href", source["href"]))
            if isinstance(source, dict) and "href" in source else source
            for n, source in enumerate(spec["sources"])]
    return result


INPUT_PATH_KEYS = ("aoi", "raster", "references", "monitoring_dir")  # read, never written


def beside_the_spec(spec: Dict[str, Any], spec_folder: Path,
                    here: Optional[Path] = None) -> Optional[str]:
    """The one line refusing a spec whose relative input path is missing from the folder the
    command runs in (``here``) but present beside the spec: relative paths are taken from the
    folder the command runs in (a spec read from elsewhere said only "does not exist")."""
    here = Path.cwd() if here is None else here
    if spec_folder.resolve() == here.resolve():
        return None
    for where, value in _input_paths(spec):
        if not isinstance(value, str) or not value or "://" in value or \
                value.startswith("~") or os.path.isabs(value):
            continue
        if not (here / value).exists() and (spec_folder / value).exists():
            return (f"job spec '{where}' ({value}) is beside the spec, not in the folder "
                    "the command runs in, which a spec's relative paths are taken from: run it "
                    f"from {spec_folder} or give absolute paths")
    return None


def _input_paths(spec: Dict[str, Any]) -> Iterator[Tuple[str, Any]]:
    """(key, value) of the paths a spec reads: its input keys, its static sources' hrefs, a
    storm's scenes."""
    for key in INPUT_PATH_KEYS:
        yield key, spec.get(key)
    sources = spec.get("sources")
    for n, source in enumerate(sources if isinstance(sources, list) else []):
        if isinstance(source, dict):
            yield f"sources[{n}].href", source.get("href")
    for key in PATH_LIST_KEYS:
        values = spec.get(key)
        for n, value in enumerate(values if isinstance(values, list) else []):
            yield f"{key}[{n}]", value


def _secret_keys(value: Any, where: str = "") -> Iterator[str]:
    """Paths (``compute.password``, ``sources[0].token``) of keys that look like secrets."""
    if isinstance(value, dict):
        for key, inner in value.items():
            path = f"{where}.{key}" if where else str(key)
            name = str(key).lower()
            if name not in NOT_SECRETS and any(m in name for m in SECRET_MARKERS):
                yield path
            yield from _secret_keys(inner, path)
    elif isinstance(value, list):
        for n, inner in enumerate(value):
            yield from _secret_keys(inner, f"{where}[{n}]")


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
