"""What a command prints without ``--json``: its summary as readable lines (a mapping as
indented ``key: value`` lines, not a dictionary's repr), and a job's result as its command
prints it (``raster-collect job SPEC`` of a validate job prints the validate headline).
Standard library only at import: ``cli/__init__`` loads it for every command."""

from __future__ import annotations

from typing import Any, Callable, Dict, List

LONG = 10  # a list or mapping of more records than this is counted; --json has it whole


def plain_lines(summary: Dict[str, Any]) -> List[str]:
    """The summary's lines: scalars and lists of scalars as ``key: value``, mappings and
    records indented under their key, long tables of records counted."""
    lines: List[str] = []
    for key, value in summary.items():
        lines += _lines(str(key), value, "")
    return lines


def _lines(key: str, value: Any, indent: str) -> List[str]:
    records = list(value.values()) if isinstance(value, dict) else value
    nested = isinstance(value, (list, tuple, dict)) and \
        any(isinstance(record, (dict, list, tuple)) for record in records)
    if isinstance(value, (list, tuple)) and not nested:
        return [f"{indent}{key}: {list(value)}"]  # a list of words or numbers, as before
    if not isinstance(value, dict) and not nested:
        return [f"{indent}{key}: {value}"]
    if not value:
        return [f"{indent}{key}: none"]
    if nested and len(value) > LONG and any(isinstance(r, dict) for r in records):
        return [f"{indent}{key}: {len(value)} (--json lists them)"]
    lines = [f"{indent}{key}:"]
    items = value.items() if isinstance(value, dict) else enumerate(value, 1)
    for name, item in items:
        lines += _lines(f"{name}" if isinstance(value, dict) else f"[{name}]", item,
                        indent + "  ")
    return lines


TOP = 15  # rows of a ranking or compartments table printed (the commands' --top default)


def job_summary(spec: Dict[str, Any], result: Dict[str, Any]) -> Dict[str, Any]:
    """A job's result as the command of its kind shows it without --json: the kind's own
    lines printed (validate's headline, monitor's changes, storm's ranking, search's scenes)
    and the summary left for ``plain_lines`` (errors and failures kept: they set the exit
    code)."""
    show = _SHOWN.get(spec.get("kind"))
    return show(result, spec.get("id_field") or "forest_id") if show else result


def _validate(result: Dict[str, Any], id_field: str) -> Dict[str, Any]:
    from .validation import format_headline

    print(format_headline(result))
    return {"output_dir": result["output_dir"]}


def _monitor(result: Dict[str, Any], id_field: str) -> Dict[str, Any]:
    from .monitoring import format_changes, format_compartments, plain_summary

    print(format_changes(result["changes"]))
    table = format_compartments(result["compartments"], id_field, TOP)
    if table:
        print(table)
    return plain_summary(result)


def _storm(result: Dict[str, Any], id_field: str) -> Dict[str, Any]:
    import pandas as pd

    from ..core.storm import format_ranking

    ranking = pd.DataFrame(result.get("ranking") or [])
    if not ranking.empty:
        print(format_ranking(ranking, id_field, TOP))
    return {key: value for key, value in result.items() if key != "ranking"}


def _search(result: Dict[str, Any], id_field: str) -> Dict[str, Any]:
    from .imagery import print_scenes

    items = result.get("items") or []
    print_scenes(items)  # as `search` prints them; the summary counts what --json lists
    summary = {"items": f"{len(items)} (--json lists them)", "errors": result.get("errors")}
    if result.get("footprints"):
        summary["footprints"] = result["footprints"]
    return {**summary, **{k: v for k, v in result.items()
                          if k not in ("items", "errors", "footprints", "scenes")}}


_SHOWN: Dict[str, Callable[[Dict[str, Any], str], Dict[str, Any]]] = {
    "validate": _validate, "monitor": _monitor, "storm": _storm, "search": _search}
