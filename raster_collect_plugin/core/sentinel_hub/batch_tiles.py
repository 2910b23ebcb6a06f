"""Batch Processing results: the feature manifest the service writes during analysis (its
tiles, their size and where each output goes: BatchV2.qmd "Feature Manifest"), the request
run from create to DONE with the estimate from that manifest checked before starting, and the
delivered COGs downloaded and mosaicked into one raster per index for the zonal statistics."""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

from ..sources.providers.base import ProviderError
from .batch import ANALYSED, FINISHED, _refused, follow, reported_cost
from .batch_processing import OUTPUT_ID, samples_per_pixel, tiles_pu
from .bucket import download, join, read_bytes
from .client import PROVIDER_NAME, CopernicusSettings, _reason


@dataclass
class BatchProcessingOutcome:
    """A Batch Processing request followed to its end, with the service's tiles."""

    request_id: str
    status: str
    estimated_pu: Optional[float]
    cost_pu: Optional[float]
    tiles: List[Dict] = field(default_factory=list)
    error: Optional[str] = None


def manifest_url(output_url: str, request_id: str) -> str:
    """``featureManifest-<requestId>.gpkg`` in the root of the delivery path (BatchV2.qmd)."""
    root = output_url.split("<", 1)[0].rstrip("/")
    return join(root, f"featureManifest-{request_id}.gpkg")


def read_manifest(url: str) -> List[Dict]:
    """The manifest's features (every ``feature_<crs>`` table): identifier, outputId, path,
    width, height and the CRS."""
    import geopandas as gpd
    import pyogrio

    with tempfile.TemporaryDirectory() as folder:
        local = Path(folder) / "manifest.gpkg"
        local.write_bytes(read_bytes(url))
        tiles = []
        for layer, _ in pyogrio.list_layers(local):
            if not str(layer).startswith("feature_"):
                continue
            frame = gpd.read_file(local, layer=layer)
            epsg = frame.crs.to_epsg() if frame.crs is not None else None
            for row in frame.itertuples():
                tiles.append({"identifier": str(row.identifier), "output": str(row.outputId),
                              "path": str(row.path), "width": int(row.width),
                              "height": int(row.height), "epsg": epsg})
    return tiles


def run_batch_processing(payload: Dict, settings: CopernicusSettings, *,
                         input_bands: Sequence[str], start: date, end: date,
                         check: Callable[[float], Optional[str]],
                         poll_seconds: float = 30.0, timeout_seconds: float = 24 * 3600,
                         progress: Optional[Callable[[float, str], None]] = None,
                         cancel: Optional[Callable[[], bool]] = None) -> BatchProcessingOutcome:
    """Create the request, ask for its analysis, read the feature manifest and estimate the
    cost from the service's own tiles; ``check(pu)`` returning a reason stops the request
    there (nothing processed, nothing charged). Otherwise start it and follow it until DONE,
    FAILED or STOPPED."""
    from sentinelhub import BatchProcessClient
    from sentinelhub.exceptions import DownloadFailedException

    client = BatchProcessClient(config=settings.sh_config())
    try:
        created = client.create(payload["processRequest"], input=payload["input"],
                                output=payload["output"], description=payload.get("description"))
    except DownloadFailedException as error:
        raise _refused(error, "Batch Processing") from None
    request_id = created.request_id

    def status() -> Dict:
        return client.client.get_json_dict(client._get_processing_url(request_id),
                                           use_session=True)

    options = dict(poll_seconds=poll_seconds, deadline=time.monotonic() + timeout_seconds,
                   progress=progress, cancel=cancel, label=f"batch processing {request_id}",
                   stop=lambda: client.stop_job(request_id))
    try:
        client.start_analysis(request_id)
        analysis = follow(status, ANALYSED, **options)
        if analysis.get("status") != "ANALYSIS_DONE":
            return BatchProcessingOutcome(request_id, str(analysis.get("status")), None,
                                          reported_cost(analysis), [],
                                          analysis.get("_stopped_following")
                                          or analysis.get("error"))
        delivery = payload["output"]["delivery"]["s3"]["url"]
        tiles = [t for t in read_manifest(manifest_url(delivery, request_id))
                 if t["output"] == OUTPUT_ID]
        samples = samples_per_pixel(payload["processRequest"]["evalscript"], start, end)
        estimated = tiles_pu([(t["width"], t["height"]) for t in tiles],
                             input_bands=input_bands, samples=samples)
        reason = check(estimated)
        if reason:
            client.stop_job(request_id)
            raise ProviderError(f"{PROVIDER_NAME}: batch processing {request_id} stopped "
                                f"after its analysis ({len(tiles)} tiles, about "
                                f"{estimated:.1f} PU): {reason}")
        if progress is not None:
            progress(0.0, f"{PROVIDER_NAME}: {len(tiles)} tiles, about {estimated:.1f} PU")
        client.start_job(request_id)
        done = follow(status, FINISHED, **options)
    except DownloadFailedException as error:
        raise ProviderError(f"{PROVIDER_NAME}: batch processing {request_id} was created but "
                            f"could not be analysed, started or followed ({_reason(error)})"
                            ) from None
    return BatchProcessingOutcome(request_id, str(done.get("status")), estimated,
                                  reported_cost(done), tiles,
                                  done.get("_stopped_following") or done.get("error")
                                  or done.get("stoppedStatusReason"))


def mosaic_tiles(tiles: Sequence[Dict], folder: Path, *, indices: Sequence[str], epsg: int,
                 stem: str, tags: Optional[Dict[str, str]] = None) -> Dict[str, Path]:
    """Download the tiles delivered in ``epsg`` (other UTM zones are left out and named by
    the caller) and mosaic them: one COG per index (band n of the evalscript's output),
    NaN where no tile or no clear pixel. Returns index -> local COG."""
    import numpy as np
    import rasterio
    from rasterio.merge import merge

    from ..outputs.files import write_cog

    chosen = [t for t in tiles if t["epsg"] == epsg]
    if not chosen:
        raise ProviderError(f"{PROVIDER_NAME}: no delivered tile is in EPSG:{epsg}")
    local = [download(t["path"], folder / "tiles" / f"{t['identifier']}.tif") for t in chosen]
    datasets = [rasterio.open(path) for path in local]
    try:
        array, transform = merge(datasets, nodata=float("nan"), dtype="float32")
    finally:
        for dataset in datasets:
            dataset.close()
    out = {}
    for n, index in enumerate(indices):
        band = array[n].astype("float32")
        out[index] = write_cog(folder / f"{stem}_{index}.tif", band[np.newaxis],
                               transform=transform, crs=f"EPSG:{epsg}", nodata=float("nan"),
                               band_descriptions=[index],
                               tags={"index": index, **(tags or {})})
    return out
