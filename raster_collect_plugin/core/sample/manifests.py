"""The manifest each sample writes beside its catalog.json, which tells the samples apart
(imports nothing: the samples' writers and the doors' checks all read it)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

STORM, DISTURBANCE = "storm", "disturbance"
_MANIFESTS = {STORM: "sample.json", DISTURBANCE: "scenario.json"}


def sample_in(folder: Path) -> Optional[str]:
    """The sample (``STORM`` or ``DISTURBANCE``) whose manifest ``folder`` holds, else None."""
    return next((k for k, name in _MANIFESTS.items() if (Path(folder) / name).is_file()), None)


def other_sample_in(root: Path, kind: str) -> Optional[str]:
    """The line refusing to write the ``kind`` sample into ``root`` when the other sample is
    there: both write catalog.json, so the second would replace the first's catalog while its
    manifest stayed (and the doors would take one sample for the other)."""
    other = sample_in(root)
    if other in (None, kind):
        return None
    return (f"{root} holds the {other} sample: the {kind} sample cannot be written over it "
            "(both write catalog.json); choose another output folder")
