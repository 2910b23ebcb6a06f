"""Bring Your Own COG (BYOC): the project's composites (or a user's COGs) on S3 registered as a
Sentinel Hub collection, so Process and Statistical read them like any other collection
(data type ``byoc-<collectionId>``; ``byoc_read`` reads them back).

Sources: CDSE documentation ``APIs/SentinelHub/Byoc.qmd`` ("Constraints and settings": the
supported projections, 256-2048 px internal tiles, band names that are JavaScript
identifiers; "Configuring collections": ``name``, ``s3Bucket``, ``additionalData.bands`` with
``source``/``bandIndex``/``bitDepth``/``sampleFormat``; "Ingesting the tiles": a tile ``path``
with the ``(BAND)`` placeholder, ``sensingTime``, ``coverGeometry`` with
``crs.properties.name`` ``urn:ogc:def:crs:EPSG::<code>``), ``APIs/SentinelHub/Byoc/Examples.qmd``
("Checking the tile ingestion status": ``INGESTED``, ``FAILED`` with
``additionalData.failedIngestionCause``; other states are in progress) and sentinelhub-py
3.12 ``sentinelhub/api/byoc.py`` (``SentinelHubBYOC``: ``create_collection``, ``create_tile``,
``get_tile``; responses under ``data``). BYOC needs a Copernicus Service account.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Dict, List, Optional

from ..sources.providers.base import ProviderError
from .client import PROVIDER_NAME, CopernicusSettings, _reason, http_status
from .rules import QuotaBudget

# Byoc.qmd, "Constraints and settings": the projections a COG may use
BYOC_EPSG = frozenset({4326, 3857, 3035, 6933, *range(32601, 32661), *range(32701, 32761)})
# ingestion states (API reference, ByocTile.status); INGESTED and FAILED are final
TILE_STATES = ("WAITING", "QUEUED", "INGESTING", "INGESTED", "FAILED")
FINAL_STATES = ("INGESTED", "FAILED")
MIN_BLOCK, MAX_BLOCK = 256, 2048
PU_PER_BYOC_CHANGE = 1.0  # each non-GET BYOC request (Overview/ProcessingUnit.qmd)
ACCOUNT_NOTE = ("BYOC needs a Copernicus Service account (other CDSE accounts get HTTP 403) "
                "and a bucket whose policy lets Sentinel Hub read it (Byoc.qmd, "
                "\"Bucket settings\")")
_SAMPLE_FORMAT = {"f": "FLOAT", "u": "UINT", "i": "INT"}


@dataclass
class LocalTile:
    """One BYOC tile before upload: its folder name, its files (band source -> COG) and when
    it was sensed (None for a tile without time)."""

    name: str
    files: Dict[str, Path]
    sensing_time: Optional[datetime]
    cover: dict


@dataclass
class ByocPlan:
    """What to upload and register: the collection's bands, its tiles, and the grid the COGs
    share (resolution, CRS, origin) so reads can be pixel-aligned."""

    bands: Dict[str, dict]
    tiles: List[LocalTile]
    resolution: float
    epsg: int
    origin: tuple
    kind: str = "cog"  # "composite": the project's per-period index stack


@dataclass
class ByocOutcome:
    """A registered collection and the final state of each of its tiles."""

    collection_id: str
    data_type: str
    tiles: Dict[str, str]
    failures: Dict[str, str] = field(default_factory=dict)
    notes: List[str] = field(default_factory=list)

    @property
    def ingested(self) -> bool:
        return bool(self.tiles) and all(s == "INGESTED" for s in self.tiles.values())


def band_name(text: str, fallback: str) -> str:
    """A band name that is a valid JavaScript identifier (Byoc.qmd), from a description."""
    name = re.sub(r"[^A-Za-z0-9_$]", "_", text or "").strip("_") or fallback
    return f"b_{name}" if name[0].isdigit() else name


def _band_spec(source: str, index: int, dtype) -> dict:
    import numpy as np

    kind = np.dtype(dtype)
    return {"source": source, "bandIndex": index, "bitDepth": kind.itemsize * 8,
            "sampleFormat": _SAMPLE_FORMAT[kind.kind]}


def _period_start(label: str) -> Optional[datetime]:
    for pattern in ("%Y-%m-%d", "%Y-%m", "%Y"):
        try:
            return datetime.strptime(label, pattern).replace(tzinfo=timezone.utc)
        except ValueError:
            continue
    return None


class ByocInputError(ProviderError):
    """A raster BYOC cannot take (unreadable, a CRS it refuses): the user's to fix (exit 2,
    before anything is uploaded), not a failure of the service."""

    exit_kind = "bad_input"  # errors.classify


def _check_crs(dataset, path: Path) -> int:
    epsg = dataset.crs.to_epsg() if dataset.crs else None
    if epsg not in BYOC_EPSG:
        raise ByocInputError(f"{path.name}: BYOC accepts WGS 84, Web Mercator, UTM, LAEA Europe "
                            f"(EPSG:3035) or EASE-Grid 2.0 (EPSG:6933), not {dataset.crs}; "
                            "reproject it (e.g. to its UTM zone) first")
    return int(epsg)


def _tiled_for_byoc(dataset) -> bool:
    """Internal tiles 256-2048 px a side (Byoc.qmd); the project writes 128 px tiles."""
    rows, cols = dataset.block_shapes[0]
    return bool(dataset.profile.get("tiled")) and MIN_BLOCK <= min(rows, cols) and \
        max(rows, cols) <= MAX_BLOCK


def _cover(bounds, epsg: int) -> dict:
    from shapely.geometry import box, mapping

    cover = dict(mapping(box(*bounds)))
    cover["coordinates"] = [[list(point) for point in ring] for ring in cover["coordinates"]]
    cover["crs"] = {"type": "name", "properties": {"name": f"urn:ogc:def:crs:EPSG::{epsg}"}}
    return cover


def plan_cog(path: Path, work_dir: Path, *, sensing_time: Optional[datetime] = None,
             tile_name: Optional[str] = None) -> ByocPlan:
    """A BYOC plan for one COG. The project's composite (an ``index`` tag, one band per
    period) becomes one tile per period, sensed at the period's start, with one band named
    after the index, so a monthly Statistical request returns the composite's months. Any
    other COG becomes one tile whose bands are named after its band descriptions."""
    import rasterio
    import rasterio.errors

    from ..outputs.files import write_cog

    path = Path(path)
    try:
        opened = rasterio.open(path)
    except rasterio.errors.RasterioIOError as error:  # was a traceback
        raise ByocInputError(f"{path}: not a raster this tool can read "
                             f"({str(error).splitlines()[0]}): give a GeoTIFF / COG") from None
    with opened as dataset:
        epsg = _check_crs(dataset, path)
        tags = dataset.tags()
        labels = list(dataset.descriptions)
        starts = [_period_start(label or "") for label in labels]
        grid = dict(resolution=float(dataset.res[0]), epsg=epsg,
                    origin=(dataset.transform.c, dataset.transform.f))
        cover = _cover(dataset.bounds, epsg)
        if tags.get("index") and all(starts):
            index = band_name(tags["index"], "index")
            tiles = []
            for n, (label, start) in enumerate(zip(labels, starts), start=1):
                folder = re.sub(r"[^A-Za-z0-9_.-]", "_", label)
                target = Path(work_dir) / folder / f"{index}.tif"
                write_cog(target, dataset.read(n), transform=dataset.transform,
                          crs=dataset.crs, nodata=dataset.nodata, band_descriptions=[index],
                          tags={"index": tags["index"], "period": label})
                tiles.append(LocalTile(target.parent.name, {index: target}, start, cover))
            return ByocPlan({index: _band_spec(index, 1, dataset.dtypes[0])}, tiles,
                            kind="composite", **grid)
        source = band_name(path.stem, "cog")
        bands: Dict[str, dict] = {}
        for n, (label, dtype) in enumerate(zip(labels, dataset.dtypes), start=1):
            name = band_name(label or "", f"B{n}")
            if name in bands:  # two bands described alike: the first was silently dropped
                name = f"{name}_{n}"
            bands[name] = _band_spec(source, n, dtype)
        local = path
        if not _tiled_for_byoc(dataset):  # re-tiled, values unchanged
            local = Path(work_dir) / (tile_name or source) / f"{source}.tif"
            write_cog(local, dataset.read(), transform=dataset.transform, crs=dataset.crs,
                      nodata=dataset.nodata, band_descriptions=labels, tags=tags)
    return ByocPlan(bands, [LocalTile(tile_name or source, {source: local}, sensing_time,
                                      cover)], **grid)


def upload_tiles(plan: ByocPlan, *, bucket: str, prefix: str) -> Dict[str, str]:
    """Copy each tile's files to ``s3://bucket/prefix/<tile>/<source>.tif``; returns tile name
    -> the tile ``path`` BYOC expects (``prefix/<tile>/(BAND).tif``). The endpoint and keys
    are the usual AWS ones (``AWS_ENDPOINT_URL``, ...)."""
    from .bucket import upload

    base = prefix.strip("/")
    paths = {}
    for tile in plan.tiles:
        folder = f"{base}/{tile.name}" if base else tile.name
        for source, local in tile.files.items():
            upload(local, f"s3://{bucket}/{folder}/{source}.tif")
        paths[tile.name] = f"{folder}/(BAND).tif"
    return paths


# Byoc.qmd, "Bucket settings": the statement that lets Sentinel Hub read the bucket
SENTINEL_HUB_PRINCIPAL = "arn:aws:iam::ddf4c98b5e6647f0a246f0624c8341d9:root"
POLICY_SID = "Sentinel Hub permissions"


def read_statement(bucket: str) -> dict:
    """The documented bucket-policy statement for ``bucket``."""
    return {"Sid": POLICY_SID, "Effect": "Allow",
            "Principal": {"AWS": SENTINEL_HUB_PRINCIPAL},
            "Action": ["s3:GetBucketLocation", "s3:ListBucket", "s3:GetObject"],
            "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]}


def grant_sentinel_hub_read(bucket: str) -> bool:
    """Add the documented statement to the bucket's policy (other statements kept); False
    when it was already there. Needs the right to change the bucket policy."""
    import json

    from .bucket import s3_filesystem

    fs, _ = s3_filesystem(f"s3://{bucket}")
    try:
        try:
            policy = json.loads(fs.call_s3("get_bucket_policy", Bucket=bucket)["Policy"])
        except FileNotFoundError:  # s3fs's name for NoSuchBucketPolicy: the bucket has none
            policy = {"Version": "2012-10-17", "Statement": []}
        statements = policy.setdefault("Statement", [])
        if any(s.get("Sid") == POLICY_SID or SENTINEL_HUB_PRINCIPAL in json.dumps(s)
               for s in statements):
            return False
        statements.append(read_statement(bucket))
        fs.call_s3("put_bucket_policy", Bucket=bucket, Policy=json.dumps(policy))
    except PermissionError as error:  # was "choose a folder you can write to (--output)"
        raise ByocInputError(
            f"{PROVIDER_NAME}: these AWS credentials may not read or change the policy of "
            f"bucket {bucket} ({str(error).splitlines()[0] if str(error) else 'AccessDenied'}):"
            " ask its owner to add the statement --dry-run shows (bucket_policy_statement), "
            "or drop --grant-read ('grant_read')") from None
    return True


def collection_payload(name: str, bucket: str, bands: Dict[str, dict]) -> dict:
    """The create-collection body (Byoc.qmd, "Configuring collections")."""
    return {"name": name, "s3Bucket": bucket, "additionalData": {"bands": bands}}


def tile_payload(path: str, tile: LocalTile) -> dict:
    """The create-tile body (Byoc/Examples.qmd, "Creating a tile")."""
    body = {"path": path, "coverGeometry": tile.cover}
    if tile.sensing_time is not None:
        body["sensingTime"] = tile.sensing_time.strftime("%Y-%m-%dT%H:%M:%SZ")
    return body


def check_registration(plan: ByocPlan, *, settings: CopernicusSettings,
                       collection_id: Optional[str], budget: Optional[QuotaBudget]):
    """Before anything is uploaded or sent: the credentials (MissingCredentials, exit 2) and
    the budget for the collection and tiles to create (1 PU each). Returns the SHConfig."""
    config = settings.sh_config()
    posts = len(plan.tiles) + (collection_id is None)
    reason = budget.check(pu=posts * PU_PER_BYOC_CHANGE, requests=posts) if budget else None
    if reason:
        raise ProviderError(f"{PROVIDER_NAME}: {reason}")
    return config


def register_collection(plan: ByocPlan, tile_paths: Dict[str, str], *, name: str, bucket: str,
                        settings: CopernicusSettings, collection_id: Optional[str] = None,
                        poll_seconds: float = 10.0, timeout_seconds: float = 3600.0,
                        budget: Optional[QuotaBudget] = None,
                        progress: Optional[Callable[[float, str], None]] = None,
                        cancel: Optional[Callable[[], bool]] = None) -> ByocOutcome:
    """Create the collection (or add to ``collection_id``), add one tile per uploaded folder
    and poll each tile until INGESTED or FAILED (the failure cause is kept).

    Cost: each non-GET BYOC request costs 1 PU (Overview/ProcessingUnit.qmd, "Data
    ingestion"): checked against ``budget`` first and each one sent written to its ledger."""
    from sentinelhub import SentinelHubBYOC
    from sentinelhub.exceptions import DownloadFailedException

    client = SentinelHubBYOC(config=check_registration(plan, settings=settings,
                                                       collection_id=collection_id,
                                                       budget=budget))

    def spent() -> None:
        if budget is not None:
            budget.record(pu=PU_PER_BYOC_CHANGE, requests=1)

    try:
        if collection_id is None:
            created = client.create_collection(collection_payload(name, bucket, plan.bands))
            collection_id = created["id"]
            spent()
        ids = {}
        for tile in plan.tiles:
            ids[tile.name] = client.create_tile(collection_id, tile_payload(
                tile_paths[tile.name], tile))["id"]
            spent()
    except DownloadFailedException as error:
        if http_status(error) == 403:
            raise ProviderError(f"{PROVIDER_NAME}: this account may not use BYOC (HTTP 403). "
                                + ACCOUNT_NOTE) from None
        raise ProviderError(f"{PROVIDER_NAME}: BYOC registration failed "
                            f"({_reason(error)})") from None
    states = {name_: "WAITING" for name_ in ids}
    failures: Dict[str, str] = {}
    deadline = time.monotonic() + timeout_seconds
    try:
        while True:
            for tile_name, tile_id in ids.items():
                if states[tile_name] in FINAL_STATES:
                    continue
                tile = client.get_tile(collection_id, tile_id)
                states[tile_name] = str(tile.get("status"))
                if states[tile_name] == "FAILED":
                    failures[tile_name] = str((tile.get("additionalData") or {}).get(
                        "failedIngestionCause") or "no cause given")
            done = sum(s in FINAL_STATES for s in states.values())
            if progress is not None:
                progress(done / len(states), f"{PROVIDER_NAME}: BYOC {done} of {len(states)} "
                         "tiles ingested or failed")
            if done == len(states):
                break
            if (cancel is not None and cancel()) or time.monotonic() > deadline:
                return ByocOutcome(collection_id, f"byoc-{collection_id}", states, failures,
                                   ["stopped following the ingestion; it continues on the "
                                    "service: check the tiles' status later"])
            time.sleep(poll_seconds)
    except DownloadFailedException as error:
        raise ProviderError(f"{PROVIDER_NAME}: BYOC collection {collection_id} was created but "
                            f"its tiles could not be followed ({_reason(error)})") from None
    return ByocOutcome(collection_id, f"byoc-{collection_id}", states, failures)
