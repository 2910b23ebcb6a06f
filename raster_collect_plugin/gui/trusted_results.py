"""The dock trusts only what a run's manifest lists (no Qt, no heavy imports: QGIS side).

A job's result names its files; the output folder's ``manifest.json`` (written last by the run,
see runs/folder.py) is the authority. Files it does not list, or whose size differs, are dropped,
so a folder a killed or concurrent run touched never shows half-written layers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, Optional

MANIFEST_NAME = "manifest.json"  # core.manifest.MANIFEST_NAME (core is not imported here)


def _listed(folder: Path) -> Optional[Dict[str, int]]:
    try:
        manifest = json.loads((folder / MANIFEST_NAME).read_text(encoding="utf-8"))
        return {name: int(entry.get("size", -1)) for name, entry in manifest["files"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def trusted(result: Dict) -> Dict:
    """``result`` with every file path the manifest of ``result['output_dir']`` does not list
    (with that size) removed; collections left without an index raster are dropped."""
    folder = Path(result.get("output_dir") or "")
    listed = _listed(folder) if result.get("output_dir") else None
    if listed is None:
        listed = {}

    def ok(path) -> bool:
        try:
            relative = Path(path).resolve().relative_to(folder.resolve()).as_posix()
            return listed.get(relative) == Path(path).stat().st_size
        except (OSError, ValueError):
            return False

    clean = dict(result)
    clean["files"] = {k: v for k, v in (result.get("files") or {}).items() if ok(v)}
    collections = []
    for collection in result.get("collections") or []:
        indices = {k: v for k, v in (collection.get("indices") or {}).items() if ok(v)}
        if indices:
            collections.append(dict(collection, indices=indices))
    clean["collections"] = collections
    return clean
