"""The dock's last run, kept in the project so Processing's dialogs start from it (forests
layer and id field, sources, catalog and collections, dates, event and windows, cloud limit,
indices) instead of "scene footprints", today and an empty catalog.

Stored under the plugin's project scope (``last_run/*``): no secrets (a job spec never holds
any), and a project without a dock run simply has none."""

from __future__ import annotations

from typing import Dict, List, Optional

from qgis.core import QgsProject
from qgis.PyQt.QtCore import QDate, QDateTime, QTime

SCOPE = "raster_collect"
KEYS = ("layer", "id_field", "source_kinds", "catalog", "stac_url", "collections", "start",
        "end", "event", "before_days", "after_days", "max_cloud", "indices")
DATE = "yyyy-MM-dd"


def remember(spec: Dict, *, layer_id: str, start: str, end: str, event: str,
             indices: Optional[List[str]] = None, project: Optional[QgsProject] = None) -> None:
    """Keep what a finished dock run used (``spec``: its job spec; dates as yyyy-MM-dd)."""
    project = project or QgsProject.instance()
    sources = spec.get("sources") or []
    collections: List[str] = []
    for source in sources:
        collections += [c for c in source.get("collections") or [] if c not in collections]
    catalog = next((s.get("href", "") for s in sources if s.get("kind") == "static"), "")
    url = next((s.get("url", "") for s in sources if s.get("kind") == "stac"), "")
    values = {"layer": layer_id, "id_field": spec.get("id_field") or "",
              "source_kinds": ",".join(dict.fromkeys(s.get("kind", "") for s in sources)),
              "catalog": catalog, "stac_url": url, "collections": ",".join(collections),
              "start": start, "end": end, "event": event,
              "before_days": str(spec.get("before_days") or ""),
              "after_days": str(spec.get("after_days") or ""),
              "max_cloud": repr(float(spec.get("max_cloud_cover") or 0)) if
              spec.get("max_cloud_cover") is not None else "",
              "indices": ",".join(indices or spec.get("indices") or [])}
    for key, value in values.items():
        project.writeEntry(SCOPE, f"last_run/{key}", value)


def recall(project: Optional[QgsProject] = None) -> Dict[str, str]:
    """The last dock run's values ({} when the dock has run nothing in this project)."""
    project = project or QgsProject.instance()
    values = {key: project.readEntry(SCOPE, f"last_run/{key}", "")[0] for key in KEYS}
    return values if any(values.values()) else {}


def _date(text: str) -> Optional[QDateTime]:
    day = QDate.fromString(text or "", DATE)
    return QDateTime(day, QTime(0, 0)) if day.isValid() else None


def prefill(algorithm, source_kinds: List[str], index_names: List[str]) -> Dict[str, object]:
    """Set the defaults of ``algorithm``'s parameters (those it has) from the last dock run;
    returns what was set. ``source_kinds`` / ``index_names``: its enum options, in order."""
    last = recall()
    if not last:
        return {}
    project = QgsProject.instance()
    wanted: Dict[str, object] = {}
    layer = project.mapLayer(last.get("layer", "")) if last.get("layer") else None
    if layer is not None:
        wanted["INPUT"] = layer.id()
        if last.get("id_field"):
            wanted["ID_FIELD"] = last["id_field"]
    kinds = [k for k in last.get("source_kinds", "").split(",") if k in source_kinds]
    if kinds:
        wanted["SOURCES"] = [source_kinds.index(k) for k in kinds]
    for key, parameter in (("catalog", "CATALOG"), ("stac_url", "STAC_URL"),
                           ("collections", "COLLECTIONS")):
        if last.get(key):
            wanted[parameter] = last[key]
    for key, parameter in (("start", "START"), ("end", "END"), ("event", "EVENT_DATE")):
        value = _date(last.get(key, ""))
        if value is not None:
            wanted[parameter] = value
    for key, parameter in (("before_days", "BEFORE_DAYS"), ("after_days", "AFTER_DAYS"),
                           ("max_cloud", "MAX_CLOUD")):
        try:
            wanted[parameter] = float(last[key])
        except (KeyError, ValueError):
            pass
    chosen = [index_names.index(i) for i in last.get("indices", "").split(",")
              if i in index_names]
    if chosen:
        wanted["INDICES"] = chosen
    done = {}
    for name, value in wanted.items():
        definition = algorithm.parameterDefinition(name)
        if definition is not None:
            definition.setDefaultValue(value)
            done[name] = value
    return done
