"""The user's object storage as the Sentinel Hub batch APIs use it: how a request names a
bucket (``s3`` with url, region and optional keys), the bucket policy that lets the service in
without keys, the forests written there as a GeoPackage the service accepts, and the results
read back.

Sources (CDSE documentation, APIs/SentinelHub/…): BatchStatistical.qmd "Input polygons as
GeoPackage file" (one CRS Sentinel Hub supports, an ``identifier`` text column) and "Bucket
settings" (the policy below), BatchStatistical/resources/python/cdse_set_bucket_policy.py (the
CDSE object storage host), ApiReference/openapi.v1.yaml ``S3BucketInfoTemplated`` (``url``,
``accessKey``, ``secretAccessKey``, ``region``: "If omitted, the region of the Sentinel Hub
deployment that the request is submitted to is assumed").

Our side reads and writes the bucket with the usual AWS environment (``AWS_ENDPOINT_URL``,
``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` or a profile), through fsspec; keys are sent to
Sentinel Hub only when the user asks (``send_keys``), never written anywhere.
"""

from __future__ import annotations

import os
import posixpath
import tempfile
from pathlib import Path
from typing import Dict, Iterator, Optional, Tuple

from ..sources.providers.base import ProviderError
from . import rules as rules
from .client import PROVIDER_NAME

# BatchStatistical.qmd "Bucket settings": the principal CDSE's Sentinel Hub uses
SENTINEL_HUB_PRINCIPAL = "arn:aws:iam::ddf4c98b5e6647f0a246f0624c8341d9:root"
# cdse_set_bucket_policy.py: host = "https://s3.waw3-1.cloudferro.com/" (CDSE buckets)
CDSE_S3_ENDPOINT = "https://s3.waw3-1.cloudferro.com"
CDSE_S3_REGION = "waw3-1"
IDENTIFIER = "identifier"  # the GeoPackage column whose value names a result


def bucket_policy(bucket: str) -> Dict:
    """The statement BatchStatistical.qmd asks to add to a bucket's policy so Sentinel Hub can
    read the features and write the results without keys in the request."""
    return {"Version": "2012-10-17", "Statement": [{
        "Sid": "Sentinel Hub permissions", "Effect": "Allow",
        "Principal": {"AWS": SENTINEL_HUB_PRINCIPAL}, "Action": ["s3:*"],
        "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]}]}


def s3_access(url: str, *, region: Optional[str] = CDSE_S3_REGION,
              send_keys: bool = False) -> Dict:
    """``{"s3": {...}}`` for a request. Without ``send_keys`` no credentials are sent: the
    bucket policy (``bucket_policy``) grants the service access. With it, the keys come from
    ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``."""
    if not str(url).startswith("s3://"):
        raise ProviderError(f"{PROVIDER_NAME}: batch requests read and write object storage: "
                            f"give an s3:// URL, not {url!r}")
    spec: Dict[str, str] = {"url": str(url)}
    if region:
        spec["region"] = region
    if send_keys:
        key, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get(
            "AWS_SECRET_ACCESS_KEY")
        if not key or not secret:
            raise ProviderError(f"{PROVIDER_NAME}: sending bucket keys needs "
                                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; or leave the keys "
                                "out and grant Sentinel Hub access with the bucket policy")
        spec.update(accessKey=key, secretAccessKey=secret)
    return {"s3": spec}


def write_features(zones, id_field: str, url: str) -> Tuple[int, Dict[str, object]]:
    """Write the polygons to ``url`` as a GeoPackage the batch APIs accept: one CRS Sentinel
    Hub supports (reprojected to the AOI's UTM zone when theirs is not), an ``identifier``
    text column holding the forest id. Returns the EPSG code used and identifier -> forest id
    (to map the results back)."""
    if zones.crs is None:
        raise ProviderError(f"{PROVIDER_NAME}: the polygons have no CRS; set one and retry")
    epsg = rules.request_epsg(zones)
    frame = zones.to_crs(epsg)
    identifiers = [str(value) for value in frame[id_field]]
    if len(set(identifiers)) != len(identifiers):
        raise ProviderError(f"{PROVIDER_NAME}: the values of {id_field!r} must be unique: "
                            "each one names a batch result")
    import geopandas as gpd

    out = gpd.GeoDataFrame({IDENTIFIER: identifiers}, geometry=list(frame.geometry),
                           crs=f"EPSG:{epsg}")
    with tempfile.TemporaryDirectory() as folder:
        local = Path(folder) / "features.gpkg"
        out.to_file(local, layer="features", driver="GPKG")
        upload(local, url)
    return epsg, dict(zip(identifiers, frame[id_field]))


def s3_filesystem(url: str):
    """(fsspec filesystem, path) of an ``s3://`` URL with a fresh client (the endpoint and
    keys read from the environment now): every Sentinel Hub bucket call goes through here."""
    from ..runs.storage import filesystem

    try:
        return filesystem(url, fresh=True)
    except ImportError as error:
        raise ProviderError(f"{PROVIDER_NAME}: reading {url} needs s3fs ({error})") from None


def upload(local: Path, url: str) -> None:
    """One PUT of a local file to ``url``."""
    fs, path = s3_filesystem(url)
    try:
        fs.put_file(str(local), path)
    except Exception as error:  # noqa: BLE001 - botocore/s3fs raise many kinds
        raise ProviderError(f"{PROVIDER_NAME}: could not write {url} ({_first(error)}); check "
                            "AWS_ENDPOINT_URL and your bucket credentials") from None


def list_files(prefix: str, suffix: str) -> Iterator[str]:
    """``s3://`` URLs of the objects under ``prefix`` ending in ``suffix`` (any depth)."""
    fs, path = s3_filesystem(prefix)
    try:
        found = fs.find(path.rstrip("/") + "/")
    except FileNotFoundError:
        return iter(())
    return iter(sorted(f"s3://{key}" for key in found if key.endswith(suffix)))


def read_bytes(url: str) -> bytes:
    fs, path = s3_filesystem(url)
    return fs.cat_file(path)


def download(url: str, destination: Path) -> Path:
    """Copy one object to a local file (written whole, then renamed)."""
    fs, path = s3_filesystem(url)
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(f".{destination.name}.part")
    fs.get_file(path, str(partial))
    partial.replace(destination)
    return destination


def join(url: str, *names: str) -> str:
    return posixpath.join(url.rstrip("/"), *names)


def _first(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:200] if text else type(error).__name__
