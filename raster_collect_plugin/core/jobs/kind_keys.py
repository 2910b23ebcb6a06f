"""Which keys each job kind needs and which it uses: a key only other kinds (or another mode
of the kind) use is refused by ``spec.validate_spec``, never silently not used."""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

from ..compute.options import DASK_KINDS

# the keys a job of each kind cannot run without
NEEDS: Dict[str, Tuple[str, ...]] = {
    "search": ("aoi", "sources", "start", "end"),
    "composite": ("aoi", "sources", "start", "end", "output_dir"),
    "zonal": ("aoi", "sources", "start", "end", "output_dir"),
    "zonal-raster": ("aoi", "raster", "output_dir"),
    "hexagons": ("aoi", "output"),
    "sample": ("output_dir",),
    "storm": ("aoi", "event_date", "output_dir"),
    "sentinel-hub-statistics": ("aoi", "start", "end", "output_dir"),
    "sentinel-hub-batch-processing": ("aoi", "start", "end", "output_dir", "batch_output"),
    "sentinel-hub-byoc": ("raster", "bucket"),
    "sign": ("hrefs",),
    "monitor": ("aoi", "sources", "history_start", "history_end", "output_dir"),
    "validate": ("monitoring_dir", "references"),
}


_NO_DASK = ("runs no dask graph and makes no memory estimate (it works in the job's own "
            "process)")


def _all_but(*kinds: str) -> Tuple[str, ...]:
    return tuple(kind for kind in NEEDS if kind not in kinds)


# the kinds by what they do (the groups of USED_BY)
_COMPOSITES = ("composite", "zonal")
_OWN_COMPOSITES = ("composite", "zonal", "storm", "monitor")
_SEARCHES = ("search", "composite", "zonal", "storm", "monitor")
_HUB = ("sentinel-hub-statistics", "sentinel-hub-batch-processing", "sentinel-hub-byoc")
_HUB_BATCH = ("sentinel-hub-statistics", "sentinel-hub-batch-processing")
_HEXAGONS = ("zonal", "hexagons")
_STORM, _MONITOR, _VALIDATE, _BYOC = ("storm",), ("monitor",), ("validate",), _HUB[2:]
# The one table of keys only some kinds use: key -> (the kinds that use it, why another kind
# does not, read as "a {kind} job {why}"). Any other kind given the key refuses it (exit 2)
# instead of silently not using it. Not here: 'kind', 'overwrite', 'run_name' (every kind).
# A search takes 'output_dir' though it writes nothing there (the doors give their scratch
# folder, README says it needs none).
USED_BY: Dict[str, Tuple[Tuple[str, ...], str]] = {
    **{key: (_all_but("sample", "sign"), "reads no polygons") for key in (
        "aoi", "layer", "id_field", "ids")},
    "output_dir": (_all_but("hexagons", "sign"), "writes no output folder"),
    "output": (("search", "hexagons"), "writes no single 'output' file"),
    "start": (("search", *_COMPOSITES, *_HUB),
              "has no 'start' (a storm's windows are around 'event_date', a monitor's "
              "history starts at 'history_start')"),
    "end": (("search", *_COMPOSITES, *_HUB, "monitor"),
            "has no 'end' (a storm's windows are around 'event_date')"),
    "sources": (_SEARCHES, "searches no imagery sources"),
    "max_cloud_cover": ((*_SEARCHES, *_HUB_BATCH), "searches no scenes"),
    "buffer_m": (("search", *_COMPOSITES, "storm"), "buffers no polygons"),
    "resolution": ((*_OWN_COMPOSITES, *_HUB_BATCH), "chooses no pixel size"),
    "indices": ((*_COMPOSITES, "storm", *_HUB_BATCH),
                "computes no list of 'indices' (a monitor follows one 'index')"),
    **{key: (_OWN_COMPOSITES, "makes no composites of its own") for key in (
        "custom_indices", "mask_classes", "cloud_buffer_m", "crs")},
    "compute": (DASK_KINDS, _NO_DASK),
    "memory_budget": (DASK_KINDS, _NO_DASK),
    **{key: (_COMPOSITES, "makes no composites per period") for key in (
        "period", "method", "colour_composites", "item_ids")},
    "min_clear_fraction": (("zonal", "zonal-raster", "storm", *_HUB),
                           "has no clear-fraction threshold per polygon"),
    "coverage": (("zonal", "zonal-raster"), "has no pixel coverage rule per polygon"),
    "table_formats": (("zonal", "zonal-raster", "monitor"),
                      "writes its tables in its own formats"),
    "hexagon_area_m2": ((*_HEXAGONS, "storm", "monitor"), "makes no hexagons"),
    **{key: (_HEXAGONS, "makes no hexagons of an edge or an H3 resolution, nor clips them")
       for key in ("hexagon_edge_m", "h3_resolution", "clip")},
    "raster": (("zonal-raster", "sentinel-hub-byoc"), "reads no raster file"),
    **{key: (("zonal-raster",), "reads no raster's bands") for key in (
        "bands", "nodata", "ignore_nodata", "use_mask", "categorical")},
    **{key: (("sample",), "makes no sample") for key in ("small", "scenario")},
    **{key: (("sign",), "signs no hrefs") for key in ("hrefs", "signing")},
    **{key: (("storm", *_HUB), "sends no requests to Sentinel Hub") for key in (
        "base_url", "token_url", "pu_budget", "usage_ledger")},
    "request_budget": (_HUB, "counts no Sentinel Hub requests (a storm's radar counts "
                             "processing units: 'pu_budget')"),
    "interval": (("sentinel-hub-statistics", "sentinel-hub-byoc"),
                 "asks Sentinel Hub for no statistics per interval"),
    "cache_dir": (("sentinel-hub-statistics",), "keeps no Statistical API cache"),
    **{key: (_HUB_BATCH, "uses no Sentinel Hub batch API") for key in (
        "batch_output", "s3_region", "s3_send_keys")},
    "batch_features": (("sentinel-hub-statistics",),
                       "sends no polygons to the Batch Statistical API"),
    "poll_seconds": (_HUB, "follows no Sentinel Hub batch request or ingestion"),
    "tiling_grid": (("sentinel-hub-batch-processing",), "tiles nothing on a Sentinel Hub grid"),
    **{key: (_BYOC, "registers no BYOC collection") for key in (
        "bucket", "prefix", "collection_name", "collection_id", "grant_read")},
    **{key: (_STORM, "assesses no storm") for key in (
        "event_date", "before_days", "after_days", "before_items", "after_items",
        "thresholds", "sentinel_hub_radar")},
    **{key: (_MONITOR, "monitors no disturbance") for key in (
        "history_start", "history_end", "alerts_since", "min_alert_ha", "settle_days",
        "monitoring", "index", "harmonise")},
    **{key: (_VALIDATE, "validates no monitoring folder") for key in (
        "monitoring_dir", "references", "references_layer", "date_field", "min_fraction")},
}
# keys a kind uses in one of its modes only: (kind, the key deciding the mode, whether the
# keys are refused with it or without it) -> (the keys, why)
USED_IN_MODE: Dict[Tuple[str, str, bool], Tuple[Tuple[str, ...], str]] = {
    ("sentinel-hub-statistics", "batch_output", False): (
        ("batch_features", "s3_region", "s3_send_keys", "poll_seconds"),
        "without 'batch_output' uses no batch API"),
    ("sentinel-hub-statistics", "batch_output", True): (
        ("cache_dir",), "with 'batch_output' (the Batch Statistical API) keeps no local cache"),
    ("sentinel-hub-byoc", "aoi", False): (
        ("layer", "id_field", "ids", "start", "end", "interval", "min_clear_fraction"),
        "without 'aoi' reads no statistics back"),
    ("validate", "aoi", False): (
        ("layer",), "without 'aoi' scores the monitoring folder's own compartments"),
    ("storm", "sources", False): (
        ("max_cloud_cover",),
        "without 'sources' searches no scenes (its scenes are 'before_items' / 'after_items')"),
    ("storm", "sentinel_hub_radar", False): (
        ("base_url", "token_url", "pu_budget", "usage_ledger"),
        "without 'sentinel_hub_radar' sends no requests to Sentinel Hub"),
}


def unused_key_problem(spec: Dict[str, Any], kind: str) -> Optional[str]:
    """The first key of ``spec`` a job of ``kind`` would silently not use (USED_BY,
    USED_IN_MODE): one line naming it and what it is for; None when there is none."""
    for key, (kinds, why) in USED_BY.items():
        if spec.get(key) is not None and kind not in kinds:
            return (f"a {kind} job {why}: leave '{key}' out (it is for "
                    f"{', '.join(kinds)} jobs)")
    for (mode_kind, mode_key, refused_with), (keys, why) in USED_IN_MODE.items():
        if kind != mode_kind or bool(spec.get(mode_key)) != refused_with:
            continue
        for key in keys:
            if spec.get(key) is not None:
                return (f"a {kind} job {why}: leave '{key}' out (it is for a {kind} job "
                        f"{'without' if refused_with else 'with'} '{mode_key}')")
    return None
