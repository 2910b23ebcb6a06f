"""Python's warning filters while a dask graph runs on this process's threads.

rasterio makes a temporary in-memory (MEM) dataset for every reproject (odc-stac reads a 20 m
band onto a 10 m grid that way) and rasterize. It opens that dataset before setting its
transform, one line later, and hides the "Dataset has no geotransform, gcps, or rpcs"
NotGeoreferencedWarning of that moment with ``warnings.catch_warnings()`` (rasterio 1.4
``_io.pyx``, ``MemoryDataset.__init__``). Before Python 3.14 ``catch_warnings`` saves and restores
the one process-wide filter list, so two threads inside it at once restore each other's
snapshots out of order. Then either (a) the "ignore" is gone while a thread opens its MEM
dataset, and the warning reaches stderr in some runs only (also odc-geo issue #131, "Spurious
NotGeoreferencedWarning during reproject", more common with dask), or (b) a thread's
``ignore everything`` filter is left behind and every later warning of the process is silenced.

No pixel depends on it: the warning is about the temporary destination before rasterio gives it
the caller's transform (a failure to set it raises), and the values of racing reads are
identical (``tests/test_thread_warnings.py``). What this module repairs is the filter list: it
ignores exactly that message from rasterio's warp and features modules, for good (so that the
snapshot any thread takes has it, also one taken by a thread that is not a task), and around a
threaded compute the calling thread keeps a snapshot and puts it back when no task runs.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Iterator

# rasterio warns from Cython, so the warning names the Python module that called it: warp.py
# (reproject) or features.py (rasterize), never rasterio.open of a real, ungeoreferenced file
TEMPORARY_DATASET_MESSAGE = "Dataset has no geotransform, gcps, or rpcs"
TEMPORARY_DATASET_MODULES = r"rasterio\.(warp|features)$"


def ignore_temporary_dataset_warning() -> None:
    """Ignore rasterio's warning about its own temporary MEM datasets, process-wide (once)."""
    if not any(f[0] == "ignore" and f[1] is not None and f[1].pattern == TEMPORARY_DATASET_MESSAGE
               for f in warnings.filters):
        warnings.filterwarnings("ignore", message=TEMPORARY_DATASET_MESSAGE,
                                module=TEMPORARY_DATASET_MODULES)


@contextlib.contextmanager
def thread_safe_warnings() -> Iterator[None]:
    """Around a graph run on threads: the filters as they were afterwards (whatever the tasks'
    racing ``catch_warnings`` left), and no warning about rasterio's temporary datasets."""
    ignore_temporary_dataset_warning()
    with warnings.catch_warnings():
        yield


ignore_temporary_dataset_warning()
