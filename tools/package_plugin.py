"""Build the installable plugin zip: ``raster_collect_plugin/`` with metadata.txt, icons and the
engine's requirements/constraints inside, without tests or caches.

Usage: python tools/package_plugin.py OUTPUT_ZIP [STAGING_DIR]   (standard library only)
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = "raster_collect_plugin"
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")
# files the installed plugin cannot work without (checked before the zip is written)
REQUIRED_FILES = ("__init__.py", "metadata.txt", "resources/icon.svg",
                  "resources/report_layout.qpt", "requirements.txt",
                  "constraints-py311.txt", "constraints-py312.txt", "constraints-py313.txt",
                  "engine/wheel_figures.json")


def build(staging: Optional[Path], output_zip: Path) -> Path:
    """Copy the plugin with metadata.txt and resources into ``staging`` (a temporary folder
    when None) and zip it to ``output_zip`` (written whole or not at all)."""
    if staging is None:
        with tempfile.TemporaryDirectory(prefix="raster-collect-package-") as folder:
            return build(Path(folder), output_zip)
    staging = Path(staging)
    target = stage(staging)
    output_zip = Path(output_zip)
    output_zip.parent.mkdir(parents=True, exist_ok=True)
    partial = output_zip.with_suffix(".zip.part")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(target.rglob("*")):
            archive.write(path, path.relative_to(staging))
    partial.replace(output_zip)
    return output_zip


def stage(staging: Path) -> Path:
    """Lay out the plugin folder exactly as the zip holds it in ``staging``; return it."""
    target = Path(staging) / PLUGIN
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(ROOT / PLUGIN, target, ignore=IGNORE)
    shutil.copy2(ROOT / "metadata.txt", target / "metadata.txt")
    shutil.copytree(ROOT / "resources", target / "resources", ignore=IGNORE)
    shutil.copy2(ROOT / "README.md", target / "README.md")
    missing = [name for name in REQUIRED_FILES if not (target / name).is_file()]
    if missing:
        raise FileNotFoundError(f"the plugin package would lack {', '.join(missing)}")
    return target


def main(argv) -> int:
    if len(argv) not in (1, 2) or argv[0].startswith("-"):
        print(__doc__, file=sys.stderr)
        return 2
    staging = Path(argv[1]) if len(argv) == 2 else None
    print(build(staging, Path(argv[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
