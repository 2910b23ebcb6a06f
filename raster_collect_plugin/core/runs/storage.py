"""Where outputs live: a local folder or an object-store prefix (``s3://bucket/prefix``).

One small vocabulary for both, so the composite and zonal steps do not branch on it: join
names, open a filesystem (fsspec), hand GDAL a path it can read (``/vsis3/...``), upload a
finished local file. Credentials come from the usual AWS environment / profile (boto's chain);
nothing here stores them.
"""

from __future__ import annotations

import logging
import os
import posixpath
import shutil
from pathlib import Path
from typing import Dict, Optional, Tuple, Union
from urllib.parse import urlsplit

from .defaults import REPLACE_ADVICE

Location = Union[str, Path]
REMOTE_SCHEMES = ("s3", "gs", "az", "abfs", "http", "https")
# botocore's names for an endpoint that does not answer (connection refused, reset, timeout)
UNREACHABLE = ("EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError",
               "ConnectionClosedError", "ProxyConnectionError")
CURL_UNREACHABLE = ("Couldn't connect", "Failed to connect", "Connection refused",
                    "Could not resolve host", "Connection reset", "timed out")
log = logging.getLogger(__name__)


class OutputStoreError(ValueError):
    """An object-store output that cannot be written (no credentials, no such bucket): bad
    input, said before any work; the message says what to do."""

    exit_kind = "bad_input"


def check_output_store(location: Location) -> None:
    """Before any work: an ``s3://`` output's bucket exists and the credentials reach it. A
    missing bucket was created on the fly (a mistyped name made a new bucket), one with an
    invalid name or no credentials failed later as "reading scenes failed"."""
    parts = urlsplit(str(location))
    if parts.scheme != "s3":
        return
    if not parts.netloc:  # s3:// or s3:///x: boto's "Unable to locate credentials" traceback
        raise OutputStoreError(f"{location} names no bucket: give it as "
                               "s3://bucket/prefix")
    fs, path = filesystem(location, fresh=True)
    bucket = path.split("/", 1)[0]
    try:
        fs.info(bucket)
    except FileNotFoundError:
        raise OutputStoreError(f"the bucket {bucket!r} of {location} does not exist (or these "
                               "credentials cannot see it): create it or check the name in "
                               "--output") from None
    except PermissionError as error:
        raise OutputStoreError(f"cannot access the bucket {bucket!r} of {location} "
                               f"({first_line(error)}): check the AWS credentials' "
                               "permissions") from None
    except Exception as error:  # noqa: BLE001 - botocore's credential errors by name
        if "Credential" not in type(error).__name__:
            raise  # e.g. the endpoint does not answer: classified as the store's failure
        raise OutputStoreError(f"no AWS credentials for {location} ({first_line(error)}): "
                               "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or "
                               "AWS_PROFILE") from None


def is_remote(location: Location) -> bool:
    """True for object-store or HTTP URLs, False for local paths (and ``file://``)."""
    return urlsplit(str(location)).scheme in REMOTE_SCHEMES


def join(base: Location, *names: str) -> Union[str, Path]:
    """``base/name/...``: a Path for local folders, a URL string for remote ones."""
    if is_remote(base):
        return posixpath.join(str(base).rstrip("/"), *names)
    return Path(base).joinpath(*names)


def filesystem(location: Location, *, fresh: bool = False):
    """(fsspec filesystem, path inside it) of a location; ``fresh``: a new client, so the
    endpoint and keys are read from the environment now."""
    import fsspec

    return fsspec.core.url_to_fs(str(location), **({"skip_instance_cache": True} if fresh
                                                    else {}))


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
    atomic there: readers see the old object or the whole new one). Not into a prefix whose
    lock this run lost (``remote_lock.LockLost``)."""
    if is_remote(destination):
        from .held_locks import check_held

        check_held(str(destination))
        fs, path = filesystem(destination)
        fs.put_file(str(local), path)
    else:
        Path(destination).parent.mkdir(parents=True, exist_ok=True)
        temporary = Path(destination).with_name(f".{Path(destination).name}.part")
        shutil.copyfile(local, temporary)
        os.replace(temporary, destination)


def remove_tree(location: Location) -> None:
    """Delete a scratch folder or prefix; missing is fine. A cleanup never raises: it runs
    while another error propagates (often the store failing), which it must not hide; what
    cannot be removed is one warning line."""
    if is_remote(location):
        try:
            fs, path = filesystem(location)
            fs.rm(path, recursive=True)
        except FileNotFoundError:
            pass
        except Exception as error:  # noqa: BLE001 - any store failure; the caller's error wins
            log.warning("raster-collect: warning: could not remove the scratch prefix %s (%s); "
                        "delete it once the store answers", location, first_line(error))
    else:
        shutil.rmtree(location, ignore_errors=True)


def unreachable_store(error: BaseException) -> bool:
    """True when ``error`` says an object store's endpoint stopped answering (botocore via
    fsspec, or GDAL's curl writing a ``/vsis3/`` COG)."""
    kind = type(error)
    if kind.__name__ in UNREACHABLE and \
            kind.__module__.split(".")[0] in ("botocore", "aiobotocore", "s3fs"):
        return True
    text = str(error)
    return kind.__name__.startswith("CPLE_") and "/vsis3/" in text and \
        any(words in text for words in CURL_UNREACHABLE)


def store_stopped_answering(error: BaseException) -> bool:
    """True when ``error`` or one of its causes is :func:`unreachable_store`."""
    seen = set()
    while error is not None and id(error) not in seen:
        if unreachable_store(error):
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:300] if text else type(error).__name__


def split(location: Location) -> Tuple[str, str]:
    """(parent, name) of a location."""
    text = str(location).rstrip("/")
    return (text.rsplit("/", 1)[0], text.rsplit("/", 1)[1]) if is_remote(text) else \
        (str(Path(text).parent), Path(text).name)


def geopackage_output_problem(output: Path, polygons: Path, polygons_name: str,
                              what: str, *, overwrite: bool) -> Optional[str]:
    """What keeps ``output`` from being the GeoPackage of ``what`` (the hexagons, a search's
    footprints), said after its name, or None: a folder, below a file, not .gpkg, the
    polygon file itself (``polygons_name``: how the door names it), which it would replace,
    or, unless ``overwrite``, an existing file (with every other output's ``REPLACE_ADVICE``)."""
    if is_remote(output):  # it was written into a local folder named "s3:"
        return (f"is an object-store URL: the {what} are one local GeoPackage; give a local "
                f"file, e.g. {what}.gpkg, and copy it to the store afterwards")
    problem = output_file_problem(output, f"{what}.gpkg")
    if problem:
        return problem
    if output.suffix.lower() != ".gpkg":  # a GeoPackage it is, whatever the name says
        return f"must be a GeoPackage file ending in .gpkg, e.g. {output.with_suffix('.gpkg')}"
    if output.exists() and polygons.exists() and output.samefile(polygons):
        return (f"is the polygon file ({polygons_name}): it would be replaced by the {what}; "
                "choose another file")
    if not overwrite and output.exists():  # it was replaced without being asked
        return f"exists (its layers would be replaced by the {what}): {REPLACE_ADVICE}"
    return None


def output_file_problem(output: Path, example: str) -> Optional[str]:
    """What keeps ``output`` from being written as a file, said after its name ("is a folder:
    ..."), or None; checked before the work, not when the file is moved into place."""
    if output.is_dir():
        return f"is a folder: give the file to write, e.g. {output / example}"
    if any(parent.is_file() for parent in output.parents):
        return "lies below a file: choose another path"
    return None
