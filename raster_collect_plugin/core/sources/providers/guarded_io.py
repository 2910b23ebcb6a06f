"""Reading a static catalog safely: timeouts on every HTTP read, and no escaping its root.

A catalog is data from someone else. A remote catalog must never make the tool open local files
(``file://`` or absolute paths in its links or assets), and no catalog may lead the crawler out
of its own folder with ``../`` links.
"""

from __future__ import annotations

import ntpath
import os
import posixpath
from types import ModuleType
from typing import Optional
from urllib.parse import unquote, urlsplit

import urllib3
from pystac.stac_io import DefaultStacIO

REMOTE_SCHEMES = ("http", "https", "s3", "gs", "az")
DEFAULT_TIMEOUT = 30.0  # seconds to connect, and between bytes of an answer


class CatalogEscape(ValueError):
    """A catalog href points outside the catalog's root or at a local file."""


def is_remote(href: str) -> bool:
    return urlsplit(str(href)).scheme.lower() in REMOTE_SCHEMES


def other_scheme(href: str) -> Optional[str]:
    """The scheme of an address that is neither remote (``REMOTE_SCHEMES``) nor a local file
    (a path, ``file:``, a Windows drive letter): ``ftp``, ``sftp``...; else None."""
    scheme = urlsplit(str(href)).scheme.lower()
    return None if scheme in (*REMOTE_SCHEMES, "", "file") or len(scheme) == 1 else scheme


def not_read(href: str) -> str:
    """A non-remote href as the refusals name it: a local file, or the address by its scheme
    (an ``ftp://`` one is not a file on this computer)."""
    scheme = other_scheme(href)
    return (f"the {scheme}:// address {href}, which this tool cannot read (it reads http(s), "
            "s3, gs and az)" if scheme else f"a local file ({href})")


def refuse_unread_assets(item, where: str):
    """Remove from ``item`` (a pystac Item from a remote catalog or API, ``where``) every
    asset whose (absolute) href is not remote: a local file (``file://``, a drive path; a host
    must never make the tool read this computer's files) or an address of another scheme.
    Each is named with the reason in the item's ``REFUSED_ASSETS`` property: a scene needing
    it is skipped with that reason, the others are used."""
    from ...pixels.bands import REFUSED_ASSETS

    refused = {key: asset.href for key, asset in item.assets.items() if not is_remote(asset.href)}
    for key, href in refused.items():
        del item.assets[key]
        fix = (": ask the catalog's maintainers for an https:// href" if other_scheme(href)
               else ", which is never read from a remote catalog")
        item.properties.setdefault(REFUSED_ASSETS, {})[key] = (
            f"refused: {where} points its {key} asset at {not_read(href)}{fix}")
    return item


def _normal(href: str, path_module: Optional[ModuleType] = None) -> str:
    """``href`` absolute and normalised, with ``/`` separators, for prefix comparisons.

    Local paths follow ``path_module``'s rules (``ntpath`` on Windows: backslashes or slashes,
    a drive letter, any case; ``os.path`` by default)."""
    path_module = path_module or os.path
    parts = urlsplit(str(href))
    scheme = parts.scheme.lower()
    if scheme in REMOTE_SCHEMES:
        path = posixpath.normpath(parts.path or "/")
        return f"{scheme}://{parts.netloc.lower()}{path}"
    path = str(href)
    if scheme == "file":
        path = unquote(parts.path)
        if path_module is ntpath:  # file:///C:/x -> C:/x; file://server/share/x -> UNC
            path = f"//{parts.netloc}{path}" if parts.netloc else path.lstrip("/")
    # absolute: pystac resolves links against the absolute catalog path, whatever the root
    # was given as (e.g. a relative outputs/demo/sample/catalog.json)
    path = path_module.normcase(path_module.normpath(path_module.abspath(path)))
    return path.replace(path_module.sep, "/") if path_module.sep != "/" else path


class TimeoutStacIO(DefaultStacIO):
    """DefaultStacIO reading HTTP with connect/read timeouts and a few retries (pystac's own
    has no timeout: a server that never answers would hang the run)."""

    def __init__(self, *, timeout: Optional[float] = None, headers: Optional[dict] = None):
        super().__init__(headers=headers)
        self.timeout = DEFAULT_TIMEOUT if timeout is None else timeout

    def read_text_from_href(self, href: str) -> str:
        if not is_remote(href):
            return super().read_text_from_href(href)
        http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=self.timeout,
                                                           read=self.timeout),
                                   retries=urllib3.Retry(total=2, read=0, backoff_factor=0.5))
        response = http.request("GET", href, headers=dict(self.headers),
                                preload_content=True)
        if response.status >= 400:
            raise OSError(f"HTTP {response.status} reading {href}")
        return response.data.decode("utf-8")


class GuardedStacIO(TimeoutStacIO):
    """TimeoutStacIO that refuses hrefs outside the root catalog's folder (and, for a remote
    catalog, every local href)."""

    def __init__(self, root_href: str, *, timeout: float = 30.0,
                 headers: Optional[dict] = None, path_module: Optional[ModuleType] = None):
        super().__init__(timeout=timeout, headers=headers)
        self.remote = is_remote(root_href)
        self.path_module = path_module
        root = _normal(root_href, path_module)
        self.base = root.rsplit("/", 1)[0].rstrip("/") + "/"

    def check_link(self, href: str) -> None:
        """Raise CatalogEscape when a catalog/item link leaves the root's folder."""
        if self.remote and not is_remote(href):
            raise CatalogEscape(f"the remote catalog links to {not_read(href)}")
        if not _normal(href, self.path_module).startswith(self.base):
            raise CatalogEscape(f"the catalog links outside its folder ({href})")

    def read_text_from_href(self, href: str) -> str:
        self.check_link(href)
        return super().read_text_from_href(href)
