"""How deep below its output folder a run writes, for Windows' 260-character path limit.

A run writes more than its final files: a hidden staging folder, on a dask cluster a Zarr
scratch store per collection (whose writer names temporary files
``.<chunk key>.<32 hex>.partial``; threads write the COGs' scratch files instead), COG
temporaries ``.<name>.<8 random>.part.tif``; ``zonal`` per forest nests all that in a scratch
folder per forest. Measured on the sample: 95 characters below the folder for a composite on
threads (123 with a cluster's Zarr store), 123 for ``zonal`` per forest
(``tests/test_windows_paths.py`` checks the estimate covers what a real run opens).
:func:`check` refuses a run up front where Windows rules apply.
"""

from __future__ import annotations

import os
import re
from typing import Callable, Iterable, List, Sequence

from ..runs.portable import check_path_length, windows_rules

RANDOM = 8  # tempfile's random part of mkdtemp/mkstemp names
STAGING = len(".raster-collect-partial-") + RANDOM
COG_TEMPORARY = len("..") + RANDOM + len(".part")  # .{stem}.XXXXXXXX.part{suffix}
# a Zarr chunk key of three dimensions (up to 4 digits each) as a hidden temporary file with
# a uuid4 hex: ".1234.5678.9012.<32 hex>.partial"
ZARR_TEMPORARY = len(".1234.5678.9012.") + 32 + len(".partial")
FOREST_SCRATCH = len(".forest_.partial-") + RANDOM  # + the forest id


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()


def stems(sources) -> List[str]:
    """``{provider}_{collection}`` of every collection a run may write."""
    return [f"{_slug(source.provider.name)}_{collection}"
            for source in sources for collection in (source.collections or ("collection",))]


def composite_depth(request, *, indices: Sequence[str] = (), labels: Iterable[str] = (),
                    windows: bool = False) -> int:
    """The longest path, in characters, a composite run writes below its output folder
    (separators included)."""
    from ..compute.scheduling import active_client
    from .requests import composite_windows

    cluster = active_client() is not None  # only a cluster's workers write the Zarr store
    names = list(indices or request.indices) + list(request.custom_indices)
    labels = list(labels) or [label for label, _, _ in composite_windows(request)]
    kind = "windows" if windows or request.windows else f"{request.period}ly"
    label = max(labels, key=len, default="")
    deepest = 0
    for stem in stems(request.sources) or ["collection"]:
        files = [f"{stem}_{name}_{kind}_{request.method}.tif" for name in names]
        files += [f"{stem}_{key}_{label}_{request.method}.tif"
                  for key in request.colour_composites]
        files += [f"{stem}_clear_count.tif", f"{stem}_metadata.json"]
        temporaries = [len(name) + COG_TEMPORARY for name in files]
        scratch = [len(f".{os.path.splitext(name)[0]}.scratch.tif") for name in files]
        components = names + ["clear_count"] + list(request.colour_composites)
        zarr = [len(f".{stem}.zarr/{component}/") + ZARR_TEMPORARY for component in components
                if cluster]
        deepest = max(deepest, *temporaries, *scratch, *zarr)
    return STAGING + 1 + deepest + 1  # "/staging/deepest", the leading separator counted


def forest_depth(request, forest_ids: Iterable) -> int:
    """The longest path ``zonal`` per forest writes below its output folder: a composite
    run inside each forest's scratch folder."""
    longest_id = max((len(str(i)) for i in forest_ids), default=0)
    return FOREST_SCRATCH + longest_id + 1 + composite_depth(request)


def check(folder, depth: Callable[[], int]) -> None:
    """Refuse (``portable.PathTooLong``) where Windows rules apply and ``folder`` plus
    ``depth()`` characters passes the limit (``depth`` is only computed there)."""
    if windows_rules():
        check_path_length(folder, depth() - 1)  # depth counts the separator after the folder
