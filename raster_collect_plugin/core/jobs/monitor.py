"""The ``monitor`` job: search and load the harmonised index series over the forests (only the
scenes newer than the folder's monitoring state when it has one), run the monitoring and publish
its outputs in the locked run folder. The spec is kept in the folder
(``monitoring_job.json``), so ``raster-collect watch --output FOLDER`` (a scheduled task) can
continue it with nothing else given.

Spec keys: ``aoi``, ``layer``, ``id_field``, ``ids``, ``sources``, ``history_start``,
``history_end``, ``end`` (default today), ``index`` (default NDVI; or the name of a band
expression in ``custom_indices``, ``{NAME: formula}``), ``resolution`` (10 or 30),
``harmonise`` (default true), ``crs``, ``mask_classes``, ``cloud_buffer_m``, ``max_cloud_cover``,
``hexagon_area_m2``, ``alerts_since``, ``min_alert_ha``, ``monitoring`` (an object of
``MonitorParams`` fields: confirm, recover, threshold, min_drop, direction, harmonic_order,
trend, lambda_, sensitivity, outlier_sigma, screen_sigma, min_history_obs, method ("ewma" or
"cusum"), alpha), ``memory_budget``,
``table_formats``, ``output_dir``, ``settle_days`` (``monitor_late.py``).
"""

from __future__ import annotations

import json
import os
from dataclasses import fields
from datetime import date
from numbers import Real
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from ..runs.defaults import DEFAULT_MONITOR_INDEX, DEFAULT_MONITOR_MAX_CLOUD_COVER
from ..runs.storage import is_remote
from .monitor_late import keep_settled, look_back, settle_days
from .spec import JobError, check_table_formats

JOB_FILE = "monitoring_job.json"


def _kind(value, default) -> str:
    """What ``value`` should be, as the field's default is; "" when it is that."""
    if isinstance(default, bool):
        return "" if isinstance(value, bool) else "true or false"
    if isinstance(default, int):
        right = isinstance(value, int) and not isinstance(value, bool)
        return "" if right else "a whole number"
    if isinstance(default, float):
        right = isinstance(value, Real) and not isinstance(value, bool) and value == value
        return "" if right else "a number"
    return "" if isinstance(value, str) else "text"


def monitor_params(spec: Dict[str, Any]):
    from ..monitoring.state import MonitorParams, spec_key

    def day(key: str) -> date:
        try:
            return date.fromisoformat(str(spec[key])[:10])
        except (KeyError, ValueError):
            raise JobError(f"a monitor job spec needs '{key}' as a date like 2024-12-31") \
                from None

    options = dict(spec.get("monitoring") or {})
    example = MonitorParams(date(2000, 1, 1), date(2000, 1, 2))  # defaults resolved: types
    defaults = {f.name: getattr(example, f.name) for f in fields(MonitorParams)
                if f.name not in ("history_start", "history_end")}
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        raise JobError(f"job spec monitoring has unknown key {unknown[0]!r}; allowed keys: "
                       f"{', '.join(sorted(defaults))}")
    for name, value in options.items():
        expected = _kind(value, defaults[name])
        if expected:
            raise JobError(f"{spec_key(name)} must be {expected}, not {value!r}")
    return MonitorParams(day("history_start"), day("history_end"), **options).check()


def check_monitor_spec(spec: Dict[str, Any]):
    """The spec's MonitorParams, after checking what the run would otherwise find wrong only
    half-way (JobError/StateError naming the key)."""
    params = monitor_params(spec)
    if spec.get("resolution") is not None and float(spec["resolution"]) not in (10.0, 30.0):
        raise JobError(f"job spec 'resolution' must be 10 or 30 (metres), not "
                       f"{spec['resolution']!r}")
    from ..pixels.masks import chosen_classes

    try:
        chosen_classes(spec.get("mask_classes"))
    except ValueError as error:
        raise JobError(f"job spec 'mask_classes': {error}") from None
    check_table_formats(spec.get("table_formats"))
    if spec.get("crs"):  # the composites' rule: a projected CRS (a geographic one crashed)
        from ..composites.pipeline import check_output_crs
        from ..composites.requests import RequestError

        try:
            check_output_crs(spec["crs"], option="job spec 'crs'")
        except RequestError as error:
            raise JobError(str(error)) from None
    custom = spec.get("custom_indices") or {}
    index = spec.get("index", DEFAULT_MONITOR_INDEX)
    if set(custom) - {index}:
        raise JobError(f"job spec 'custom_indices' names {sorted(custom)} but 'index' is "
                       f"{index!r}: a monitoring follows one index, give its name as 'index'")
    if isinstance(index, str) and "," in index and index not in custom:
        raise JobError(f"a monitoring follows one index, not {index!r}: give one --index "
                       "(job spec 'index'), e.g. NDVI, and a folder per index")
    from ..pixels.indices import get_index

    formula = get_index(index, custom.get(index))  # an unknown name or band: exit 2
    from ..series.harmonised import OPTICAL

    if not set(formula.sensors) & set(OPTICAL):  # else refused only after the search
        raise JobError(f"the index {index!r} is not an optical index (it is "
                       f"{', '.join(formula.sensors)}'s): monitoring follows one Landsat + "
                       "Sentinel-2 series; choose an index such as NDVI or NBR")
    settle_days(spec)
    end = date.fromisoformat(str(spec.get("end") or date.today())[:10])
    if spec.get("end") and end <= params.history_end:  # the same day: nothing to monitor
        raise JobError(f"'end' ({end}) must be after 'history_end' ({params.history_end}): "
                       "monitoring starts after the history; give a later end (default: "
                       "today)")
    check_alerts_since(spec.get("alerts_since"), params, end)
    return params


def check_alerts_since(value, params, end: date, name: str = "'alerts_since'") -> None:
    """The alerts layer's first day must fall between the history's start and the end (else
    the layer silently holds every alert, or none); refused naming it as ``name`` (the job
    spec's key, or the command line's option)."""
    from ..monitoring.state import ALERTS_SINCE_DEFAULT

    if not value:
        return
    since = date.fromisoformat(str(value)[:10])
    if since < params.history_start or since > end:
        where = (f"before the history ({params.history_start} .. {params.history_end})"
                 if since < params.history_start else f"after the end ({end})")
        raise JobError(f"{name} ({since}) is {where}: give a day from the history's start to "
                       f"the end, or leave it out (default: {ALERTS_SINCE_DEFAULT})")


def saved_spec(output_dir: Path) -> Optional[Dict[str, Any]]:
    """The spec a monitoring folder was started with (None when there is none)."""
    path = Path(output_dir) / JOB_FILE
    if not path.exists():
        return None
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as error:  # also UnicodeDecodeError
        spec = error
    if isinstance(spec, dict) and spec.get("kind") != "monitor":  # watch would run it
        spec = f"its kind is {spec.get('kind')!r}"
    if not isinstance(spec, dict):
        raise JobError(f"{path} is not a monitoring spec ({spec}): restore it, or run "
                       f"'raster-collect monitor ... --output {output_dir}' with the options "
                       "it was started with (the monitoring state is kept)")
    return spec


def absolute_paths(spec: Dict[str, Any]) -> Dict[str, Any]:
    """The spec with its local paths (polygons, static catalogs, folder) made absolute: the
    folder keeps it for ``watch``, which a scheduler starts in another directory."""
    def absolute(path):
        return path if not isinstance(path, str) or "://" in path else os.path.abspath(path)

    spec = dict(spec)
    for key in ("aoi", "output_dir"):
        if spec.get(key):
            spec[key] = absolute(spec[key])
    spec["sources"] = [dict(s, href=absolute(s["href"])) if s.get("href") else s
                       for s in spec.get("sources") or []]
    return spec


def _saved_or_none(output_dir: Path) -> Optional[Dict[str, Any]]:
    try:
        return saved_spec(output_dir)
    except JobError:  # a damaged saved spec: a monitor run rewrites it
        return None


def _relative_sources_kept(output_dir: Path, given: Dict[str, Any],
                           spec: Dict[str, Any]) -> bool:
    """A folder started before catalog paths were kept absolute, continued with the same
    relative ones: its fingerprint has them as they were given."""
    saved = _saved_or_none(output_dir)
    return (saved is not None and given.get("sources") != spec.get("sources")
            and saved.get("sources") == given.get("sources"))


def _catalog_file(href: Any) -> Any:
    """A static catalog's folder as the catalog.json (or collection.json) in it, the file
    its provider reads: the two forms are one source, as for storm and zonal."""
    from ..sources.providers.static_catalog import catalog_in_folder

    if not isinstance(href, str) or "://" in href:
        return href
    root = catalog_in_folder(Path(href))
    return os.path.abspath(root) if root else href


def _source_keys(sources: Optional[list]) -> List[str]:
    """Each source as the fingerprint records it, its empty keys dropped (``collections: []``
    is the source's default, a null ``name`` none): Processing sends them, the command line
    leaves them out, and one folder was "different sources" to the other door."""
    return sorted(json.dumps({k: _catalog_file(v) if k == "href" else v for k, v in s.items()
                              if v not in (None, "", [], {})}, sort_keys=True)
                  for s in sources or [])


def _recorded_sources(output_dir: Path, sources: Optional[list]) -> List[str]:
    """The sources' fingerprint entries; a folder that recorded the same sources with their
    empty keys (Processing's, before they were dropped) keeps its own form."""
    from ..runs.folder import read_manifest

    wanted = _source_keys(sources)
    old = (((read_manifest(str(output_dir)) or {}).get("run") or {}).get("parameters")
           or {}).get("sources")
    try:
        same = isinstance(old, list) and _source_keys([json.loads(e) for e in old]) == wanted
    except (TypeError, ValueError, AttributeError):  # not this writer's record
        same = False
    return old if same else wanted


def _recorded_mask(output_dir: Path, given: Optional[list]) -> List[str]:
    """The mask classes as the fingerprint records them: the default ones, left out (the
    command line) or ticked (the dock), as [] (folders made before: left out); an explicit []
    (no cloud class) must differ from it, or a rerun would mix the two masks. A folder that
    recorded the default ones by name (the dock's, before) keeps its form."""
    from ..pixels.masks import DEFAULT_MASK_CLASSES
    from ..runs.folder import read_manifest

    if given == []:
        return ["(none)"]
    if given is None or set(given) != DEFAULT_MASK_CLASSES:
        return sorted(given or [])
    old = (((read_manifest(str(output_dir)) or {}).get("run") or {}).get("parameters")
           or {}).get("mask_classes")
    return sorted(given) if old == sorted(given) else []


def _cloud_limit_unrecorded(output_dir: Path, spec: Dict[str, Any]) -> bool:
    """A folder started before the cloud limit was part of the fingerprint, continued with
    the same limit."""
    from ..runs.folder import read_manifest

    old = ((read_manifest(str(output_dir)) or {}).get("run") or {}).get("parameters")
    saved = _saved_or_none(output_dir)
    return (old is not None and "max_cloud_cover" not in old and saved is not None
            and saved.get("max_cloud_cover") == spec.get("max_cloud_cover"))


def run_monitor_job(spec: Dict[str, Any], sources: list, progress: Optional[Callable] = None,
                    cancel: Optional[Callable[[], bool]] = None) -> Dict[str, Any]:
    """Run (or continue) the monitoring a spec describes (``sources``: its sources as
    ``run.build_sources`` makes them); returns what changed and the files."""
    from ..areas.aoi import load_aoi
    from ..areas.hexagons import refuse_too_many_cells
    from ..composites.sizing import parse_size
    from ..compute.thread_warnings import thread_safe_warnings
    from ..monitoring.harmonic import short_history_note
    from ..monitoring.late import LATE_WINDOW_DAYS, settle_cutoff
    from ..monitoring.run import MonitorRequest, run_monitor
    from ..monitoring.state import MonitorState
    from ..outputs.files import write_json
    from ..outputs.tables import superseded_note, superseded_tables
    from ..runs.folder import RunFolder, fingerprint, geometry_hash
    from ..series.harmonised import NoScenesError, search_index_series

    params = check_monitor_spec(spec)
    if is_remote(spec["output_dir"]):  # it wrote a local folder named "s3:" and exit 0
        raise JobError("a monitoring folder is local: give a local --output (job spec "
                       "'output_dir'), not an object-store URL; s3:// outputs are for "
                       "composite and zonal runs")
    given, spec = spec, absolute_paths(spec)
    output_dir = Path(spec["output_dir"])
    if _relative_sources_kept(output_dir, given, spec):
        spec["sources"] = given["sources"]
    id_field = spec.get("id_field", "forest_id")
    aoi = load_aoi(spec["aoi"], id_field=id_field, layer=spec.get("layer"),
                   ids=spec.get("ids"))
    if spec.get("crs"):  # Web Mercator: pixels and hectares not metres on the ground
        from ..composites.pipeline import check_true_metres
        from ..composites.requests import RequestError

        try:
            check_true_metres(spec["crs"], aoi.frame, option="'crs' (--crs)")
        except RequestError as error:
            raise JobError(str(error)) from None
    end = date.fromisoformat(str(spec.get("end") or date.today())[:10])
    index = spec.get("index", DEFAULT_MONITOR_INDEX)
    resolution = float(spec.get("resolution", 10))
    harmonise = bool(spec.get("harmonise", True))
    parameters = {"monitoring": params.to_json(), "index": index, "resolution": resolution,
                  "harmonise": harmonise, "crs": spec.get("crs"), "id_field": id_field,
                  "geometry": geometry_hash(aoi.frame, id_field),
                  "mask_classes": _recorded_mask(output_dir, spec.get("mask_classes")),
                  "cloud_buffer_m": spec.get("cloud_buffer_m", 0.0),
                  "hexagon_area_m2": spec.get("hexagon_area_m2"),
                  "sources": _recorded_sources(output_dir, spec.get("sources"))}
    formula = (spec.get("custom_indices") or {}).get(index)
    if formula:
        parameters["formula"] = formula
    # the cloud limit decides which scenes are monitored
    max_cloud = spec.get("max_cloud_cover", DEFAULT_MONITOR_MAX_CLOUD_COVER)
    if max_cloud is not None and not _cloud_limit_unrecorded(output_dir, spec):
        parameters["max_cloud_cover"] = float(max_cloud)
    # settle_days is not in the fingerprint: it only decides when a scene is processed, not
    # how; with complete catalogs a folder ends where a run from scratch does whatever it is,
    # so it may be added to (or changed on) a running folder
    record = fingerprint("monitor", parameters)
    # before the folder, the search and the scenes (the grid is laid once they are done)
    refuse_too_many_cells(aoi.frame, area_m2=spec.get("hexagon_area_m2"),
                          zones=aoi.own_zones())
    with RunFolder(output_dir, record, rewrites=True,
                   overwrite=bool(spec.get("overwrite"))) as folder:
        if spec.get("overwrite"):  # start again from the history: forget the kept state
            from ..monitoring.state import STATE_FILES
            from ..monitoring.zone_series import SERIES_FILE

            for name in (*STATE_FILES, SERIES_FILE):
                (output_dir / name).unlink(missing_ok=True)
        state = MonitorState.load(output_dir)
        # only scenes newer than the state's last one are searched (the history otherwise)
        start = (params.history_start if state is None or state.last_time is None
                 else state.last_time.astype("datetime64[D]").astype(object))
        if end < start:
            raise JobError(f"--end ({end}) is before the first day to monitor ({start}): the "
                           "folder has processed the scenes up to that day; give a later --end "
                           "(a spec's 'end'; default: today)")
        settle = settle_days(spec)
        cutoff = settle_cutoff(end, settle)
        if state is None and cutoff < params.history_end:
            raise JobError(f"with 'settle_days' {settle} the run would end on {cutoff}, "
                           f"before the history ends ({params.history_end}): give a later "
                           "end or fewer settle days")
        options = {"index": index, "resolution": resolution, "harmonise": harmonise,
                   "crs": spec.get("crs"), "cloud_buffer_m": float(spec.get("cloud_buffer_m",
                                                                            0.0))}
        if state is not None and state.grid:  # the increment lands on the state's pixels
            options["grid"] = dict(state.grid, shape=list(state.shape))
        if formula:
            options["custom_formula"] = formula
        if spec.get("mask_classes") is not None:  # [] = no cloud class, as in every door
            options["mask_classes"] = frozenset(spec["mask_classes"])
        late, adopted = look_back(sources, aoi.frame, state, options, max_cloud)
        if progress is not None:
            progress(0.0, f"searching scenes {start} .. {end}")
        try:
            series = search_index_series(sources, aoi.frame, start, end,
                                         max_cloud_cover=max_cloud, **options)
        except NoScenesError as error:
            if state is not None:
                raise
            raise JobError(f"{error}: check --history-start and --end (a spec's "
                           "'history_start' and 'end') against the scenes' dates, the "
                           "sources, and that the forests lie under the scenes (their "
                           "CRS)") from None
        series, waiting = keep_settled(series, cutoff, state)  # (lazy: the others are not read)
        alerts_since = spec.get("alerts_since")
        request = MonitorRequest(
            output_dir, params, zones=aoi.frame, id_field=id_field,
            hexagon_area_m2=spec.get("hexagon_area_m2"), hexagon_zones=aoi.own_zones(),
            alerts_since=date.fromisoformat(alerts_since[:10]) if alerts_since else None,
            min_alert_ha=float(spec.get("min_alert_ha", 0.1)),
            memory_budget=parse_size(spec.get("memory_budget")),
            table_formats=tuple(spec.get("table_formats") or ("gpkg", "csv")),
            adopted_scenes=adopted,
            late_scenes=late,
            report={"late_window_days": LATE_WINDOW_DAYS,
                    "settle_days": settle, "settled_until": str(cutoff),
                    "waiting_scenes": waiting})
        # the series is read on dask's default threads: their filters are put back after
        with thread_safe_warnings():
            result = run_monitor(request, series, progress=progress, cancel=cancel)
        # kept for watch: what every run does; not this run's own end, rebuild or alerts day
        write_json(output_dir / JOB_FILE, {k: v for k, v in spec.items()
                                           if k not in ("end", "overwrite", "alerts_since")})
        # what the run wrote, by name: never a file of the user's that changed meanwhile
        # (README's cron line appends watch.log in the folder; listed, an --overwrite
        # would remove it)
        written = {Path(path).name for path in result.files.values()} | {JOB_FILE}
        folder.publish(written, superseded=superseded_tables, errors=json.loads(
            series.attrs.get("search_errors") or "{}"))
    summary = result.summary
    short = short_history_note(params.history_start, params.history_end, params.harmonic_order)
    # the polygons skipped or repaired, as zonal's and storm's notes name them
    notes = aoi.notes + ([short] if short else []) + superseded_note(folder.removed,
                                                                     folder.held) + [
        f"{collection}: {why}" for collection, why in  # Landsat 7 when harmonised
        json.loads(series.attrs.get("skipped") or "{}").items()]
    return {"output_dir": str(output_dir), "changes": result.changes,
            "files": {k: str(v) for k, v in result.files.items()},
            "compartments": [] if summary is None else
            summary.replace({float("nan"): None}).to_dict(orient="records"),
            **({"notes": notes} if notes else {})}
