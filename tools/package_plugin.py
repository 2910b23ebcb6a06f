"""Build the installable plugin zip: ``raster_collect_plugin/`` with metadata.txt and icons
inside, without tests or caches. Usage: python tools/package_plugin.py STAGING_DIR OUTPUT_ZIP"""

from __future__ import annotations

import shutil
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = "raster_collect_plugin"
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")


def build(staging: Path, output_zip: Path) -> Path:
    """Copy the plugin with metadata.txt, resources and requirements into ``staging`` and zip it."""
    staging = Path(staging)
    target = staging / PLUGIN
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(ROOT / PLUGIN, target, ignore=IGNORE)
    shutil.copy2(ROOT / "metadata.txt", target / "metadata.txt")
    shutil.copytree(ROOT / "resources", target / "resources", ignore=IGNORE)
    for extra in ("README.md", "requirements.txt"):
        shutil.copy2(ROOT / extra, target / extra)
    output_zip = Path(output_zip)
    output_zip.parent.mkdir(parents=True, exist_ok=True)
    partial = output_zip.with_suffix(".zip.part")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(target.rglob("*")):
            archive.write(path, path.relative_to(staging))
    partial.replace(output_zip)
    return output_zip


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    print(build(Path(sys.argv[1]), Path(sys.argv[2])))
