"""Where Sentinel Hub responses are kept so a rerun costs nothing.

One rule for every door (command line, job file, Processing algorithm, dock): responses live
in ``<output folder>/.raster-collect-cache/sentinel-hub/``, the folder the user chose, not a
run's own sub-folder, and each file is named by a hash of the request's URL and body
(``statistical._cache_path``; sentinelhub-py's ``data_folder`` hashes the same two for
Process tiles). The same request into the same output folder is therefore answered from disk
whichever door sent it first. An object-store output folder (``s3://…``) cannot hold a cache
that is read back file by file: then the responses go to a local cache folder instead (the
QGIS profile's for the Processing algorithm, this user's cache folder for the command line
and job files). Only request bodies and responses are written: the OAuth token travels in a
header that is never saved, and the client secret never reaches a request.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Union

CACHE_FOLDER = Path(".raster-collect-cache") / "sentinel-hub"


def user_cache_root() -> Path:
    """This user's cache folder for raster-collect: ``$XDG_CACHE_HOME/raster-collect``
    (``~/.cache`` by default)."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "raster-collect"


def cache_folder(output_folder: Union[str, Path], *,
                 local_root: Optional[Union[str, Path]] = None) -> Path:
    """The response cache that belongs to an output folder chosen by the user; for an
    object-store URL, ``<local_root>/sentinel-hub`` (``user_cache_root()`` by default)."""
    if "://" in str(output_folder):
        return Path(local_root or user_cache_root()) / CACHE_FOLDER.name
    return Path(output_folder) / CACHE_FOLDER
