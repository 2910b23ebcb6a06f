"""The ``validate`` job: a monitoring folder's per-pixel outputs (``monitoring_status.tif``,
``monitoring_first_anomaly.tif``, ``monitoring_confirmation.tif``) against the user's reference
polygons of disturbance (date + extent): per-pixel and per-compartment precision, recall, F1
and detection delays, written as JSON, CSV and Markdown (``core.validation``).

Spec keys: ``monitoring_dir`` (the folder ``monitor`` wrote), ``references`` (polygon file),
``references_layer``, ``date_field`` (default ``date``), ``aoi`` / ``layer`` / ``id_field``
(the compartments; default: those the folder was started with; ``layer`` only with ``aoi``),
``ids`` (chosen among them), ``min_fraction`` (default
0.02), ``output_dir`` (default ``<monitoring_dir>/validation``).
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any, Dict

from .monitor import saved_spec
from .spec import JobError

RASTERS = {"status": "monitoring_status.tif",
           "first_anomaly": "monitoring_first_anomaly.tif",
           "confirmation": "monitoring_confirmation.tif"}


def run_validate_job(spec: Dict[str, Any]) -> Dict[str, Any]:
    """Validate the folder's outputs; returns the headline numbers and the files written."""
    from ..monitoring.clear_days import read_clear_days
    from ..validation.assessment import summary_document, validate, write_validation
    from ..validation.files import read_layers

    folder = Path(spec["monitoring_dir"])
    missing = [name for name in RASTERS.values() if not (folder / name).exists()]
    if not folder.is_dir() or missing:
        raise JobError(f"{folder} holds no monitoring outputs ({', '.join(missing)} missing): "
                       "give the folder 'raster-collect monitor --output' wrote")
    output_dir = Path(spec.get("output_dir") or folder / "validation")
    blocked = next((p for p in (output_dir, *output_dir.parents) if p.is_file()), None)
    if blocked is not None:  # before any work, not a traceback when writing the report
        raise JobError(f"the report folder {output_dir} cannot be made: {blocked} is a file; "
                       "choose a folder (--output)")
    _refuse_another_run(output_dir)
    saved = saved_spec(folder) or {}
    id_field = spec.get("id_field") or saved.get("id_field") or "forest_id"
    date_field = spec.get("date_field") or "date"
    references = _references(Path(spec["references"]), spec.get("references_layer"),
                             date_field)
    compartments, unmonitored = _compartments(spec, saved, folder, id_field)
    outputs = read_layers({name: folder / file for name, file in RASTERS.items()})
    clear = read_clear_days(folder, next(iter(outputs.data_vars.values())).shape)
    start = saved.get("history_end") or _state(folder).get("params", {}).get("history_end")
    end = _state(folder).get("last_time")  # the last scene monitored
    try:
        result = validate(outputs, references, compartments, id_field=id_field,
                          date_field=date_field,
                          min_fraction=float(spec.get("min_fraction", 0.02)),
                          observations=clear,
                          # the monitoring starts the day after the history's last day
                          monitoring_start=(date.fromisoformat(start[:10]) + timedelta(days=1)
                                            if start else None),
                          monitoring_end=date.fromisoformat(end[:10]) if end else None,
                          transform=_affine(outputs), crs=outputs.attrs["crs"],
                          unmonitored=unmonitored)
    except ValueError as error:  # the polygons' fields, CRS: named with the fix
        raise JobError(str(error)) from None
    _refuse_nothing_to_score(result, references, Path(spec["references"]).name, start, end)
    files = write_validation(result, output_dir)
    # as validation.json: NaN (nothing to score) is null, so --json output is valid JSON
    return {"output_dir": str(output_dir), **summary_document(result),
            "files": {key: str(path) for key, path in files.items()}}


def _refuse_another_run(output_dir: Path) -> None:
    """A report folder holding another run's results (its manifest: a storm's, the
    monitoring folder itself) is refused before any work: the files would mix."""
    from ..runs.conflict import KIND_WORDS
    from ..runs.manifest import read_manifest

    held = read_manifest(str(output_dir)) if output_dir.is_dir() else None
    if held is None:
        return
    kind = (held.get("run") or {}).get("kind") or "another"
    raise JobError(f"the report folder {output_dir} holds results of "
                   f"{KIND_WORDS.get(kind, f'a {kind} run')} (its manifest.json): the "
                   "validation's files would mix with them; choose another folder (--output, "
                   "a spec's 'output_dir'), or leave it out for MONITORING/validation")


def _refuse_nothing_to_score(result: Dict[str, Any], references, name: str, start,
                             end) -> None:
    """No reference left after the history, or none on the monitored grid: every detection
    was scored a false positive, exit 0 (a wrong file or CRS read as a total failure). On the
    grid but off the compartments chosen is a question of its own (their false alarms)."""
    from ..validation.unscored import NOT_MONITORED, NOT_SEEN, OFF_GRID, SMALL

    events = result["events"]
    if events.empty:
        later = sum(entry["reason"].startswith(NOT_SEEN[:20]) for entry in result["not_scored"])
        if not later:
            raise JobError(f"the reference polygons {name} are all dated within the stable "
                           f"history (up to {str(start)[:10]}), which holds their "
                           "disturbances: give references dated after it")
        raise JobError(f"the reference polygons {name} are all dated within the stable "
                       f"history (up to {str(start)[:10]}) or after the last scene monitored "
                       f"({str(end)[:10]}; {later} of them), which has not seen them yet: give "
                       "references dated between, or run 'raster-collect watch' first")
    if (events["pixels"] > 0).any():
        return
    # only the references dated after the history count: those within it (on the grid or
    # not) score nothing, so later ones all off the grid leave nothing to score
    off = sum(entry["reason"] == OFF_GRID for entry in result["not_scored"])
    idle = [entry["reference"] for entry in result["not_scored"]
            if entry["reason"].startswith(NOT_MONITORED.partition("{")[0])]
    if idle and off + len(idle) == len(events):
        raise JobError(f"none of the {len(events)} reference polygons in {name} dated after the "
                       "stable history lies on a compartment the folder monitors ("
                       f"{len(idle)} over compartments it does not monitor"
                       f"{f', {off} off its grid' if off else ''}): validate a folder that "
                       "monitors their compartments")
    small = sum(entry["reason"] == SMALL for entry in result["not_scored"])
    if small and off + small == len(events):
        raise JobError(f"none of the {len(events)} reference polygons in {name} dated after the "
                       f"stable history holds a pixel centre of the monitored grid ({small} on "
                       f"it are smaller than its pixels{f', {off} off it' if off else ''}): "
                       "draw the disturbed extent, not a mark")
    if off == len(events):
        within = len(references) - len(events)
        raise JobError(f"none of the {len(events)} reference polygons in {name}"
                       f"{' dated after the stable history' if within else ''} overlaps the "
                       "monitored area: check that it is the right file and that its CRS is "
                       "the one its coordinates were drawn in"
                       + (f" ({within} dated within the history are left out)"
                          if within else ""))


def _state(folder: Path) -> Dict[str, Any]:
    """The folder's monitoring state metadata (the history's end when its job file is gone,
    the last scene monitored); empty when there is none."""
    import json

    path = folder / "monitoring_state.json"
    if not path.exists():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


def _affine(outputs):
    from affine import Affine

    return Affine(*outputs.attrs["transform"])


def _references(path: Path, layer, date_field: str):
    from ..areas.aoi import read_polygons
    from ..validation.dates import reference_dates

    if not path.exists():  # the same line from the command line and a job spec
        raise JobError(f"the reference polygons {path} do not exist: give your reference "
                       "polygons (--references, a spec's 'references'): a date field + the "
                       "disturbed extent")
    # several polygon layers (compartments and references in one GeoPackage) are a choice
    # the user makes: a first layer read silently would score the wrong polygons
    frame = read_polygons(path, layer=layer,
                          layer_option="--references-layer (a spec's 'references_layer')")
    if frame.crs is None:
        raise JobError(f"the reference polygons {path.name} have no CRS: assign one (e.g. "
                       "EPSG:32632) and save the file again")
    if frame.empty:  # else every detection scored a false positive, exit 0
        raise JobError(f"the reference polygons {path.name}"
                       f"{f' (layer {layer!r})' if layer else ''} hold no features: give the "
                       "file (or --references-layer) with your polygons of disturbance")
    if date_field not in frame.columns:
        fields = [c for c in frame.columns if c != frame.geometry.name]
        raise JobError(f"the reference polygons {path.name} have no date field "
                       f"{date_field!r}; their fields are {fields}: choose the date of each "
                       "disturbance with --date-field")
    polygonal = [shape is not None and not shape.is_empty and
                 shape.geom_type in ("Polygon", "MultiPolygon") for shape in frame.geometry]
    if not all(polygonal):  # else burnt as nothing: its pixels become false positives
        rows = [n + 1 for n, ok in enumerate(polygonal) if not ok][:5]
        raise JobError(f"the reference polygons {path.name} have no polygon (an empty "
                       f"geometry, a point or a line) in feature(s) {rows}: draw the "
                       "disturbed extent or remove them")
    dates = reference_dates(frame[date_field])
    if dates.isna().any():
        rows = [int(i) + 1 for i in frame.index[dates.isna()][:5]]
        raise JobError(f"the reference polygons {path.name} have no valid {date_field!r} "
                       f"(a date like 2025-03-14, year first) in feature(s) {rows}: fill them "
                       "in, year first (day-first text such as 01/03/2025 reads two ways)")
    return frame.assign(**{date_field: dates})


def _compartments(spec, saved, folder: Path, id_field: str):
    """The compartments validated, and those of the folder's file it does not monitor (None
    when it monitors them all, or others are given)."""
    from ..areas.aoi import AoiError, read_polygons, select_ids

    aoi = spec.get("aoi") or saved.get("aoi")
    layer = spec.get("layer") if spec.get("aoi") else saved.get("layer")
    if spec.get("aoi") and not Path(aoi).exists():  # not the folder's own, silently
        raise JobError(f"the compartments {aoi} do not exist: give your compartment "
                       "polygons (--compartments), or leave them out for the folder's")
    if aoi and Path(aoi).exists():
        frame = read_polygons(Path(aoi), layer=layer, id_field=id_field)  # 'fid' too
    elif (folder / "monitoring_compartments.gpkg").exists():
        frame = read_polygons(folder / "monitoring_compartments.gpkg", id_field=id_field)
    else:
        raise JobError(f"the compartments {aoi or '(none saved)'} are not found: give them "
                       "with --compartments")
    if id_field not in frame.columns:
        fields = [c for c in frame.columns if c != frame.geometry.name]
        raise JobError(f"the compartments have no field {id_field!r}; their fields are "
                       f"{fields}: choose one with --id-field")
    # the spec's ids choose among these compartments (the folder's own too), else the
    # folder's ids when they are its compartments
    ids = spec.get("ids") if spec.get("ids") is not None else \
        (None if spec.get("aoi") else saved.get("ids"))
    whole = frame
    if ids:
        try:
            frame = select_ids(frame, id_field, ids)
        except AoiError as error:
            raise JobError(f"the compartments: {error} (a spec's 'ids')") from None
    if spec.get("aoi") or not saved.get("ids"):
        return frame, None
    # the folder monitored some of its file's compartments: the others are not on its grid
    return frame, whole.loc[~whole.index.isin(select_ids(whole, id_field, saved["ids"]).index)]
