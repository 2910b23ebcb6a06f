"""Where outputs live: a local folder or an object-store prefix (``s3://bucket/prefix``).

One small vocabulary for both, so the composite and zonal steps do not branch on it: join
names, open a filesystem (fsspec), hand GDAL a path it can read (``/vsis3/...``), upload a
finished local file. Credentials come from the usual AWS environment / profile (boto's chain);
nothing here stores them.
"""

from __future__ import annotations

import os
import posixpath
import shutil
from pathlib import Path
from typing import Dict, Tuple, Union
from urllib.parse import urlsplit

Location = Union[str, Path]
REMOTE_SCHEMES = ("s3", "gs", "az", "abfs", "http", "https")


def is_remote(location: Location) -> bool:
    """True for object-store or HTTP URLs, False for local paths (and ``file://``)."""
    return urlsplit(str(location)).scheme in REMOTE_SCHEMES


def join(base: Location, *names: str) -> Union[str, Path]:
    """``base/name/...``: a Path for local folders, a URL string for remote ones."""
    if is_remote(base):
        return posixpath.join(str(base).rstrip("/"), *names)
    return Path(base).joinpath(*names)


def filesystem(location: Location):
    """(fsspec filesystem, path inside it) of a location."""
    import fsspec

    return fsspec.core.url_to_fs(str(location))


def gdal_path(location: Location) -> str:
    """A path GDAL opens directly: ``s3://b/k`` -> ``/vsis3/b/k``; HTTP via ``/vsicurl/``."""
    parts = urlsplit(str(location))
    if parts.scheme == "s3":
        return f"/vsis3/{parts.netloc}{parts.path}"
    if parts.scheme in ("http", "https"):
        return f"/vsicurl/{location}"
    return str(location)


def gdal_s3_options() -> Dict[str, str]:
    """GDAL settings for S3-compatible endpoints given the boto way (``AWS_ENDPOINT_URL``),
    which GDAL does not read itself: host, http(s) and path-style addressing."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if not endpoint:
        return {}
    parts = urlsplit(endpoint)
    return {"AWS_S3_ENDPOINT": parts.netloc or parts.path,
            "AWS_HTTPS": "YES" if parts.scheme == "https" else "NO",
            "AWS_VIRTUAL_HOSTING": "FALSE"}


def put_file(local: Location, destination: Location) -> None:
    """Copy a finished local file to ``destination`` (one PUT on object stores, which is
    atomic there: readers see the old object or the whole new one)."""
    if is_remote(destination):
        fs, path = filesystem(destination)
        fs.put_file(str(local), path)
    else:
        Path(destination).parent.mkdir(parents=True, exist_ok=True)
        temporary = Path(destination).with_name(f".{Path(destination).name}.part")
        shutil.copyfile(local, temporary)
        os.replace(temporary, destination)


def remove_tree(location: Location) -> None:
    """Delete a scratch folder or prefix; missing is fine."""
    if is_remote(location):
        fs, path = filesystem(location)
        try:
            fs.rm(path, recursive=True)
        except FileNotFoundError:
            pass
    else:
        shutil.rmtree(location, ignore_errors=True)


def split(location: Location) -> Tuple[str, str]:
    """(parent, name) of a location."""
    text = str(location).rstrip("/")
    return (text.rsplit("/", 1)[0], text.rsplit("/", 1)[1]) if is_remote(text) else \
        (str(Path(text).parent), Path(text).name)
