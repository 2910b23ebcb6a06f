"""odc-stac's rasterio reader with errors that name the scene's file: a corrupt tile becomes
"<url> is corrupt or unreadable ... re-download it", not GDAL's "Read failed. See previous
exception for details." (odc-stac raises rasterio's error without the file it was reading)."""

from __future__ import annotations

import logging
from typing import Iterator
from urllib.parse import urlsplit, urlunsplit

import rasterio
from odc.loader import RioDriver, RioReader

from .errors import LoadError

# GDAL/libtiff messages of a file whose bytes cannot be decoded (not a network failure)
_DECODE_MARKERS = ("Decoding error", "TIFFReadEncodedTile", "TIFFReadEncodedStrip",
                   "IReadBlock failed", "TIFFFillTile", "TIFFFillStrip", "not a TIFF",
                   "Not a TIFF", "incorrect header check", "invalid block type",
                   "LZWDecode", "ZIPDecode", "JPEGLib", "ZSTD", "LERC", "WEBP",
                   "Premature end", "Read error", "truncated", "corrupt")

# ... and of a failed or refused request: those keep their own message (an expired token is
# renewed on "HTTP response code: 403", whatever libtiff says after it)
_NETWORK_MARKERS = ("HTTP response code", "HTTP error", "Curl error", "CURL error", "timed out",
                    "Could not resolve", "Connection refused", "Connection reset",
                    "SSL", "AuthenticationFailed", "Forbidden", "No such file",
                    "does not exist")


class _KnownFailure(logging.Filter):
    """Drops odc-stac's own "Failed to load ..." log line: the error raised names the file."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Failed to load")


logging.getLogger("odc.loader._rio").addFilter(_KnownFailure())


class CorruptAsset(LoadError):
    """A scene's file cannot be decoded; the message names it and what to do."""


def shown_url(uri: str) -> str:
    """``uri`` without its query string (a signed URL's token never reaches a message)."""
    parts = urlsplit(uri)
    if parts.query and parts.scheme:
        return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    return uri


def _messages(error: BaseException) -> Iterator[str]:
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield str(error)
        error = error.__cause__ or error.__context__


def corrupt_asset_error(uri: str, error: BaseException):
    """CorruptAsset for ``uri`` when ``error`` (and its causes) say its bytes could not be
    decoded, else None (network and other failures keep their own message)."""
    messages = list(_messages(error))
    if not any(marker in text for text in messages for marker in _DECODE_MARKERS):
        return None
    if any(marker in text for text in messages for marker in _NETWORK_MARKERS):
        return None
    detail = messages[-1].strip().splitlines()[0][:200] if messages[-1].strip() else ""
    return CorruptAsset(
        f"{shown_url(uri)} is corrupt or unreadable (GDAL: {detail}); no value was computed "
        "from it: re-download the file, or, if a provider serves it, the provider may be "
        "serving a broken file: try again later or leave that scene out")


def is_local_file(uri: str) -> bool:
    """A path (or file: URL) on this machine's file systems, not a URL or a /vsi... path."""
    return uri.startswith("file:") or ("://" not in uri and not uri.startswith("/vsi"))


class _NamingReader(RioReader):
    def read(self, cfg, dst_geobox, *, dst=None, selection=None):
        try:
            if is_local_file(self._src.uri):
                # VSI_CACHE (set for HTTP, where it saves requests) would round every local
                # read up to its 32-64 KB blocks: 1.5x the tiles' bytes on a strip (issue 31)
                with rasterio.Env(VSI_CACHE=False):
                    return super().read(cfg, dst_geobox, dst=dst, selection=selection)
            return super().read(cfg, dst_geobox, dst=dst, selection=selection)
        except Exception as error:  # rasterio raises several error types for one bad tile
            corrupt = corrupt_asset_error(self._src.uri, error)
            if corrupt is None:
                raise
            raise corrupt from error


class NamingRioDriver(RioDriver):
    """odc-stac's rasterio driver whose reads name the file of a corrupt tile."""

    def open(self, src, ctx) -> RioReader:
        return _NamingReader(src, ctx)
