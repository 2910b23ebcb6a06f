"""Sample: the synthetic, offline sample near Beerburrum (scenes with clouds and a storm, a
static STAC catalog, forest compartments) and the demo that runs the main job on it; the
disturbance-monitoring scenario (windthrow, clear-fell, dieback on known dates; issue 30).

The names below are this folder's public face for the doors (cli/, gui/, processing/, engine/);
the rest is private. A name loads its module when first used, so QGIS can read the light
modules without importing the heavy ones. Modules inside core/ import from modules, not faces.
"""

from importlib import import_module

_FACE = {
    "SampleSpec": "scenes",
    "small_spec": "scenes",
    "make_sample": "catalog",
    "run_demo": "demo",
    "ScenarioSpec": "disturbance_scenario",
    "make_scenario": "disturbance_scenario",
    "write_scenario": "disturbance_catalog",
    "tiled_spec": "disturbance_tiles",
    "sample_of_catalog": "choice",
    "make_disturbance_sample": "choice",
    "storm_sample_too_short": "choice",
    "STORM": "choice",
    "DISTURBANCE": "choice",
    "DISTURBANCE_FOLDER": "choice",
}
__all__ = sorted(_FACE)


def __getattr__(name: str):
    if name in _FACE:
        return getattr(import_module(f"{__name__}.{_FACE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
