"""Qt6 / QGIS 4 lint: run qgis-plugin-analyzer (PyPI, pinned in constraints.txt) on the plugin
exactly as the zip ships it, and fail on its Qt5-only findings.

Usage: python tools/qt6_lint.py [PLUGIN_FOLDER]   (the packaged layout when omitted)
Exit 0: clean; 1: findings (one ``file:line: RULE message`` line each); 2: the analyzer failed.

The analyzer finds QVariant type constants and QVariant(), removed Qt enums, qApp, QRegExp,
QDesktopWidget, multi-argument addAction, QFontMetrics.width, compiled resources, PyQt5 imports
and a qgisMaximumVersion below 4. tests/test_qgis_compat.py and tests/test_architecture.py cover
what it does not know: the QGIS enum names renamed in 3.30-3.36, unscoped enum members and
``exec_``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tools.package_plugin import stage  # noqa: E402

# the analyzer's rules about Qt5-only or pre-QGIS 4 code (its QGS4xx family and friends)
QT5_ONLY_RULES = {"OBSOLETE_VARIANT", "OBSOLETE_API", "PYQT5_IMPORT", "QGIS_LEGACY_IMPORT",
                  "LEGACY_SIGNAL_SLOT", "METADATA_QGIS4"}


def is_qt5_only(rule: str) -> bool:
    """Whether an analyzer rule id is about code that breaks on Qt6 / QGIS 4."""
    return rule.startswith("QT6_") or rule in QT5_ONLY_RULES


def _findings(node: Any) -> Iterator[Dict[str, Any]]:
    # the same finding is reported per module and again in the compliance summary
    if isinstance(node, dict):
        if isinstance(node.get("type"), str) and "line" in node and "message" in node:
            yield node
        for value in node.values():
            yield from _findings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _findings(value)


def analyze(folder: Path) -> List[Tuple[str, int, str, str]]:
    """Qt5-only findings of qgis-plugin-analyzer in the plugin ``folder`` (with metadata.txt)."""
    with tempfile.TemporaryDirectory(prefix="raster-collect-qt6-lint-") as output:
        command = [sys.executable, "-m", "analyzer.main", "analyze", str(folder), "--json",
                   "--linters", "none", "--no-cache", "--workers", "1", "-o", output]
        result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    try:
        report = json.loads(result.stdout)
    except ValueError:
        raise RuntimeError("qgis-plugin-analyzer failed (is it installed? `make setup`):\n"
                           + (result.stderr or result.stdout)[-2000:]) from None
    if report.get("project_type") not in (None, "qgis"):
        raise RuntimeError(f"{folder} was not analysed as a QGIS plugin (no metadata.txt?)")
    found = {(str(f.get("file", "")), int(f["line"]), f["type"], f["message"])
             for f in _findings(report) if is_qt5_only(f["type"])}
    return sorted(found)


def main(argv: List[str]) -> int:
    folder: Optional[Path] = Path(argv[0]) if argv else None
    with tempfile.TemporaryDirectory(prefix="raster-collect-qt6-stage-") as staging:
        try:
            findings = analyze(folder or stage(Path(staging)))
        except RuntimeError as error:
            print(error, file=sys.stderr)
            return 2
    for file, line, rule, message in findings:
        print(f"{file}:{line}: {rule} {message}")
    print(f"qt6-lint: {len(findings)} Qt5-only finding(s)"
          + (" (fix them: see tools/qt6_lint.py)" if findings else ""))
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
