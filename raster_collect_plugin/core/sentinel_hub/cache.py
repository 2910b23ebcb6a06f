"""Where Sentinel Hub responses are kept so a rerun costs nothing.

One rule for every door (command line, job file, Processing algorithm, dock): responses live
in ``<output folder>/.raster-collect-cache/sentinel-hub/``, the folder the user chose, not a
run's own sub-folder, and each file is named by a hash of the request's URL and body
(``statistical._cache_path``; sentinelhub-py's ``data_folder`` hashes the same two for
Process tiles). The same request into the same output folder is therefore answered from disk
whichever door sent it first. Only request bodies and responses are written: the OAuth token
travels in a header that is never saved, and the client secret never reaches a request.
"""

from __future__ import annotations

from pathlib import Path
from typing import Union

CACHE_FOLDER = Path(".raster-collect-cache") / "sentinel-hub"


def cache_folder(output_folder: Union[str, Path]) -> Path:
    """The response cache that belongs to an output folder chosen by the user."""
    return Path(output_folder) / CACHE_FOLDER
