"""Locations of the plugin's own files (icons), in a source checkout and in an installed zip."""

from pathlib import Path

PLUGIN_DIR = Path(__file__).resolve().parent


def resource_path(name: str) -> Path:
    """Path of a file in ``resources/`` (copied into the plugin folder when packaged)."""
    for base in (PLUGIN_DIR / "resources", PLUGIN_DIR.parent / "resources"):
        candidate = base / name
        if candidate.exists():
            return candidate
    return PLUGIN_DIR / "resources" / name
