"""The engine's requirements, read from the files shipped in the plugin (standard library only:
the doctor uses this in a Python that may have nothing installed yet)."""

from __future__ import annotations

import hashlib
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from .markers import evaluate
from .versions import compare as _compare
from .versions import version_key  # noqa: F401 (the engine checks sort versions by it)

PLUGIN_DIR = Path(__file__).resolve().parent.parent
REQUIREMENTS_FILE = PLUGIN_DIR / "requirements.txt"
# one lock per Python minor version, generated from requirements.txt by `make engine-locks`
# (tools/engine_locks.py): constraints-py310.txt ... constraints-py314.txt
LOCK_PATTERN = "constraints-py{major}{minor}.txt"


def lock_versions() -> List[Tuple[int, int]]:
    """The Python versions the plugin ships a lock (tested pins) for, oldest first."""
    found = []
    for path in PLUGIN_DIR.glob("constraints-py*.txt"):
        digits = path.stem.rsplit("py", 1)[-1]
        if digits.isdigit() and len(digits) >= 2:
            found.append((int(digits[0]), int(digits[1:])))
    return sorted(found)


def constraints_file(version: Optional[Sequence[int]] = None) -> Path:
    """The lock file for a Python version (default: the running Python). A version with no
    lock of its own gets the nearest one (pip then says what has no wheel)."""
    major, minor = tuple(version or sys.version_info[:2])[:2]
    versions = lock_versions()
    if versions and (major, minor) not in versions:
        older = [v for v in versions if v <= (major, minor)]
        major, minor = older[-1] if older else versions[0]
    return PLUGIN_DIR / LOCK_PATTERN.format(major=major, minor=minor)


def has_lock(version: Sequence[int]) -> bool:
    """True when the plugin ships tested pins for this Python minor version."""
    return tuple(version)[:2] in lock_versions()


CONSTRAINTS_FILE = constraints_file()  # the running Python's lock

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*)$")
_CLAUSE = re.compile(r"^\s*(===|==|!=|<=|>=|~=|<|>)\s*([^\s,;]+)\s*$")
def normalize(name: str) -> str:
    """PEP 503 name: 'Pygments' -> 'pygments', 'typing_extensions' -> 'typing-extensions'."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Requirement:
    """One line of requirements.txt: a distribution and its version clauses."""

    name: str
    specifier: str  # e.g. ">=1.24,<2" ("" = any version)

    @property
    def clauses(self) -> List[Tuple[str, str]]:
        result = []
        for clause in filter(None, (c.strip() for c in self.specifier.split(","))):
            match = _CLAUSE.match(clause)
            if match:
                result.append((match.group(1), match.group(2)))
        return result

    def allows(self, version: str) -> bool:
        """True when ``version`` satisfies every clause."""
        return all(_compare(version, op, wanted) for op, wanted in self.clauses)

    def __str__(self) -> str:
        return f"{self.name}{self.specifier}"


def _lines(text: str, environment: Optional[Dict[str, str]] = None) -> List[str]:
    """Requirement lines whose environment marker holds (``environment`` overrides the running
    Python's marker variables)."""
    result = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            requirement, _, marker = line.partition(";")
            if not marker.strip() or evaluate(marker, environment):
                result.append(requirement.strip())
    return result


def parse_requirements(text: str) -> List[Requirement]:
    """Requirement lines (options like ``-r`` and comments are skipped)."""
    requirements = []
    for line in _lines(text):
        match = _NAME.match(line)
        if match:
            specifier = re.sub(r"\s+", "", match.group(3))
            requirements.append(Requirement(normalize(match.group(1)), specifier))
    return requirements


def parse_constraints(text: str,
                      environment: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """``name==version`` pins by normalized name, for this platform (or ``environment``)."""
    pins = {}
    for line in _lines(text, environment):
        name, _, version = line.partition("==")
        if version:
            pins[normalize(name)] = version.strip()
    return pins


def shipped_requirements(path: Optional[Path] = None) -> List[Requirement]:
    """The engine's requirements as shipped in the plugin."""
    return parse_requirements(Path(path or REQUIREMENTS_FILE).read_text(encoding="utf-8"))


def shipped_constraints(path: Optional[Path] = None) -> Dict[str, str]:
    """The tested pins as shipped in the plugin, for the running Python and platform."""
    return parse_constraints(Path(path or CONSTRAINTS_FILE).read_text(encoding="utf-8"))


def fingerprint() -> str:
    """Changes whenever the shipped requirements or constraints change (a plugin upgrade)."""
    digest = hashlib.sha256()
    # every Python's lock: the engine's Python may not be the one asking (QGIS's)
    for path in (REQUIREMENTS_FILE, *sorted(PLUGIN_DIR.glob("constraints-py*.txt"))):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]
