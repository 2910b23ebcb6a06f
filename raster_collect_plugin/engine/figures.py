"""The platforms the engine's locks are resolved for, and the set-up figures (download and disk)
computed from their wheels by ``make engine-locks`` (``tools/engine_locks.py`` writes
``wheel_figures.json`` beside this module: one source for the options page and the README)."""

from __future__ import annotations

import json
import platform
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Sequence

FIGURES_FILE = Path(__file__).resolve().parent / "wheel_figures.json"
PYTHONS = ((3, 10), (3, 11), (3, 12), (3, 13), (3, 14))
# the macOS versions tried, oldest first, when resolving for macOS (MACOSX_DEPLOYMENT_TARGET):
# each (Python, CPU) gets the oldest one all its wheels support
MACOS_TARGETS = ("12.0", "14.0", "15.0")


@dataclass(frozen=True)
class Platform:
    """One platform of the wheel matrix."""

    key: str           # e.g. "win_amd64"
    uv: str            # uv pip compile --python-platform
    marker: str        # PEP 508 marker selecting it in the merged lock
    label: str


PLATFORMS = (
    Platform("manylinux_x86_64", "x86_64-manylinux_2_28",
             "sys_platform == 'linux' and platform_machine == 'x86_64'",
             "Linux x86_64 (glibc 2.28+)"),
    Platform("manylinux_aarch64", "aarch64-manylinux_2_28",
             "sys_platform == 'linux' and platform_machine == 'aarch64'",
             "Linux ARM64 (glibc 2.28+)"),
    Platform("win_amd64", "x86_64-pc-windows-msvc", "sys_platform == 'win32'",
             "Windows x86_64"),
    Platform("macosx_arm64", "aarch64-apple-darwin",
             "sys_platform == 'darwin' and platform_machine == 'arm64'",
             "macOS Apple silicon"),
    Platform("macosx_x86_64", "x86_64-apple-darwin",
             "sys_platform == 'darwin' and platform_machine == 'x86_64'",
             "macOS Intel"),
)


def current_platform() -> Optional[str]:
    """The key of the running platform in :data:`PLATFORMS` (None for another platform)."""
    machine = platform.machine().lower()
    if sys.platform == "win32":
        return "win_amd64" if machine in ("amd64", "x86_64") else None
    if sys.platform == "darwin":
        return {"arm64": "macosx_arm64", "x86_64": "macosx_x86_64"}.get(machine)
    if sys.platform.startswith("linux"):
        return {"x86_64": "manylinux_x86_64", "aarch64": "manylinux_aarch64"}.get(machine)
    return None


def load_figures(path: Optional[Path] = None) -> Dict:
    """The generated figures: {"pythons": {"3.12": {"win_amd64": {...}}}} (empty if absent)."""
    try:
        return json.loads(Path(path or FIGURES_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def setup_figures(version: Optional[Sequence[int]] = None,
                  platform_key: Optional[str] = None) -> Dict:
    """Download and disk (MB) of the engine for one Python and platform (default: the running
    ones), e.g. {"download_mb": 270, "disk_mb": 1000, "packages": 110, "wheels": True}.
    ``wheels`` is False where no complete set of wheels exists; the figures of the nearest
    known platform are given with ``estimated`` True when this one is not in the table."""
    major, minor = tuple(version or sys.version_info[:2])[:2]
    key = platform_key or current_platform()
    table = load_figures().get("pythons", {})
    row = table.get(f"{major}.{minor}") or table.get(max(table, default=""), {})
    if key in row:
        return dict(row[key], estimated=False)
    fallback = row.get("manylinux_x86_64") or {"download_mb": 280, "disk_mb": 1000}
    return dict(fallback, estimated=True)
