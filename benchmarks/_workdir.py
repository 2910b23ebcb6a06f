"""The folder a benchmark works in (a helper, not a benchmark)."""

import contextlib
import shutil
import tempfile
from pathlib import Path
from typing import Iterator, Optional


@contextlib.contextmanager
def work_folder(workdir: Optional[str], prefix: str, parent: Optional[str] = None
                ) -> Iterator[Path]:
    """``workdir`` when given (kept), else a temporary folder removed at the end, even when
    the run fails (the inputs take gigabytes)."""
    folder = Path(workdir or tempfile.mkdtemp(prefix=prefix, dir=parent))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        yield folder
    finally:
        if not workdir:
            shutil.rmtree(folder, ignore_errors=True)
