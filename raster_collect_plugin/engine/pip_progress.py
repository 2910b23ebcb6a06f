"""Reading pip's output while it makes the engine: progress per package (pip's own progress
bar is off) and, when it fails, the lines that say why."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable, Iterable, List, Optional, Set

from .requirements import normalize

_COLLECT = re.compile(r"^\s*(Collecting|Processing|Requirement already satisfied:)\s+(\S+)")
_DOWNLOAD = re.compile(r"^\s*Downloading\s+(\S+?)(?:\s+\(([\d.]+\s*[kMG]?B)\))?\s*$")
_INSTALLING = "Installing collected packages:"
# the start of pip's explanation of a failure (its ERROR:/error: lines and the box below)
_CAUSE = re.compile(r"^\s*(ERROR:|error:|×|╰─>|The conflict is caused by:)")

# fractions of the whole set-up given to each phase
COLLECT_SPAN = (0.08, 0.45)
INSTALL_SPAN = (0.45, 0.9)


def _name(text: str) -> str:
    """'numpy==1.26.4', 'numpy-1.26.4-cp311-...whl', './w/numpy-1.26.4.whl' -> 'numpy'."""
    text = text.split("/")[-1].split("\\")[-1]
    text = re.split(r"[<>=!~\[;(]", text, maxsplit=1)[0]
    if text.endswith((".whl", ".tar.gz", ".zip")):
        text = text.split("-", 1)[0]
    return normalize(text)


def _installed_names(site_folder: Optional[Path]) -> Set[str]:
    if site_folder is None:
        return set()
    try:
        return {normalize(p.name[:-len(".dist-info")].rsplit("-", 1)[0])
                for p in site_folder.glob("*.dist-info")}
    except OSError:
        return set()


class PipProgress:
    """Turns pip's lines (and, while pip installs silently, the dist-info folders appearing in
    the engine's site-packages) into ``progress(fraction, message)`` calls per package."""

    def __init__(self, progress: Callable[[float, str], None], expected: int,
                 site_folder: Optional[Path] = None):
        self.progress, self.expected = progress, max(expected, 1)
        self.site_folder = site_folder
        self.collected: List[str] = []
        self.to_install: List[str] = []
        self.done: Set[str] = set()
        self.before: Set[str] = set()
        self.lines: List[str] = []

    def line(self, line: str) -> None:
        """One line of pip's output."""
        self.lines.append(line)
        match = _COLLECT.match(line)
        if match:
            name = _name(match.group(2))
            if name not in self.collected:
                self.collected.append(name)
            low, high = COLLECT_SPAN
            fraction = low + (high - low) * min(len(self.collected) / self.expected, 1.0)
            verb = "checked" if match.group(1).startswith("Requirement") else "getting"
            self.progress(fraction, f"{verb} {name} ({len(self.collected)} of about "
                                    f"{self.expected} packages)")
            return
        match = _DOWNLOAD.match(line)
        if match and self.collected:
            size = f", {match.group(2)}" if match.group(2) else ""
            low, high = COLLECT_SPAN
            fraction = low + (high - low) * min(len(self.collected) / self.expected, 1.0)
            self.progress(fraction, f"downloading {_name(match.group(1))}{size} "
                                    f"({len(self.collected)} of about {self.expected})")
            return
        if line.startswith(_INSTALLING):
            self.to_install = [normalize(n.strip()) for n in
                               line[len(_INSTALLING):].split(",") if n.strip()]
            self.before = _installed_names(self.site_folder) - set(self.to_install)
            self.progress(INSTALL_SPAN[0], f"installing {len(self.to_install)} packages")

    def tick(self) -> None:
        """Called while pip is quiet: report packages whose files have been installed."""
        if not self.to_install:
            return
        now = _installed_names(self.site_folder) & set(self.to_install)
        for name in [n for n in self.to_install if n in now and n not in self.done]:
            self.done.add(name)
            low, high = INSTALL_SPAN
            self.progress(low + (high - low) * len(self.done) / len(self.to_install),
                          f"installed {name} ({len(self.done)} of {len(self.to_install)})")


def failure_cause(lines: Iterable[str], limit: int = 12) -> str:
    """pip's own explanation of a failure: its ``ERROR:``/``error:`` lines and the indented
    box that follows them (not simply the last lines, where pip prints its notes)."""
    lines = [line.rstrip() for line in lines]
    picked: List[str] = []
    inside = False
    for line in lines:
        if _CAUSE.match(line):
            inside = True
        elif inside and not line.startswith(("  ", "\t", "│")):
            inside = False
        if inside and line.strip() and line.strip() not in picked:
            picked.append(line.strip())
    if not picked:
        picked = [line.strip() for line in lines if line.strip()][-3:]
    return "\n".join(picked[:limit])
